//! Distributed Map: reading the items (`ItemReader`), writing the results
//! (`ResultWriter`), and the Map Run record with its child executions.
//!
//! Reading and writing are tasks the runtime carries out ([`READ_ITEMS`],
//! [`WRITE_RESULTS`]); their results come back as task events, so a
//! replay or a restart sees the same items and the same files.

use serde_json::{json, Map as JsonMap, Value as Json};
use windlass_asl::definition::{Map, State, StateKind};
use windlass_asl::distributed::{ItemReader, ResultWriter, Transformation};
use windlass_asl::failure::names;
use windlass_asl::{jsonata, payload, Failure, Host};

use super::children::iteration_inputs;
use super::io::Eval;
use super::states::resolve_number;
use super::{Flow, Run};
use crate::execution::{FrameId, PendingTask, Phase, Status, TaskPurpose};
use crate::map_run::*;
use crate::time_fmt::format_timestamp;
use crate::{Action, TaskRequest};

impl Run<'_> {
    /// Asks the runtime for a Map's items; the Map waits for them.
    pub(super) fn read_items(
        &mut self,
        frame: FrameId,
        state: &State,
        reader: &ItemReader,
    ) -> Flow {
        let raw = self.raw_input(frame);
        let computed = {
            let eval = Eval::new(self.execution, &self.host, frame, state);
            (|| {
                let effective = eval.effective_input(&raw)?;
                let arguments = arguments(
                    &eval,
                    &raw,
                    &effective,
                    reader.arguments.as_ref(),
                    "ItemReader",
                )?;
                let max_items = reader
                    .config
                    .max_items
                    .as_ref()
                    .map(|source| resolve_number(&eval, &effective, source, "MaxItemsPath"))
                    .transpose()?
                    .map(|n| n as u64)
                    .filter(|n| *n > 0);
                Ok::<_, Failure>((arguments, max_items))
            })()
        };
        let (arguments, max_items) = match computed {
            Ok(values) => values,
            Err(failure) => return self.evaluation_failed(frame, failure),
        };
        let request = ReadItems {
            source: reader.source,
            arguments,
            input_type: reader.config.input_type,
            csv_header_location: reader.config.csv_header_location,
            csv_headers: reader.config.csv_headers.clone(),
            csv_delimiter: reader.config.csv_delimiter,
            max_items,
            manifest_type: reader.config.manifest_type,
            state_name: state.name.clone(),
        };
        self.hand_over(
            frame,
            state,
            READ_ITEMS,
            json_of(&request),
            TaskPurpose::ReadItems,
        )
    }

    /// The items came back (or the read failed): start the iterations.
    pub(super) fn items_read(&mut self, frame: FrameId, result: Result<Json, Failure>) {
        let Some((state, map)) = self.map_state(frame) else {
            return;
        };
        let items = match result {
            Ok(Json::Array(items)) => Ok(items),
            Ok(other) => Err(Failure::new(
                names::ITEM_READER_FAILED,
                format!(
                    "The ItemReader of state '{}' gave {} rather than an array of items",
                    state.name,
                    kind_of(&other)
                ),
            )),
            Err(failure) => Err(as_named(failure, names::ITEM_READER_FAILED)),
        };
        let computed = items.and_then(|items| {
            let raw = self.raw_input(frame);
            let mut eval = Eval::new(self.execution, &self.host, frame, state);
            let effective = eval.effective_input(&raw)?;
            iteration_inputs(&mut eval, &raw, &effective, items, map)
        });
        let flow = match computed {
            Ok(inputs) => self.begin_map(frame, state, map, inputs),
            Err(failure) if failure.error == names::ITEM_READER_FAILED => {
                self.emit_for(frame, "MapStateFailed", json!({}));
                self.state_failed(frame, failure)
            }
            Err(failure) => self.evaluation_failed(frame, failure),
        };
        if let Flow::Continue = flow {
            self.runnable.push_back(frame);
        }
    }

    /// Every iteration is done: shape the results as the WriterConfig says,
    /// then write them to S3 or give them as the state's result.
    pub(super) fn write_results(
        &mut self,
        frame: FrameId,
        state: &State,
        writer: &ResultWriter,
        results: Vec<Json>,
    ) -> Flow {
        let Some(run) = self.running_map_run(frame) else {
            return self.complete_state(frame, Ok(Json::Array(results)));
        };
        let to_s3 = writer.arguments.is_some();
        let transformation = writer.config.transformation.unwrap_or(if to_s3 {
            Transformation::None
        } else {
            Transformation::Compact
        });
        let machine_arn = run.child_machine_arn(&self.execution.meta.state_machine_arn);
        let mut files = Files::default();
        for (index, output) in results.into_iter().enumerate() {
            let Some(child) = run.children.get(index) else {
                files.pending.push(output);
                continue;
            };
            let record = || child_record(&run, index, child, &machine_arn, &output);
            match (child.status, transformation) {
                (ChildStatus::Succeeded, Transformation::None) => files.succeeded.push(record()),
                (ChildStatus::Succeeded, Transformation::Flatten) => match output {
                    Json::Array(values) => files.succeeded.extend(values),
                    other => files.succeeded.push(other),
                },
                (ChildStatus::Succeeded, Transformation::Compact) => files.succeeded.push(output),
                (ChildStatus::Failed | ChildStatus::Aborted, _) => files.failed.push(record()),
                (ChildStatus::Running, _) => files.pending.push(record()),
            }
        }
        let Some(template) = writer.arguments.as_ref() else {
            // Only a WriterConfig: the formatted results are the output.
            self.finish_map_run(frame, files.succeeded.len() + files.failed.len());
            let mut all = files.succeeded;
            all.extend(files.failed);
            return self.complete_state(frame, Ok(Json::Array(all)));
        };
        let raw = self.raw_input(frame);
        let destination = {
            let eval = Eval::new(self.execution, &self.host, frame, state);
            eval.effective_input(&raw).and_then(|effective| {
                arguments(&eval, &raw, &effective, Some(template), "ResultWriter")
            })
        };
        let destination = match destination {
            Ok(value) => value,
            Err(failure) => return self.evaluation_failed(frame, failure),
        };
        let text = |key: &str| {
            destination
                .get(key)
                .and_then(Json::as_str)
                .map(str::to_string)
        };
        let Some(bucket) = text("Bucket") else {
            let failure = Failure::new(
                names::RESULT_WRITER_FAILED,
                format!(
                    "The ResultWriter of state '{}' has no Bucket (a string) in its Parameters: {destination}",
                    state.name
                ),
            );
            return self.write_failed(frame, failure);
        };
        let request = WriteResults {
            bucket,
            prefix: text("Prefix").unwrap_or_default(),
            map_run_arn: run.arn.clone(),
            output_type: writer.config.output_type,
            succeeded: files.succeeded,
            failed: files.failed,
            pending: files.pending,
            state_name: state.name.clone(),
        };
        self.hand_over(
            frame,
            state,
            WRITE_RESULTS,
            json_of(&request),
            TaskPurpose::WriteResults,
        )
    }

    /// The result files are written (or could not be).
    pub(super) fn results_written(&mut self, frame: FrameId, result: Result<Json, Failure>) {
        let flow = match result {
            Ok(details) => {
                let Some(run) = self.running_map_run(frame) else {
                    return;
                };
                let (arn, total) = (run.arn, run.total as usize);
                self.finish_map_run(frame, total);
                self.complete_state(
                    frame,
                    Ok(json!({ "MapRunArn": arn, "ResultWriterDetails": details })),
                )
            }
            Err(failure) => {
                self.write_failed(frame, as_named(failure, names::RESULT_WRITER_FAILED))
            }
        };
        if let Flow::Continue = flow {
            self.runnable.push_back(frame);
        }
    }

    fn write_failed(&mut self, frame: FrameId, failure: Failure) -> Flow {
        self.map_run_ended(frame, MapRunStatus::Failed);
        self.emit_for(
            frame,
            "MapRunFailed",
            json!({ "error": failure.error, "cause": failure.cause }),
        );
        self.emit_for(frame, "MapStateFailed", json!({}));
        self.state_failed(frame, failure)
    }

    fn finish_map_run(&mut self, frame: FrameId, written: usize) {
        if let Some(run) = self.map_run_mut(frame) {
            run.results_written = written as u64;
        }
        self.map_run_ended(frame, MapRunStatus::Succeeded);
        self.emit_for(frame, "MapRunSucceeded", json!({}));
        self.emit_for(frame, "MapStateSucceeded", json!({}));
    }

    /// A task of the Map itself (not of a Task state): no history events,
    /// no timeout; the frame waits for its result.
    fn hand_over(
        &mut self,
        frame: FrameId,
        state: &State,
        resource: &str,
        input: Json,
        purpose: TaskPurpose,
    ) -> Flow {
        let task = self.execution.fresh_id();
        let request = TaskRequest {
            task,
            resource: resource.to_string(),
            input,
            state_name: state.name.clone(),
            token: None,
            timeout_seconds: None,
            heartbeat_seconds: None,
            attempt: 0,
            credentials: None,
        };
        self.execution.tasks.insert(
            task,
            PendingTask {
                frame,
                request: request.clone(),
                started: true,
                timeout_timer: None,
                heartbeat_timer: None,
                activity: false,
                purpose,
            },
        );
        self.step.actions.push(Action::Invoke(request));
        if let Some(f) = self.execution.frames.get_mut(&frame) {
            f.phase = Phase::Task { task };
        }
        Flow::Blocked
    }

    /// Opens the Map Run record of a Distributed Map starting in `frame`.
    pub(super) fn open_map_run(
        &mut self,
        frame: FrameId,
        state: &State,
        map: &Map,
        (max_concurrency, tolerated_count, tolerated_percentage): (usize, Option<u64>, Option<f64>),
        total: usize,
    ) -> String {
        let label = map.label.as_deref().unwrap_or(&state.name);
        let id = self.host.uuid();
        let arn = map_run_arn(&self.execution.meta.execution_arn, label, &id);
        self.execution.map_runs.push(MapRun {
            arn: arn.clone(),
            frame,
            status: MapRunStatus::Running,
            start_millis: self.now,
            stop_millis: None,
            max_concurrency: max_concurrency as u64,
            tolerated_failure_count: tolerated_count.unwrap_or(0),
            tolerated_failure_percentage: tolerated_percentage.unwrap_or(0.0),
            total: total as u64,
            results_written: 0,
            children: Vec::with_capacity(total),
        });
        arn
    }

    /// A redrive runs the Map Run of `frame` again; its ARN.
    pub(super) fn reopen_map_run(&mut self, frame: FrameId) -> String {
        let Some(run) = self
            .execution
            .map_runs
            .iter_mut()
            .rev()
            .find(|r| r.frame == frame)
        else {
            return String::new();
        };
        run.status = MapRunStatus::Running;
        run.stop_millis = None;
        run.arn.clone()
    }

    pub(super) fn child_started(&mut self, frame: FrameId, slot: usize, input: Json) {
        let name = self.host.uuid();
        let now = self.now;
        let Some(run) = self.map_run_mut(frame) else {
            return;
        };
        let child = ChildRun {
            name,
            start_millis: now,
            stop_millis: None,
            status: ChildStatus::Running,
            input,
        };
        match run.children.get_mut(slot) {
            Some(existing) => *existing = child,
            None => run.children.push(child),
        }
    }

    pub(super) fn child_ended(&mut self, frame: FrameId, slot: usize, succeeded: bool) {
        let now = self.now;
        if let Some(child) = self
            .map_run_mut(frame)
            .and_then(|r| r.children.get_mut(slot))
        {
            child.stop_millis = Some(now);
            child.status = if succeeded {
                ChildStatus::Succeeded
            } else {
                ChildStatus::Failed
            };
        }
    }

    /// The running Map Run of `frame` ends with `status`; children still
    /// running are aborted.
    pub(super) fn map_run_ended(&mut self, frame: FrameId, status: MapRunStatus) {
        let now = self.now;
        if let Some(run) = self.map_run_mut(frame) {
            close(run, status, now);
        }
    }

    /// The execution ended: so did its running Map Runs.
    pub(super) fn close_map_runs(&mut self, status: Status) {
        let now = self.now;
        let ended = match status {
            Status::Succeeded => MapRunStatus::Succeeded,
            Status::Aborted => MapRunStatus::Aborted,
            Status::Failed | Status::TimedOut | Status::Running => MapRunStatus::Failed,
        };
        for run in &mut self.execution.map_runs {
            if run.status == MapRunStatus::Running {
                close(run, ended, now);
            }
        }
    }

    /// UpdateMapRun: new limits; more iterations may start at once.
    pub(super) fn update_map_run(
        &mut self,
        arn: &str,
        max_concurrency: Option<u64>,
        tolerated_count: Option<u64>,
        tolerated_percentage: Option<f64>,
    ) {
        let Some(run) = self
            .execution
            .map_runs
            .iter_mut()
            .find(|r| r.arn == arn && r.status == MapRunStatus::Running)
        else {
            return;
        };
        let frame = run.frame;
        if let Some(n) = max_concurrency {
            run.max_concurrency = n;
        }
        if let Some(n) = tolerated_count {
            run.tolerated_failure_count = n;
        }
        if let Some(p) = tolerated_percentage {
            run.tolerated_failure_percentage = p;
        }
        let Some(Phase::Children(children)) =
            self.execution.frames.get_mut(&frame).map(|f| &mut f.phase)
        else {
            return;
        };
        if let Some(n) = max_concurrency {
            children.max_concurrency = n as usize;
        }
        if tolerated_count.is_some() {
            children.tolerated_count = tolerated_count;
        }
        if tolerated_percentage.is_some() {
            children.tolerated_percentage = tolerated_percentage;
        }
        self.start_queued_children(frame);
        if let Flow::Continue = self.maybe_children_done(frame) {
            self.runnable.push_back(frame);
        }
    }

    fn map_run_mut(&mut self, frame: FrameId) -> Option<&mut MapRun> {
        self.execution
            .map_runs
            .iter_mut()
            .rev()
            .find(|r| r.frame == frame && r.status == MapRunStatus::Running)
    }

    fn running_map_run(&self, frame: FrameId) -> Option<MapRun> {
        self.execution
            .map_runs
            .iter()
            .rev()
            .find(|r| r.frame == frame && r.status == MapRunStatus::Running)
            .cloned()
    }
}

impl<'a> Run<'a> {
    /// The Map state `frame` is in.
    fn map_state(&self, frame: FrameId) -> Option<(&'a State, &'a Map)> {
        let f = self.execution.frames.get(&frame)?;
        let def: &'a windlass_asl::Definition = self.def;
        let state = def.state(f.machine, f.state);
        match &state.kind {
            StateKind::Map(map) => Some((state, map)),
            _ => None,
        }
    }
}

fn close(run: &mut MapRun, status: MapRunStatus, now: i64) {
    run.status = status;
    run.stop_millis = Some(now);
    for child in &mut run.children {
        if child.status == ChildStatus::Running {
            child.status = ChildStatus::Aborted;
            child.stop_millis = Some(now);
        }
    }
}

#[derive(Default)]
struct Files {
    succeeded: Vec<Json>,
    failed: Vec<Json>,
    pending: Vec<Json>,
}

/// A child execution as AWS writes it in the result files (Transformation
/// `NONE`): `Input` and `Output` as JSON text, dates as ISO-8601.
fn child_record(
    run: &MapRun,
    index: usize,
    child: &ChildRun,
    machine_arn: &str,
    result: &Json,
) -> Json {
    let mut record = JsonMap::new();
    let arn = run.child_arn(index).unwrap_or_default();
    record.insert("ExecutionArn".into(), json!(arn));
    record.insert("Input".into(), json!(child.input.to_string()));
    record.insert("InputDetails".into(), json!({ "Included": true }));
    record.insert("Name".into(), json!(child.name));
    match child.status {
        ChildStatus::Succeeded => {
            record.insert("Output".into(), json!(result.to_string()));
            record.insert("OutputDetails".into(), json!({ "Included": true }));
            record.insert("RedriveCount".into(), json!(0));
            record.insert("RedriveStatus".into(), json!("NOT_REDRIVABLE"));
            record.insert(
                "RedriveStatusReason".into(),
                json!("Execution is SUCCEEDED and cannot be redriven"),
            );
        }
        _ => {
            for (key, field) in [("Error", "Error"), ("Cause", "Cause")] {
                if let Some(value) = result.get(field) {
                    record.insert(key.into(), value.clone());
                }
            }
            record.insert("RedriveCount".into(), json!(0));
        }
    }
    record.insert(
        "StartDate".into(),
        json!(format_timestamp(child.start_millis)),
    );
    record.insert("StateMachineArn".into(), json!(machine_arn));
    record.insert("Status".into(), json!(child.status.as_str()));
    if let Some(stop) = child.stop_millis {
        record.insert("StopDate".into(), json!(format_timestamp(stop)));
    }
    Json::Object(record)
}

/// `Parameters` (JSONPath, on the effective input) or `Arguments`
/// (JSONata, on the raw input) of an ItemReader or ResultWriter.
fn arguments(
    eval: &Eval,
    raw: &Json,
    effective: &Json,
    template: Option<&Json>,
    field: &str,
) -> Result<Json, Failure> {
    let Some(template) = template else {
        return Ok(Json::Object(JsonMap::new()));
    };
    if eval.jsonata() {
        let name = format!("{field}/Arguments");
        eval.with_scope(raw, None, None, |scope| {
            jsonata::evaluate_field(&name, template, scope)
        })
    } else {
        eval.with_scope(effective, None, None, |scope| {
            payload::render(template, scope)
        })
    }
}

/// A failure of a read or a write under its States.* name; the cause
/// keeps the original error's name when it had another.
fn as_named(failure: Failure, name: &str) -> Failure {
    if failure.error == name {
        return failure;
    }
    Failure::new(name, format!("{}: {}", failure.error, failure.cause))
}

fn json_of<T: serde::Serialize>(value: &T) -> Json {
    serde_json::to_value(value).unwrap_or(Json::Null)
}

fn kind_of(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
