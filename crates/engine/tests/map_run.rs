//! Distributed Map in the engine alone: the read and write requests it
//! hands the runtime (arguments evaluated, MaxItemsPath resolved, JSONata
//! `Arguments`), the Map Run record and its counts, the result entries as
//! each WriterConfig shapes them, failures of the reader, and UpdateMapRun.

mod support;
use support::{meta, parse, START};

use serde_json::{json, Value as Json};
use windlass_asl::distributed::{CsvHeaderLocation, InputType, ReaderSource};
use windlass_engine::map_run::{
    ChildStatus, MapRunStatus, ReadItems, WriteResults, READ_ITEMS, WRITE_RESULTS,
};
use windlass_engine::{Action, Event, Execution, Outcome, Status, Step, TaskRequest};

/// The one task the step asks for.
fn invoked(step: &Step) -> TaskRequest {
    let mut tasks = step.actions.iter().filter_map(|a| match a {
        Action::Invoke(request) => Some(request.clone()),
        _ => None,
    });
    let task = tasks.next().expect("a task");
    assert!(tasks.next().is_none(), "one task only");
    task
}

fn map(reader: Json, processor: Json, extra: Json) -> Json {
    let mut state = json!({
        "Type": "Map",
        "ItemReader": reader,
        "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" }, "StartAt": "Work", "States": processor },
        "End": true
    });
    for (key, value) in extra.as_object().into_iter().flatten() {
        state[key] = value.clone();
    }
    json!({ "StartAt": "Rows", "States": { "Rows": state } })
}

#[test]
fn items_are_read_then_iterated_and_the_results_written() {
    let definition = parse(map(
        json!({ "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": { "InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["n"], "MaxItemsPath": "$.limit" },
            "Parameters": { "Bucket": "in", "Key.$": "$.key" } }),
        json!({ "Work": { "Type": "Choice", "Choices": [{ "Variable": "$.n", "StringEquals": "2", "Next": "No" }], "Default": "Yes" },
                "No": { "Type": "Fail", "Error": "Two", "Cause": "not two" },
                "Yes": { "Type": "Pass", "Parameters": { "got.$": "$.n" }, "End": true } }),
        json!({ "ToleratedFailureCount": 1,
            "ResultWriter": { "Resource": "arn:aws:states:::s3:putObject", "Parameters": { "Bucket": "out", "Prefix.$": "$.prefix" } } }),
    ));
    let (mut execution, step) = Execution::start(
        &definition,
        meta(json!({ "key": "k.csv", "limit": 3, "prefix": "p" })),
        START,
    );
    let read = invoked(&step);
    assert_eq!(read.resource, READ_ITEMS);
    let request: ReadItems = serde_json::from_value(read.input.clone()).expect("a ReadItems");
    assert_eq!(request.source, ReaderSource::GetObject);
    assert_eq!(request.arguments, json!({ "Bucket": "in", "Key": "k.csv" }));
    assert_eq!(request.input_type, Some(InputType::Csv));
    assert_eq!(request.csv_header_location, CsvHeaderLocation::Given);
    assert_eq!(request.csv_headers, vec!["n".to_string()]);
    assert_eq!(request.max_items, Some(3));
    assert!(
        step.history.iter().all(|e| !e.kind.starts_with("Task")),
        "no Task events"
    );
    assert!(
        execution.map_runs().is_empty(),
        "the Map Run starts with its items"
    );

    let items = json!([{ "n": "1" }, { "n": "2" }, { "n": "3" }]);
    let step = execution.handle(
        &definition,
        Event::TaskSucceeded {
            task: read.task,
            output: items,
        },
        START + 5,
    );
    let kinds: Vec<&str> = step.history.iter().map(|e| e.kind.as_ref()).collect();
    assert_eq!(kinds, ["MapStateStarted", "MapRunStarted"]);
    let run = &execution.map_runs()[0];
    assert_eq!(run.status, MapRunStatus::Running);
    let counts = run.counts();
    assert_eq!(
        (
            counts.total,
            counts.succeeded,
            counts.failed,
            counts.pending
        ),
        (3, 2, 1, 0)
    );
    assert_eq!(run.children[1].status, ChildStatus::Failed);
    assert_eq!(run.children[0].input, json!({ "n": "1" }));

    let write = invoked(&step);
    assert_eq!(write.resource, WRITE_RESULTS);
    let request: WriteResults =
        serde_json::from_value(write.input.clone()).expect("a WriteResults");
    assert_eq!(
        (request.bucket.as_str(), request.prefix.as_str()),
        ("out", "p")
    );
    assert_eq!(request.map_run_arn, run.arn);
    assert_eq!(request.succeeded.len(), 2);
    assert_eq!(request.succeeded[1]["Output"], "{\"got\":\"3\"}");
    assert_eq!(request.succeeded[1]["Input"], "{\"n\":\"3\"}");
    assert_eq!(
        request.succeeded[1]["ExecutionArn"],
        run.child_arn(2).expect("started")
    );
    assert_eq!(request.failed.len(), 1);
    assert_eq!(request.failed[0]["Error"], "Two");
    assert_eq!(request.failed[0]["Cause"], "not two");
    assert_eq!(request.failed[0]["Status"], "FAILED");

    let details = json!({ "Bucket": "out", "Key": format!("{}manifest.json", request.folder()) });
    let step = execution.handle(
        &definition,
        Event::TaskSucceeded {
            task: write.task,
            output: details.clone(),
        },
        START + 9,
    );
    let kinds: Vec<&str> = step.history.iter().map(|e| e.kind.as_ref()).collect();
    assert_eq!(
        kinds,
        [
            "MapRunSucceeded",
            "MapStateSucceeded",
            "MapStateExited",
            "ExecutionSucceeded"
        ]
    );
    assert_eq!(execution.status, Status::Succeeded);
    let run = &execution.map_runs()[0];
    assert_eq!(run.status, MapRunStatus::Succeeded);
    assert_eq!(run.counts().results_written, 3);
    assert_eq!(run.stop_millis, Some(START + 9));
    assert_eq!(
        execution.outcome,
        Some(Outcome::Output(
            json!({ "MapRunArn": run.arn, "ResultWriterDetails": details })
        ))
    );
}

#[test]
fn jsonata_arguments_and_a_writer_config_without_s3() {
    let definition = parse(
        json!({ "QueryLanguage": "JSONata", "StartAt": "Rows", "States": { "Rows": {
        "Type": "Map",
        "ItemReader": { "Resource": "arn:aws:states:::s3:listObjectsV2",
            "ReaderConfig": { "MaxItems": "{% $states.input.max %}" },
            "Arguments": { "Bucket": "{% $states.input.bucket %}", "Prefix": "logs/" } },
        "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" }, "StartAt": "Work",
            "States": { "Work": { "Type": "Pass", "Output": "{% [$states.input.Key, $states.input.Size] %}", "End": true } } },
        "ResultWriter": { "WriterConfig": { "Transformation": "FLATTEN" } },
        "End": true } } }),
    );
    let (mut execution, step) =
        Execution::start(&definition, meta(json!({ "bucket": "b", "max": 2 })), START);
    let read = invoked(&step);
    let request: ReadItems = serde_json::from_value(read.input).expect("a ReadItems");
    assert_eq!(request.source, ReaderSource::ListObjectsV2);
    assert_eq!(
        request.arguments,
        json!({ "Bucket": "b", "Prefix": "logs/" })
    );
    assert_eq!(request.max_items, Some(2));
    let items = json!([{ "Key": "logs/a", "Size": 1 }, { "Key": "logs/b", "Size": 2 }]);
    execution.handle(
        &definition,
        Event::TaskSucceeded {
            task: read.task,
            output: items,
        },
        START + 1,
    );
    assert_eq!(execution.status, Status::Succeeded);
    assert_eq!(
        execution.outcome,
        Some(Outcome::Output(json!(["logs/a", 1, "logs/b", 2])))
    );
}

#[test]
fn a_failed_read_fails_the_map_with_item_reader_failed_for_catch() {
    let definition = parse(json!({ "StartAt": "Rows", "States": {
        "Rows": { "Type": "Map",
            "ItemReader": { "Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": { "InputType": "JSON" },
                "Parameters": { "Bucket": "in", "Key": "k" } },
            "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" }, "StartAt": "P", "States": { "P": { "Type": "Pass", "End": true } } },
            "Catch": [{ "ErrorEquals": ["States.ItemReaderFailed"], "Next": "Caught" }],
            "End": true },
        "Caught": { "Type": "Pass", "End": true } } }));
    let (mut execution, step) = Execution::start(&definition, meta(json!({})), START);
    let read = invoked(&step);
    let cause = "The ItemReader of state 'Rows' failed: reading s3://in/k failed: NoSuchKey";
    execution.handle(
        &definition,
        Event::TaskFailed {
            task: read.task,
            error: "States.ItemReaderFailed".into(),
            cause: cause.into(),
        },
        START + 1,
    );
    assert_eq!(execution.status, Status::Succeeded);
    assert_eq!(
        execution.outcome,
        Some(Outcome::Output(
            json!({ "Error": "States.ItemReaderFailed", "Cause": cause })
        ))
    );
}

#[test]
fn update_map_run_starts_more_iterations_at_once() {
    let definition = parse(json!({ "StartAt": "Rows", "States": { "Rows": {
        "Type": "Map", "MaxConcurrency": 1,
        "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" }, "StartAt": "W",
            "States": { "W": { "Type": "Wait", "Seconds": 5, "End": true } } },
        "End": true } } }));
    let (mut execution, step) = Execution::start(&definition, meta(json!([1, 2, 3, 4])), START);
    let timers = |step: &Step| {
        step.actions
            .iter()
            .filter(|a| matches!(a, Action::SetTimer { .. }))
            .count()
    };
    assert_eq!(timers(&step), 1);
    let arn = execution.map_runs()[0].arn.clone();
    let step = execution.handle(
        &definition,
        Event::UpdateMapRun {
            map_run_arn: arn,
            max_concurrency: Some(3),
            tolerated_failure_count: Some(2),
            tolerated_failure_percentage: None,
        },
        START + 1,
    );
    assert_eq!(timers(&step), 2, "two more iterations start");
    let run = &execution.map_runs()[0];
    assert_eq!((run.max_concurrency, run.tolerated_failure_count), (3, 2));
    let counts = run.counts();
    assert_eq!((counts.running, counts.pending), (3, 1));
}

#[test]
fn items_read_from_s3_are_not_bound_by_the_payload_limit() {
    // AWS reads item files of gigabytes: only each iteration's input is a
    // state input under the 256 KiB limit.
    let definition = parse(map(
        json!({ "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": { "InputType": "JSON" },
            "Parameters": { "Bucket": "in", "Key": "k.json" } }),
        json!({ "Work": { "Type": "Pass", "Parameters": { "n.$": "$.n" }, "End": true } }),
        json!({}),
    ));
    let (mut execution, step) = Execution::start(&definition, meta(json!({})), START);
    let read = invoked(&step);
    let padding = "x".repeat(100);
    let items: Vec<Json> = (0..5_000)
        .map(|n| json!({ "n": n, "padding": padding }))
        .collect();
    assert!(serde_json::to_string(&items).expect("text").len() > 256 * 1024);
    let step = execution.handle(
        &definition,
        Event::TaskSucceeded {
            task: read.task,
            output: Json::Array(items),
        },
        START + 5,
    );
    let kinds: Vec<&str> = step.history.iter().map(|e| e.kind.as_ref()).collect();
    assert!(kinds.contains(&"MapRunStarted"), "{kinds:?}");
    let counts = execution.map_runs()[0].counts();
    assert_eq!((counts.total, counts.failed), (5_000, 0));
}
