//! `analyse`: the end of a rollout step's bake. Both releases of every
//! weighed service are read again and the window since the step began is
//! judged (`rollout::judge`): a new release that did worse than the old
//! fails the step with `Deploy.AnalysisFailed` and the numbers, as does a
//! failed HTTP check or an alarm in ALARM (`rollout::checks`); one that
//! served too few requests bakes again, at most `MAX_BAKES` times. A
//! canary held at its gate (`held`) is judged the same way every interval
//! for as long as it waits, each window from the end of the last one that
//! was judged; too few requests only widen the window.

use serde::Deserialize;
use windlass_asl::Failure;

use super::switch_all::Healthy;
use crate::failures;
use crate::workflow::rollout::{checks, judge, Criteria, Outcome, Progress, MAX_BAKES};
use crate::workflow::Inner;

#[derive(Debug, Deserialize)]
pub(crate) struct Input {
    app: String,
    release: String,
    healthy: Vec<Vec<Healthy>>,
    criteria: Criteria,
    /// What the step's `weigh` (and earlier bakes) wrote.
    rollout: Progress,
    /// The canary waits at its gate: judged again each interval, never
    /// given up on for want of requests.
    #[serde(default)]
    held: bool,
}

impl super::Subject for Input {
    fn subject(&self) -> (&str, &str) {
        (&self.app, &self.release)
    }
}

/// Written to `$.rollout`.
pub(crate) type Output = Progress;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    ctx.unless_aborted(
        &input.app,
        &input.release,
        format_args!("{} ({})", input.rollout.step, input.rollout.weight),
    )?;
    let mut releases = Vec::new();
    for healthy in input.healthy.iter().flatten() {
        releases.push(healthy.at.load(ctx.releases.as_ref())?);
    }
    let now = ctx.target.shares(&releases).await?;
    let (mut outcome, judged) = judge(&input.criteria, &input.rollout.start, &now);
    let mut failed_checks = Vec::new();
    if let Some(path) = &input.criteria.http {
        for (healthy, release) in input.healthy.iter().flatten().zip(&releases) {
            let weighed = input
                .rollout
                .start
                .iter()
                .any(|s| s.service == release.key.service());
            if weighed {
                failed_checks.extend(checks::http(path, release, &healthy.upstreams).await);
            }
        }
    }
    failed_checks.extend(checks::alarms(&input.criteria.alarms).await);
    if !failed_checks.is_empty() {
        outcome = Outcome::Fail;
    }
    // A judged window is closed: a held canary's next one starts now.
    let start = if outcome == Outcome::Pass {
        now
    } else {
        input.rollout.start.clone()
    };
    let progress = Progress {
        bakes: input.rollout.bakes + 1,
        outcome: Some(outcome),
        judged,
        start,
        ..input.rollout
    };
    let held = if input.held {
        " while it was held at the gate"
    } else {
        ""
    };
    let findings = || {
        progress
            .judged
            .iter()
            .filter(|j| !j.finding.is_empty())
            .map(|j| format!("service {}: {}", j.service, j.finding))
            .chain(failed_checks.iter().cloned())
            .collect::<Vec<_>>()
            .join("; ")
    };
    tracing::info!(app = %input.app, release = %input.release, step = progress.step, ?outcome, bakes = progress.bakes, "rollout analysis");
    match outcome {
        Outcome::Fail => Err(Failure::new(
            failures::ANALYSIS,
            format!(
                "the analysis of rollout step {} ({}) failed{held}: {}",
                progress.step,
                progress.weight,
                findings()
            ),
        )),
        Outcome::Bake if !input.held && progress.bakes >= MAX_BAKES => Err(Failure::new(
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
