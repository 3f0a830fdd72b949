//! A deploy as an ASL execution. The built-in definitions
//! ([`DEPLOY_DEFINITION`], [`ROLLBACK_DEFINITION`]) are Task states whose
//! resources (`arn:windlass:::deploy:*`) the [`Deployer`] carries out: one
//! file per step in [`steps`], each with its typed input (what it reads of
//! the execution's state) and output (what its ResultPath writes), calling
//! the release-level [`Target`] trait. The workflow knows nothing of Docker.
//!
//! Every step is idempotent, because after a crash the runtime fails an
//! interrupted task with `States.TaskFailed` and the definition's Retry runs
//! it again. Failures of the deploy itself carry `Deploy.*` error names
//! ([`errors`]), so only interruptions are retried and everything else goes
//! to the rollback state.

pub mod app;
mod context;
pub mod hooks;
pub mod rollout;
pub mod steps;

use std::sync::Arc;

use serde_json::Value as Json;
use windlass_asl::Failure;
use windlass_engine::TaskRequest;
use windlass_runtime::invoke::BoxFuture;
use windlass_runtime::Invoker;
use windlass_store::releases::Releases;

use crate::target::Target;

pub use crate::failures as errors;
pub use crate::target::docker::{Config, Proxies};
pub use crate::target::Mode;
pub use context::ReleaseRef;
pub use steps::Step;

/// The built-in deploy: build, push, start, wait healthy, switch, watch,
/// retire; a Catch sends any failure to the rollback.
pub const DEPLOY_DEFINITION: &str = include_str!("deploy.asl.json");
/// The built-in explicit rollback to an earlier release.
pub const ROLLBACK_DEFINITION: &str = include_str!("rollback.asl.json");
/// Every deploy resource starts with this.
pub const RESOURCE_PREFIX: &str = "arn:windlass:::deploy:";

/// Carries out the deploy resources on a target; register it for
/// [`RESOURCE_PREFIX`]. Cheap to clone.
#[derive(Clone)]
pub struct Deployer {
    inner: Arc<Inner>,
}

/// What every step may use.
pub(crate) struct Inner {
    pub(crate) target: Arc<dyn Target>,
    pub(crate) releases: Arc<dyn Releases>,
    /// Apps whose rollout a person aborted while it was at no bake or gate
    /// (building, starting), with who aborted it: the
    /// next bake or analysis fails with `Deploy.Aborted` (`windlass abort`).
    pub(crate) aborted: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

impl Inner {
    /// Who aborted `app`'s rollout, when that abort was not yet acted on;
    /// taken.
    pub(crate) fn take_abort(&self, app: &str) -> Option<String> {
        self.aborted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(app)
    }
}

impl Deployer {
    pub fn new(target: Arc<dyn Target>, releases: Arc<dyn Releases>) -> Deployer {
        Deployer {
            inner: Arc::new(Inner {
                target,
                releases,
                aborted: Default::default(),
            }),
        }
    }

    /// Makes the next bake or analysis of `app`'s rollout fail with
    /// `Deploy.Aborted`, aborted by `by` (its canaries already took no
    /// traffic).
    pub fn abort(&self, app: &str, by: &str) {
        self.inner
            .aborted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(app.to_owned(), by.to_owned());
    }

    /// Drops an abort of `app`'s rollout that no bake took (its deploy
    /// ended first).
    pub fn forget_abort(&self, app: &str) {
        self.inner.take_abort(app);
    }

    /// Puts every service's traffic back on the release the store says is
    /// live (after a restart).
    pub async fn restore(&self) -> Result<usize, String> {
        self.inner.target.restore().await
    }
}

impl Invoker for Deployer {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let this = self.clone();
        Box::pin(async move {
            // A gate's resource waits for its task token; the step itself
            // only says that it waits.
            let name = request
                .resource
                .strip_prefix(RESOURCE_PREFIX)
                .unwrap_or_default()
                .trim_end_matches(".waitForTaskToken");
            let step: Step = name
                .parse()
                .map_err(|e: String| Failure::new("States.TaskFailed", e))?;
            steps::run(&this.inner, step, request.input).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    assert!(step.parse::<Step>().is_ok(), "{name} calls {resource}");
                }
            }
        }
    }

    #[test]
    fn every_step_error_is_caught_by_the_no_retry_rule() {
        let json: Json = serde_json::from_str(DEPLOY_DEFINITION).expect("JSON");
        let no_retry = &json["States"]["Build"]["Retry"][0]["ErrorEquals"];
        for name in errors::NOT_RETRIED {
            assert!(
                no_retry
                    .as_array()
                    .is_some_and(|a| a.iter().any(|e| e == name)),
                "{name} would be retried"
            );
        }
    }
}
