//! Fuzz body for whole runs: an arbitrary definition, when it validates, is
//! run on the virtual clock with a small event budget and a task invoker
//! whose answers the task input decides. The run must end (or stop at the
//! budget) without panicking, and a finished execution must have an outcome
//! that fits its status.
//!
//! The same run is repeated with the execution stored as JSON and read
//! back before every event, as the durable runtime does when it recovers
//! after a crash: the history and outcome must not change.
//!
//! The bytes are the definition text (JSON or YAML); a line `@@input`
//! starts the execution input (JSON) after it.

use serde_json::{json, Value as Json};
use windlass_asl::parse::parse_text;
use windlass_asl::Failure;
use windlass_engine::simulate::{simulate as run, SimulateConfig, SyncInvoker};
use windlass_engine::{ExecutionMeta, Outcome, Status, TaskRequest};

/// Events handled before a run is cut off: enough for loops and small Maps,
/// few enough to keep each fuzz iteration fast.
const EVENT_BUDGET: usize = 2_000;

/// Answers by the task's input: `{"hang": true}` never answers, `{"fail":
/// "Name"}` throws that error, anything else is echoed back. A task whose
/// input has `"flaky": true` fails on its first attempt only.
struct InputDriven;

impl SyncInvoker for InputDriven {
    fn invoke(&mut self, request: &TaskRequest) -> Option<Result<Json, Failure>> {
        let input = &request.input;
        if input.get("hang").and_then(Json::as_bool) == Some(true) {
            return None;
        }
        if let Some(error) = input.get("fail").and_then(Json::as_str) {
            return Some(Err(Failure::new(error, "thrown by the fuzz invoker")));
        }
        if input.get("flaky").and_then(Json::as_bool) == Some(true) && request.attempt == 0 {
            return Some(Err(Failure::new(
                "States.TaskFailed",
                "first attempt fails",
            )));
        }
        Some(Ok(json!({"echo": input, "state": request.state_name})))
    }
}

/// Target `simulate`.
pub fn simulate(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (definition_text, input_text) = match text.split_once("\n@@input\n") {
        Some((definition, input)) => (definition, Some(input)),
        None => (text, None),
    };
    let Ok(definition) = parse_text(definition_text).valid() else {
        return;
    };
    let input = input_text
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_else(|| json!({"items": [1, 2, 3], "flag": true, "n": 2}));
    let meta = meta(input);
    let config = SimulateConfig {
        keep_history: true,
        max_events: EVENT_BUDGET,
        reload_between_events: false,
    };
    let simulated = run(&definition, meta.clone(), &mut InputDriven, &config);
    let execution = &simulated.execution;
    match (execution.status, &execution.outcome) {
        (Status::Running, _) | (Status::Succeeded, Some(Outcome::Output(_))) => {}
        (Status::Failed | Status::TimedOut | Status::Aborted, Some(Outcome::Error { .. })) => {}
        (status, outcome) => panic!("execution ended {status:?} with outcome {outcome:?}"),
    }
    for event in &simulated.history {
        let _ = event.to_aws(true);
    }
    let reloading = SimulateConfig {
        reload_between_events: true,
        ..config
    };
    let reloaded = run(&definition, meta, &mut InputDriven, &reloading);
    assert_eq!(
        reloaded.execution.status, execution.status,
        "status after reloads"
    );
    assert_eq!(
        reloaded.execution.outcome, execution.outcome,
        "outcome after reloads"
    );
    if let Some(i) = (0..simulated.history.len().max(reloaded.history.len()))
        .find(|&i| simulated.history.get(i) != reloaded.history.get(i))
    {
        panic!(
            "history event {} differs after reloads:\n  straight: {:?}\n  reloaded: {:?}",
            i + 1,
            simulated.history.get(i),
            reloaded.history.get(i)
        );
    }
}

fn meta(input: Json) -> ExecutionMeta {
    ExecutionMeta {
        execution_arn: "arn:aws:states:us-east-1:111111111111:execution:Fuzz:run".into(),
        name: "run".into(),
        state_machine_arn: "arn:aws:states:us-east-1:111111111111:stateMachine:Fuzz".into(),
        state_machine_name: "Fuzz".into(),
        role_arn: "arn:aws:iam::111111111111:role/fuzz".into(),
        input,
        start_millis: 1_700_000_000_000,
        seed: 7,
        express: false,
    }
}
