//! RedriveExecution in the interpreter: an unsuccessful execution runs again
//! from the states that did not finish, with the inputs and variables they
//! had; what succeeded is not run again.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use windlass_asl::{Definition, Failure};
use windlass_engine::simulate::{redrive, simulate, SimulateConfig, Simulated, SyncInvoker};
use windlass_engine::{
    Event, Execution, ExecutionMeta, HistoryEvent, Outcome, RedriveRefusal, Status, TaskRequest,
};

/// Tasks `arn:flaky:<key>` fail while `broken` holds their input's `key`;
/// every call is counted per key.
#[derive(Default)]
struct Flaky {
    broken: std::collections::BTreeSet<String>,
    calls: BTreeMap<String, u32>,
    inputs: Vec<Json>,
}

impl SyncInvoker for Flaky {
    fn invoke(&mut self, request: &TaskRequest) -> Option<Result<Json, Failure>> {
        let key = match &request.input["key"] {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        *self.calls.entry(key.clone()).or_default() += 1;
        self.inputs.push(request.input.clone());
        if request.resource == "arn:never" {
            return None;
        }
        Some(if self.broken.contains(&key) {
            Err(Failure::new("Broken", format!("{key} is broken")))
        } else {
            Ok(json!({ "done": key }))
        })
    }
}

fn parse(definition: Json) -> Definition {
    windlass_asl::parse::parse_text(&definition.to_string())
        .valid()
        .expect("valid definition")
}

fn meta(input: Json, express: bool) -> ExecutionMeta {
    ExecutionMeta {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:m:e".into(),
        name: "e".into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:m".into(),
        state_machine_name: "m".into(),
        role_arn: "arn:aws:iam::123456789012:role/r".into(),
        input,
        start_millis: 1_700_000_000_000,
        seed: 7,
        express,
    }
}

fn kinds(history: &[HistoryEvent]) -> Vec<String> {
    history.iter().map(|e| e.kind.to_string()).collect()
}

fn entered(history: &[HistoryEvent], name: &str) -> usize {
    history
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered") && e.details["name"] == name)
        .count()
}

/// Stores and reads back the execution, as the server does between the
/// failure and the redrive.
fn stored(execution: &Execution) -> Execution {
    let text = serde_json::to_string(execution).expect("serializes");
    serde_json::from_str(&text).expect("reads back")
}

const LATER: i64 = 1_700_000_500_000;

/// Runs the machine on `input` to its end (or until it waits).
fn run(definition: &Definition, input: Json, invoker: &mut Flaky) -> Simulated {
    simulate(
        definition,
        meta(input, false),
        invoker,
        &SimulateConfig::default(),
    )
}

/// Mends every broken task, redrives the stored execution later and runs
/// it to its end, which must be a success.
fn mend_and_redrive(definition: &Definition, first: &Simulated, invoker: &mut Flaky) -> Simulated {
    invoker.broken.clear();
    let second = redrive(
        definition,
        stored(&first.execution),
        LATER,
        invoker,
        &SimulateConfig::default(),
    )
    .expect("redrivable");
    assert_eq!(
        second.execution.status,
        Status::Succeeded,
        "{:?}",
        second.execution.outcome
    );
    second
}

#[test]
fn a_failed_task_runs_again_with_its_input_and_variables_and_nothing_before_it_does() {
    let definition = parse(json!({
        "StartAt": "Prepare",
        "States": {
            "Prepare": {
                "Type": "Pass",
                "Parameters": { "key": "t", "n.$": "$.n" },
                "Assign": { "prepared": "yes" },
                "Next": "Call"
            },
            "Call": {
                "Type": "Task",
                "Resource": "arn:flaky",
                "Parameters": {
                    "key.$": "$.key",
                    "n.$": "$.n",
                    "prepared.$": "$prepared",
                    "redrives.$": "$$.Execution.RedriveCount"
                },
                "Next": "After"
            },
            "After": { "Type": "Pass", "End": true }
        }
    }));
    let mut invoker = Flaky::default();
    invoker.broken.insert("t".into());
    let first = run(&definition, json!({ "n": 4 }), &mut invoker);
    assert_eq!(first.execution.status, Status::Failed);
    assert_eq!(first.execution.redrivable(), Ok(()));
    let failed_events = first.execution.last_event_id;

    let second = mend_and_redrive(&definition, &first, &mut invoker);
    assert_eq!(
        second.execution.outcome,
        Some(Outcome::Output(json!({ "done": "t" })))
    );
    assert_eq!(second.execution.redrive_count(), 1);
    assert_eq!(second.execution.redrive_millis(), Some(LATER));
    let history = &second.history;
    assert_eq!(history[0].kind, "ExecutionRedriven");
    assert_eq!(history[0].id, failed_events + 1);
    assert_eq!(history[0].details, json!({ "redriveCount": 1 }));
    assert_eq!(entered(history, "Prepare"), 0, "{:?}", kinds(history));
    assert_eq!(entered(history, "Call"), 1);
    assert_eq!(history.last().expect("events").kind, "ExecutionSucceeded");
    // Ids continue where the first attempt stopped, without a gap.
    for (i, event) in history.iter().enumerate() {
        assert_eq!(event.id, failed_events + 1 + i as u64);
    }
    // The task saw the same input both times, but for the redrive count.
    assert_eq!(
        invoker.inputs,
        vec![
            json!({ "key": "t", "n": 4, "prepared": "yes", "redrives": 0 }),
            json!({ "key": "t", "n": 4, "prepared": "yes", "redrives": 1 }),
        ]
    );
}

#[test]
fn parallel_runs_again_only_the_branches_that_failed_or_were_cancelled() {
    let definition = parse(json!({
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    { "StartAt": "Ok", "States": { "Ok": {
                        "Type": "Task", "Resource": "arn:flaky",
                        "Parameters": { "key": "ok" }, "End": true } } },
                    { "StartAt": "Bad", "States": { "Bad": {
                        "Type": "Task", "Resource": "arn:flaky",
                        "Parameters": { "key": "bad" }, "End": true } } },
                    { "StartAt": "Slow", "States": {
                        "Slow": { "Type": "Wait", "Seconds": 100, "Next": "SlowCall" },
                        "SlowCall": { "Type": "Task", "Resource": "arn:flaky",
                            "Parameters": { "key": "slow" }, "End": true } } }
                ],
                "End": true
            }
        }
    }));
    let mut invoker = Flaky::default();
    invoker.broken.insert("bad".into());
    let first = run(&definition, json!({}), &mut invoker);
    assert_eq!(first.execution.status, Status::Failed);
    assert_eq!(
        invoker.calls.get("slow"),
        None,
        "the slow branch was cancelled in its Wait"
    );

    let second = mend_and_redrive(&definition, &first, &mut invoker);
    assert_eq!(
        second.execution.outcome,
        Some(Outcome::Output(json!([
            { "done": "ok" },
            { "done": "bad" },
            { "done": "slow" }
        ])))
    );
    assert_eq!(invoker.calls["ok"], 1, "the branch that succeeded ran once");
    assert_eq!(invoker.calls["bad"], 2);
    assert_eq!(invoker.calls["slow"], 1);
    assert_eq!(entered(&second.history, "Ok"), 0);
    assert_eq!(
        entered(&second.history, "Slow"),
        1,
        "the Wait is entered again"
    );
}

#[test]
fn inline_map_runs_again_only_the_iterations_that_did_not_succeed() {
    let definition = parse(json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "MaxConcurrency": 2,
                "ItemProcessor": {
                    "ProcessorConfig": { "Mode": "INLINE" },
                    "StartAt": "Work",
                    "States": { "Work": {
                        "Type": "Task", "Resource": "arn:flaky",
                        "Parameters": { "key.$": "$" }, "End": true } }
                },
                "End": true
            }
        }
    }));
    let items = json!(["a", "b", "c", "d", "e", "f"]);
    let mut invoker = Flaky::default();
    invoker.broken.insert("c".into());
    let first = run(&definition, items, &mut invoker);
    assert_eq!(first.execution.status, Status::Failed);
    let before = invoker.calls.clone();

    let second = mend_and_redrive(&definition, &first, &mut invoker);
    let expected: Vec<Json> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|k| json!({ "done": k }))
        .collect();
    assert_eq!(
        second.execution.outcome,
        Some(Outcome::Output(Json::Array(expected)))
    );
    for key in ["a", "b", "c", "d", "e", "f"] {
        let calls = invoker.calls.get(key).copied().unwrap_or(0);
        let earlier = before.get(key).copied().unwrap_or(0);
        match key {
            // Succeeded before the failure: never run again.
            "a" | "b" => assert_eq!((earlier, calls), (1, 1), "{key}"),
            // Failed: run again once.
            "c" => assert_eq!((earlier, calls), (1, 2), "{key}"),
            // Cancelled (perhaps after its task was called) or never
            // started: run once by the redrive.
            _ => assert_eq!(calls - earlier, 1, "{key}"),
        }
    }
}

#[test]
fn distributed_map_runs_again_the_iterations_that_failed_within_the_tolerance() {
    let definition = parse(json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "MaxConcurrency": 1,
                "ToleratedFailureCount": 1,
                "ItemProcessor": {
                    "ProcessorConfig": { "Mode": "DISTRIBUTED", "ExecutionType": "STANDARD" },
                    "StartAt": "Work",
                    "States": { "Work": {
                        "Type": "Task", "Resource": "arn:flaky",
                        "Parameters": { "key.$": "$" }, "End": true } }
                },
                "End": true
            }
        }
    }));
    let mut invoker = Flaky::default();
    invoker.broken.insert("b".into());
    invoker.broken.insert("d".into());
    let first = run(&definition, json!(["a", "b", "c", "d", "e"]), &mut invoker);
    assert_eq!(first.execution.status, Status::Failed);
    assert_eq!(
        first.execution.outcome,
        Some(Outcome::Error {
            error: "States.ExceedToleratedFailureThreshold".into(),
            cause: "The specified tolerated failure threshold was exceeded".into()
        })
    );

    let second = mend_and_redrive(&definition, &first, &mut invoker);
    assert!(kinds(&second.history).contains(&"MapRunRedriven".to_string()));
    assert_eq!(invoker.calls["a"], 1);
    assert_eq!(
        invoker.calls["b"], 2,
        "failed within the tolerance, then run again"
    );
    assert_eq!(invoker.calls["c"], 1);
    assert_eq!(invoker.calls["d"], 2);
    assert_eq!(invoker.calls["e"], 1);
    let Some(Outcome::Output(Json::Array(results))) = &second.execution.outcome else {
        panic!("no output");
    };
    assert_eq!(results.len(), 5);
    assert!(
        results.iter().all(|r| r.get("done").is_some()),
        "{results:?}"
    );
}

#[test]
fn a_stopped_execution_continues_from_the_state_it_was_stopped_in() {
    let definition = parse(json!({
        "StartAt": "First",
        "States": {
            "First": { "Type": "Pass", "Next": "Hold" },
            "Hold": { "Type": "Task", "Resource": "arn:never", "Next": "Done" },
            "Done": { "Type": "Pass", "End": true }
        }
    }));
    let mut invoker = Flaky::default();
    let first = run(&definition, json!({ "key": "h" }), &mut invoker);
    assert_eq!(first.execution.status, Status::Running);
    let mut execution = first.execution;
    execution.handle(
        &definition,
        Event::Stop {
            error: Some("Stopped".into()),
            cause: None,
        },
        LATER - 1,
    );
    assert_eq!(execution.status, Status::Aborted);
    assert_eq!(execution.redrivable(), Ok(()));
    let mut step = execution.redrive(&definition, LATER).expect("redrivable");
    assert_eq!(execution.status, Status::Running);
    assert_eq!(
        kinds(&step.history),
        [
            "ExecutionRedriven",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted"
        ]
    );
    assert_eq!(step.history[1].details["name"], "Hold");
    assert_eq!(step.history[1].details["input"], json!({ "key": "h" }));
    step.history.clear();
    // Redriven again while running: refused.
    assert_eq!(
        execution.redrivable(),
        Err(RedriveRefusal::NotEnded("RUNNING"))
    );
}

#[test]
fn what_cannot_be_redriven_is_refused_with_the_reason() {
    let definition = parse(json!({
        "StartAt": "Call",
        "States": { "Call": { "Type": "Task", "Resource": "arn:flaky", "End": true } }
    }));
    let mut invoker = Flaky::default();
    let succeeded = run(&definition, json!({ "key": "x" }), &mut invoker);
    assert_eq!(succeeded.execution.status, Status::Succeeded);
    assert_eq!(
        succeeded.execution.redrivable(),
        Err(RedriveRefusal::NotEnded("SUCCEEDED"))
    );
    invoker.broken.insert("x".into());
    let express = simulate(
        &definition,
        meta(json!({ "key": "x" }), true),
        &mut invoker,
        &SimulateConfig::default(),
    );
    assert_eq!(express.execution.status, Status::Failed);
    assert_eq!(express.execution.redrivable(), Err(RedriveRefusal::Express));
    // A Fail state fails again when redriven: the execution is redrivable
    // and ends the same way, with both attempts in its history.
    let fail = parse(json!({
        "StartAt": "No",
        "States": { "No": { "Type": "Fail", "Error": "E", "Cause": "c" } }
    }));
    let first = run(&fail, json!({}), &mut invoker);
    let second = redrive(
        &fail,
        first.execution,
        LATER,
        &mut invoker,
        &SimulateConfig::default(),
    )
    .expect("redrivable");
    assert_eq!(second.execution.status, Status::Failed);
    assert_eq!(
        kinds(&second.history),
        ["ExecutionRedriven", "FailStateEntered", "ExecutionFailed"]
    );
    assert_eq!(second.execution.redrive_count(), 1);
}
