//! `approve`: a rollout's approval gate (`approve: true`, or `deploy
//! --canary`). Its state's resource ends in `.waitForTaskToken`: the step
//! only says that it waits, and the execution goes on when `windlass
//! approve` (or `promote`) sends the task's token back, or rolls back when
//! `windlass abort` fails it with `Deploy.Aborted` (or one kept from before
//! the rollout began fails it as it begins). The token is kept in the
//! execution's state, so a restarted agent still answers it.

use serde::Serialize;
use windlass_asl::Failure;

use crate::workflow::Inner;

/// A rollout step's gate or bake: which app release, at which step.
pub(crate) use super::AtStep as Input;

/// What the gate's submission says (the token's answer replaces it).
#[derive(Debug, Serialize)]
pub(crate) struct Output {
    pub waiting: bool,
}

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    // A gate comes after its step's bake, which takes an abort kept before
    // the rollout began; a gate that comes first takes it as well.
    ctx.unless_aborted(
        &input.app,
        &input.release,
        format_args!("{} ({})", input.step, input.weight),
    )?;
    tracing::info!(app = %input.app, release = %input.release, step = input.step, weight = %input.weight, "rollout held: waiting for windlass approve, promote or abort");
    Ok(Output { waiting: true })
}
