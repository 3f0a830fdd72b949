//! TestState on small requests.

use serde_json::json;

use super::*;

fn request(definition: serde_json::Value, input: serde_json::Value) -> TestStateRequest {
    TestStateRequest {
        definition: definition.to_string(),
        input: Some(input.to_string()),
        inspection_level: InspectionLevel::Debug,
        region: "us-east-1".into(),
        account_id: "123456789012".into(),
        ..Default::default()
    }
}

fn mocked(
    mut request: TestStateRequest,
    result: Option<&str>,
    error: Option<(&str, &str)>,
) -> TestStateRequest {
    request.mock = Some(Mock {
        result: result.map(str::to_string),
        error_output: error.map(|(error, cause)| MockError {
            error: Some(error.into()),
            cause: Some(cause.into()),
        }),
        field_validation_mode: FieldValidationMode::None,
    });
    request.role_arn = Some("arn:aws:iam::123456789012:role/test".into());
    request
}

fn rejection(request: &TestStateRequest) -> (String, String) {
    match test_state(request, 0) {
        Err(error) => (error.code().to_string(), error.message().to_string()),
        Ok(response) => panic!("expected a rejection, got {response:?}"),
    }
}

#[test]
fn pass_state_shows_each_step_of_its_chain() {
    let definition = json!({
        "Type": "Pass",
        "InputPath": "$.data",
        "Parameters": { "value.$": "$.field" },
        "ResultPath": "$.out",
        "Next": "After",
    });
    let response = test_state(&request(definition, json!({ "data": { "field": 1 } })), 0)
        .expect("TestState answers");
    assert_eq!(response.status, TestStateStatus::Succeeded);
    assert_eq!(response.next_state.as_deref(), Some("After"));
    assert_eq!(
        response.output,
        Some(json!({ "data": { "field": 1 }, "out": { "value": 1 } }))
    );
    let data = response.inspection_data.expect("inspection data");
    assert_eq!(data.after_input_path, Some(json!({ "field": 1 })));
    assert_eq!(data.after_parameters, Some(json!({ "value": 1 })));
    assert_eq!(data.after_result_path, response.output);
    assert_eq!(data.result, None);
}

#[test]
fn info_level_has_no_inspection_data() {
    let mut request = request(json!({ "Type": "Succeed" }), json!({ "a": 1 }));
    request.inspection_level = InspectionLevel::Info;
    let response = test_state(&request, 0).expect("TestState answers");
    assert_eq!(response.output, Some(json!({ "a": 1 })));
    assert_eq!(response.inspection_data, None);
}

#[test]
fn choice_state_names_the_next_state() {
    let definition = json!({
        "Type": "Choice",
        "Choices": [{ "Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big" }],
        "Default": "Small",
    });
    let big =
        test_state(&request(definition.clone(), json!({ "n": 2 })), 0).expect("TestState answers");
    let small = test_state(&request(definition, json!({ "n": 0 })), 0).expect("TestState answers");
    assert_eq!(big.next_state.as_deref(), Some("Big"));
    assert_eq!(small.next_state.as_deref(), Some("Small"));
}

#[test]
fn fail_state_fails_with_its_error() {
    let definition = json!({ "Type": "Fail", "Error": "Oops", "Cause": "because" });
    let response = test_state(&request(definition, json!({})), 0).expect("TestState answers");
    assert_eq!(response.status, TestStateStatus::Failed);
    assert_eq!(
        (response.error.as_deref(), response.cause.as_deref()),
        (Some("Oops"), Some("because"))
    );
}

fn retrying_task() -> serde_json::Value {
    json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": { "FunctionName": "f" },
        "Retry": [{ "ErrorEquals": ["Boom"], "IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 3.0 }],
        "Catch": [{ "ErrorEquals": ["States.ALL"], "Next": "Handler" }],
        "End": true,
    })
}

#[test]
fn retrier_with_attempts_left_makes_the_state_retriable() {
    let mut request = mocked(
        request(retrying_task(), json!({})),
        None,
        Some(("Boom", "it broke")),
    );
    request.state_configuration = Some(StateConfiguration {
        retrier_retry_count: Some(2),
        ..Default::default()
    });
    let response = test_state(&request, 0).expect("TestState answers");
    assert_eq!(response.status, TestStateStatus::Retriable);
    assert_eq!(response.error.as_deref(), Some("Boom"));
    let details = response
        .inspection_data
        .expect("inspection data")
        .error_details
        .expect("error details");
    assert_eq!(details.retry_index, Some(0));
    assert_eq!(details.retry_backoff_interval_seconds, Some(18));
}

#[test]
fn exhausted_retrier_falls_through_to_the_catcher() {
    let mut request = mocked(
        request(retrying_task(), json!({ "k": 1 })),
        None,
        Some(("Boom", "it broke")),
    );
    request.state_configuration = Some(StateConfiguration {
        retrier_retry_count: Some(3),
        ..Default::default()
    });
    let response = test_state(&request, 0).expect("TestState answers");
    assert_eq!(response.status, TestStateStatus::CaughtError);
    assert_eq!(response.next_state.as_deref(), Some("Handler"));
    assert_eq!(
        response.output,
        Some(json!({ "Error": "Boom", "Cause": "it broke" }))
    );
    let details = response
        .inspection_data
        .expect("inspection data")
        .error_details
        .expect("error details");
    assert_eq!(
        (details.retry_index, details.catch_index),
        (Some(0), Some(0))
    );
}

#[test]
fn mocked_task_result_goes_through_the_output_chain() {
    let definition = json!({
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:putItem",
        "ResultSelector": { "code.$": "$.status" },
        "ResultPath": "$.put",
        "End": true,
    });
    let request = mocked(
        request(definition, json!({ "a": 1 })),
        Some(r#"{"status": 200}"#),
        None,
    );
    let response = test_state(&request, 0).expect("TestState answers");
    assert_eq!(
        response.output,
        Some(json!({ "a": 1, "put": { "code": 200 } }))
    );
    let data = response.inspection_data.expect("inspection data");
    assert_eq!(data.result, Some(json!({ "status": 200 })));
    assert_eq!(data.after_result_selector, Some(json!({ "code": 200 })));
}

#[test]
fn map_over_its_tolerance_fails_with_the_threshold_error() {
    let definition = json!({
        "Type": "Map",
        "ItemProcessor": { "StartAt": "P", "States": { "P": { "Type": "Pass", "End": true } } },
        "ToleratedFailureCount": 1,
        "End": true,
    });
    let mut request = mocked(
        request(definition, json!([1, 2, 3])),
        Some("[1, 2, 3]"),
        None,
    );
    request.state_configuration = Some(StateConfiguration {
        map_iteration_failure_count: Some(2),
        ..Default::default()
    });
    let response = test_state(&request, 0).expect("TestState answers");
    assert_eq!(response.status, TestStateStatus::Failed);
    assert_eq!(
        response.error.as_deref(),
        Some("States.ExceedToleratedFailureThreshold")
    );
    assert_eq!(
        response
            .inspection_data
            .expect("inspection data")
            .after_items_path,
        Some(json!([1, 2, 3]))
    );
}

#[test]
fn variables_are_visible_and_reported() {
    let definition = json!({ "StartAt": "S", "States": { "S": {
        "Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% $x + 1 %}", "End": true } } });
    let mut request = request(definition, json!({}));
    request.state_name = Some("S".into());
    request.variables = Some(r#"{"x": 41}"#.into());
    let response = test_state(&request, 0).expect("TestState answers");
    assert_eq!(response.output, Some(json!(42)));
    assert_eq!(
        response.inspection_data.expect("inspection data").variables,
        Some(json!({ "x": 41 }))
    );
}

#[test]
fn requests_aws_refuses_get_its_messages() {
    let pass = mocked(
        request(json!({ "Type": "Pass", "End": true }), json!({})),
        Some("{}"),
        None,
    );
    assert_eq!(
        rejection(&pass),
        (
            "ValidationException".into(),
            "State type 'Pass' is not supported when a mock is specified".into()
        )
    );
    let mut missing = request(
        json!({ "StartAt": "A", "States": { "A": { "Type": "Succeed" } } }),
        json!({}),
    );
    missing.state_name = Some("B".into());
    assert_eq!(rejection(&missing).1, "State not found in definition");
    let task = json!({ "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true });
    assert_eq!(
        rejection(&request(task.clone(), json!({}))).1,
        "RoleArn must be specified when testing a Task state"
    );
    let mut with_map_context = mocked(request(task, json!({})), Some("{}"), None);
    with_map_context.context = Some(r#"{"Map": {}}"#.into());
    assert_eq!(
        rejection(&with_map_context).1,
        "Invalid Context object provided: 'Map' field is not supported when mocking a Context object"
    );
}

#[test]
fn malformed_requests_are_refused_not_panicked_on() {
    let mut bad_definition = request(json!({}), json!({}));
    bad_definition.definition = "{ not json".into();
    assert_eq!(rejection(&bad_definition).0, "InvalidDefinition");
    let mut bad_input = request(json!({ "Type": "Succeed" }), json!({}));
    bad_input.input = Some("[1,".into());
    assert_eq!(rejection(&bad_input).0, "InvalidExecutionInput");
    let mut bad_variables = request(json!({ "Type": "Succeed" }), json!({}));
    bad_variables.variables = Some("[1]".into());
    assert_eq!(rejection(&bad_variables).0, "ValidationException");
    let mut bad_mock = mocked(
        request(
            json!({ "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true }),
            json!({}),
        ),
        Some("nope"),
        None,
    );
    bad_mock.inspection_level = InspectionLevel::Trace;
    assert_eq!(rejection(&bad_mock).1, "Mocked result must be valid JSON");
}

#[test]
fn mocked_results_are_checked_against_the_service_shape() {
    let definition = json!({ "Type": "Task", "Resource": "arn:aws:states:::states:startExecution", "End": true });
    let strict = mocked(request(definition.clone(), json!({})), Some("{}"), None);
    let mut strict_mode = strict.clone();
    if let Some(mock) = strict_mode.mock.as_mut() {
        mock.field_validation_mode = FieldValidationMode::Strict;
    }
    assert_eq!(
        rejection(&strict_mode).1,
        "Mock result schema validation error: Required field 'ExecutionArn' is missing"
    );
    let mut present = strict_mode.clone();
    if let Some(mock) = present.mock.as_mut() {
        mock.field_validation_mode = FieldValidationMode::Present;
        mock.result = Some(r#"{"StartDate": 5}"#.into());
    }
    assert_eq!(
        rejection(&present).1,
        "Mock result schema validation error: Field 'StartDate' must be a string"
    );
    assert!(test_state(&strict, 0).is_ok(), "NONE checks nothing");
}
