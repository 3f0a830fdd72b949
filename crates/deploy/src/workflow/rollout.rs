//! A rollout (`x-windlass.rollout`) as states of the app's deploy, between
//! the start waves and the switch: per step, a `weigh` Task (every
//! service's new release takes the step's weight beside the live one), a
//! bake (a Task that waits on its token for at most the step's interval,
//! durable: a restarted agent resumes it with its first deadline, and
//! `windlass abort` fails it at once), an `analyse` Task that judges the
//! step's window ([`judge`]) and fails with `Deploy.AnalysisFailed` and the
//! numbers, and a Choice that bakes again while the new release has served
//! too few requests to judge. The last step, all of the traffic, is the
//! switch itself. A failure goes to the deploy's rollback, whose first act
//! on each service is to end its canary (weight 0, at once).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::{errors, RESOURCE_PREFIX};
use crate::compose::rollout::{Analysis, Rollout, RolloutStep, StickyKey};
use crate::target::weights::Shares;

/// The suffix of the state that judges a held canary while its gate waits
/// (`Rollout1Hold`): a gate answered while it runs waits for the next gate.
pub const HOLD_SUFFIX: &str = "Hold";

/// How often a step bakes again for want of requests before the rollout
/// gives up.
pub const MAX_BAKES: u32 = 5;

/// The weight and stickiness the `weigh` step sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSpec {
    pub weight: windlass_proxy::Weight,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<windlass_proxy::Sticky>,
}

/// What the analysis needs to hold, as the `analyse` step reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criteria {
    pub max_server_error_increase: f64,
    pub max_p99_ratio: f64,
    pub min_requests: u64,
    /// A path every replica of each new release must answer 2xx to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// CloudWatch alarms none of which may be in ALARM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
}

impl From<&Analysis> for Criteria {
    fn from(a: &Analysis) -> Criteria {
        Criteria {
            max_server_error_increase: a.max_server_error_increase(),
            max_p99_ratio: a.max_p99_ratio(),
            min_requests: a.min_requests(),
            http: a.http.clone(),
            alarms: a.alarms.clone(),
        }
    }
}

/// A new release's p99 within this of the old one's is never a failure:
/// a window's p99 is nearly its slowest requests, and on a loaded machine
/// two windows of the same release differ by that much (20 ms against 9 ms
/// was seen on the CI machine, the same image on both sides).
const P99_SLACK_MICROS: u64 = 25_000;

/// What the analysis of a window found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every service's new release held: go on.
    Pass,
    /// Some new release served too few requests to judge: bake again.
    Bake,
    /// A new release did worse than the old: roll back.
    Fail,
}

/// Where the rollout is, written to `$.rollout` by each of its steps: the
/// window's start readings carry from the `weigh` step through every
/// `analyse` of the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// 1 for the first step.
    pub step: u32,
    pub weight: windlass_proxy::Weight,
    /// Each weighed service's readings as the step began (none: nothing
    /// was live to take a share beside, and the step is skipped).
    pub start: Vec<Shares>,
    /// How many bakes of this step were analysed.
    #[serde(default)]
    pub bakes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judged: Vec<Judged>,
}

/// One service's window, both releases, as the analysis judged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    pub service: String,
    pub canary: String,
    pub canary_requests: u64,
    pub canary_server_errors: u64,
    pub canary_p99_ms: Option<f64>,
    pub live: String,
    pub live_requests: u64,
    pub live_server_errors: u64,
    pub live_p99_ms: Option<f64>,
    /// Why the service failed or must bake again; empty when it held.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub finding: String,
}

fn percent(errors: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        errors as f64 * 100.0 / requests as f64
    }
}

/// Judges each service's window (its readings at the start of the step and
/// now) against `criteria`; a service missing from `start` (it was not
/// weighed) is left out.
pub fn judge(criteria: &Criteria, start: &[Shares], now: &[Shares]) -> (Outcome, Vec<Judged>) {
    let mut outcome = Outcome::Pass;
    let mut judged = Vec::new();
    for now in now {
        let Some(then) = start.iter().find(|s| s.service == now.service) else {
            continue;
        };
        let canary = now.canary.since(&then.canary);
        let live = now.live.since(&then.live);
        let ms = |d: Option<std::time::Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        let mut one = Judged {
            service: now.service.clone(),
            canary: now.canary.release.clone(),
            canary_requests: canary.requests,
            canary_server_errors: canary.server_errors,
            canary_p99_ms: ms(canary.p99()),
            live: now.live.release.clone(),
            live_requests: live.requests,
            live_server_errors: live.server_errors,
            live_p99_ms: ms(live.p99()),
            finding: String::new(),
        };
        let canary_ratio = canary.server_error_ratio();
        let allowed = live.server_error_ratio() + criteria.max_server_error_increase;
        let p99s = canary.p99().zip(live.p99());
        if canary.requests > 0 && canary_ratio > allowed {
            one.finding = format!(
                "release {} answered 5xx to {} of {} requests ({:.1} %) against {} of {} ({:.1} %) for release {} in the same window; at most {:.1} points more are allowed",
                one.canary, canary.server_errors, canary.requests, percent(canary.server_errors, canary.requests),
                live.server_errors, live.requests, percent(live.server_errors, live.requests), one.live,
                criteria.max_server_error_increase * 100.0
            );
            outcome = Outcome::Fail;
        } else if let Some((new, old)) = p99s.filter(|(new, old)| {
            new.as_micros() as f64 > old.as_micros() as f64 * criteria.max_p99_ratio
                && new.as_micros() as u64 > old.as_micros() as u64 + P99_SLACK_MICROS
        }) {
            one.finding = format!(
                "release {}'s p99 latency was {:.1} ms against {:.1} ms for release {} in the same window; at most {}x is allowed",
                one.canary,
                new.as_secs_f64() * 1000.0,
                old.as_secs_f64() * 1000.0,
                one.live,
                criteria.max_p99_ratio
            );
            outcome = Outcome::Fail;
        } else if canary.requests < criteria.min_requests {
            one.finding = format!(
                "release {} answered {} requests in the window; {} are needed to judge it",
                one.canary, canary.requests, criteria.min_requests
            );
            if outcome == Outcome::Pass {
                outcome = Outcome::Bake;
            }
        }
        judged.push(one);
    }
    (outcome, judged)
}

/// A rollout step's Task state: `Deploy.*` failures are not retried, an
/// interrupted step (`States.TaskFailed`) runs again; any failure goes to
/// `on_failure`.
fn task(step: &str, parameters: Json, next: &str, on_failure: &str) -> Json {
    let mut not_retried: Vec<&str> = errors::NOT_RETRIED.to_vec();
    not_retried.extend([errors::ANALYSIS, errors::ABORTED]);
    json!({
        "Type": "Task",
        "Resource": format!("{RESOURCE_PREFIX}{step}"),
        "Parameters": parameters,
        "ResultPath": "$.rollout",
        "Retry": [
            { "ErrorEquals": not_retried, "MaxAttempts": 0 },
            { "ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 2 }
        ],
        "Catch": [{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": on_failure }],
        "Next": next,
    })
}

/// Step `n`'s bake: a Task on [`BAKE_RESOURCE`] whose timeout, the bake's
/// length, goes on to the analysis (`$.baked` keeps the timeout's record);
/// its token answered by `promote` goes there at once, failed by `abort`
/// to `on_failure`.
fn bake(n: usize, spec: &StepSpec, seconds: u64, on_failure: &str) -> Json {
    let analyse = format!("Rollout{n}Analyse");
    let mut bake = task(
        BAKE_RESOURCE,
        json!({
            "app.$": "$.app",
            "release.$": "$.release",
            "step": n,
            "weight": spec.weight,
            "token.$": "$$.Task.Token",
        }),
        &analyse,
        on_failure,
    );
    if let Json::Object(bake) = &mut bake {
        bake.insert("ResultPath".into(), json!("$.approval"));
        bake.insert("TimeoutSeconds".into(), json!(seconds));
        if let Some(Json::Array(catch)) = bake.get_mut("Catch") {
            catch.insert(
                0,
                json!({ "ErrorEquals": ["States.Timeout"], "ResultPath": "$.baked", "Next": analyse }),
            );
        }
    }
    bake
}

fn sticky(key: Option<&StickyKey>) -> Option<windlass_proxy::Sticky> {
    let key = key?;
    match (&key.cookie, &key.header) {
        (Some(cookie), _) => Some(windlass_proxy::Sticky::Cookie(cookie.clone())),
        (None, Some(header)) => Some(windlass_proxy::Sticky::Header(header.clone())),
        (None, None) => None,
    }
}

/// A rollout as a deploy carries it out: the app's `x-windlass.rollout`
/// and its steps ([`Rollout::steps`], or [`Rollout::held_at`] for `deploy
/// --canary`).
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutPlan {
    pub rollout: Rollout,
    pub steps: Vec<RolloutStep>,
}

impl RolloutPlan {
    /// The rollout's own steps, or held at `canary` percent.
    pub fn new(rollout: Option<&Rollout>, canary: Option<u32>) -> Option<RolloutPlan> {
        let rollout = match (rollout, canary) {
            (Some(rollout), _) => rollout.clone(),
            (None, Some(_)) => Rollout::default(),
            (None, None) => return None,
        };
        let steps = match canary {
            Some(weight) => rollout.held_at(weight),
            None => rollout.steps(),
        };
        Some(RolloutPlan { rollout, steps })
    }
}

/// The approval gate's resource: the step waits until `windlass approve`
/// (or `promote`, or `abort`) answers its task token, or one interval,
/// after which the held canary is analysed again.
pub const APPROVE_RESOURCE: &str = "approve.waitForTaskToken";

/// A step's bake: it waits for its task token at most the step's interval
/// (`TimeoutSeconds`; its `States.Timeout` goes on to the analysis).
/// `windlass abort` fails the token with `Deploy.Aborted`; `windlass
/// promote` (or `approve`) answers it with a [`BakeAnswer`], which ends the
/// bake now and lets the step's gate, if it has one, be passed.
pub const BAKE_RESOURCE: &str = "bake.waitForTaskToken";

/// The cause of `Deploy.Aborted`: which rollout, at which step
/// (`1 (20%)`), and who aborted it.
pub fn aborted(app: &str, step: &str, by: &str) -> String {
    format!("the rollout of app {app} was aborted at step {step} by {by}")
}

/// What `promote` (or `approve`) sends back to a step that bakes, written
/// to `$.approval`: the step's gate, if it has one, is passed once its
/// analysis holds (`RolloutNApproved` compares `step`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BakeAnswer {
    pub approved_by: String,
    pub step: u32,
}

/// The rollout's states, in order, starting with the first step's and
/// ending at `done` (the switch); failures go to `on_failure`. The first
/// state's name is the first of the list.
pub fn states(
    plan: &RolloutPlan,
    done: &str,
    on_failure: &str,
) -> Result<Vec<(String, Json)>, String> {
    let rollout = &plan.rollout;
    let steps = &plan.steps;
    let criteria = Criteria::from(&rollout.analysis);
    let mut out = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        let next_step = if n < steps.len() {
            format!("Rollout{}Weigh", n + 1)
        } else {
            done.to_owned()
        };
        let spec = StepSpec {
            weight: windlass_proxy::Weight::try_from(step.weight).map_err(|e| e.to_string())?,
            sticky: sticky(rollout.sticky.as_ref()),
        };
        let common = |extra: Json| {
            let mut parameters = json!({
                "app.$": "$.app",
                "release.$": "$.release",
                "healthy.$": "$.healthy",
                "step": n,
            });
            if let (Json::Object(p), Json::Object(e)) = (&mut parameters, extra) {
                p.extend(e);
            }
            parameters
        };
        out.push((
            format!("Rollout{n}Weigh"),
            task(
                "weigh",
                common(json!({ "spec": spec })),
                &format!("Rollout{n}Weighed"),
                on_failure,
            ),
        ));
        // No service had a live release to take a share beside (a first
        // deploy): nothing to bake, judge or hold.
        out.push((
            format!("Rollout{n}Weighed"),
            json!({
                "Type": "Choice",
                "Choices": [{ "Variable": "$.rollout.start[0]", "IsPresent": true, "Next": format!("Rollout{n}Bake") }],
                "Default": next_step,
            }),
        ));
        out.push((
            format!("Rollout{n}Bake"),
            bake(n, &spec, step.bake.as_secs().max(1), on_failure),
        ));
        out.push((
            format!("Rollout{n}Analyse"),
            task(
                "analyse",
                common(json!({ "criteria": criteria, "rollout.$": "$.rollout" })),
                &format!("Rollout{n}Judged"),
                on_failure,
            ),
        ));
        let after_judged = if step.approve {
            format!("Rollout{n}Approved")
        } else {
            next_step.clone()
        };
        out.push((
            format!("Rollout{n}Judged"),
            json!({
                "Type": "Choice",
                "Choices": [{ "Variable": "$.rollout.outcome", "StringEquals": "bake", "Next": format!("Rollout{n}Bake") }],
                "Default": after_judged,
            }),
        ));
        if step.approve {
            // The gate waits for its token at most one interval; each
            // time it runs out the canary is judged again on the last
            // interval's window (`RolloutNHold`) and the gate waits anew
            // with a fresh token. Both are durable: the timer and the
            // token live in the execution's stored state.
            let hold = format!("Rollout{n}{HOLD_SUFFIX}");
            let mut gate = task(
                APPROVE_RESOURCE,
                json!({
                    "app.$": "$.app",
                    "release.$": "$.release",
                    "step": n,
                    "weight": spec.weight,
                    "token.$": "$$.Task.Token",
                }),
                &next_step,
                on_failure,
            );
            if let Json::Object(gate) = &mut gate {
                gate.insert("ResultPath".into(), json!("$.approval"));
                gate.insert("TimeoutSeconds".into(), json!(step.bake.as_secs().max(1)));
                if let Some(Json::Array(catch)) = gate.get_mut("Catch") {
                    catch.insert(
                        0,
                        json!({ "ErrorEquals": ["States.Timeout"], "ResultPath": "$.held", "Next": hold }),
                    );
                }
            }
            // A `promote` sent while the step baked was its approval.
            out.push((
                format!("Rollout{n}Approved"),
                json!({
                    "Type": "Choice",
                    "Choices": [{
                        "And": [
                            { "Variable": "$.approval.step", "IsPresent": true },
                            { "Variable": "$.approval.step", "NumericEquals": n },
                        ],
                        "Next": next_step,
                    }],
                    "Default": format!("Rollout{n}Approve"),
                }),
            ));
            out.push((format!("Rollout{n}Approve"), gate));
            out.push((
                hold,
                task(
                    "analyse",
                    common(json!({ "criteria": criteria, "rollout.$": "$.rollout", "held": true })),
                    &format!("Rollout{n}Approve"),
                    on_failure,
                ),
            ));
        }
    }
    Ok(out)
}

pub(crate) mod checks;
#[cfg(test)]
mod tests;
