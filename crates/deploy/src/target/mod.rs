//! Where releases run, as one trait at the level of a release: prepare its
//! image, start it beside the live one, wait until it is healthy, switch
//! traffic to it, watch it, retire what is no longer needed, roll back. The
//! deploy workflow (`crate::workflow`) calls only this trait, so a new
//! target (Swarm, ECS) is a new implementation, not a new workflow. One
//! module per implementation: [`docker`] for the local Docker engine with
//! windlass's own proxy.
//!
//! Every method must be idempotent: after a crash the runtime fails an
//! interrupted step with `States.TaskFailed` and the definition's Retry
//! calls it again with the same input.

pub mod docker;
pub mod ecs;
pub(crate) mod parsed;
pub mod swarm;
pub mod weights;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::Path;
use windlass_asl::Failure;

use windlass_store::releases::{Release, Releases, ServiceKey};

use crate::compose::Service;
use crate::failures;

/// Whether an execution deploys a new release or rolls back to an old one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Deploy,
    Rollback,
}

/// One release as a step sees it, loaded once per step: its store record,
/// its service as the release's pinned Compose text describes it, and what
/// the execution was started with.
#[derive(Debug, Clone)]
pub struct ReleaseContext {
    /// Whose release it is: the app's service.
    pub key: ServiceKey,
    /// The service's name within its app (`key.service()`).
    pub service: String,
    /// The Compose project's name (its containers are named after it).
    pub project: String,
    pub record: Release,
    /// The service's Compose definition, from `record.compose_text`.
    pub spec: Service,
    /// The engine's name of each Compose network the service joins, by its
    /// key in the file: Compose's `APP_KEY` (or the `name` given, or the
    /// key of an external network), so two apps' networks of one key are
    /// two networks.
    pub networks: BTreeMap<String, String>,
    /// The engine's names of the networks among them declared `external`:
    /// made outside the app, never created by it.
    pub external_networks: BTreeSet<String>,
    /// The release of each service whose container this one's is made
    /// with, as the execution's input names it (see `ReleaseRef::joins`);
    /// empty when loaded outside an execution.
    pub joins: BTreeMap<String, String>,
    /// The release that was live when the execution started.
    pub previous: Option<String>,
    pub mode: Mode,
    /// When the deploy or rollback was asked for.
    pub requested_millis: Option<i64>,
    /// The service links to another with legacy `links`, or another links
    /// to it: its containers stay on Docker's default bridge, the only
    /// network legacy links work on.
    pub legacy_links: bool,
}

impl ReleaseContext {
    /// Release `id` of `service` from the store, with its service parsed
    /// from the Compose text it was deployed from.
    pub fn load(
        releases: &dyn Releases,
        key: &ServiceKey,
        id: &str,
        previous: Option<String>,
        mode: Mode,
        requested_millis: Option<i64>,
    ) -> Result<ReleaseContext, Failure> {
        let service = key.service();
        let record = releases
            .get(key, id)
            .map_err(failures::store)?
            .ok_or_else(|| {
                failures::input(format!("service {key} has no release {id} in the store"))
            })?;
        let file = Path::new(&record.compose_file);
        let project = parsed::project(&record.compose_text, file)
            .map_err(|first| failures::input(format!("release {id} of {service}: {first}")))?;
        let spec = project.services.get(service).cloned().ok_or_else(|| {
            failures::input(format!("{} has no service {service}", record.compose_file))
        })?;
        let networks: BTreeMap<String, String> = spec
            .joined_networks()
            .into_iter()
            .map(|(key, _)| {
                let name = project.network_name(&key);
                (key, name)
            })
            .collect();
        let external_networks = networks
            .iter()
            .filter(|(key, _)| project.network_is_external(key))
            .map(|(_, name)| name.clone())
            .collect();
        let legacy_links = !spec.links.is_empty()
            || project
                .services
                .values()
                .any(|other| other.links.iter().any(|link| link.target == service));
        Ok(ReleaseContext {
            legacy_links,
            networks,
            external_networks,
            joins: BTreeMap::new(),
            key: key.clone(),
            service: service.to_owned(),
            project: project.project.clone(),
            record,
            spec,
            previous,
            mode,
            requested_millis,
        })
    }

    /// The release's id (`r7`).
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// `app/service rN`, for messages.
    pub fn label(&self) -> String {
        format!("{} {}", self.key, self.record.id)
    }

    /// The release live before, when it is another one.
    pub fn other_previous(&self) -> Option<&str> {
        self.previous.as_deref().filter(|p| *p != self.record.id)
    }
}

/// The release's image, pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The local reference the release's containers run.
    pub reference: String,
    /// The registry digest (`repo@sha256:...`), or the image id when it was
    /// never pushed.
    pub digest: String,
    /// Where the image is pushed (`REPO:RELEASE`), when `x-windlass.push`
    /// asks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub push: Option<String>,
}

/// The release's replicas, as the target knows them (container ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replicas {
    pub ids: Vec<String>,
}

/// Where the healthy replicas take traffic: per container port the
/// service's proxies carry traffic to (`80/tcp`, `53/udp`), each replica's
/// `127.0.0.1:PORT`; empty for a service that publishes no port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstreams {
    #[serde(default)]
    pub ports: std::collections::BTreeMap<String, Vec<String>>,
    /// The routed port's addresses, as an execution begun before ports
    /// were recorded one by one wrote them; never written now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

impl Upstreams {
    pub fn of_ports(ports: std::collections::BTreeMap<String, Vec<String>>) -> Upstreams {
        Upstreams {
            ports,
            addresses: Vec::new(),
        }
    }
}

/// What a switch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switched {
    /// The release that was live just before.
    pub previous: Option<String>,
    pub at_millis: i64,
    /// For an explicit rollback: from the request to the flip.
    pub rollback_millis: Option<i64>,
}

/// What the watch saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Watched {
    pub watched_millis: u64,
    pub requests: u64,
    pub server_errors: u64,
    pub p99_millis: Option<f64>,
}

/// What retiring stopped and let go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    /// Releases still running (the live one and the warm standby).
    pub kept: Vec<String>,
    /// Releases whose containers were stopped.
    pub retired: Vec<String>,
    /// Releases whose images were let go (`x-windlass.retain`).
    pub pruned: Vec<String>,
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    /// The release that serves now.
    pub live: Option<String>,
    /// From the decision to the traffic flip, when traffic moved.
    pub flip_millis: Option<i64>,
}

/// A hook that ran to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRun {
    pub hook: String,
    pub exit_code: i64,
    pub millis: u64,
}

/// Which of a release's `x-windlass.hooks` a hook step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRef {
    pub phase: Phase,
    pub index: usize,
}

impl HookRef {
    /// The hook's place in the file (`x-windlass.hooks.before_switch[0]`)
    /// and its command, from the release's pinned Compose text.
    pub fn command(&self, release: &ReleaseContext) -> Result<(String, Vec<String>), Failure> {
        let hooks = &release.spec.windlass.hooks;
        let list = match self.phase {
            Phase::BeforeSwitch => &hooks.before_switch,
            Phase::AfterSwitch => &hooks.after_switch,
        };
        let label = format!("x-windlass.hooks.{}[{}]", self.phase.key(), self.index);
        let command = list
            .get(self.index)
            .and_then(|h| h.command.clone())
            .ok_or_else(|| {
                crate::failures::input(format!(
                    "release {} has no command hook {label}",
                    release.id()
                ))
            })?;
        Ok((label, command))
    }
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    BeforeSwitch,
    AfterSwitch,
}

impl Phase {
    /// Its key under `x-windlass.hooks`.
    pub fn key(self) -> &'static str {
        match self {
            Phase::BeforeSwitch => "before_switch",
            Phase::AfterSwitch => "after_switch",
        }
    }
}

/// Why the deploy is rolling back (the Catch's `$.failure`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaughtFailure {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// What a target that has no proxy of windlass's cannot do.
fn unsupported(what: &str) -> Failure {
    Failure::new(
        failures::PROXY,
        format!("{what}: this target has no proxy of windlass's to weigh traffic on; remove `x-windlass.rollout` for it"),
    )
}

/// Where releases run. Errors are `Failure`s named `Deploy.*`
/// ([`crate::failures`]), so that the definition's Catch sends them
/// to the rollback.
#[async_trait]
pub trait Target: Send + Sync {
    /// Puts the traffic of every service back on the release the store says
    /// is live (after a restart); returns how many were restored.
    async fn restore(&self) -> Result<usize, String>;
    /// Builds the release's image, or takes the one it names, and pins it.
    async fn prepare(&self, release: &ReleaseContext) -> Result<Image, Failure>;
    /// Pushes a built image where its name says; returns it pinned by the
    /// registry's digest.
    async fn push(&self, release: &ReleaseContext, image: &Image) -> Result<Image, Failure>;
    /// Starts the release's replicas beside the live ones (or in their
    /// place, stop-first).
    async fn start(&self, release: &ReleaseContext) -> Result<Replicas, Failure>;
    /// Waits until the replicas are healthy; `None` looks them up.
    async fn wait_healthy(
        &self,
        release: &ReleaseContext,
        replicas: Option<&Replicas>,
    ) -> Result<Upstreams, Failure>;
    /// The release's upstreams if it can take traffic at once: every one of
    /// its replicas still runs and passes one look of the service's health
    /// check now (a warm standby); `None` when it must be started or waited
    /// for first. Changes nothing.
    async fn warm(&self, release: &ReleaseContext) -> Result<Option<Upstreams>, Failure>;
    /// Starts [`Target::warm`]'s look of `release` now, ahead of the step
    /// that asks for it (while an explicit rollback's first commit is
    /// written); that step's `warm` takes the look if it began a moment
    /// before (the Docker target: at most 500 ms). By default nothing is
    /// started and `warm` looks when asked.
    fn look_ahead(&self, _release: &ReleaseContext) {}
    /// Makes the release the one that takes traffic; records it live first.
    async fn switch(
        &self,
        release: &ReleaseContext,
        upstreams: &Upstreams,
    ) -> Result<Switched, Failure>;
    /// Makes several releases (one per service of an app) take traffic in
    /// one step: all are recorded live at once before any switches.
    async fn switch_all(
        &self,
        releases: &[(ReleaseContext, Upstreams)],
    ) -> Result<Vec<Switched>, Failure>;
    /// As [`Target::switch_all`], for releases [`Target::warm`] just found
    /// running and healthy: the store's record is written side by side with
    /// the switch instead of before it, so that the traffic does not wait
    /// for its fsync (both are done when this returns).
    async fn flip_all(
        &self,
        releases: &[(ReleaseContext, Upstreams)],
    ) -> Result<Vec<Switched>, Failure>;
    /// A rollout's step: each release takes `weight` of its service's new
    /// traffic beside the live release (all services in one step; a
    /// service with no live release or no proxy is left out). Returns the
    /// counters of both releases of each service as the step begins (its
    /// window's start). Setting the same weight again changes nothing.
    async fn set_weight(
        &self,
        releases: &[(ReleaseContext, Upstreams)],
        weight: windlass_proxy::Weight,
        sticky: Option<&windlass_proxy::Sticky>,
    ) -> Result<Vec<weights::Shares>, Failure> {
        let _ = (releases, weight, sticky);
        Err(unsupported("a rollout's weights"))
    }
    /// The counters of each release and its service's live release now, for
    /// the services [`Target::set_weight`] weighed.
    async fn shares(&self, releases: &[ReleaseContext]) -> Result<Vec<weights::Shares>, Failure> {
        let _ = releases;
        Err(unsupported("a rollout's counters"))
    }
    /// Takes the canary of each of `keys`' services out of service at once
    /// (a rollout aborted, or rolled back): their share goes back to the
    /// live releases. Returns the services that had one. By default there
    /// is nothing of the target's own to end (the Docker target's canaries
    /// are the proxy daemon's, which the agent ends itself).
    async fn end_canaries(&self, keys: &[ServiceKey]) -> Result<Vec<String>, Failure> {
        let _ = keys;
        Ok(Vec::new())
    }
    /// Watches the live release for the watch period; fails on a trigger.
    async fn watch(&self, release: &ReleaseContext) -> Result<Watched, Failure>;
    /// Stops what is neither live nor kept warm, and prunes old images.
    async fn retire(&self, release: &ReleaseContext) -> Result<Retired, Failure>;
    /// Puts the release that was live before back in service and removes
    /// this one (left running when `failure` is a pause).
    async fn roll_back(
        &self,
        release: &ReleaseContext,
        failure: Option<&CaughtFailure>,
    ) -> Result<RolledBack, Failure>;
    /// Stops and removes everything of the service (every release's
    /// containers, its proxy) and forgets its live release; returns how many
    /// containers went. Another app's service of the same name is not
    /// touched.
    async fn take_down(&self, key: &ServiceKey, spec: &Service) -> Result<usize, Failure>;
    /// Runs the release's command hook `hook` (its `x-windlass.hooks` entry)
    /// to its end.
    async fn run_hook(&self, release: &ReleaseContext, hook: &HookRef) -> Result<HookRun, Failure>;
    /// The time on the target's clock, for the dates of a release's
    /// history. By default the system's.
    fn now_millis(&self) -> i64 {
        windlass_runtime::Clock::now_millis(&windlass_runtime::SystemClock)
    }
}
