//! The rollout's analysis on made-up readings, and its states as ASL.

use super::*;
use crate::target::weights::Counters;

/// The histogram's bucket of about 1 ms (960-1023 us).
const ONE_MS: u64 = 63;
/// Its bucket of about 20 ms (18432-20479 us).
const TWENTY_MS: u64 = 97;
/// Its bucket of about 200 ms (196608-212991 us).
const TWO_HUNDRED_MS: u64 = 124;

fn counters(release: &str, requests: u64, server_errors: u64, bucket: u64) -> Counters {
    Counters {
        release: release.to_owned(),
        requests,
        server_errors,
        latency_buckets: if requests == 0 {
            Vec::new()
        } else {
            vec![[bucket, requests]]
        },
        parts: Vec::new(),
    }
}

fn shares(live: (u64, u64), canary: (u64, u64)) -> Shares {
    Shares {
        service: "web".into(),
        live: counters("r1", live.0, live.1, ONE_MS),
        canary: counters("r2", canary.0, canary.1, ONE_MS),
    }
}

fn criteria() -> Criteria {
    Criteria::from(&Analysis::default())
}

#[test]
fn a_canary_as_good_as_the_old_release_passes() {
    let start = [shares((1000, 0), (0, 0))];
    let now = [shares((1900, 1), (100, 0))];
    let (outcome, judged) = judge(&criteria(), &start, &now);
    assert_eq!(outcome, Outcome::Pass);
    assert_eq!(judged[0].canary_requests, 100);
    assert_eq!(judged[0].live_requests, 900);
    assert_eq!(judged[0].finding, "");
}

#[test]
fn a_canary_with_5_percent_server_errors_fails_with_the_numbers() {
    let start = [shares((500, 0), (20, 0))];
    let now = [shares((1400, 0), (120, 5))];
    let (outcome, judged) = judge(&criteria(), &start, &now);
    assert_eq!(outcome, Outcome::Fail);
    let finding = &judged[0].finding;
    assert!(finding.contains("5 of 100 requests (5.0 %)"), "{finding}");
    assert!(
        finding.contains("0 of 900 (0.0 %) for release r1"),
        "{finding}"
    );
}

#[test]
fn a_canary_200_times_slower_fails_on_its_p99_and_20_ms_is_within_the_slack() {
    let start = [shares((0, 0), (0, 0))];
    let mut now = shares((900, 0), (100, 0));
    now.canary = counters("r2", 100, 0, TWO_HUNDRED_MS);
    let (outcome, judged) = judge(&criteria(), &start, &[now.clone()]);
    assert_eq!(outcome, Outcome::Fail);
    assert!(
        judged[0]
            .finding
            .contains("p99 latency was 213.0 ms against 1.0 ms"),
        "{}",
        judged[0].finding
    );
    now.canary = counters("r2", 100, 0, TWENTY_MS);
    assert_eq!(judge(&criteria(), &start, &[now]).0, Outcome::Pass);
}

#[test]
fn too_few_requests_bake_again_and_unweighed_services_are_left_out() {
    let start = [shares((0, 0), (0, 0))];
    let now = [
        shares((90, 0), (10, 0)),
        Shares {
            service: "api".into(),
            ..shares((5, 5), (5, 5))
        },
    ];
    let (outcome, judged) = judge(&criteria(), &start, &now);
    assert_eq!(outcome, Outcome::Bake);
    assert_eq!(judged.len(), 1);
    assert!(
        judged[0].finding.contains("20 are needed"),
        "{}",
        judged[0].finding
    );
}

#[test]
fn the_states_of_a_linear_rollout_are_valid_asl_in_order() {
    let rollout: Rollout =
        serde_norway::from_str("step: 40\ninterval: 2s\nsticky: {cookie: session}\n")
            .expect("rollout");
    let plan = RolloutPlan::new(Some(&rollout), None).expect("a plan");
    let text = super::super::app::deploy_definition(&[], &[], Some(&plan)).expect("definition");
    let parsed = windlass_asl::parse::parse_text(&text).valid();
    assert!(parsed.is_ok(), "{:?}\n{text}", parsed.err());
    let json: Json = serde_json::from_str(&text).expect("json");
    let states = &json["States"];
    assert_eq!(states["Start"]["Next"], "Rollout1Weigh");
    assert_eq!(states["Rollout1Weigh"]["Parameters"]["spec"]["weight"], 40);
    assert_eq!(
        states["Rollout1Weigh"]["Parameters"]["spec"]["sticky"]["cookie"],
        "session"
    );
    assert_eq!(states["Rollout1Weigh"]["Next"], "Rollout1Weighed");
    assert_eq!(states["Rollout1Weighed"]["Default"], "Rollout2Weigh");
    // The bake waits on a token for the interval, then the analysis;
    // `abort` fails the token, which rolls back at once.
    let bake = &states["Rollout1Bake"];
    assert_eq!(bake["Type"], "Task");
    assert_eq!(
        bake["Resource"],
        "arn:windlass:::deploy:bake.waitForTaskToken"
    );
    assert_eq!(bake["Parameters"]["token.$"], "$$.Task.Token");
    assert_eq!(bake["TimeoutSeconds"], 2);
    assert_eq!(bake["Catch"][0]["ErrorEquals"][0], "States.Timeout");
    assert_eq!(bake["Catch"][0]["Next"], "Rollout1Analyse");
    assert_eq!(bake["Catch"][1]["ErrorEquals"][0], "States.ALL");
    assert_eq!(bake["Catch"][1]["Next"], "Rollback");
    assert_eq!(bake["Next"], "Rollout1Analyse");
    let aborted = bake["Retry"][0]["ErrorEquals"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e == crate::failures::ABORTED));
    assert!(aborted, "an abort is never retried: {bake}");
    assert_eq!(states["Rollout1Judged"]["Default"], "Rollout2Weigh");
    assert_eq!(states["Rollout2Weigh"]["Parameters"]["spec"]["weight"], 80);
    assert_eq!(states["Rollout2Judged"]["Default"], "Switch");
    assert_eq!(states["Rollout2Analyse"]["Catch"][0]["Next"], "Rollback");
}

#[test]
fn a_held_canary_waits_at_an_approval_gate_then_goes_on() {
    let rollout: Rollout = serde_norway::from_str("step: 40\n").expect("rollout");
    let plan = RolloutPlan::new(Some(&rollout), Some(10)).expect("a plan");
    let text = super::super::app::deploy_definition(&[], &[], Some(&plan)).expect("definition");
    let parsed = windlass_asl::parse::parse_text(&text).valid();
    assert!(parsed.is_ok(), "{:?}\n{text}", parsed.err());
    let json: Json = serde_json::from_str(&text).expect("json");
    let states = &json["States"];
    assert_eq!(states["Rollout1Weigh"]["Parameters"]["spec"]["weight"], 10);
    assert_eq!(states["Rollout1Judged"]["Default"], "Rollout1Approved");
    // A promote sent during the bake (its answer names the step) passes
    // the gate once the analysis holds; any other goes to the gate.
    let approved = &states["Rollout1Approved"];
    assert_eq!(approved["Choices"][0]["Next"], "Rollout2Weigh");
    assert_eq!(approved["Choices"][0]["And"][1]["NumericEquals"], 1);
    assert_eq!(approved["Default"], "Rollout1Approve");
    assert_eq!(states["Rollout2Judged"]["Default"], "Rollout3Weigh");
    let gate = &states["Rollout1Approve"];
    assert_eq!(
        gate["Resource"],
        "arn:windlass:::deploy:approve.waitForTaskToken"
    );
    assert_eq!(gate["Parameters"]["token.$"], "$$.Task.Token");
    assert_eq!(gate["Next"], "Rollout2Weigh");
    // Each interval at the gate the canary is judged again, then the gate
    // waits anew; a failure rolls back.
    assert_eq!(gate["TimeoutSeconds"], 60);
    assert_eq!(gate["Catch"][0]["ErrorEquals"][0], "States.Timeout");
    assert_eq!(gate["Catch"][0]["Next"], "Rollout1Hold");
    assert_eq!(gate["Catch"][1]["Next"], "Rollback");
    let hold = &states["Rollout1Hold"];
    assert_eq!(hold["Resource"], "arn:windlass:::deploy:analyse");
    assert_eq!(hold["Parameters"]["held"], true);
    assert_eq!(hold["Next"], "Rollout1Approve");
    assert_eq!(hold["Catch"][0]["Next"], "Rollback");
    assert_eq!(states["Rollout2Weigh"]["Parameters"]["spec"]["weight"], 40);
    assert_eq!(states["Rollout3Weigh"]["Parameters"]["spec"]["weight"], 80);
    assert_eq!(states["Rollout3Judged"]["Default"], "Switch");
    // Without a rollout in the file, --canary still holds at its weight.
    let bare = RolloutPlan::new(None, Some(25)).expect("a plan");
    assert_eq!(bare.steps.len(), 1);
}

/// Answers a rollout's tasks as the deploy steps would, recording each
/// state it was asked for: weigh finds a live release, analyse passes, the
/// gate is approved, and each bake is answered by `bake` (None: it runs
/// out its time).
struct Scripted {
    asked: Vec<String>,
    bake: fn(u64) -> Option<Result<Json, windlass_asl::Failure>>,
}

impl windlass_engine::simulate::SyncInvoker for Scripted {
    fn invoke(
        &mut self,
        request: &windlass_engine::TaskRequest,
    ) -> Option<Result<Json, windlass_asl::Failure>> {
        self.asked.push(request.state_name.clone());
        let step = request.input["step"].as_u64().unwrap_or(0);
        let resource = request
            .resource
            .trim_start_matches(crate::workflow::RESOURCE_PREFIX);
        match resource {
            "weigh" => Some(Ok(json!({ "step": step, "weight": 10, "start": [{}] }))),
            "analyse" => Some(Ok(
                json!({ "step": step, "weight": 10, "start": [{}], "outcome": "pass" }),
            )),
            APPROVE_RESOURCE => Some(Ok(json!({ "approved_by": "ann" }))),
            BAKE_RESOURCE => (self.bake)(step),
            other => Some(Err(windlass_asl::Failure::new("States.TaskFailed", other))),
        }
    }
}

/// Runs `deploy --canary 10` of a `step: 40` rollout (10 % held at a gate,
/// then 40 % and 80 %, 60 s bakes) on the engine's virtual clock, its state
/// written to JSON and read back before every event as a restart would;
/// returns the states asked for, how it ended and when (seconds).
fn run_held(
    bake: fn(u64) -> Option<Result<Json, windlass_asl::Failure>>,
) -> (Vec<String>, windlass_engine::Status, i64) {
    let rollout: Rollout = serde_norway::from_str("step: 40\n").expect("rollout");
    let plan = RolloutPlan::new(Some(&rollout), Some(10)).expect("a plan");
    let list = states(&plan, "Done", "Failed").expect("states");
    let mut all: serde_json::Map<String, Json> = list.iter().cloned().collect();
    all.insert("Done".into(), json!({ "Type": "Succeed" }));
    all.insert(
        "Failed".into(),
        json!({ "Type": "Fail", "Error": "Deploy.RolledBack" }),
    );
    let text = json!({ "StartAt": list[0].0, "States": all }).to_string();
    let definition = windlass_asl::parse::parse_text(&text)
        .valid()
        .expect("valid ASL");
    let meta = windlass_engine::ExecutionMeta {
        execution_arn: "arn:test:execution:deploy:1".into(),
        name: "1".into(),
        state_machine_arn: "arn:test:deploy".into(),
        state_machine_name: "deploy".into(),
        role_arn: String::new(),
        input: json!({ "app": "shop", "release": "a2", "healthy": [] }),
        start_millis: 0,
        seed: 1,
        express: false,
    };
    let mut invoker = Scripted {
        asked: Vec::new(),
        bake,
    };
    let config = windlass_engine::simulate::SimulateConfig {
        reload_between_events: true,
        ..Default::default()
    };
    let ran = windlass_engine::simulate::simulate(&definition, meta, &mut invoker, &config);
    (invoker.asked, ran.execution.status, ran.end_millis / 1000)
}

/// A bake that runs out its time goes on to the analysis; the held step
/// then waits at its gate.
#[test]
fn each_bake_runs_its_interval_then_the_step_is_analysed() {
    let (asked, status, seconds) = run_held(|_| None);
    assert_eq!(status, windlass_engine::Status::Succeeded);
    assert_eq!(
        asked,
        [
            "Rollout1Weigh",
            "Rollout1Bake",
            "Rollout1Analyse",
            "Rollout1Approve",
            "Rollout2Weigh",
            "Rollout2Bake",
            "Rollout2Analyse",
            "Rollout3Weigh",
            "Rollout3Bake",
            "Rollout3Analyse"
        ]
    );
    assert_eq!(seconds, 180, "three bakes of 60 s");
}

/// `promote` during the held step's bake: the bake ends at once, the step
/// is analysed, and its gate is passed (the answer names the step); the
/// next steps bake in full.
#[test]
fn a_promote_during_the_bake_ends_it_and_passes_its_steps_gate() {
    let (asked, status, seconds) = run_held(|step| {
        (step == 1).then(|| {
            Ok(serde_json::to_value(BakeAnswer {
                approved_by: "ann".into(),
                step: 1,
            })
            .expect("json"))
        })
    });
    assert_eq!(status, windlass_engine::Status::Succeeded);
    assert!(!asked.iter().any(|s| s == "Rollout1Approve"), "{asked:?}");
    assert!(asked.iter().any(|s| s == "Rollout1Analyse"), "{asked:?}");
    assert_eq!(seconds, 120, "only steps 2 and 3 baked");
}

/// An answer that names another step (an earlier step's, still in
/// `$.approval`) passes no gate.
#[test]
fn an_answer_for_another_step_passes_no_gate() {
    let (asked, _, _) =
        run_held(|step| (step == 1).then(|| Ok(json!({ "approved_by": "ann", "step": 2 }))));
    assert!(asked.iter().any(|s| s == "Rollout1Approve"), "{asked:?}");
}

/// `abort` during a bake fails its token with `Deploy.Aborted`: the
/// rollout goes to its rollback at once, nothing analysed, never retried.
#[test]
fn an_abort_during_the_bake_rolls_back_at_once() {
    let (asked, status, seconds) = run_held(|_| {
        Some(Err(windlass_asl::Failure::new(
            crate::failures::ABORTED,
            "the rollout of app shop was aborted by ann",
        )))
    });
    assert_eq!(status, windlass_engine::Status::Failed);
    assert_eq!(asked, ["Rollout1Weigh", "Rollout1Bake"]);
    assert_eq!(seconds, 0);
}
