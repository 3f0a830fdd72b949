//! A Docker Swarm as a [`Target`], through a manager's Engine API (the
//! engine `DOCKER_HOST` names). A release of a Compose service is one Swarm
//! service of its own ([`spec`]), started beside the live one; traffic
//! reaches the live release through windlass's entry point on the Swarm
//! ([`entry`]): a global service on the managers whose proxies route each
//! published port of the app, by a routing table that is a label of that
//! service, so a switch of all the app's services is one write to the
//! Swarm's Raft store. One file per concern: [`spec`] (a release as a
//! service spec), [`store`] (secrets and configs, a version per value),
//! [`tasks`] (health, warm look, watch), [`entry`] (the
//! switch), [`image`] (the registry's image or one built on the manager
//! and pushed, pinned by digest), [`lifecycle`] (start, retire, roll back,
//! take down), [`stop_first`] (a service that cannot run twice at once:
//! the live release scaled to 0 first, the entry holding its traffic),
//! [`weights`] (a rollout's canaries in the entry's table, and
//! the entry tasks' counters, read from their output through the manager).
//!
//! What a Swarm cannot give the workflow is refused with a failure that
//! says so (`Deploy.BadInput`): a built service without a registry `image`
//! to push to ([`check`], also before anything starts). A command hook is
//! a one-off Swarm job ([`hook`]); [`manager`] finds the manager
//! (`DOCKER_HOST` or the Docker context), [`cluster`] which Swarm it is
//! of (recorded in every Swarm execution's input).

pub mod cluster;
mod entry;
mod hook;
mod image;
mod lifecycle;
mod logs;
pub mod manager;
pub mod spec;
pub mod ssh;
mod stop_first;
mod store;
mod tasks;
mod weights;

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
use crate::backend::Backend;
use crate::failures;
use crate::progress::Notes;

pub use entry::entry_name;
pub use image::unbuildable;
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
    /// Credentials for pushing built images, per registry host.
    pub credentials: crate::credentials::Credentials,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            entry_image: std::env::var("WINDLASS_SWARM_ENTRY_IMAGE").ok(),
            drain: Duration::from_secs(2),
            start_timeout: Duration::from_secs(120),
            credentials: Default::default(),
        }
    }
}

/// Releases as Swarm services, behind windlass's entry point on the Swarm.
pub struct SwarmTarget {
    docker: Docker,
    /// The manager's engine as the Docker target drives one: builds
    /// (BuildKit), tags and pushes.
    builder: Arc<dyn Backend>,
    releases: Arc<dyn Releases>,
    clock: Arc<dyn Clock>,
    config: Config,
    notes: Notes,
    installation: OnceLock<Installation>,
}

/// What a Swarm cannot deploy of `project`'s services `asked`, as
/// `FILE: services.NAME.FIELD: why` (checked before anything starts, so a
/// plan or deploy is refused at once): a built service without a registry
/// `image` to push to, and a promoted image that is only in the engine of
/// the environment it comes from (`--from`).
pub fn check(
    file: &str,
    project: &crate::compose::Project,
    asked: &[String],
    text: &str,
) -> Result<(), String> {
    let origin = crate::compose::origin_of(text);
    for name in asked {
        let Some(service) = project.services.get(name) else {
            continue;
        };
        if let Some(why) = unbuildable(name, service) {
            return Err(format!("{file}: {why}"));
        }
        if let (Some(origin), Some(image)) = (&origin, &service.image) {
            if image.starts_with("sha256:") {
                return Err(format!(
                    "{file}: services.{name}.image: environment {from} runs {name} as {image}, an image only its engine has (built there and never pushed), and every Swarm node pulls its image from a registry: in environment {from}, give {name} an `image` in a registry the nodes pull from and `x-windlass.push: true` (or deploy {from} to the Swarm too), deploy {from} again, then promote it",
                    from = origin.environment,
                ));
            }
        }
    }
    Ok(())
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
            builder: Arc::new(crate::backend::docker::Docker::from_client(docker.clone())),
            docker,
            releases,
            clock,
            config,
            notes: Notes::default(),
            installation: OnceLock::new(),
        }
    }

    /// Tells how long steps go (a build's Dockerfile step, a push) in
    /// `notes` (the agent shows them).
    pub fn with_notes(mut self, notes: Notes) -> SwarmTarget {
        self.notes = notes;
        self
    }

    /// The manager `DOCKER_HOST` or the Docker context names (the local
    /// socket by default: [`manager`]), at the API version it speaks.
    pub async fn connect() -> Result<Docker, String> {
        manager::Manager::from_env()?.connect().await
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

    async fn push(&self, release: &ReleaseContext, image: &Image) -> Result<Image, Failure> {
        image::push(self, release, image).await
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

    async fn set_weight(
        &self,
        releases: &[(ReleaseContext, Upstreams)],
        weight: windlass_proxy::Weight,
        sticky: Option<&windlass_proxy::Sticky>,
    ) -> Result<Vec<super::weights::Shares>, Failure> {
        weights::set_weight(self, releases, weight, sticky).await
    }

    async fn shares(
        &self,
        releases: &[ReleaseContext],
    ) -> Result<Vec<super::weights::Shares>, Failure> {
        weights::shares(self, releases).await
    }

    async fn end_canaries(&self, keys: &[ServiceKey]) -> Result<Vec<String>, Failure> {
        weights::end_canaries(self, keys).await
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

    async fn run_hook(&self, release: &ReleaseContext, hook: &HookRef) -> Result<HookRun, Failure> {
        hook::run(self, release, hook).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(text: &str) -> Result<(), String> {
        let file = std::env::temp_dir().join("compose.yaml");
        let project = crate::compose::parse_pinned(text, &file).expect("compose");
        let asked: Vec<String> = project.services.keys().cloned().collect();
        check("compose.yaml", &project, &asked, text)
    }

    #[test]
    fn a_promoted_image_only_an_engine_has_is_refused_with_what_to_do() {
        let origin = "x-windlass-origin: {environment: staging, app: shop.staging, services: {web: {release: r2, digest: \"sha256:ab\", image: \"sha256:ab\"}}}\n";
        let refused = check_text(&format!(
            "name: shop\nservices:\n  web:\n    image: \"sha256:ab\"\n    pull_policy: never\n{origin}"
        ))
        .expect_err("refused");
        assert!(
            refused.starts_with(
                "compose.yaml: services.web.image: environment staging runs web as sha256:ab"
            ),
            "{refused}"
        );
        assert!(refused.contains("x-windlass.push: true"), "{refused}");
        let pushed = format!(
            "name: shop\nservices:\n  web:\n    image: \"registry:5000/web@sha256:ab\"\n{origin}"
        );
        assert_eq!(check_text(&pushed), Ok(()));
    }

    #[test]
    fn an_environments_names_are_dns_components_on_the_swarm() {
        let key = ServiceKey::new("shop.production", "web").expect("key");
        let installation = Installation::from("0a1b2c3d");
        assert_eq!(
            spec::service_name(&installation, &key, "r2"),
            "shop--production_web_r2_0a1b2c3d"
        );
        assert_eq!(
            entry_name(&installation, "shop.production"),
            "shop--production_windlass-entry_0a1b2c3d"
        );
        assert_eq!(
            spec::swarm_name("shop.production_default"),
            "shop--production_default"
        );
    }
}
