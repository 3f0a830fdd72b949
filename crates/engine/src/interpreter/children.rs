//! Parallel and Map states: spawning child frames and gathering their results.

use std::collections::VecDeque;

use serde_json::{json, Map as JsonMap, Value as Json};
use windlass_asl::definition::{Map, MapMode, Parallel, State};
use windlass_asl::failure::names;
use windlass_asl::{jsonata, payload, Failure};

use super::io::Eval;
use super::states::resolve_number;
use super::{Flow, Run};
use crate::execution::{Children, Frame, FrameId, ParentLink, Phase};
use crate::map_run::MapRunStatus;

impl Run<'_> {
    pub(super) fn start_parallel(
        &mut self,
        frame: FrameId,
        state: &State,
        parallel: &Parallel,
    ) -> Flow {
        let raw = self.raw_input(frame);
        let computed = {
            let eval = Eval::new(self.execution, &self.host, frame, state);
            eval.effective_input(&raw)
                .and_then(|effective| eval.parameters(effective))
                .and_then(|input| {
                    super::within_payload_limit(&input, &state.name, "has an input").map(|()| input)
                })
        };
        let input = match computed {
            Ok(input) => input,
            Err(failure) => return self.evaluation_failed(frame, failure),
        };
        self.emit_for(frame, "ParallelStateStarted", json!({}));
        let count = parallel.branches.len();
        let queued: VecDeque<(usize, Json, Json)> = (0..count)
            .map(|index| (index, input.clone(), Json::Null))
            .collect();
        let children = Children {
            results: vec![None; count],
            queued,
            active: Default::default(),
            max_concurrency: 0,
            failures: 0,
            tolerated_count: None,
            tolerated_percentage: None,
            total: count,
            first_failure: None,
            distributed: false,
            failed_frames: Vec::new(),
        };
        self.wait_for_children(frame, children)
    }

    pub(super) fn start_map(&mut self, frame: FrameId, state: &State, map: &Map) -> Flow {
        if let Some(reader) = &map.item_reader {
            return self.read_items(frame, state, reader);
        }
        let computed = {
            let Some(current) = self.execution.frames.get(&frame) else {
                return Flow::Blocked;
            };
            let mut eval = Eval::new(self.execution, &self.host, frame, state);
            map_inputs(&mut eval, &current.input, map)
        };
        match computed {
            Ok(inputs) => self.begin_map(frame, state, map, inputs),
            Err(failure) => self.evaluation_failed(frame, failure),
        }
    }

    /// Starts a Map's iterations (for a Distributed Map, its Map Run).
    pub(super) fn begin_map(
        &mut self,
        frame: FrameId,
        state: &State,
        map: &Map,
        (inputs, max_concurrency, tolerated_count, tolerated_percentage): MapInputs,
    ) -> Flow {
        self.emit_for(frame, "MapStateStarted", json!({ "length": inputs.len() }));
        let distributed = map.mode == MapMode::Distributed;
        let total = inputs.len();
        if distributed {
            let limits = (max_concurrency, tolerated_count, tolerated_percentage);
            let arn = self.open_map_run(frame, state, map, limits, total);
            self.emit_for(frame, "MapRunStarted", json!({ "mapRunArn": arn }));
        }
        let children = Children {
            results: vec![None; total],
            queued: inputs
                .into_iter()
                .enumerate()
                .map(|(i, (input, item))| (i, input, item))
                .collect(),
            active: Default::default(),
            max_concurrency,
            failures: 0,
            tolerated_count,
            tolerated_percentage,
            total,
            first_failure: None,
            distributed,
            failed_frames: Vec::new(),
        };
        self.wait_for_children(frame, children)
    }

    fn wait_for_children(&mut self, frame: FrameId, children: Children) -> Flow {
        if let Some(f) = self.execution.frames.get_mut(&frame) {
            f.phase = Phase::Children(Box::new(children));
        }
        self.start_queued_children(frame);
        self.maybe_children_done(frame)
    }

    /// Starts queued children while the concurrency limit allows.
    pub(super) fn start_queued_children(&mut self, frame: FrameId) {
        loop {
            let Some(parent) = self.execution.frames.get_mut(&frame) else {
                return;
            };
            let machine = parent.machine;
            let state_index = parent.state;
            let parent_event = parent.last_event;
            let parent_quiet = parent.quiet;
            let Phase::Children(children) = &mut parent.phase else {
                return;
            };
            if children.max_concurrency > 0 && children.active.len() >= children.max_concurrency {
                return;
            }
            let Some((slot, input, _item)) = children.queued.pop_front() else {
                return;
            };
            let distributed = children.distributed;
            let recorded = distributed.then(|| input.clone());
            let state = self.def.state(machine, state_index);
            let (child_machine, is_map) = match &state.kind {
                windlass_asl::definition::StateKind::Parallel(p) => (p.branches[slot], false),
                windlass_asl::definition::StateKind::Map(m) => (m.processor, true),
                _ => return,
            };
            let child = self.execution.fresh_id();
            if let Some(Phase::Children(children)) =
                self.execution.frames.get_mut(&frame).map(|p| &mut p.phase)
            {
                children.active.insert(child);
            }
            let Some(start) = self.def.machines[child_machine].start() else {
                let failure =
                    Failure::runtime("A branch or item processor's StartAt does not name a state");
                return self.children_failed(frame, is_map, failure);
            };
            self.execution.frames.insert(
                child,
                Box::new(Frame {
                    machine: child_machine,
                    parent: Some(ParentLink { frame, slot }),
                    inherit_vars: !distributed,
                    state: start,
                    input,
                    vars: JsonMap::new(),
                    phase: Phase::Enter,
                    retries: Vec::new(),
                    entered_millis: self.now,
                    last_event: parent_event,
                    entered_event: 0,
                    quiet: parent_quiet || distributed,
                    map_item: None,
                }),
            );
            if let Some(input) = recorded {
                self.child_started(frame, slot, input);
            }
            if is_map && !distributed {
                let name = state.name.clone();
                self.emit_for(
                    child,
                    "MapIterationStarted",
                    json!({ "name": name, "index": slot }),
                );
            }
            self.runnable.push_back(child);
        }
    }

    /// A child frame ended.
    pub(super) fn child_finished(
        &mut self,
        child: FrameId,
        link: ParentLink,
        child_event: u64,
        result: Result<Json, Failure>,
    ) {
        let frame = link.frame;
        let distributed = matches!(
            self.execution.frames.get(&frame).map(|p| &p.phase),
            Some(Phase::Children(c)) if c.distributed
        );
        if distributed {
            self.child_ended(frame, link.slot, result.is_ok());
        }
        let Some(parent) = self.execution.frames.get_mut(&frame) else {
            return;
        };
        let state = self.def.state(parent.machine, parent.state);
        let is_map = matches!(state.kind, windlass_asl::definition::StateKind::Map(_));
        parent.last_event = parent.last_event.max(child_event);
        let parent_quiet = parent.quiet;
        let Phase::Children(children) = &mut parent.phase else {
            return;
        };
        // Distributed iterations are recorded in their own executions.
        let record_iteration = is_map && !children.distributed && !parent_quiet;
        children.active.remove(&child);
        let name = state.name.clone();
        match result {
            Ok(output) => {
                if let Some(slot) = children.results.get_mut(link.slot) {
                    *slot = Some(output);
                }
                if record_iteration {
                    self.emit(
                        child_event,
                        "MapIterationSucceeded",
                        json!({ "name": name, "index": link.slot }),
                    );
                }
            }
            Err(failure) => {
                if record_iteration {
                    self.emit(
                        child_event,
                        "MapIterationFailed",
                        json!({ "name": name, "index": link.slot }),
                    );
                }
                let Some(Phase::Children(children)) =
                    self.execution.frames.get_mut(&frame).map(|p| &mut p.phase)
                else {
                    return;
                };
                if children.distributed {
                    children.failures += 1;
                    if let Some(failed) = self.wreck.remove(&child) {
                        children.failed_frames.push((child, failed));
                    }
                    if let Some(slot) = children.results.get_mut(link.slot) {
                        *slot = Some(json!({ "Error": failure.error, "Cause": failure.cause }));
                    }
                    let exceeded = tolerance_exceeded(children);
                    if !exceeded {
                        self.start_queued_children(frame);
                        if let Flow::Continue = self.maybe_children_done(frame) {
                            self.runnable.push_back(frame);
                        }
                        return;
                    }
                    let failure = Failure::new(
                        names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                        "The specified tolerated failure threshold was exceeded",
                    );
                    return self.children_failed(frame, is_map, failure);
                }
                return self.children_failed(frame, is_map, failure);
            }
        }
        self.start_queued_children(frame);
        if let Flow::Continue = self.maybe_children_done(frame) {
            self.runnable.push_back(frame);
        }
    }

    /// A child failed and its parent state fails: stop the other children.
    fn children_failed(&mut self, frame: FrameId, is_map: bool, failure: Failure) {
        let active = match self.execution.frames.get_mut(&frame).map(|p| &mut p.phase) {
            Some(Phase::Children(children)) => std::mem::take(&mut children.active),
            _ => return,
        };
        for child in active {
            self.remove_subtree(child);
        }
        if let Some(parent) = self.execution.frames.get_mut(&frame) {
            if let Phase::Children(children) = std::mem::replace(&mut parent.phase, Phase::Enter) {
                // Kept for a redrive, should the failure end the execution.
                self.wreck_children.insert(frame, *children);
            }
        }
        self.map_run_ended(frame, MapRunStatus::Failed);
        let kind = if is_map {
            "MapStateFailed"
        } else {
            "ParallelStateFailed"
        };
        self.emit_for(frame, kind, json!({}));
        if let Flow::Continue = self.state_failed(frame, failure) {
            self.runnable.push_back(frame);
        }
    }

    /// When every child is done, completes the parent state with the results.
    pub(super) fn maybe_children_done(&mut self, frame: FrameId) -> Flow {
        let Some(parent) = self.execution.frames.get_mut(&frame) else {
            return Flow::Blocked;
        };
        let Phase::Children(children) = &mut parent.phase else {
            return Flow::Blocked;
        };
        if !children.active.is_empty() || !children.queued.is_empty() {
            return Flow::Blocked;
        }
        let results: Vec<Json> = std::mem::take(&mut children.results)
            .into_iter()
            .map(|r| r.unwrap_or(Json::Null))
            .collect();
        let distributed = children.distributed;
        let state = self.def.state(parent.machine, parent.state);
        let is_map = matches!(state.kind, windlass_asl::definition::StateKind::Map(_));
        parent.phase = Phase::Enter;
        if is_map {
            if distributed {
                if let windlass_asl::definition::StateKind::Map(map) = &state.kind {
                    if let Some(writer) = &map.result_writer {
                        return self.write_results(frame, state, writer, results);
                    }
                }
                self.map_run_ended(frame, MapRunStatus::Succeeded);
                self.emit_for(frame, "MapRunSucceeded", json!({}));
            }
            self.emit_for(frame, "MapStateSucceeded", json!({}));
        } else {
            self.emit_for(frame, "ParallelStateSucceeded", json!({}));
        }
        self.complete_state(frame, Ok(Json::Array(results)))
    }
}

fn tolerance_exceeded(children: &Children) -> bool {
    let count_ok = children
        .tolerated_count
        .map_or(children.failures == 0, |max| children.failures <= max);
    let percentage_ok = children
        .tolerated_percentage
        .map_or(children.failures == 0, |max| {
            children.total == 0 || (children.failures as f64 * 100.0 / children.total as f64) <= max
        });
    match (children.tolerated_count, children.tolerated_percentage) {
        (None, None) => children.failures > 0,
        (Some(_), None) => !count_ok,
        (None, Some(_)) => !percentage_ok,
        (Some(_), Some(_)) => !count_ok && !percentage_ok,
    }
}

/// A Map's MaxConcurrency (0: no limit), ToleratedFailureCount and
/// ToleratedFailurePercentage, from literals, paths or JSONata.
pub(crate) fn map_limits(
    eval: &Eval,
    effective: &Json,
    map: &Map,
) -> Result<(usize, Option<u64>, Option<f64>), Failure> {
    let number = |source: &Option<windlass_asl::definition::NumberSource>, field: &str| {
        source
            .as_ref()
            .map(|s| resolve_number(eval, effective, s, field))
            .transpose()
    };
    let max_concurrency =
        number(&map.max_concurrency, "MaxConcurrencyPath")?.unwrap_or(0.0) as usize;
    let tolerated_count =
        number(&map.tolerated_failure_count, "ToleratedFailureCountPath")?.map(|n| n as u64);
    let tolerated_percentage = number(
        &map.tolerated_failure_percentage,
        "ToleratedFailurePercentagePath",
    )?;
    Ok((max_concurrency, tolerated_count, tolerated_percentage))
}

/// Whether a Map's ItemSelector, ItemBatcher or limits read the state's
/// input after the items were taken from it.
fn reads_input_after_items(map: &Map) -> bool {
    use windlass_asl::definition::NumberSource;
    let dynamic = |source: &Option<NumberSource>| {
        matches!(
            source,
            Some(NumberSource::Path(_) | NumberSource::Jsonata(_))
        )
    };
    map.item_selector.is_some()
        || map.item_batcher.is_some()
        || dynamic(&map.max_concurrency)
        || dynamic(&map.tolerated_failure_count)
        || dynamic(&map.tolerated_failure_percentage)
}

pub(super) type MapInputs = (Vec<(Json, Json)>, usize, Option<u64>, Option<f64>);

/// Each iteration's input (after ItemSelector and ItemBatcher) with its
/// item, and the Map's concurrency and failure tolerance.
fn map_inputs(eval: &mut Eval, raw: &Json, map: &Map) -> Result<MapInputs, Failure> {
    let mut effective = eval.effective_input(raw)?;
    let items = if eval.jsonata() {
        match &map.items {
            Some(Json::String(expression)) if jsonata::is_expression(expression) => {
                let value = eval.select(raw, expression, "Items")?;
                if !value.is_array() {
                    return Err(jsonata::unexpected_type(
                        "Items", expression, "array", &value,
                    ));
                }
                value
            }
            Some(template) => eval.with_scope(raw, None, None, |scope| {
                jsonata::evaluate_field("Items", template, scope)
            })?,
            None if !raw.is_array() => {
                return Err(Failure::query_evaluation(format!(
                    "Map state input must be an array but was: {raw}"
                )))
            }
            None => raw.clone(),
        }
    } else {
        match &map.items_path {
            Some(p) => eval.select(&effective, p, "ItemsPath")?,
            // The whole input is the items: move it unless something below
            // still reads the input.
            None if !reads_input_after_items(map) => std::mem::take(&mut effective),
            None => effective.clone(),
        }
    };
    // The items are the iterations' inputs: as large as a state's input may be.
    super::within_payload_limit(&items, &eval.state.name, "has items")?;
    let Json::Array(items) = items else {
        let message = format!("Items of the Map state must be an array, but was: {items}");
        return Err(if eval.jsonata() {
            Failure::query_evaluation(message)
        } else {
            Failure::runtime(message)
        });
    };
    iteration_inputs(eval, raw, &effective, items, map)
}

/// Each iteration's input from the Map's items (after ItemSelector and
/// ItemBatcher), and the Map's concurrency and failure tolerance.
pub(super) fn iteration_inputs(
    eval: &mut Eval,
    raw: &Json,
    effective: &Json,
    items: Vec<Json>,
    map: &Map,
) -> Result<MapInputs, Failure> {
    let (max_concurrency, tolerated_count, tolerated_percentage) =
        map_limits(eval, effective, map)?;
    let number =
        |eval: &Eval, source: &Option<windlass_asl::definition::NumberSource>, field: &str| {
            source
                .as_ref()
                .map(|s| resolve_number(eval, effective, s, field))
                .transpose()
        };
    let mut inputs = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let input = match &map.item_selector {
            Some(selector) => {
                eval.set_map_item(index, &item);
                if eval.jsonata() {
                    eval.with_scope(raw, None, None, |scope| {
                        jsonata::evaluate_field("ItemSelector", selector, scope)
                    })?
                } else {
                    eval.with_scope(effective, None, None, |scope| {
                        payload::render(selector, scope)
                    })?
                }
            }
            None => item,
        };
        inputs.push((input, Json::Null));
    }
    if let Some(batcher) = &map.item_batcher {
        let max_items = number(eval, &batcher.max_items_per_batch, "MaxItemsPerBatchPath")?
            .map(|n| n.max(1.0) as usize);
        let max_bytes = number(
            eval,
            &batcher.max_input_bytes_per_batch,
            "MaxInputBytesPerBatchPath",
        )?
        .map(|n| n as usize);
        let batch_input = match &batcher.batch_input {
            Some(template) if eval.jsonata() => {
                Some(eval.with_scope(raw, None, None, |scope| {
                    jsonata::evaluate_field("ItemBatcher/BatchInput", template, scope)
                })?)
            }
            Some(template) => Some(eval.with_scope(effective, None, None, |scope| {
                payload::render(template, scope)
            })?),
            None => None,
        };
        inputs = batches(inputs, max_items, max_bytes, batch_input);
    }
    Ok((
        inputs,
        max_concurrency,
        tolerated_count,
        tolerated_percentage,
    ))
}

/// Groups iteration inputs into `{"Items": [...], "BatchInput": ...}` batches.
fn batches(
    inputs: Vec<(Json, Json)>,
    max_items: Option<usize>,
    max_bytes: Option<usize>,
    batch_input: Option<Json>,
) -> Vec<(Json, Json)> {
    let mut out = Vec::new();
    let mut current: Vec<Json> = Vec::new();
    let mut current_bytes = 0usize;
    let flush = |current: &mut Vec<Json>, out: &mut Vec<(Json, Json)>| {
        if current.is_empty() {
            return;
        }
        let mut batch = JsonMap::new();
        if let Some(input) = &batch_input {
            batch.insert("BatchInput".into(), input.clone());
        }
        batch.insert("Items".into(), Json::Array(std::mem::take(current)));
        out.push((Json::Object(batch), Json::Null));
    };
    for (input, _) in inputs {
        let size = input.to_string().len();
        let full_items = max_items.is_some_and(|max| current.len() >= max);
        let full_bytes =
            max_bytes.is_some_and(|max| current_bytes + size > max && !current.is_empty());
        if full_items || full_bytes {
            flush(&mut current, &mut out);
            current_bytes = 0;
        }
        current_bytes += size;
        current.push(input);
    }
    flush(&mut current, &mut out);
    out
}
