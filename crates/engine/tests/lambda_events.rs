//! A Task whose resource is a Lambda function's own ARN is recorded with
//! LambdaFunction* events, as AWS records it (moto's AWS-verified
//! `test_state_machine_calling_lambda_fn` and
//! `test_state_machine_calling_failing_lambda_fn` list these types); a
//! `lambda:invoke` Task keeps the Task* events.

mod support;

use serde_json::{json, Value as Json};
use windlass_asl::Failure;
use windlass_engine::simulate::{simulate, SimulateConfig, SyncInvoker};
use windlass_engine::{Status, TaskRequest};

const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:echo";

/// Echoes its input; fails when the input has `fail`.
struct Echo;

impl SyncInvoker for Echo {
    fn invoke(&mut self, request: &TaskRequest) -> Option<Result<Json, Failure>> {
        Some(if request.input.get("fail").is_some() {
            Err(Failure::new("Oops", "asked to fail"))
        } else {
            Ok(json!({ "echo": request.input }))
        })
    }
}

fn events(input: Json) -> (Status, Vec<(String, Json)>) {
    let definition = support::parse(json!({
        "StartAt": "Open",
        "States": {
            "Open": { "Type": "Task", "Resource": FUNCTION, "TimeoutSeconds": 30, "Next": "Send" },
            "Send": { "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": { "FunctionName": FUNCTION }, "End": true }
        }
    }));
    let run = simulate(
        &definition,
        support::meta(input),
        &mut Echo,
        &SimulateConfig::default(),
    );
    let events = run
        .history
        .iter()
        .map(|e| (e.kind.to_string(), e.to_aws(true)))
        .collect();
    (run.execution.status, events)
}

#[test]
fn a_function_arn_resource_records_lambda_function_events() {
    let (status, events) = events(json!({ "n": 1 }));
    assert_eq!(status, Status::Succeeded);
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded",
        ]
    );
    assert_eq!(
        events[2].1["lambdaFunctionScheduledEventDetails"],
        json!({ "resource": FUNCTION, "input": "{\"n\":1}",
                "inputDetails": { "truncated": false }, "timeoutInSeconds": 30 })
    );
    assert!(events[3]
        .1
        .get("lambdaFunctionStartedEventDetails")
        .is_none());
    assert_eq!(
        events[4].1["lambdaFunctionSucceededEventDetails"],
        json!({ "output": "{\"echo\":{\"n\":1}}", "outputDetails": { "truncated": false } })
    );
}

#[test]
fn a_failing_function_records_lambda_function_failed() {
    let (status, events) = events(json!({ "fail": true }));
    assert_eq!(status, Status::Failed);
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionFailed",
            "ExecutionFailed",
        ]
    );
    assert_eq!(
        events[4].1["lambdaFunctionFailedEventDetails"],
        json!({ "error": "Oops", "cause": "asked to fail" })
    );
}
