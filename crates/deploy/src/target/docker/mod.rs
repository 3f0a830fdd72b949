//! The local Docker engine as a [`Target`]: a release is a set of
//! containers labelled with its service and id, started beside the live
//! release; traffic reaches the live one through windlass's proxy (one per
//! service, [`Proxies`]), and names on the service's Compose networks move
//! with it. One file per step: [`image`], [`start`] (with [`pacing`]),
//! [`health`], [`live`] (the switch), [`watch`], [`retire`], [`rollback`],
//! [`hook`], and [`warm`] (whether a release can take traffic at once).

mod health;
mod hook;
mod image;
mod lifecycle;
mod live;
mod pacing;
pub mod ports;
mod proxies;
mod pull;
mod retire;
mod rollback;
mod start;
mod warm;
mod watch;
mod weights;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use windlass_asl::Failure;
use windlass_runtime::Clock;
use windlass_store::releases::{Installation, Release, Releases, ServiceKey};

use super::{
    CaughtFailure, HookRef, HookRun, Image, ReleaseContext, Replicas, Retired, RolledBack,
    Switched, Target, Upstreams, Watched,
};
use crate::backend::{Backend, Container};
use crate::failures;
use crate::progress::Notes;

pub use hook::HOOK_TIMEOUT;
pub use image::release_tag;
pub use pacing::Pacing;
pub use proxies::{protocol, Proxies, ProxyView, Traffic};
pub use retire::DEFAULT_RETAIN;

/// The label that marks a hook's one-off container.
pub const HOOK_LABEL: &str = "windlass.hook";

/// What the Docker target needs besides the engine and the store.
pub struct Config {
    /// Credentials for pushing and pulling, per registry host.
    pub credentials: crate::credentials::Credentials,
    /// Values for `environment` keys without one and for build args; empty
    /// by default, since the deploying command pins those into the text and
    /// the agent's own environment (its secrets) must not reach a container.
    pub env: BTreeMap<String, String>,
    /// How long a release that is no longer live may take to finish its requests.
    pub drain_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            credentials: Default::default(),
            env: BTreeMap::new(),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Releases as containers on one Docker engine, behind windlass's proxies.
pub struct DockerTarget {
    backend: Arc<dyn Backend>,
    releases: Arc<dyn Releases>,
    proxies: Proxies,
    clock: Arc<dyn Clock>,
    config: Config,
    notes: Notes,
    looks_ahead: warm::LooksAhead,
    /// The store's installation, read once.
    installation: std::sync::OnceLock<Installation>,
}

/// The replicas among the containers found: not a hook's one-off one.
fn replicas(
    found: Result<Vec<Container>, crate::backend::Error>,
) -> Result<Vec<Container>, Failure> {
    Ok(found
        .map_err(failures::engine)?
        .into_iter()
        .filter(|c| !c.labels.contains_key(HOOK_LABEL))
        .collect())
}

impl DockerTarget {
    pub fn new(
        backend: Arc<dyn Backend>,
        releases: Arc<dyn Releases>,
        proxies: Proxies,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> DockerTarget {
        DockerTarget {
            backend,
            releases,
            proxies,
            clock,
            config,
            notes: Notes::default(),
            looks_ahead: warm::LooksAhead::default(),
            installation: std::sync::OnceLock::new(),
        }
    }

    /// Which installation this target's containers, images and networks
    /// belong to: the store's (see [`Installation`]).
    pub fn installation(&self) -> Result<&Installation, Failure> {
        if let Some(installation) = self.installation.get() {
            return Ok(installation);
        }
        let read = self.releases.installation().map_err(failures::store)?;
        Ok(self.installation.get_or_init(|| read))
    }

    /// The labels of every replica of `release` of `key`.
    fn release_labels(
        &self,
        key: &ServiceKey,
        release: &str,
    ) -> Result<BTreeMap<String, String>, Failure> {
        Ok(crate::backend::release_labels(
            self.installation()?,
            key,
            release,
        ))
    }

    /// Tells how long steps go in `notes` (the agent shows them).
    pub fn with_notes(mut self, notes: Notes) -> DockerTarget {
        self.notes = notes;
        self
    }

    /// Moves every release's traffic in one step, the store's live pointers
    /// written as `record` says.
    async fn move_all(
        &self,
        releases: &[(ReleaseContext, Upstreams)],
        record: live::Record,
    ) -> Result<Vec<Switched>, Failure> {
        let going: Vec<(&ReleaseContext, &Upstreams)> = releases
            .iter()
            .map(|(release, upstreams)| (release, upstreams))
            .collect();
        let before = live::make_all_live(self, &going, record).await?;
        let at_millis = self.now();
        Ok(before
            .into_iter()
            .map(|previous| Switched {
                previous,
                at_millis,
                rollback_millis: None,
            })
            .collect())
    }

    pub fn proxies(&self) -> &Proxies {
        &self.proxies
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// Another release of the same service (the previous one, say), loaded
    /// as a step loads its own.
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

    /// The release's replicas, found by their labels (a hook's one-off
    /// container is not one of them).
    async fn containers(&self, key: &ServiceKey, release: &str) -> Result<Vec<Container>, Failure> {
        let found = self
            .backend
            .list_containers(&self.release_labels(key, release)?)
            .await;
        replicas(found)
    }

    async fn remove(&self, id: &str) -> Result<(), Failure> {
        self.backend
            .remove_container(id)
            .await
            .map_err(failures::engine)
    }

    /// The image a release's containers run, once it was prepared.
    fn pinned_image(record: &Release) -> Result<String, Failure> {
        record.image.clone().ok_or_else(|| {
            failures::input(format!(
                "release {} has no image: it was never built",
                record.id
            ))
        })
    }
}

#[async_trait]
impl Target for DockerTarget {
    fn now_millis(&self) -> i64 {
        self.now()
    }

    async fn restore(&self) -> Result<usize, String> {
        let lives = self.releases.all_live().map_err(|e| e.to_string())?;
        // A service that publishes no port has no proxy to restore; an ECS
        // service's traffic is ECS's.
        let proxied: Vec<_> = lives
            .into_iter()
            .filter(|l| (!l.address.is_empty() || !l.ports.is_empty()) && !l.service.is_ecs())
            .collect();
        let closed = self.proxies.close_unkeyed().await?;
        if !closed.is_empty() {
            tracing::warn!(?closed, "proxies of bare service names closed; their services' keyed proxies take their addresses");
        }
        let count = proxied.len();
        for live in proxied {
            // The release's own service says what a pointer stored before
            // ports were recorded one by one left out.
            let release = ReleaseContext::load(
                self.releases.as_ref(),
                &live.service,
                &live.release,
                None,
                super::Mode::Deploy,
                None,
            )
            .map_err(|f| f.cause)?;
            self.proxies.restore(&live, &release.spec).await?;
        }
        Ok(count)
    }

    async fn prepare(&self, release: &ReleaseContext) -> Result<Image, Failure> {
        image::prepare(self, release).await
    }

    async fn push(&self, release: &ReleaseContext, image: &Image) -> Result<Image, Failure> {
        image::push(self, release, image).await
    }

    async fn start(&self, release: &ReleaseContext) -> Result<Replicas, Failure> {
        start::start(self, release).await
    }

    async fn wait_healthy(
        &self,
        release: &ReleaseContext,
        replicas: Option<&Replicas>,
    ) -> Result<Upstreams, Failure> {
        health::wait_healthy(self, release, replicas).await
    }

    async fn warm(&self, release: &ReleaseContext) -> Result<Option<Upstreams>, Failure> {
        warm::warm(self, release).await
    }

    fn look_ahead(&self, release: &ReleaseContext) {
        // Without the labels the step looks itself, and says why it cannot.
        if let Ok(labels) = self.release_labels(&release.key, release.id()) {
            self.looks_ahead
                .start(Arc::clone(&self.backend), labels, release.clone());
        }
    }

    async fn switch(
        &self,
        release: &ReleaseContext,
        upstreams: &Upstreams,
    ) -> Result<Switched, Failure> {
        let previous = live::make_live(self, release, upstreams).await?;
        let at_millis = self.now();
        Ok(Switched {
            previous,
            at_millis,
            rollback_millis: None,
        })
    }

    async fn switch_all(
        &self,
        releases: &[(ReleaseContext, Upstreams)],
    ) -> Result<Vec<Switched>, Failure> {
        self.move_all(releases, live::Record::BeforeSwitch).await
    }

    async fn flip_all(
        &self,
        releases: &[(ReleaseContext, Upstreams)],
    ) -> Result<Vec<Switched>, Failure> {
        self.move_all(releases, live::Record::AlongsideSwitch).await
    }

    async fn set_weight(
        &self,
        releases: &[(ReleaseContext, Upstreams)],
        weight: windlass_proxy::Weight,
        sticky: Option<&windlass_proxy::Sticky>,
    ) -> Result<Vec<crate::target::weights::Shares>, Failure> {
        weights::set_weight(self, releases, weight, sticky).await
    }

    async fn shares(
        &self,
        releases: &[ReleaseContext],
    ) -> Result<Vec<crate::target::weights::Shares>, Failure> {
        weights::shares(self, releases).await
    }

    async fn watch(&self, release: &ReleaseContext) -> Result<Watched, Failure> {
        watch::watch(self, release).await
    }

    async fn retire(&self, release: &ReleaseContext) -> Result<Retired, Failure> {
        retire::retire(self, release).await
    }

    async fn roll_back(
        &self,
        release: &ReleaseContext,
        failure: Option<&CaughtFailure>,
    ) -> Result<RolledBack, Failure> {
        rollback::roll_back(self, release, failure).await
    }

    async fn take_down(
        &self,
        service: &ServiceKey,
        spec: &crate::compose::Service,
    ) -> Result<usize, Failure> {
        let labels = crate::backend::key_labels(self.installation()?, service);
        let containers = self
            .backend
            .list_containers(&labels)
            .await
            .map_err(failures::engine)?;
        // No more traffic first, then nothing behind it.
        self.releases.clear_live(service).map_err(failures::store)?;
        self.proxies
            .close(service)
            .await
            .map_err(|e| Failure::new(failures::PROXY, e))?;
        let grace = retire::stop_grace(spec);
        for container in &containers {
            lifecycle::stop(self, spec, &container.id, grace).await?;
            self.remove(&container.id).await?;
        }
        Ok(containers.len())
    }

    async fn run_hook(&self, release: &ReleaseContext, hook: &HookRef) -> Result<HookRun, Failure> {
        hook::run(self, release, hook).await
    }
}
