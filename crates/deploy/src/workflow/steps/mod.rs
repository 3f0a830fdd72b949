//! The deploy steps, one file each: its input (what it reads of the
//! execution's state, with the [`ReleaseRef`] flattened in) and its output
//! (what the state's ResultPath writes) typed at the top, then the step.

mod analyse;
mod approve;
mod bake;
mod build;
mod hook;
mod push;
mod retire;
mod rollback;
mod start;
mod switch;
mod switch_all;
mod switch_warm;
mod wait_healthy;
mod watch;
mod weigh;

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;
use windlass_asl::Failure;

use super::Inner;
use crate::failures;

/// A deploy resource, `arn:windlass:::deploy:STEP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Build,
    Push,
    Start,
    WaitHealthy,
    Switch,
    SwitchAll,
    SwitchWarm,
    Watch,
    Retire,
    Rollback,
    Hook,
    Weigh,
    Analyse,
    Approve,
    Bake,
}

impl Step {
    pub const ALL: [Step; 15] = [
        Step::Build,
        Step::Push,
        Step::Start,
        Step::WaitHealthy,
        Step::Switch,
        Step::SwitchAll,
        Step::SwitchWarm,
        Step::Watch,
        Step::Retire,
        Step::Rollback,
        Step::Hook,
        Step::Weigh,
        Step::Analyse,
        Step::Approve,
        Step::Bake,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Build => "build",
            Step::Push => "push",
            Step::Start => "start",
            Step::WaitHealthy => "wait-healthy",
            Step::Switch => "switch",
            Step::SwitchAll => "switch-all",
            Step::SwitchWarm => "switch-warm",
            Step::Watch => "watch",
            Step::Retire => "retire",
            Step::Rollback => "rollback",
            Step::Hook => "hook",
            Step::Weigh => "weigh",
            Step::Analyse => "analyse",
            Step::Approve => "approve",
            Step::Bake => "bake",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = String;

    fn from_str(name: &str) -> Result<Step, String> {
        Step::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Step::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "windlass has no deploy step '{name}'; the steps are {}",
                    known.join(", ")
                )
            })
    }
}

/// Runs `step` on the execution's state `input`.
pub(crate) async fn run(ctx: &Inner, step: Step, input: Json) -> Result<Json, Failure> {
    match step {
        Step::Build => typed(step, input, |i| build::run(ctx, i)).await,
        Step::Push => typed(step, input, |i| push::run(ctx, i)).await,
        Step::Start => typed(step, input, |i| start::run(ctx, i)).await,
        Step::WaitHealthy => typed(step, input, |i| wait_healthy::run(ctx, i)).await,
        Step::Switch => typed(step, input, |i| switch::run(ctx, i)).await,
        Step::SwitchAll => typed(step, input, |i| switch_all::run(ctx, i)).await,
        Step::SwitchWarm => typed(step, input, |i| switch_warm::run(ctx, i)).await,
        Step::Watch => typed(step, input, |i| watch::run(ctx, i)).await,
        Step::Retire => typed(step, input, |i| retire::run(ctx, i)).await,
        Step::Rollback => typed(step, input, |i| rollback::run(ctx, i)).await,
        Step::Hook => typed(step, input, |i| hook::run(ctx, i)).await,
        Step::Weigh => typed(step, input, |i| weigh::run(ctx, i)).await,
        Step::Analyse => typed(step, input, |i| analyse::run(ctx, i)).await,
        Step::Approve => typed(step, input, |i| approve::run(ctx, i)).await,
        Step::Bake => typed(step, input, |i| bake::run(ctx, i)).await,
    }
}

/// What a step's input is about, for the log: the service (or app) and
/// the release.
pub(crate) trait Subject {
    fn subject(&self) -> (&str, &str);
}

/// Reads the step's input type from the state, runs it, writes its output.
async fn typed<I, O, F>(step: Step, input: Json, run: impl FnOnce(I) -> F) -> Result<Json, Failure>
where
    I: DeserializeOwned + Subject,
    O: Serialize,
    F: Future<Output = Result<O, Failure>>,
{
    let input: I = serde_json::from_value(input)
        .map_err(|e| failures::input(format!("the {step} step's input: {e}")))?;
    let (subject, release) = input.subject();
    tracing::info!(%subject, %release, %step, "deploy step");
    let output = run(input).await?;
    serde_json::to_value(&output)
        .map_err(|e| failures::input(format!("the {step} step's output: {e}")))
}

/// A step input that is the [`ReleaseRef`] alone.
macro_rules! release_only_input {
    () => {
        /// What the step reads: which release, nothing else.
        #[derive(Debug, serde::Deserialize)]
        pub(crate) struct Input {
            #[serde(flatten)]
            pub at: crate::workflow::ReleaseRef,
        }

        impl super::Subject for Input {
            fn subject(&self) -> (&str, &str) {
                (&self.at.service, &self.at.release)
            }
        }
    };
}
pub(crate) use release_only_input;

#[cfg(test)]
mod tests {
    use super::Step;

    #[test]
    fn step_names_read_back() {
        for step in Step::ALL {
            assert_eq!(step.as_str().parse::<Step>(), Ok(step));
        }
        let error = "deploy".parse::<Step>().expect_err("unknown");
        assert!(error.contains("build, push, start"), "{error}");
    }
}

/// The input of a rollout step's bake and of its approval gate: which app
/// release, at which step and weight.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct AtStep {
    pub app: String,
    pub release: String,
    pub step: u32,
    pub weight: windlass_proxy::Weight,
}

impl Subject for AtStep {
    fn subject(&self) -> (&str, &str) {
        (&self.app, &self.release)
    }
}
