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
    let text = super::super::app::deploy_definition(&[], Some(&plan)).expect("definition");
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
    assert_eq!(states["Rollout1Bake"]["Seconds"], 2);
    assert_eq!(states["Rollout1Judged"]["Default"], "Rollout2Weigh");
    assert_eq!(states["Rollout2Weigh"]["Parameters"]["spec"]["weight"], 80);
    assert_eq!(states["Rollout2Judged"]["Default"], "Switch");
    assert_eq!(states["Rollout2Analyse"]["Catch"][0]["Next"], "Rollback");
}

#[test]
fn a_held_canary_waits_at_an_approval_gate_then_goes_on() {
    let rollout: Rollout = serde_norway::from_str("step: 40\n").expect("rollout");
    let plan = RolloutPlan::new(Some(&rollout), Some(10)).expect("a plan");
    let text = super::super::app::deploy_definition(&[], Some(&plan)).expect("definition");
    let parsed = windlass_asl::parse::parse_text(&text).valid();
    assert!(parsed.is_ok(), "{:?}\n{text}", parsed.err());
    let json: Json = serde_json::from_str(&text).expect("json");
    let states = &json["States"];
    assert_eq!(states["Rollout1Weigh"]["Parameters"]["spec"]["weight"], 10);
    assert_eq!(states["Rollout1Judged"]["Default"], "Rollout1Approve");
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
