//! A running rollout on the services page: each service's canary with its
//! weight and both releases' windows between two samples (requests, 5xx
//! share, p99) over the samples the server keeps, and, per app, the deploy
//! that rolls out, the approval gate it waits at or the step it bakes, and
//! what each of the page's buttons would do now ([`super::gate`]).
//!
//! Weights and counters come from the proxies' samples ([`TrafficLog`]);
//! the gate and the bake from the agent's store: the execution that holds
//! the app's services' deploy locks, and the approval or bake task its
//! stored state waits on (the agent reads the same to answer it,
//! `agent/gate.rs`).

use std::collections::HashMap;

use serde::Serialize;
use windlass_engine::Execution;
use windlass_store::releases::{Releases, ServiceKey};
use windlass_store::Store;

use super::traffic::{Sample, TrafficLog};
use super::{ServiceView, Share};
use crate::Error;

/// The end of an approval gate's Resource
/// (`windlass_deploy::workflow::rollout::APPROVE_RESOURCE`; a test checks
/// that they agree).
pub const APPROVE_RESOURCE: &str = "approve.waitForTaskToken";

/// The end of a rollout step's bake's Resource
/// (`windlass_deploy::workflow::rollout::BAKE_RESOURCE`; a test checks that
/// they agree).
pub const BAKE_RESOURCE: &str = "bake.waitForTaskToken";

/// The end of the state that judges a held canary between two waits at
/// its gate (`windlass_deploy::workflow::rollout::HOLD_SUFFIX`): the gate
/// stays answerable while it runs (the agent waits for the gate to open).
pub const HOLD_SUFFIX: &str = "Hold";

/// How the states of a rollout begin (`Rollout1Weigh`,
/// `windlass_deploy::workflow::rollout::states`).
const ROLLOUT_STATE: &str = "Rollout";

/// Why the page's rollout buttons are off on a server that does not allow them.
pub(crate) const GATE_OFF: &str =
    "answering a rollout from the dashboard is off: start windlass server with --dashboard-rollback";

/// A service's canary and both its releases over the samples.
#[derive(Debug, PartialEq, Serialize)]
pub struct CanaryView {
    /// The release that serves the rest of the traffic.
    pub live: String,
    /// The release the rollout moves the traffic to.
    pub canary: String,
    /// The canary's weight now, in percent.
    pub weight: u8,
    /// One point per sample after the first that has both releases,
    /// oldest first.
    pub points: Vec<Point>,
}

/// Both releases between one sample and the next.
#[derive(Debug, PartialEq, Serialize)]
pub struct Point {
    /// When the earlier sample was taken.
    pub from_millis: i64,
    /// When the later sample was taken.
    pub millis: i64,
    /// The canary's weight then.
    pub weight: u8,
    pub live: Window,
    pub canary: Window,
}

/// One release's traffic between two samples.
#[derive(Debug, PartialEq, Serialize)]
pub struct Window {
    pub requests: u64,
    pub server_errors: u64,
    /// `server_errors / requests`; none without requests.
    pub server_error_share: Option<f64>,
    /// The window's p99 latency (the upper bound of its bucket), from the
    /// two samples' histograms; none when the window counted no latency.
    pub p99_us: Option<u64>,
}

impl Window {
    fn between(before: &Sample, after: &Sample) -> Window {
        // Counters that went down started again (a restarted proxy daemon):
        // the later sample is then the whole window.
        let restarted = after.requests < before.requests;
        let (requests, server_errors) = if restarted {
            (after.requests, after.server_errors)
        } else {
            (
                after.requests - before.requests,
                after.server_errors.saturating_sub(before.server_errors),
            )
        };
        let latencies = if restarted {
            after.latencies.clone()
        } else {
            since(&after.latencies, &before.latencies)
        };
        Window {
            requests,
            server_errors,
            server_error_share: (requests > 0).then(|| server_errors as f64 / requests as f64),
            p99_us: quantile(&latencies, 0.99),
        }
    }
}

/// The buckets counted after `earlier` up to `now` (both lowest first).
fn since(now: &[[u64; 2]], earlier: &[[u64; 2]]) -> Vec<[u64; 2]> {
    let then: HashMap<u64, u64> = earlier.iter().map(|[bound, n]| (*bound, *n)).collect();
    now.iter()
        .map(|[bound, n]| {
            [
                *bound,
                n.saturating_sub(then.get(bound).copied().unwrap_or(0)),
            ]
        })
        .filter(|[_, n]| *n > 0)
        .collect()
}

/// The bound below which a share `q` of the counted latencies fell, as the
/// proxy takes it (its bucket's upper bound); none when nothing was counted.
fn quantile(buckets: &[[u64; 2]], q: f64) -> Option<u64> {
    let total: u64 = buckets.iter().map(|[_, n]| n).sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    buckets.iter().find_map(|[bound, n]| {
        seen += n;
        (seen >= rank).then_some(*bound)
    })
}

/// The canary of `service`'s proxy in its latest sample, if it has one.
pub(crate) fn canary_of(traffic: &TrafficLog, service: &str) -> Option<CanaryView> {
    let all = traffic.releases_of(service);
    let latest = all
        .iter()
        .filter_map(|(_, s)| s.last())
        .map(|s| s.millis)
        .max()?;
    // A release the proxy no longer counts keeps its last sample: only the
    // latest sample says what routes now.
    let now = |share: fn(&Share) -> Option<u8>| {
        all.iter().find_map(|(release, samples)| {
            let last = samples.last().filter(|s| s.millis == latest)?;
            Some((release, last.share.as_ref().and_then(share)?, samples))
        })
    };
    let (canary, weight, canary_samples) = now(|s| match s {
        Share::Canary(w) => Some(*w),
        Share::Live(_) => None,
    })?;
    let (live, _, live_samples) = now(|s| match s {
        Share::Live(w) => Some(*w),
        Share::Canary(_) => None,
    })?;
    let live_at: HashMap<i64, &Sample> = live_samples.iter().map(|s| (s.millis, s)).collect();
    let points = canary_samples
        .windows(2)
        .filter_map(|pair| {
            let (before, after) = (&pair[0], &pair[1]);
            let (live_before, live_after) =
                (live_at.get(&before.millis)?, live_at.get(&after.millis)?);
            Some(Point {
                from_millis: before.millis,
                millis: after.millis,
                weight: match after.share {
                    Some(Share::Canary(w)) => w,
                    _ => 0,
                },
                live: Window::between(live_before, live_after),
                canary: Window::between(before, after),
            })
        })
        .collect();
    Some(CanaryView {
        live: live.clone(),
        canary: canary.clone(),
        weight,
        points,
    })
}

/// The deploy of an app that runs now, and the gate it waits at or the
/// step it bakes.
#[derive(Debug, Default, PartialEq)]
pub struct Deploying {
    /// The execution that holds the app's services' deploy locks.
    pub execution: Option<String>,
    /// The approval gate's state (`Rollout1Approve`) when it waits at one.
    pub gate: Option<String>,
    /// The step it bakes, when it bakes one.
    pub bake: Option<Baking>,
    /// The state of a rollout step's Task that runs (`Rollout1Analyse`),
    /// when the deploy weighs or analyses a step.
    pub stepping: Option<String>,
}

/// A rollout step that bakes: `windlass promote` ends its bake now.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Baking {
    /// The bake's state (`Rollout2Bake`).
    pub state: String,
    /// Its step, 1 for the first.
    pub step: u64,
}

/// What deploys app `app` now, read from the agent's store as the agent
/// reads it to answer a gate: the lock of one of its newest release's
/// services, then the approval or bake task the execution's stored state
/// waits on.
pub(crate) fn deploying(
    releases: &dyn Releases,
    executions: &dyn Store,
    app: &str,
) -> Result<Deploying, Error> {
    let Some(newest) = releases.app_releases(app)?.into_iter().next() else {
        return Ok(Deploying::default());
    };
    let mut holder = None;
    for member in &newest.services {
        let Ok(key) = ServiceKey::new(app, member.service.as_str()) else {
            continue;
        };
        if let Some(lock) = releases.lock_of(&key)? {
            holder = Some(lock.holder);
            break;
        }
    }
    let Some(execution) = holder else {
        return Ok(Deploying::default());
    };
    let state = match executions.execution(&execution)? {
        Some(record) if record.status == "RUNNING" => {
            match serde_json::from_str::<Execution>(&record.snapshot) {
                Ok(state) => Some(state),
                Err(e) => {
                    tracing::warn!(%execution, error = %e, "a deploy's stored state could not be read");
                    None
                }
            }
        }
        _ => None,
    };
    let (gate, bake) = state.as_ref().map(waits_at).unwrap_or_default();
    // Every state of a rollout is named `Rollout<step>...`.
    let stepping = state.as_ref().and_then(|state| {
        state
            .pending_tasks()
            .map(|(_, task)| &task.request.state_name)
            .find(|name| name.starts_with(ROLLOUT_STATE))
            .cloned()
    });
    Ok(Deploying {
        execution: Some(execution),
        gate,
        bake,
        stepping,
    })
}

/// The approval gate a deploy's stored state waits at, or the step it bakes.
fn waits_at(state: &Execution) -> (Option<String>, Option<Baking>) {
    let waiting = |end: &str| {
        state
            .token_tasks()
            .find(|(_, task)| task.request.resource.ends_with(end))
            .map(|(_, task)| &task.request)
    };
    if let Some(gate) = waiting(APPROVE_RESOURCE) {
        return (Some(gate.state_name.clone()), None);
    }
    if let Some(bake) = waiting(BAKE_RESOURCE) {
        let baking = Baking {
            state: bake.state_name.clone(),
            step: bake.input["step"].as_u64().unwrap_or(0),
        };
        return (None, Some(baking));
    }
    // `Rollout1Hold` runs between two waits at `Rollout1Approve`.
    let hold = state.pending_tasks().find_map(|(_, task)| {
        let step = task.request.state_name.strip_suffix(HOLD_SUFFIX)?;
        Some(format!("{step}Approve"))
    });
    (hold, None)
}

/// An app's rollout as the page shows it and answers it.
#[derive(Debug, PartialEq, Serialize)]
pub struct RolloutView {
    /// The deploy that rolls out, when it still runs.
    pub execution: Option<String>,
    /// The approval gate it waits at.
    pub gate: Option<String>,
    /// The step it bakes.
    pub bake: Option<Baking>,
    /// Each service whose proxy has a canary (`APP/SERVICE`), with its weight.
    pub canaries: Vec<(String, u8)>,
    /// Approve: on at a gate only.
    pub approve: Button,
    /// Promote: on at a gate and during a bake, which it ends (as
    /// `windlass promote`).
    pub promote: Button,
    /// Abort: on while the deploy runs.
    pub abort: Button,
}

/// One of the rollout's buttons: whether it may be pressed now, and its
/// tooltip, which says what it does now or why it is off.
#[derive(Debug, PartialEq, Serialize)]
pub struct Button {
    pub on: bool,
    pub tip: String,
}

impl Button {
    fn on(tip: String) -> Button {
        Button { on: true, tip }
    }

    fn off(tip: String) -> Button {
        Button { on: false, tip }
    }
}

/// App `app`'s rollout, when one runs: a canary in one of its services'
/// proxies, or its deploy waiting at a gate or baking a step.
pub(crate) fn rollout_of(
    app: &str,
    deploying: Deploying,
    services: &[ServiceView],
    allowed: bool,
) -> Option<RolloutView> {
    let canaries: Vec<(String, u8)> = services
        .iter()
        .filter(|s| s.app == app)
        .filter_map(|s| Some((s.service.clone(), s.canary.as_ref()?.weight)))
        .collect();
    if canaries.is_empty() && deploying.gate.is_none() && deploying.bake.is_none() {
        return None;
    }
    let [approve, promote, abort] = if allowed {
        buttons(app, &deploying)
    } else {
        [(); 3].map(|()| Button::off(GATE_OFF.to_owned()))
    };
    Some(RolloutView {
        execution: deploying.execution,
        gate: deploying.gate,
        bake: deploying.bake,
        canaries,
        approve,
        promote,
        abort,
    })
}

/// Approve, Promote and Abort where the deploy is now, each as the agent
/// answers it (`agent/gate.rs`): approve and promote are one answer there,
/// which passes a gate and ends a bake; the page keeps Approve for a gate.
fn buttons(app: &str, deploying: &Deploying) -> [Button; 3] {
    let Some(_) = &deploying.execution else {
        return [(); 3].map(|()| Button::off(format!("no deploy of app {app} runs")));
    };
    let abort_now = || {
        Button::on(format!(
            "take app {app}'s canaries out of service at once and roll its deploy back now"
        ))
    };
    let (approve, promote, abort) = match (&deploying.gate, &deploying.bake, &deploying.stepping) {
        (Some(gate), _, _) => (
            Button::on(format!("let the rollout of app {app} go on past its approval gate ({gate})")),
            Button::on(format!("let the rollout of app {app} go on past its approval gate ({gate}), as windlass promote does")),
            abort_now(),
        ),
        (None, Some(bake), _) => (
            Button::off(format!("the rollout of app {app} bakes step {} ({}) and waits at no approval gate: Promote ends the bake now", bake.step, bake.state)),
            Button::on(format!("end the bake of step {} ({}) now, as windlass promote does: its analysis judges the window so far and, if it holds, the rollout goes on past the step (and its approval gate, if it has one); too few requests to judge mean another bake", bake.step, bake.state)),
            abort_now(),
        ),
        (None, None, Some(state)) => {
            let now = format!("the rollout of app {app} neither bakes nor waits at an approval gate now: {state} weighs or analyses a step");
            (
                Button::off(format!("{now}; Approve once it waits at a gate")),
                Button::off(format!("{now}; Promote once it bakes or waits at a gate")),
                Button::on(format!("take app {app}'s canaries out of service at once; its deploy rolls back as soon as {state} ends")),
            )
        }
        (None, None, None) => {
            let now = format!("the deploy of app {app} is not in its rollout now (it has not reached it, or is past it)");
            (
                Button::off(now.clone()),
                Button::off(now),
                Button::on(format!("take app {app}'s canaries out of service at once; a deploy that has not reached its rollout rolls back when it does (its new releases take no share), one past it refuses")),
            )
        }
    };
    [approve, promote, abort]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::ReleaseTraffic;

    /// A release's counters whose requests all took 1 ms but the errors,
    /// which took 50 ms.
    fn traffic(release: &str, requests: u64, errors: u64, share: Option<Share>) -> ReleaseTraffic {
        ReleaseTraffic {
            service: "shop/web".into(),
            release: release.into(),
            requests,
            server_errors: errors,
            p99_us: None,
            share,
            latencies: [[1_000, requests - errors], [50_000, errors]]
                .into_iter()
                .filter(|[_, n]| *n > 0)
                .collect(),
        }
    }

    #[test]
    fn both_releases_are_windows_between_samples() {
        let log = TrafficLog::default();
        log.record(0, &[traffic("r1", 100, 0, Some(Share::Live(100)))]);
        log.record(
            2_000,
            &[
                traffic("r1", 190, 1, Some(Share::Live(90))),
                traffic("r2", 10, 0, Some(Share::Canary(10))),
            ],
        );
        log.record(
            4_000,
            &[
                traffic("r1", 280, 1, Some(Share::Live(90))),
                traffic("r2", 20, 5, Some(Share::Canary(10))),
            ],
        );
        log.record(
            6_000,
            &[
                traffic("r1", 330, 2, Some(Share::Live(50))),
                traffic("r2", 70, 5, Some(Share::Canary(50))),
            ],
        );
        let view = canary_of(&log, "shop/web").expect("a canary");
        assert_eq!(
            (view.live.as_str(), view.canary.as_str(), view.weight),
            ("r1", "r2", 50)
        );
        // r2 was first counted at 2 s: two windows, 2-4 s and 4-6 s.
        let weights: Vec<(i64, u8)> = view.points.iter().map(|p| (p.millis, p.weight)).collect();
        assert_eq!(weights, vec![(4_000, 10), (6_000, 50)]);
        let first = &view.points[0];
        assert_eq!((first.live.requests, first.live.server_errors), (90, 0));
        assert_eq!(first.live.server_error_share, Some(0.0));
        assert_eq!((first.canary.requests, first.canary.server_errors), (10, 5));
        assert_eq!(first.canary.server_error_share, Some(0.5));
        // The window's own p99: half of its requests were slow.
        assert_eq!(
            (first.live.p99_us, first.canary.p99_us),
            (Some(1_000), Some(50_000))
        );
        let second = &view.points[1];
        assert_eq!((second.live.requests, second.canary.requests), (50, 50));
        assert_eq!(second.canary.server_error_share, Some(0.0));
        // The canary's earlier slow requests are not in this window.
        assert_eq!(second.canary.p99_us, Some(1_000));
        assert_eq!(second.live.p99_us, Some(50_000), "r1's one error in 50");
    }

    #[test]
    fn no_canary_in_the_latest_sample_is_no_rollout() {
        let log = TrafficLog::default();
        log.record(
            0,
            &[
                traffic("r1", 10, 0, Some(Share::Live(80))),
                traffic("r2", 5, 0, Some(Share::Canary(20))),
            ],
        );
        // Aborted: the canary takes nothing, the proxy still counts it.
        log.record(
            2_000,
            &[
                traffic("r1", 20, 0, Some(Share::Live(100))),
                traffic("r2", 5, 0, None),
            ],
        );
        assert_eq!(canary_of(&log, "shop/web"), None);
        assert_eq!(canary_of(&log, "shop/db"), None);
    }

    #[test]
    fn a_restarted_proxys_counters_start_a_window_again() {
        let before = Sample {
            millis: 0,
            requests: 500,
            server_errors: 7,
            p99_us: None,
            share: None,
            latencies: vec![[1_000, 500]],
        };
        let after = Sample {
            millis: 2_000,
            requests: 40,
            server_errors: 2,
            p99_us: Some(900),
            share: None,
            latencies: vec![[900, 40]],
        };
        let window = Window::between(&before, &after);
        assert_eq!((window.requests, window.server_errors), (40, 2));
        assert_eq!(window.server_error_share, Some(0.05));
        assert_eq!(window.p99_us, Some(900));
        let idle = Window::between(&after, &after);
        assert_eq!(
            (idle.requests, idle.server_error_share, idle.p99_us),
            (0, None, None)
        );
    }

    /// Where the deploy is, and which buttons are on: Approve at a gate
    /// only, Promote at a gate or bake, Abort while a deploy runs; each
    /// tooltip names what it does now or why it is off.
    #[test]
    fn each_button_says_what_it_does_where_the_deploy_is() {
        let deploying = |gate: Option<&str>, bake: Option<u64>, stepping: Option<&str>| Deploying {
            execution: Some("arn:d2".into()),
            gate: gate.map(str::to_owned),
            bake: bake.map(|step| Baking {
                state: format!("Rollout{step}Bake"),
                step,
            }),
            stepping: stepping.map(str::to_owned),
        };
        let on = |d: &Deploying| buttons("shop", d).map(|b| b.on);
        let tips = |d: &Deploying| buttons("shop", d).map(|b| b.tip);
        let gate = deploying(Some("Rollout1Approve"), None, None);
        assert_eq!(on(&gate), [true, true, true]);
        let bake = deploying(None, Some(2), None);
        assert_eq!(on(&bake), [false, true, true]);
        let [approve, promote, _] = tips(&bake);
        assert!(approve.contains("bakes step 2 (Rollout2Bake)"), "{approve}");
        assert!(promote.starts_with("end the bake of step 2"), "{promote}");
        let analysed = deploying(None, None, Some("Rollout2Analyse"));
        assert_eq!(on(&analysed), [false, false, true]);
        let [approve, promote, abort] = tips(&analysed);
        assert!(
            approve.contains("Rollout2Analyse weighs or analyses a step"),
            "{approve}"
        );
        assert!(
            promote.ends_with("Promote once it bakes or waits at a gate"),
            "{promote}"
        );
        assert!(abort.contains("as soon as Rollout2Analyse ends"), "{abort}");
        let elsewhere = deploying(None, None, None);
        assert_eq!(on(&elsewhere), [false, false, true]);
        let [approve, _, abort] = tips(&elsewhere);
        assert!(approve.contains("is not in its rollout now"), "{approve}");
        assert!(abort.contains("one past it refuses"), "{abort}");
        let none = Deploying::default();
        assert_eq!(on(&none), [false, false, false]);
        assert!(tips(&none)
            .iter()
            .all(|tip| tip == "no deploy of app shop runs"));
    }

    #[test]
    fn a_windows_p99_is_its_ranked_bucket() {
        // 100 latencies: 98 of 1 ms, 2 of 8 ms: the 99th is 8 ms.
        let buckets = [[1_000, 98], [8_000, 2]];
        assert_eq!(quantile(&buckets, 0.99), Some(8_000));
        assert_eq!(quantile(&buckets, 0.5), Some(1_000));
        assert_eq!(quantile(&[], 0.99), None);
        let earlier = [[1_000, 90], [8_000, 2]];
        assert_eq!(since(&buckets, &earlier), vec![[1_000, 8]]);
        assert_eq!(quantile(&since(&buckets, &earlier), 0.99), Some(1_000));
    }
}
