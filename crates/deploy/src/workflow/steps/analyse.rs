//! `analyse`: the end of a rollout step's bake. Both releases of every
//! weighed service are read again and the window since the step began is
//! judged (`rollout::judge`): a new release that did worse than the old
//! fails the step with `Deploy.AnalysisFailed` and the numbers; one that
//! served too few requests bakes again, at most `MAX_BAKES` times.

use serde::Deserialize;
use windlass_asl::Failure;

use super::switch_all::Healthy;
use crate::failures;
use crate::workflow::rollout::{judge, Criteria, Outcome, Progress, MAX_BAKES};
use crate::workflow::Inner;

#[derive(Debug, Deserialize)]
pub(crate) struct Input {
    app: String,
    release: String,
    healthy: Vec<Vec<Healthy>>,
    criteria: Criteria,
    /// What the step's `weigh` (and earlier bakes) wrote.
    rollout: Progress,
}

impl super::Subject for Input {
    fn subject(&self) -> (&str, &str) {
        (&self.app, &self.release)
    }
}

/// Written to `$.rollout`.
pub(crate) type Output = Progress;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let aborted = ctx
        .aborted
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&input.app);
    if aborted {
        return Err(Failure::new(
            failures::ABORTED,
            format!(
                "the rollout of app {} was aborted at step {} ({})",
                input.app, input.rollout.step, input.rollout.weight
            ),
        ));
    }
    let mut releases = Vec::new();
    for healthy in input.healthy.iter().flatten() {
        releases.push(healthy.at.load(ctx.releases.as_ref())?);
    }
    let now = ctx.target.shares(&releases).await?;
    let (outcome, judged) = judge(&input.criteria, &input.rollout.start, &now);
    let progress = Progress {
        bakes: input.rollout.bakes + 1,
        outcome: Some(outcome),
        judged,
        ..input.rollout
    };
    let findings = || {
        progress
            .judged
            .iter()
            .filter(|j| !j.finding.is_empty())
            .map(|j| format!("service {}: {}", j.service, j.finding))
            .collect::<Vec<_>>()
            .join("; ")
    };
    tracing::info!(app = %input.app, release = %input.release, step = progress.step, ?outcome, bakes = progress.bakes, "rollout analysis");
    match outcome {
        Outcome::Fail => Err(Failure::new(
            failures::ANALYSIS,
            format!(
                "the analysis of rollout step {} ({}) failed: {}",
                progress.step,
                progress.weight,
                findings()
            ),
        )),
        Outcome::Bake if progress.bakes >= MAX_BAKES => Err(Failure::new(
            failures::ANALYSIS,
            format!(
                "rollout step {} ({}) could not be judged after {} bakes: {}",
                progress.step,
                progress.weight,
                progress.bakes,
                findings()
            ),
        )),
        Outcome::Pass | Outcome::Bake => Ok(progress),
    }
}
