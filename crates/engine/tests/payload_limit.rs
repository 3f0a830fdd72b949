//! A task result above AWS's 256 KiB payload limit fails its state with
//! `States.DataLimitExceeded`, which `States.ALL` does not catch, and the
//! oversized result is not kept in the history.

mod support;

use serde_json::{json, Value as Json};
use windlass_asl::Failure;
use windlass_engine::simulate::{simulate, SimulateConfig, SyncInvoker};
use windlass_engine::{Outcome, Status, TaskRequest};

/// Answers with a string of `size` bytes.
struct Sized {
    size: usize,
}

impl SyncInvoker for Sized {
    fn invoke(&mut self, _request: &TaskRequest) -> Option<Result<Json, Failure>> {
        Some(Ok(json!({ "blob": "x".repeat(self.size) })))
    }
}

fn run(size: usize) -> (Status, Option<Outcome>, Vec<String>, usize) {
    let definition = support::parse(json!({
        "StartAt": "Fetch",
        "States": {
            "Fetch": { "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": { "FunctionName": "f" },
                "ResultSelector": { "length.$": "States.StringToJson('1')" },
                "Catch": [{ "ErrorEquals": ["States.ALL"], "Next": "Caught" }],
                "End": true },
            "Caught": { "Type": "Pass", "End": true }
        }
    }));
    let run = simulate(
        &definition,
        support::meta(json!({})),
        &mut Sized { size },
        &SimulateConfig::default(),
    );
    let kinds = run.history.iter().map(|e| e.kind.to_string()).collect();
    let stored: usize = run
        .history
        .iter()
        .map(|e| e.to_aws(true).to_string().len())
        .sum();
    (run.execution.status, run.execution.outcome, kinds, stored)
}

#[test]
fn a_task_result_over_the_limit_fails_the_execution_uncaught() {
    let (status, outcome, kinds, stored) = run(300 * 1024);
    assert_eq!(status, Status::Failed);
    let Some(Outcome::Error { error, cause }) = outcome else {
        panic!("no error: {outcome:?}");
    };
    assert_eq!(error, "States.DataLimitExceeded");
    assert!(cause.contains("'Fetch'"), "{cause}");
    assert!(
        !kinds.contains(&"PassStateEntered".to_string()),
        "{kinds:?}"
    );
    assert!(stored < 64 * 1024, "the history keeps {stored} bytes");
}

#[test]
fn a_task_result_within_the_limit_goes_on() {
    let (status, outcome, _, _) = run(200 * 1024);
    assert_eq!(status, Status::Succeeded);
    assert_eq!(outcome, Some(Outcome::Output(json!({ "length": 1 }))));
}
