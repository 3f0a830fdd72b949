//! `weigh`: a rollout's step begins. Every service's new release takes the
//! step's weight of its new traffic beside the live release, all services
//! in one step; the answer is both releases' counters at that moment, the
//! start of the step's window, which the `analyse` step judges from. A
//! deploy aborted before its rollout began fails here with
//! `Deploy.Aborted`, its new releases never weighed.

use serde::Deserialize;
use windlass_asl::Failure;

use super::switch_all::Healthy;
use crate::target::{ReleaseContext, Upstreams};
use crate::workflow::rollout::{Progress, StepSpec};
use crate::workflow::Inner;

#[derive(Debug, Deserialize)]
pub(crate) struct Input {
    app: String,
    release: String,
    /// The start Map's result: each wave's services.
    healthy: Vec<Vec<Healthy>>,
    step: u32,
    spec: StepSpec,
}

impl super::Subject for Input {
    fn subject(&self) -> (&str, &str) {
        (&self.app, &self.release)
    }
}

/// Written to `$.rollout`.
pub(crate) type Output = Progress;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    // Aborted before the rollout began (building, starting): the new
    // releases take no share at all.
    ctx.unless_aborted(
        &input.app,
        &input.release,
        format_args!("{} ({})", input.step, input.spec.weight),
    )?;
    let mut releases: Vec<(ReleaseContext, Upstreams)> = Vec::new();
    for healthy in input.healthy.into_iter().flatten() {
        releases.push((healthy.at.load(ctx.releases.as_ref())?, healthy.upstreams));
    }
    let start = ctx
        .target
        .set_weight(&releases, input.spec.weight, input.spec.sticky.as_ref())
        .await?;
    tracing::info!(app = %input.app, release = %input.release, step = input.step, weight = %input.spec.weight, services = start.len(), "rollout step: the new releases take their share");
    Ok(Progress {
        step: input.step,
        weight: input.spec.weight,
        start,
        bakes: 0,
        outcome: None,
        judged: Vec::new(),
    })
}
