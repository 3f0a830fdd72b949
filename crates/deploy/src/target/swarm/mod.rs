//! A Docker Swarm as a [`Target`], through a manager's Engine API (the
//! engine `DOCKER_HOST` names). A release of a Compose service is one Swarm
//! service of its own ([`spec`]), started beside the live one; traffic
//! reaches the live release through windlass's entry point on the Swarm
//! ([`entry`]): a global service on the managers whose proxies route each
//! published port of the app, by a routing table that is a label of that
//! service, so a switch of all the app's services is one write to the
//! Swarm's Raft store. One file per concern: [`spec`] (a release as a
//! service spec), [`tasks`] (health, warm look, watch), [`entry`] (the
//! switch), [`lifecycle`] (start, retire, roll back, take down).
//!
//! What a Swarm cannot give the workflow is refused with a failure that
//! says so (`Deploy.BadInput`): building an image (every node pulls it:
//! name a registry image) and command hooks.

mod entry;
mod lifecycle;
mod logs;
pub mod spec;
mod store;
mod tasks;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use windlass_asl::Failure;
use windlass_runtime::Clock;
use windlass_store::releases::{Installation, Releases, ServiceKey};

use super::{
    CaughtFailure, HookRef, HookRun, Image, ReleaseContext, Replicas, Retired, RolledBack,
    Switched, Target, Upstreams, Watched,
};
use crate::failures;

pub use entry::entry_name;
pub use logs::release_logs;

/// What the Swarm target needs besides the manager and the store.
#[derive(Debug, Clone)]
pub struct Config {
    /// The image of the entry point (`windlass-swarm-entry`), in a registry
    /// every manager pulls from; needed once an app publishes a port.
    pub entry_image: Option<String>,
    /// How long a release that no longer takes traffic is kept before it is
    /// removed after a rollback: the entry tasks read their routes every
    /// 200 ms, and requests in flight finish.
    pub drain: Duration,
    /// How long a release may take to have all its tasks running (and
    /// healthy, when it has a health check).
    pub start_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            entry_image: std::env::var("WINDLASS_SWARM_ENTRY_IMAGE").ok(),
            drain: Duration::from_secs(2),
            start_timeout: Duration::from_secs(120),
        }
    }
}

/// Releases as Swarm services, behind windlass's entry point on the Swarm.
pub struct SwarmTarget {
    docker: Docker,
    releases: Arc<dyn Releases>,
    clock: Arc<dyn Clock>,
    config: Config,
    installation: OnceLock<Installation>,
}

/// An engine error as a step's failure, naming what was asked.
fn engine(what: &str, e: bollard::errors::Error) -> Failure {
    Failure::new(failures::ENGINE, format!("the Swarm manager: {what}: {e}"))
}

impl SwarmTarget {
    pub fn new(
        docker: Docker,
        releases: Arc<dyn Releases>,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> SwarmTarget {
        SwarmTarget {
            docker,
            releases,
            clock,
            config,
            installation: OnceLock::new(),
        }
    }

    /// The manager `DOCKER_HOST` names (unix socket by default), at the API
    /// version it speaks.
    pub async fn connect() -> Result<Docker, String> {
        let docker = Docker::connect_with_defaults().map_err(|e| e.to_string())?;
        docker.negotiate_version().await.map_err(|e| e.to_string())
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    fn installation(&self) -> Result<&Installation, Failure> {
        if let Some(installation) = self.installation.get() {
            return Ok(installation);
        }
        let read = self.releases.installation().map_err(failures::store)?;
        Ok(self.installation.get_or_init(|| read))
    }

    /// The Swarm service of release `id` of `key`.
    fn name_of(&self, key: &ServiceKey, id: &str) -> Result<String, Failure> {
        Ok(spec::service_name(self.installation()?, key, id))
    }

    /// The labels of `key`'s services (with the release: one release's).
    fn labels(
        &self,
        key: &ServiceKey,
        release: Option<&str>,
    ) -> Result<HashMap<String, String>, Failure> {
        let installation = self.installation()?;
        let labels = match release {
            Some(id) => crate::backend::release_labels(installation, key, id),
            None => crate::backend::key_labels(installation, key),
        };
        Ok(labels.into_iter().collect())
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    fn other(&self, of: &ReleaseContext, id: &str) -> Result<ReleaseContext, Failure> {
        ReleaseContext::load(
            self.releases.as_ref(),
            &of.key,
            id,
            None,
            super::Mode::Rollback,
            None,
        )
    }
}

#[async_trait]
impl Target for SwarmTarget {
    async fn restore(&self) -> Result<usize, String> {
        // The routes are the Swarm's (the entry service's label): nothing
        // local serves traffic, so nothing is put back.
        Ok(0)
    }

    async fn prepare(&self, release: &ReleaseContext) -> Result<Image, Failure> {
        lifecycle::prepare(self, release).await
    }

    async fn push(&self, _release: &ReleaseContext, image: &Image) -> Result<Image, Failure> {
        // `prepare` pinned a registry image already.
        Ok(image.clone())
    }

    async fn start(&self, release: &ReleaseContext) -> Result<Replicas, Failure> {
        lifecycle::start(self, release).await
    }

    async fn wait_healthy(
        &self,
        release: &ReleaseContext,
        _replicas: Option<&Replicas>,
    ) -> Result<Upstreams, Failure> {
        tasks::wait_healthy(self, release).await
    }

    async fn warm(&self, release: &ReleaseContext) -> Result<Option<Upstreams>, Failure> {
        tasks::warm(self, release).await
    }

    async fn switch(
        &self,
        release: &ReleaseContext,
        upstreams: &Upstreams,
    ) -> Result<Switched, Failure> {
        let mut all = entry::switch(self, &[(release.clone(), upstreams.clone())]).await?;
        Ok(all.remove(0))
    }

    async fn switch_all(
        &self,
        releases: &[(ReleaseContext, Upstreams)],
    ) -> Result<Vec<Switched>, Failure> {
        entry::switch(self, releases).await
    }

    async fn flip_all(
        &self,
        releases: &[(ReleaseContext, Upstreams)],
    ) -> Result<Vec<Switched>, Failure> {
        // The store's record is one small write before the Swarm's: the
        // Raft write is the slow one, so nothing is won by overlapping.
        entry::switch(self, releases).await
    }

    async fn watch(&self, release: &ReleaseContext) -> Result<Watched, Failure> {
        tasks::watch(self, release).await
    }

    async fn retire(&self, release: &ReleaseContext) -> Result<Retired, Failure> {
        lifecycle::retire(self, release).await
    }

    async fn roll_back(
        &self,
        release: &ReleaseContext,
        failure: Option<&CaughtFailure>,
    ) -> Result<RolledBack, Failure> {
        lifecycle::roll_back(self, release, failure).await
    }

    async fn take_down(
        &self,
        key: &ServiceKey,
        _spec: &crate::compose::Service,
    ) -> Result<usize, Failure> {
        lifecycle::take_down(self, key).await
    }

    async fn run_hook(
        &self,
        release: &ReleaseContext,
        _hook: &HookRef,
    ) -> Result<HookRun, Failure> {
        Err(failures::input(format!(
            "{}: command hooks do not run on a Swarm target yet; use a state hook (an ASL state) instead",
            release.label()
        )))
    }
}
