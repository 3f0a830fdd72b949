//! A deploy as an ASL execution. The built-in definitions
//! ([`DEPLOY_DEFINITION`], [`ROLLBACK_DEFINITION`]) are Task states whose
//! resources (`arn:windlass:::deploy:*`) the [`Deployer`] carries out.
//!
//! Every step is idempotent, because after a crash the runtime fails an
//! interrupted task with `States.TaskFailed` and the definition's Retry runs
//! it again: containers are found again by name and labels, the live
//! release is written to the store before the proxy switches, and retiring or
//! removing what is already gone is not an error. Failures of the deploy
//! itself carry `Deploy.*` error names, so only interruptions are retried and
//! everything else goes to the rollback state.

mod after;
pub mod hooks;
mod proxies;
mod steps;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value as Json;
use windlass_asl::Failure;
use windlass_engine::TaskRequest;
use windlass_runtime::invoke::BoxFuture;
use windlass_runtime::{Clock, Invoker};
use windlass_store::releases::{Release, Releases};

use crate::backend::{Backend, Container, RELEASE_LABEL, SERVICE_LABEL};
use crate::compose::{self, Service};

pub use proxies::Proxies;

/// The built-in deploy: build, push, start, wait healthy, switch, watch,
/// retire; a Catch sends any failure to the rollback.
pub const DEPLOY_DEFINITION: &str = include_str!("deploy.asl.json");
/// The built-in explicit rollback to an earlier release.
pub const ROLLBACK_DEFINITION: &str = include_str!("rollback.asl.json");
/// Every deploy resource starts with this.
pub const RESOURCE_PREFIX: &str = "arn:windlass:::deploy:";

/// Error names the steps fail with.
pub mod errors {
    pub const BUILD: &str = "Deploy.BuildFailed";
    pub const IMAGE: &str = "Deploy.ImageUnavailable";
    pub const PUSH: &str = "Deploy.PushFailed";
    pub const START: &str = "Deploy.StartFailed";
    pub const UNHEALTHY: &str = "Deploy.Unhealthy";
    pub const PROXY: &str = "Deploy.ProxyFailed";
    pub const SERVER_ERRORS: &str = "Deploy.ServerErrors";
    pub const LATENCY: &str = "Deploy.SlowAnswers";
    pub const INPUT: &str = "Deploy.BadInput";
    pub const STORE: &str = "Deploy.StoreFailed";
    pub const ENGINE: &str = "Deploy.EngineFailed";
    pub const HOOK: &str = "Deploy.HookFailed";
    /// update_config.failure_action pause: the new release is left as it
    /// is, not switched to, for a person to look at.
    pub const PAUSED: &str = "Deploy.Paused";
}

/// What the deploy steps need that is not in the execution's input.
pub struct Config {
    /// Credentials for pushing and pulling, per registry host.
    pub credentials: crate::credentials::Credentials,
    /// Values for `environment` keys without one and for build args.
    pub env: BTreeMap<String, String>,
    /// How long a release that is no longer live may take to finish its requests.
    pub drain_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            credentials: Default::default(),
            env: std::env::vars().collect(),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Carries out the deploy resources; register it for [`RESOURCE_PREFIX`].
#[derive(Clone)]
pub struct Deployer {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Arc<dyn Backend>,
    releases: Arc<dyn Releases>,
    proxies: Proxies,
    clock: Arc<dyn Clock>,
    config: Config,
}

impl Deployer {
    pub fn new(
        backend: Arc<dyn Backend>,
        releases: Arc<dyn Releases>,
        proxies: Proxies,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> Deployer {
        Deployer {
            inner: Arc::new(Inner {
                backend,
                releases,
                proxies,
                clock,
                config,
            }),
        }
    }

    pub fn proxies(&self) -> &Proxies {
        &self.inner.proxies
    }

    /// Puts every service's proxy back on the release the store says is live
    /// (after a restart).
    pub async fn restore(&self) -> Result<usize, String> {
        let lives = self.inner.releases.all_live().map_err(|e| e.to_string())?;
        // A service that publishes no port has no proxy to restore.
        let proxied: Vec<_> = lives
            .into_iter()
            .filter(|l| !l.address.is_empty())
            .collect();
        let count = proxied.len();
        for live in proxied {
            self.inner.proxies.restore(&live).await?;
        }
        Ok(count)
    }
}

impl Invoker for Deployer {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let this = self.clone();
        Box::pin(async move {
            let step = request
                .resource
                .strip_prefix(RESOURCE_PREFIX)
                .unwrap_or_default()
                .to_owned();
            let input: Input = serde_json::from_value(request.input).map_err(|e| {
                Failure::new(errors::INPUT, format!("the {step} step's input: {e}"))
            })?;
            let ctx = &this.inner;
            tracing::info!(service = %input.service, release = %input.release, %step, "deploy step");
            match step.as_str() {
                "build" => steps::build(ctx, &input).await,
                "push" => steps::push(ctx, &input).await,
                "start" => steps::start(ctx, &input).await,
                "wait-healthy" => steps::wait_healthy(ctx, &input).await,
                "switch" => steps::switch(ctx, &input).await,
                "watch" => after::watch(ctx, &input).await,
                "retire" => after::retire(ctx, &input).await,
                "rollback" => after::rollback(ctx, &input).await,
                "hook" => match &input.hook {
                    Some(hook) => hooks::run(ctx, &input, hook).await,
                    None => Err(Failure::new(errors::INPUT, "the hook step needs $.hook (phase and index)")),
                },
                other => Err(Failure::new(
                    "States.TaskFailed",
                    format!("windlass has no deploy step '{other}'; the steps are build, push, start, wait-healthy, switch, watch, retire, rollback, hook"),
                )),
            }
        })
    }
}

/// Whether an execution deploys a new release or rolls back to an old one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Deploy,
    Rollback,
}

/// What a step reads of the execution's state. The agent starts the
/// execution with `service`, `release`, `previous`, `mode` and
/// `requested_millis`; earlier steps add the rest through their ResultPath.
#[derive(Debug, Deserialize)]
pub(crate) struct Input {
    service: String,
    release: String,
    /// The release that was live when the execution started.
    #[serde(default)]
    previous: Option<String>,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    requested_millis: Option<i64>,
    #[serde(default)]
    image: Option<ImageOutput>,
    #[serde(default)]
    containers: Option<ContainersOutput>,
    #[serde(default)]
    upstreams: Option<UpstreamsOutput>,
    #[serde(default)]
    failure: Option<CaughtFailure>,
    /// Which hook the `hook` step runs.
    #[serde(default)]
    hook: Option<hooks::HookRef>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
pub(crate) struct ImageOutput {
    reference: String,
    digest: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    push: Option<String>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
pub(crate) struct ContainersOutput {
    ids: Vec<String>,
}

#[derive(Debug, Deserialize, serde::Serialize)]
pub(crate) struct UpstreamsOutput {
    addresses: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CaughtFailure {
    #[serde(rename = "Error", default)]
    error: String,
    #[serde(rename = "Cause", default)]
    cause: String,
}

impl Inner {
    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    fn release(&self, service: &str, id: &str) -> Result<Release, Failure> {
        self.releases
            .get(service, id)
            .map_err(store_failure)?
            .ok_or_else(|| {
                Failure::new(
                    errors::INPUT,
                    format!("service {service} has no release {id} in the store"),
                )
            })
    }

    /// The release's service as its pinned Compose text describes it.
    fn service(&self, release: &Release) -> Result<Service, Failure> {
        let project = compose::parse(&release.compose_text, Path::new(&release.compose_file))
            .map_err(|e| Failure::new(errors::INPUT, e.to_string()))?;
        project
            .services
            .get(&release.service)
            .cloned()
            .ok_or_else(|| {
                Failure::new(
                    errors::INPUT,
                    format!(
                        "{} has no service {}",
                        release.compose_file, release.service
                    ),
                )
            })
    }

    /// The release's containers, found by their labels.
    async fn containers(&self, service: &str, release: &str) -> Result<Vec<Container>, Failure> {
        let labels = BTreeMap::from([
            (SERVICE_LABEL.to_owned(), service.to_owned()),
            (RELEASE_LABEL.to_owned(), release.to_owned()),
        ]);
        let containers = self
            .backend
            .list_containers(&labels)
            .await
            .map_err(|e| Failure::new(errors::ENGINE, e.to_string()))?;
        // A hook's one-off container is not one of the release's replicas.
        Ok(containers
            .into_iter()
            .filter(|c| !c.labels.contains_key(hooks::HOOK_LABEL))
            .collect())
    }
}

fn store_failure(error: windlass_store::Error) -> Failure {
    Failure::new(errors::STORE, error.to_string())
}

fn output(value: &impl serde::Serialize) -> Result<Json, Failure> {
    serde_json::to_value(value).map_err(|e| Failure::new(errors::INPUT, e.to_string()))
}

fn parse_upstreams(addresses: &[String]) -> Result<Vec<SocketAddr>, Failure> {
    addresses
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|e| Failure::new(errors::INPUT, format!("upstream {a:?}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: [&str; 8] = [
        "build",
        "push",
        "start",
        "wait-healthy",
        "switch",
        "watch",
        "retire",
        "rollback",
    ];

    #[test]
    fn the_built_in_definitions_are_valid_and_call_only_deploy_steps() {
        for text in [DEPLOY_DEFINITION, ROLLBACK_DEFINITION] {
            let parsed = windlass_asl::parse::parse_text(text).valid();
            assert!(parsed.is_ok(), "{:?}", parsed.err());
            let json: Json = serde_json::from_str(text).expect("JSON");
            let states = json["States"].as_object().expect("States");
            for (name, state) in states {
                if let Some(resource) = state["Resource"].as_str() {
                    let step = resource.strip_prefix(RESOURCE_PREFIX).unwrap_or(resource);
                    assert!(STEPS.contains(&step), "{name} calls {resource}");
                }
            }
        }
    }

    #[test]
    fn every_step_error_is_caught_by_the_no_retry_rule() {
        let json: Json = serde_json::from_str(DEPLOY_DEFINITION).expect("JSON");
        let no_retry = &json["States"]["Build"]["Retry"][0]["ErrorEquals"];
        for name in [
            errors::BUILD,
            errors::IMAGE,
            errors::PUSH,
            errors::START,
            errors::UNHEALTHY,
            errors::PROXY,
            errors::SERVER_ERRORS,
            errors::LATENCY,
            errors::INPUT,
            errors::STORE,
            errors::ENGINE,
        ] {
            assert!(
                no_retry
                    .as_array()
                    .is_some_and(|a| a.iter().any(|e| e == name)),
                "{name} would be retried"
            );
        }
    }
}
