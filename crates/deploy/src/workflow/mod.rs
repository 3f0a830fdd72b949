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
}

impl Inner {
    /// Who aborted the deploy of app release `release` of `app` while it
    /// was at no bake or gate (building, starting), as the store keeps it
    /// ([`Deployer::abort`]) until the deploy ends: a bake retried after a
    /// crash finds it again. One kept for another release of the app (its
    /// deploy ended as the agent died, before it was dropped) is not this
    /// deploy's.
    pub(crate) fn abort_of(&self, app: &str, release: &str) -> Result<Option<String>, Failure> {
        let Some(abort) = self.releases.abort_of(app).map_err(errors::store)? else {
            return Ok(None);
        };
        if abort.release != release {
            tracing::warn!(%app, %release, aborted = %abort.release, by = %abort.by, "an abort kept for another deploy of the app is left alone");
            return Ok(None);
        }
        Ok(Some(abort.by))
    }

    /// Fails a rollout step (`1 (20%)`) with `Deploy.Aborted` when an
    /// abort of this deploy is kept ([`Inner::abort_of`]): weighed, baked,
    /// analysed or held at a gate, the aborted release takes no traffic.
    pub(crate) fn unless_aborted(
        &self,
        app: &str,
        release: &str,
        step: std::fmt::Arguments<'_>,
    ) -> Result<(), Failure> {
        match self.abort_of(app, release)? {
            Some(by) => Err(Failure::new(
                errors::ABORTED,
                rollout::aborted(app, &step.to_string(), &by),
            )),
            None => Ok(()),
        }
    }
}

impl Deployer {
    pub fn new(target: Arc<dyn Target>, releases: Arc<dyn Releases>) -> Deployer {
        Deployer {
            inner: Arc::new(Inner { target, releases }),
        }
    }

    /// Makes the first bake, gate or analysis of the deploy of app
    /// release `release` of `app` fail with `Deploy.Aborted`, aborted by
    /// `by` at `millis` (its canaries already took no traffic). Kept in
    /// the store before it returns, until the deploy ends
    /// ([`Deployer::forget_abort`]): a restarted agent's deploy finds it.
    pub fn abort(
        &self,
        app: &str,
        release: &str,
        by: &str,
        millis: i64,
    ) -> Result<(), windlass_store::Error> {
        self.inner
            .releases
            .keep_abort(&windlass_store::releases::Abort {
                app: app.to_owned(),
                release: release.to_owned(),
                by: by.to_owned(),
                millis,
            })
    }

    /// Drops an abort of `app`'s rollout once its deploy ended (rolled
    /// back by it, or ended before a bake took it), so that it never
    /// reaches the app's next deploy.
    pub fn forget_abort(&self, app: &str) {
        if let Err(e) = self.inner.releases.drop_abort(app) {
            tracing::warn!(%app, error = %e, "an abort kept for a deploy that ended could not be dropped");
        }
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

    /// An abort kept for app release a2 (its deploy built or started):
    /// a bake of another release of the app is not failed by it; a2's
    /// bake is, and again when retried (after a crash), until the deploy
    /// ends and the abort is forgotten.
    #[tokio::test]
    async fn a_kept_abort_fails_its_own_deploys_bakes_until_forgotten() {
        let releases: Arc<dyn Releases> =
            Arc::new(windlass_store::releases::SqliteReleases::in_memory().expect("releases"));
        let target = crate::target::docker::DockerTarget::new(
            Arc::new(crate::test_util::FakeBackend::new()),
            Arc::clone(&releases),
            Proxies::local(),
            Arc::new(windlass_runtime::SystemClock),
            Config::default(),
        );
        let deployer = Deployer::new(Arc::new(target), releases);
        deployer.abort("shop", "a2", "ann", 1).expect("kept");
        let bake = |release: &str| {
            let input =
                serde_json::json!({"app": "shop", "release": release, "step": 1, "weight": 20});
            steps::run(&deployer.inner, Step::Bake, input)
        };
        assert_eq!(
            bake("a1").await.expect("a1 bakes"),
            serde_json::json!({"baking": true})
        );
        for _ in 0..2 {
            let failed = bake("a2").await.expect_err("aborted");
            assert_eq!(failed.error, errors::ABORTED);
            assert_eq!(
                failed.cause,
                "the rollout of app shop was aborted at step 1 (20%) by ann"
            );
        }
        deployer.forget_abort("shop");
        assert!(bake("a2").await.is_ok());
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
