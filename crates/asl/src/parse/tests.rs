//! Validation as data: each row is a definition and the one diagnostic Step
//! Functions gives for it, or a definition it accepts.

use serde_json::{json, Value as Json};

use super::{parse_value, parse_value_with, Config};

/// A one-state machine whose state is `state`.
fn one(state: Json) -> Json {
    json!({"StartAt": "A", "States": {"A": state}})
}

/// (definition, EXPRESS?, code, pointer, message)
fn rejected() -> Vec<(Json, bool, &'static str, &'static str, &'static str)> {
    vec![
        (
            json!({"StartAt": "A"}),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/",
            "These fields are required: [States]",
        ),
        (
            one(json!({"Type": "Pause", "End": true})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Type",
            "The field 'Type' should have one of these values: [Task, Wait, Pass, Succeed, Fail, Choice, Parallel, Map]",
        ),
        (
            one(json!({"Type": "Wait", "Timestamp": "2016-12-05T21:29:29", "End": true})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Timestamp",
            "String does not match RFC3339 timestamp",
        ),
        (
            one(json!({"Type": "Wait", "Timestamp": "2016-02-30T21:29:29Z", "End": true})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Timestamp",
            "String does not match RFC3339 timestamp",
        ),
        (
            one(json!({"Type": "Wait", "Timestamp": "{% '2016-03-14T01:59:00Z' %}", "End": true})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Timestamp",
            "String does not match RFC3339 timestamp",
        ),
        (
            one(json!({"Type": "Pass", "Parameters": {"x.$": "States.Format('a \\\"b\\\"')"}, "End": true})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Parameters",
            "The value for the field 'x.$' must be a valid JSONPath or a valid intrinsic function call",
        ),
        (
            one(json!({"Type": "Pass", "Parameters": {"deep": {"x.$": "not a path"}}, "End": true})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Parameters/deep",
            "The value for the field 'x.$' must be a valid JSONPath or a valid intrinsic function call",
        ),
        (
            one(json!({"Type": "Pass", "InputPath": "nope", "End": true})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/InputPath",
            "The value for the field 'InputPath' must be a valid JSONPath",
        ),
        (
            one(json!({"Type": "Task", "Resource": "arn:aws:states:::dynamodb:query", "End": true})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Resource",
            "The resource provided arn:aws:states:::dynamodb:query is not recognized. The value is not a valid resource ARN, or the resource is not available in this region.",
        ),
        (
            one(json!({"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync", "End": true})),
            true,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Resource",
            "Express state machine does not support '.sync' service integration",
        ),
        (
            one(json!({"Type": "Task", "Resource": "arn:aws:states:::sns:publish.waitForTaskToken", "End": true})),
            true,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Resource",
            "Express state machine does not support '.waitForTaskToken' service integration ",
        ),
        (
            json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {
                "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Credentials": {}, "End": true}}}),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Credentials",
            "The field 'RoleArn' is required but was missing",
        ),
        (
            json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {
                "Type": "Pass", "Output": "{% $states.input. %}", "End": true}}}),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Output",
            "The value for the field 'Output' must be a valid JSONata expression",
        ),
        (
            json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {
                "Type": "Pass", "Result": {"x": 1}, "End": true}}}),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A",
            "Field 'Result' is not supported",
        ),
        (
            one(json!({"Type": "Parallel", "Branches": [], "End": true})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Branches",
            "Value cannot be empty",
        ),
        (
            one(json!({"Type": "Map", "Label": "a b", "End": true,
                "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}})),
            false,
            "INVALID_LABEL_NAME",
            "/States/A/Label",
            "Label contains invalid character: ' '",
        ),
        (
            one(json!({"Type": "Map", "Label": "", "End": true,
                "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}})),
            false,
            "INVALID_LABEL_NAME",
            "/States/A/Label",
            "Label cannot be empty",
        ),
        (
            one(json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B"}]})),
            false,
            "MISSING_TRANSITION_TARGET",
            "/States/A/Catch[0]/Next",
            "Missing 'Next' target: B",
        ),
        (
            one(json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
                "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["Boom"]}]})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Retry[0]",
            "A Retry entry with 'States.ALL' must be the last one in 'Retry'",
        ),
        (
            one(json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
                "Retry": [{"ErrorEquals": ["Boom"], "BackoffRate": 0.5}]})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/Retry[0]/BackoffRate",
            "The value for the field 'BackoffRate' must be at least 1.0",
        ),
        (
            one(json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
                "TimeoutSeconds": 5, "HeartbeatSeconds": 5})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A/HeartbeatSeconds",
            "The value for the field 'HeartbeatSeconds' must be smaller than the value for the field 'TimeoutSeconds'",
        ),
        (
            one(json!({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"})),
            false,
            "SCHEMA_VALIDATION_FAILED",
            "/States/A",
            "Only one of 'Error' or 'ErrorPath' can be present",
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "B": {"Type": "Succeed"}}}),
            false,
            "MISSING_TRANSITION_TARGET",
            "/States/B",
            "State \"B\" is not reachable.",
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Parallel", "End": true, "Branches": [
                {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}]}}}),
            false,
            "DUPLICATE_STATE_NAME",
            "/States/A/Branches[0]/States/A",
            "Duplicate State name: A",
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}),
            false,
            "MISSING_END_STATE",
            "",
            "Workflow has no terminal state",
        ),
        (
            json!({"StartAt": "A", "States": {"A": {"Type": "Choice", "Default": "B", "Choices": [
                {"Variable": "$.x", "IsNull": true, "Next": "Nope"}]}, "B": {"Type": "Succeed"}}}),
            false,
            "MISSING_TRANSITION_TARGET",
            "/States/A/Choices[0]/Next",
            "Missing 'Next' target: Nope",
        ),
    ]
}

/// Definitions Step Functions accepts.
fn accepted() -> Vec<(Json, bool)> {
    vec![
        (
            one(json!({"Type": "Wait", "Timestamp": "2016-03-14T01:59:00.123+02:00", "End": true})),
            false,
        ),
        (
            json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {
                "Type": "Wait", "Timestamp": "{% $states.input.when %}", "End": true}}}),
            false,
        ),
        (
            one(json!({"Type": "Pass", "End": true, "Parameters": {
                "a.$": "$.x", "b.$": "$$.Execution.Id", "c.$": "States.Format('{} \\'q\\'', $.y)", "d": {"e.$": "$[0]"}}})),
            false,
        ),
        (
            one(
                json!({"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject", "End": true,
                "Credentials": {"RoleArn.$": "$.role"}}),
            ),
            false,
        ),
        (
            one(
                json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "End": true}),
            ),
            false,
        ),
        (
            one(
                json!({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:f", "End": true}),
            ),
            true,
        ),
        (
            one(json!({"Type": "Map", "Label": "My-Label_1", "End": true,
                "ItemProcessor": {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}})),
            false,
        ),
    ]
}

#[test]
fn rejects_what_aws_rejects() {
    for (definition, express, code, pointer, message) in rejected() {
        let parsed = parse_value_with(&definition, &Config { express });
        let found: Vec<(&str, &str, &str)> = parsed
            .diagnostics
            .iter()
            .map(|d| (d.code, d.pointer.as_str(), d.message.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![(code, pointer, message)],
            "definition {definition}"
        );
    }
}

#[test]
fn accepts_what_aws_accepts() {
    for (definition, express) in accepted() {
        let parsed = parse_value_with(&definition, &Config { express });
        assert!(
            parsed.diagnostics.is_empty(),
            "definition {definition}: {:?}",
            parsed.diagnostics
        );
    }
}

#[test]
fn joins_like_aws() {
    let parsed = parse_value(
        &json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "C"}, "B": {"Type": "Succeed"}}}),
    );
    let text: Vec<String> = parsed.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        text.join(", "),
        "MISSING_TRANSITION_TARGET: Missing 'Next' target: C at /States/A/Next, \
         MISSING_TRANSITION_TARGET: State \"B\" is not reachable. at /States/B"
    );
}

#[test]
fn a_dangling_next_in_a_machine_without_end_says_both() {
    let parsed = parse_value(&one(json!({"Type": "Pass", "Next": "NOPE"})));
    let text: Vec<String> = parsed.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        text.join(", "),
        "MISSING_TRANSITION_TARGET: Missing 'Next' target: NOPE at /States/A/Next, \
         MISSING_END_STATE: Workflow has no terminal state at null"
    );
}

#[test]
fn a_missing_start_leaves_every_untargeted_state_unreachable() {
    let parsed = parse_value(
        &json!({"StartAt": "X", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}),
    );
    let text: Vec<String> = parsed.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        text.join(", "),
        "MISSING_TRANSITION_TARGET: Missing 'Next' target: X at /StartAt, \
         MISSING_TRANSITION_TARGET: State \"A\" is not reachable. at /States/A"
    );
}

#[test]
fn never_panics_on_odd_documents() {
    for document in [
        json!(null),
        json!([]),
        json!({"StartAt": 1, "States": []}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Map", "Label": 3, "ItemProcessor": 1}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:", "Credentials": 1, "End": true}}}),
        json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "Timestamp": "2016-03-14T01:59:00é", "End": true}}}),
    ] {
        let parsed = parse_value_with(&document, &Config { express: true });
        assert!(!parsed.diagnostics.is_empty(), "document {document}");
    }
}

/// Two states of one name in one `States` object: serde_json would keep the
/// last; the document is refused, at the name's line, as AWS refuses it. A
/// key repeated elsewhere is left as JSON reads it (the last one counts).
#[test]
fn a_state_name_given_twice_in_json_text_is_refused_at_its_line() {
    let text = r#"{
  "StartAt": "A",
  "States": {
    "A": { "Type": "Pass", "Next": "B" },
    "B": { "Type": "Pass", "End": true },
    "A": { "Type": "Pass", "Next": "B" },
    "M": { "Type": "Map", "End": true, "ItemProcessor": { "StartAt": "X", "States": {
      "X": { "Type": "Pass", "End": true },
      "X": { "Type": "Pass", "End": true } } } }
  }
}"#;
    let parsed = super::parse_text(text);
    let duplicates: Vec<(&str, &str, Option<usize>)> = parsed
        .diagnostics
        .iter()
        .filter(|d| d.code == super::DUPLICATE_STATE_NAME)
        .map(|d| {
            (
                d.pointer.as_str(),
                d.message.as_str(),
                super::diagnostic_line(text, d),
            )
        })
        .collect();
    assert_eq!(
        duplicates,
        [
            ("/States/A", "Duplicate State name: A", Some(4)),
            (
                "/States/M/ItemProcessor/States/X",
                "Duplicate State name: X",
                Some(8)
            ),
        ]
    );
    let elsewhere = r#"{ "StartAt": "A", "States": { "A": { "Type": "Pass", "Result": { "k": 1, "k": 2 }, "End": true } } }"#;
    assert!(super::parse_text(elsewhere).valid().is_ok());
    assert!(super::duplicates::is_state("/States/P/Branches/2/States/S"));
    assert!(!super::duplicates::is_state(
        "/States/P/Parameters/States/S"
    ));
}
