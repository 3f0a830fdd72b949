//! How ECS moves a service to its new revision: its rolling update, its
//! blue/green deployment, or a rollout (`x-windlass.rollout`) as ECS's own
//! `CANARY` or `LINEAR` strategy, which shifts the load balancer's traffic
//! between the two revisions' target groups. ECS shifts and judges by
//! itself (CloudWatch alarms), so what windlass's proxy does on the Docker
//! target and ECS cannot (a sticky cookie, an approval gate, thresholds
//! measured on requests, steps of any size) is refused, each with the key
//! at fault and what to write instead.

use std::fmt;
use std::time::Duration;

use serde_json::{json, Value as Json};

use crate::compose::rollout::{Kind, Rollout};

/// The bake time, in minutes, of ECS's blue/green, canary and linear
/// strategies (both revisions kept after all the traffic shifted) when
/// `x-windlass.ecs.bakeTimeMinutes` is not given.
pub const DEFAULT_BAKE_MINUTES: u32 = 5;

/// ECS's longest bake of a canary or a linear step: 24 hours.
const MAX_BAKE_MINUTES: u64 = 1440;

/// ECS's smallest linear step, in percent.
const MIN_LINEAR_STEP: u32 = 3;

/// ECS's `DeploymentConfiguration.strategy` and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `ROLLING`: tasks replaced within the minimum and maximum percent,
    /// the circuit breaker rolling back.
    Rolling,
    /// `BLUE_GREEN`: all the traffic at once, both revisions kept
    /// `bake_minutes` after.
    BlueGreen { bake_minutes: u32 },
    /// `CANARY`: `percent` of the traffic for `canary_bake_minutes`, then
    /// the rest, both revisions kept `bake_minutes` after.
    Canary {
        percent: u32,
        canary_bake_minutes: u32,
        bake_minutes: u32,
    },
    /// `LINEAR`: `step_percent` more of the traffic every
    /// `step_bake_minutes` until all of it, both revisions kept
    /// `bake_minutes` after.
    Linear {
        step_percent: u32,
        step_bake_minutes: u32,
        bake_minutes: u32,
    },
}

impl Strategy {
    /// Whether ECS shifts traffic between two revisions (every strategy
    /// but the rolling update): lifecycle hooks and bake time apply, the
    /// circuit breaker and the percentages do not.
    pub fn shifts_traffic(self) -> bool {
        self != Strategy::Rolling
    }

    /// How ECS goes back to the previous revision: a canary or linear
    /// rollout's rollback moves all the traffic at once (blue/green, the
    /// same bake time) rather than a share at a time, as the Docker
    /// target's does; rolling and blue/green go back as they came.
    pub fn rollback(self) -> Strategy {
        match self {
            Strategy::Canary { bake_minutes, .. } | Strategy::Linear { bake_minutes, .. } => {
                Strategy::BlueGreen { bake_minutes }
            }
            other => other,
        }
    }

    /// How long ECS takes, once the new revision's tasks run, to shift all
    /// the traffic and bake: an alarm in that time has ECS roll back, so
    /// the deploy watches the service at least that long.
    pub fn shift_time(self) -> Duration {
        let minutes = match self {
            Strategy::Rolling => 0,
            Strategy::BlueGreen { bake_minutes } => bake_minutes,
            Strategy::Canary {
                canary_bake_minutes,
                bake_minutes,
                ..
            } => canary_bake_minutes + bake_minutes,
            // No bake after the step that reaches 100 %.
            Strategy::Linear {
                step_percent,
                step_bake_minutes,
                bake_minutes,
            } => (100u32.div_ceil(step_percent.max(1)) - 1) * step_bake_minutes + bake_minutes,
        };
        Duration::from_secs(u64::from(minutes) * 60)
    }

    /// ECS's `DeploymentConfiguration` for this strategy, without alarms
    /// and lifecycle hooks; `stop_first` sets a rolling update's
    /// percentages (minimum 0 %, maximum 100 %).
    pub fn deployment_configuration(self, stop_first: bool) -> Json {
        match self {
            Strategy::Rolling => {
                let (minimum, maximum) = if stop_first { (0, 100) } else { (100, 200) };
                json!({
                    "DeploymentCircuitBreaker": { "Enable": true, "Rollback": true },
                    "MinimumHealthyPercent": minimum, "MaximumPercent": maximum })
            }
            Strategy::BlueGreen { bake_minutes } => {
                json!({ "Strategy": "BLUE_GREEN", "BakeTimeInMinutes": bake_minutes })
            }
            // ECS's percentages are Doubles (multiples of 0.1).
            Strategy::Canary {
                percent,
                canary_bake_minutes,
                bake_minutes,
            } => json!({ "Strategy": "CANARY", "BakeTimeInMinutes": bake_minutes,
                "CanaryConfiguration": { "CanaryPercent": f64::from(percent),
                    "CanaryBakeTimeInMinutes": canary_bake_minutes } }),
            Strategy::Linear {
                step_percent,
                step_bake_minutes,
                bake_minutes,
            } => json!({ "Strategy": "LINEAR", "BakeTimeInMinutes": bake_minutes,
                "LinearConfiguration": { "StepPercent": f64::from(step_percent),
                    "StepBakeTimeInMinutes": step_bake_minutes } }),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Strategy::Rolling => write!(f, "rolling"),
            Strategy::BlueGreen { bake_minutes } => write!(
                f,
                "ECS blue/green (BLUE_GREEN, bake time {bake_minutes} min)"
            ),
            Strategy::Canary {
                percent,
                canary_bake_minutes,
                bake_minutes,
            } => write!(
                f,
                "ECS canary (CANARY): {percent}% of the traffic for {canary_bake_minutes} min, then all of it; both revisions kept {bake_minutes} min after (bake time)"
            ),
            Strategy::Linear {
                step_percent,
                step_bake_minutes,
                bake_minutes,
            } => write!(
                f,
                "ECS linear (LINEAR): {step_percent}% more of the traffic every {step_bake_minutes} min until all of it; both revisions kept {bake_minutes} min after (bake time)"
            ),
        }
    }
}

/// A setting ECS cannot carry out: its key under `x-windlass` and why.
pub type Refused = (&'static str, String);

/// `x-windlass.rollout` as ECS's `CANARY` or `LINEAR` strategy, with
/// `bake_minutes` of bake time after the whole shift; else every key ECS
/// cannot honour.
pub fn of_rollout(rollout: &Rollout, bake_minutes: u32) -> Result<Strategy, Vec<Refused>> {
    let mut refused: Vec<Refused> = Vec::new();
    let interval = rollout.interval();
    let minutes = interval.as_secs() / 60;
    if !interval.as_secs().is_multiple_of(60)
        || interval.subsec_nanos() != 0
        || minutes > MAX_BAKE_MINUTES
    {
        refused.push(("rollout.interval", format!("ECS bakes each step for whole minutes, 0 to {MAX_BAKE_MINUTES} (24 h): {interval:?} is not; write `interval: {}m`", minutes.clamp(1, MAX_BAKE_MINUTES))));
    }
    if rollout.sticky.is_some() {
        refused.push(("rollout.sticky", "ECS shifts traffic by weighing the load balancer's two target groups, and keeps no user on one revision by a cookie or header of windlass's proxy: remove `sticky` (stickiness between weighted target groups is the load balancer's listener rule setting, not windlass's)".into()));
    }
    if rollout.approve {
        refused.push(("rollout.approve", "ECS shifts the traffic on its own schedule and has no gate that `windlass approve` answers: remove `approve`, or hold the deployment with a Lambda hook (`x-windlass.ecs.lambdaHooks`), which ECS invokes at its lifecycle stages".into()));
    }
    let analysis = &rollout.analysis;
    let measured = [
        (
            "rollout.analysis.max_server_error_increase",
            analysis.max_server_error_increase.is_some(),
        ),
        (
            "rollout.analysis.max_p99_ratio",
            analysis.max_p99_ratio.is_some(),
        ),
        (
            "rollout.analysis.min_requests",
            analysis.min_requests.is_some(),
        ),
    ];
    for (key, given) in measured {
        if given {
            refused.push((key, "windlass measures this on its own proxy, which ECS's traffic does not pass through; ECS judges a deployment by CloudWatch alarms: name them in `x-windlass.rollout.analysis.alarms` (the load balancer's HTTPCode_Target_5XX_Count or TargetResponseTime of the new target group), and ECS rolls back when one goes into ALARM".into()));
        }
    }
    if analysis.http.is_some() {
        refused.push(("rollout.analysis.http", "on ECS windlass does not reach the new revision's tasks: probe the service's URL with `x-windlass.ecs.probe`, or name CloudWatch alarms in `x-windlass.rollout.analysis.alarms`".into()));
    }
    let bake = minutes.min(MAX_BAKE_MINUTES) as u32;
    let strategy = match (rollout.kind(), rollout.weight, rollout.step, &rollout.steps) {
        (Some(Kind::Canary), Some(percent), _, _) => Some(canary(percent, bake, bake_minutes)),
        (Some(Kind::Linear), _, Some(step), _) => {
            linear(step, bake, bake_minutes, "rollout.step", &mut refused)
        }
        (Some(Kind::Steps), _, _, Some(steps)) => match steps.as_slice() {
            [percent] => Some(canary(*percent, bake, bake_minutes)),
            [first, ..]
                if steps.iter().zip(1..).all(|(w, i)| *w == first * i)
                    && (steps.len() as u32 + 1) * first >= 100 =>
            {
                linear(*first, bake, bake_minutes, "rollout.steps", &mut refused)
            }
            _ => {
                refused.push(("rollout.steps", format!("ECS shifts traffic as a canary (one percentage, then the rest) or linearly (equal steps up to 100 %), and {steps:?} is neither: write `weight: N`, `step: N`, or steps of one weight or of equal steps from the first (`[20, 40, 60, 80]`)")));
                None
            }
        },
        // The Compose check refuses the rollout itself.
        _ => None,
    };
    match strategy {
        Some(strategy) if refused.is_empty() => Ok(strategy),
        _ => Err(refused),
    }
}

fn canary(percent: u32, canary_bake_minutes: u32, bake_minutes: u32) -> Strategy {
    Strategy::Canary {
        percent,
        canary_bake_minutes,
        bake_minutes,
    }
}

fn linear(
    step_percent: u32,
    step_bake_minutes: u32,
    bake_minutes: u32,
    key: &'static str,
    refused: &mut Vec<Refused>,
) -> Option<Strategy> {
    if step_percent < MIN_LINEAR_STEP {
        refused.push((key, format!("ECS's linear steps are {MIN_LINEAR_STEP} to 100 percent: {step_percent} is too small; write a step of {MIN_LINEAR_STEP} or more")));
        return None;
    }
    Some(Strategy::Linear {
        step_percent,
        step_bake_minutes,
        bake_minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Rollout {
        serde_norway::from_str(yaml).expect("a rollout")
    }

    fn keys(yaml: &str) -> Vec<&'static str> {
        of_rollout(&read(yaml), 5)
            .expect_err("refused")
            .into_iter()
            .map(|(key, _)| key)
            .collect()
    }

    #[test]
    fn a_canary_and_a_linear_rollout_are_ecs_strategies() {
        let canary = of_rollout(&read("weight: 10\ninterval: 2m\n"), 3).expect("a canary");
        assert_eq!(
            canary,
            Strategy::Canary {
                percent: 10,
                canary_bake_minutes: 2,
                bake_minutes: 3
            }
        );
        assert_eq!(canary.shift_time(), Duration::from_secs(5 * 60));
        let linear = of_rollout(&read("step: 30\n"), 5).expect("linear");
        assert_eq!(
            linear,
            Strategy::Linear {
                step_percent: 30,
                step_bake_minutes: 1,
                bake_minutes: 5
            }
        );
        // 30, 60, 90, 100: three bakes, none after 100 %, then the bake time.
        assert_eq!(linear.shift_time(), Duration::from_secs(8 * 60));
        let steps = of_rollout(&read("steps: [25, 50, 75]\n"), 5).expect("linear");
        assert!(matches!(
            steps,
            Strategy::Linear {
                step_percent: 25,
                ..
            }
        ));
        let one = of_rollout(&read("steps: [15]\n"), 5).expect("a canary");
        assert!(matches!(one, Strategy::Canary { percent: 15, .. }));
        let alarms = read("weight: 5\nanalysis: { alarms: [web-5xx] }\n");
        assert!(of_rollout(&alarms, 5).is_ok(), "alarms are ECS's own");
    }

    #[test]
    fn what_ecs_cannot_do_is_refused_by_its_key() {
        assert_eq!(
            keys("weight: 10\nsticky: { cookie: release }\n"),
            ["rollout.sticky"]
        );
        assert_eq!(keys("step: 2\n"), ["rollout.step"]);
        assert_eq!(keys("steps: [10, 50]\n"), ["rollout.steps"]);
        assert_eq!(
            keys("steps: [20, 40]\n"),
            ["rollout.steps"],
            "stops short of 100 %"
        );
        assert_eq!(keys("weight: 10\ninterval: 30s\n"), ["rollout.interval"]);
        assert_eq!(keys("weight: 10\ninterval: 25h\n"), ["rollout.interval"]);
        assert_eq!(keys("weight: 10\napprove: true\n"), ["rollout.approve"]);
        assert_eq!(
            keys("weight: 10\nanalysis: { max_server_error_increase: 0.02, max_p99_ratio: 2, min_requests: 5, http: /health }\n"),
            [
                "rollout.analysis.max_server_error_increase",
                "rollout.analysis.max_p99_ratio",
                "rollout.analysis.min_requests",
                "rollout.analysis.http"
            ]
        );
        let (_, reason) = of_rollout(&read("weight: 10\nanalysis: { max_p99_ratio: 2 }\n"), 5)
            .expect_err("refused")
            .remove(0);
        assert!(
            reason.contains("CloudWatch alarms")
                && reason.contains("x-windlass.rollout.analysis.alarms"),
            "{reason}"
        );
    }
}
