//! `bake`: a rollout step's bake. Its state's resource ends in
//! `.waitForTaskToken` and its `TimeoutSeconds` is the step's interval: the
//! step only says that it bakes, and the execution goes on to the analysis
//! when the timeout fires (the timer is the execution's stored state, so a
//! restarted agent keeps its first deadline), at once when `windlass
//! promote` answers the token, or to the rollback when `windlass abort`
//! fails it with `Deploy.Aborted`. An abort that came before the bake began
//! (while the deploy built or started, or the step was weighed), kept in
//! the store through a crash of the agent, fails it as it begins.

use serde::Serialize;
use windlass_asl::Failure;

use crate::workflow::Inner;

/// A rollout step's gate or bake: which app release, at which step.
pub(crate) use super::AtStep as Input;

/// What the bake's submission says (the token's answer replaces it).
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    pub baking: bool,
}

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    ctx.unless_aborted(
        &input.app,
        &input.release,
        format_args!("{} ({})", input.step, input.weight),
    )?;
    tracing::info!(app = %input.app, release = %input.release, step = input.step, weight = %input.weight, "rollout step bakes");
    Ok(Output { baking: true })
}
