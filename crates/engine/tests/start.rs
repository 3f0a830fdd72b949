//! What a start records as AWS does: the input's own text, the alias or
//! version it came through; and how a machine's own timeout ends it.

mod support;
use support::{meta, parse, START};

use serde_json::{json, Value as Json};
use windlass_engine::{summary, Event, Execution, StartOptions, StartedVia, Status, Step};

fn started_details(step: &Step) -> Json {
    let event = step
        .history
        .iter()
        .find(|e| e.kind == "ExecutionStarted")
        .expect("an ExecutionStarted event");
    event.to_aws(true)["executionStartedEventDetails"].clone()
}

#[test]
fn execution_started_keeps_the_input_text_and_the_alias_and_version() {
    let definition = parse(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}));
    let text = "{ \"price\": 1.50 }";
    let via = StartedVia {
        alias_arn: Some("arn:aws:states:us-east-1:123456789012:stateMachine:m:live".into()),
        version_arn: Some("arn:aws:states:us-east-1:123456789012:stateMachine:m:3".into()),
    };
    let options = StartOptions {
        input_text: Some(text.into()),
        via: via.clone(),
    };
    let input = serde_json::from_str(text).expect("JSON");
    let (execution, step) = Execution::start_from(&definition, meta(input), options, START);
    let details = started_details(&step);
    assert_eq!(details["input"], json!(text));
    assert_eq!(details["stateMachineAliasArn"], json!(via.alias_arn));
    assert_eq!(details["stateMachineVersionArn"], json!(via.version_arn));
    // As values (not the wire), the input is the parsed value, the text left out.
    let event = step.history.first().expect("events");
    let values = event.to_aws(false);
    assert_eq!(
        values["executionStartedEventDetails"]["input"],
        json!({"price": 1.5})
    );
    assert!(values["executionStartedEventDetails"]
        .get("inputText")
        .is_none());
    // The snapshot keeps the alias and version, and a listing reads them.
    let snapshot = serde_json::to_string(&execution).expect("serializes");
    assert_eq!(summary(&snapshot).via, via);
    let read: Execution = serde_json::from_str(&snapshot).expect("reads back");
    assert_eq!(read.via, via);
}

#[test]
fn a_start_without_options_records_what_it_did_before() {
    let definition = parse(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}));
    let (execution, step) = Execution::start(&definition, meta(json!({"a": 1})), START);
    let details = started_details(&step);
    assert_eq!(details["input"], json!("{\"a\":1}"));
    assert!(details.get("stateMachineAliasArn").is_none());
    assert!(execution.via.is_direct());
    let snapshot = serde_json::to_string(&execution).expect("serializes");
    assert!(!snapshot.contains("\"via\""), "{snapshot}");
    // Compact text that reads as the value is not kept twice.
    let options = StartOptions {
        input_text: Some("{\"a\":1}".into()),
        ..StartOptions::default()
    };
    let (_, step) = Execution::start_from(&definition, meta(json!({"a": 1})), options, START);
    let stored = serde_json::to_string(&step.history[0]).expect("serializes");
    assert!(!stored.contains("inputText"), "{stored}");
}

#[test]
fn the_machine_timeout_ends_it_timed_out_with_no_error_or_cause_recorded() {
    let definition = parse(json!({
        "TimeoutSeconds": 5,
        "StartAt": "W",
        "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}
    }));
    let (mut execution, _) = Execution::start(&definition, meta(json!({})), START);
    let timeout = execution
        .pending_timers()
        .find(|(_, at)| *at == START + 5_000)
        .map(|(id, _)| id)
        .expect("the machine's timeout is armed");
    let step = execution.handle(
        &definition,
        Event::TimerFired { timer: timeout },
        START + 5_000,
    );
    assert_eq!(execution.status, Status::TimedOut);
    let last = step.history.last().expect("an event");
    assert_eq!(last.kind, "ExecutionTimedOut");
    assert_eq!(
        last.to_aws(true)["executionTimedOutEventDetails"],
        json!({})
    );
}
