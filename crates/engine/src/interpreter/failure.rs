//! Tasks finishing, and errors: Retry, Catch, or the frame fails.

use serde_json::{json, Value as Json};
use windlass_asl::definition::{error_matches, Jitter, StateKind};
use windlass_asl::Failure;

use super::io::Eval;
use super::{Flow, Run};
use crate::execution::{FrameId, Phase, TaskId, TaskPurpose, TimerPurpose};

impl Run<'_> {
    pub(super) fn task_started(&mut self, task: TaskId, worker: Option<String>) {
        let Some(pending) = self.execution.tasks.get_mut(&task) else {
            return;
        };
        if pending.started {
            return;
        }
        pending.started = true;
        let frame = pending.frame;
        let heartbeat = pending.request.heartbeat_seconds;
        if let Some(seconds) = heartbeat {
            let at = self
                .now
                .saturating_add((seconds as i64).saturating_mul(1000));
            let timer = self.set_timer(at, TimerPurpose::TaskHeartbeat(task));
            if let Some(pending) = self.execution.tasks.get_mut(&task) {
                pending.heartbeat_timer = Some(timer);
            }
        }
        let details = match worker {
            Some(name) => json!({ "workerName": name }),
            None => json!({}),
        };
        self.emit_for(frame, "ActivityStarted", details);
    }

    pub(super) fn task_submitted(&mut self, task: TaskId, output: Json) {
        let Some(pending) = self.execution.tasks.get(&task) else {
            return;
        };
        let frame = pending.frame;
        let (resource_type, resource) = super::states::resource_parts(&pending.request.resource);
        let mut details = crate::history::payload_details(None, "output", output);
        if let Some(map) = details.as_object_mut() {
            map.insert("resourceType".into(), json!(resource_type));
            map.insert("resource".into(), json!(resource));
        }
        self.emit_for(frame, "TaskSubmitted", details);
    }

    pub(super) fn task_heartbeat(&mut self, task: TaskId) {
        let Some(pending) = self.execution.tasks.get(&task) else {
            return;
        };
        let (Some(old), Some(seconds)) =
            (pending.heartbeat_timer, pending.request.heartbeat_seconds)
        else {
            return;
        };
        self.cancel_timer(old);
        let at = self
            .now
            .saturating_add((seconds as i64).saturating_mul(1000));
        let timer = self.set_timer(at, TimerPurpose::TaskHeartbeat(task));
        if let Some(pending) = self.execution.tasks.get_mut(&task) {
            pending.heartbeat_timer = Some(timer);
        }
    }

    /// A task ended with a result or an error.
    pub(super) fn task_finished(&mut self, task: TaskId, result: Result<Json, Failure>) {
        let Some(pending) = self.execution.tasks.remove(&task) else {
            return;
        };
        for timer in [pending.timeout_timer, pending.heartbeat_timer]
            .into_iter()
            .flatten()
        {
            self.cancel_timer(timer);
        }
        let frame = pending.frame;
        // A result over the payload limit fails the task, as AWS fails a
        // connector's output that is: nothing that large is kept. A
        // Distributed Map's ItemReader is not bound by it: its items come
        // from S3 (AWS reads files of gigabytes) and each iteration's input
        // is checked on its own.
        let bounded = !matches!(pending.purpose, TaskPurpose::ReadItems);
        let result = result.and_then(|output| {
            if !bounded {
                return Ok(output);
            }
            let state = self
                .execution
                .frames
                .get(&frame)
                .map_or("", |f| self.def.state(f.machine, f.state).name.as_str());
            super::within_payload_limit(&output, state, "returned a result").map(|()| output)
        });
        match pending.purpose {
            TaskPurpose::ReadItems => return self.items_read(frame, result),
            TaskPurpose::WriteResults => return self.results_written(frame, result),
            TaskPurpose::State => {}
        }
        let (resource_type, resource) = super::states::resource_parts(&pending.request.resource);
        let lambda = super::states::is_lambda_function(&pending.request.resource);
        let (kind, mut details) = match &result {
            Ok(output) => (
                if pending.activity {
                    "ActivitySucceeded"
                } else if lambda {
                    "LambdaFunctionSucceeded"
                } else {
                    "TaskSucceeded"
                },
                crate::history::payload_details(None, "output", output.clone()),
            ),
            Err(failure) => (
                if pending.activity {
                    "ActivityFailed"
                } else if lambda {
                    "LambdaFunctionFailed"
                } else {
                    "TaskFailed"
                },
                json!({ "error": failure.error, "cause": failure.cause }),
            ),
        };
        if !pending.activity && !lambda {
            if let Some(map) = details.as_object_mut() {
                map.insert("resourceType".into(), json!(resource_type));
                map.insert("resource".into(), json!(resource));
            }
        }
        self.emit_for(frame, kind, details);
        let flow = match result {
            Ok(output) => self.complete_state(frame, Ok(output)),
            Err(failure) => self.state_failed(frame, failure),
        };
        if let Flow::Continue = flow {
            self.runnable.push_back(frame);
        }
    }

    pub(super) fn task_timed_out(&mut self, task: TaskId, error: &str, cause: &str) {
        let Some(pending) = self.execution.tasks.get(&task) else {
            return;
        };
        let frame = pending.frame;
        let kind = if pending.activity {
            "ActivityTimedOut"
        } else if super::states::is_lambda_function(&pending.request.resource) {
            "LambdaFunctionTimedOut"
        } else {
            "TaskTimedOut"
        };
        self.emit_for(frame, kind, error_details(error, cause));
        self.cancel_task(task);
        if let Flow::Continue = self.state_failed(frame, Failure::new(error, cause)) {
            self.runnable.push_back(frame);
        }
    }

    /// The work of a Task, Parallel or Map state produced `result`: apply
    /// ResultSelector, Assign and the output chain, then leave the state.
    pub(super) fn complete_state(&mut self, frame: FrameId, result: Result<Json, Failure>) -> Flow {
        let result = match result {
            Ok(result) => result,
            Err(failure) => return self.state_failed(frame, failure),
        };
        let Some(f) = self.execution.frames.get_mut(&frame) else {
            return Flow::Blocked;
        };
        f.phase = Phase::Enter;
        let state = self.def.state(f.machine, f.state);
        // A Parallel's or Map's results, gathered: as large as AWS allows.
        if let Err(failure) = super::within_payload_limit(&result, &state.name, "returned a result")
        {
            return self.state_failed(frame, failure);
        }
        let computed = {
            let Some(f) = self.execution.frames.get(&frame) else {
                return Flow::Blocked;
            };
            let raw = &f.input;
            let eval = Eval::new(self.execution, &self.host, frame, state);
            (|| {
                let selected = eval.result_selector(result)?;
                let assignments =
                    eval.assignments(state.assign.as_ref(), "Assign", raw, Some(&selected), None)?;
                let output = eval.output(raw, selected, None, false)?;
                Ok::<_, Failure>((assignments, output))
            })()
        };
        match computed {
            Ok((assignments, output)) => {
                self.apply_assignments(frame, assignments);
                self.exit_state(frame, output, None)
            }
            Err(failure) => self.evaluation_failed(frame, failure),
        }
    }

    /// An expression of the current state failed: AWS names the state in
    /// the cause of runtime and query errors.
    pub(super) fn evaluation_failed(&mut self, frame: FrameId, failure: Failure) -> Flow {
        let failure = self.describe_evaluation_failure(frame, failure);
        self.state_failed(frame, failure)
    }

    pub(super) fn describe_evaluation_failure(&self, frame: FrameId, failure: Failure) -> Failure {
        use windlass_asl::failure::names;
        if !matches!(
            failure.error.as_str(),
            names::RUNTIME | names::QUERY_EVALUATION_ERROR
        ) {
            return failure;
        }
        let Some(f) = self.execution.frames.get(&frame) else {
            return failure;
        };
        let state = self.def.state(f.machine, f.state);
        Failure::new(
            failure.error,
            format!(
                "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
                state.name, f.entered_event, failure.cause
            ),
        )
    }

    /// The current state of `frame` failed: retry it, catch the error, or
    /// fail the frame.
    pub(super) fn state_failed(&mut self, frame: FrameId, failure: Failure) -> Flow {
        let Some(f) = self.execution.frames.get(&frame) else {
            return Flow::Blocked;
        };
        let state = self.def.state(f.machine, f.state);
        if !matches!(
            state.kind,
            StateKind::Task(_) | StateKind::Parallel(_) | StateKind::Map(_)
        ) {
            return self.frame_failed(frame, failure);
        }
        if let Some((index, retrier)) = state
            .retry
            .iter()
            .enumerate()
            .find(|(_, r)| error_matches(&r.error_equals, &failure.error))
        {
            let attempts = f.retries.get(index).copied().unwrap_or(0);
            if attempts < retrier.max_attempts {
                let mut delay =
                    retrier.interval_seconds * retrier.backoff_rate.powi(attempts as i32);
                if let Some(max) = retrier.max_delay_seconds {
                    delay = delay.min(max);
                }
                if retrier.jitter == Jitter::Full {
                    delay *= windlass_asl::Host::random(&self.host);
                }
                let at = self.now.saturating_add((delay * 1000.0) as i64);
                if let Some(f) = self.execution.frames.get_mut(&frame) {
                    if let Some(count) = f.retries.get_mut(index) {
                        *count += 1;
                    }
                }
                if at <= self.now {
                    if let Some(f) = self.execution.frames.get_mut(&frame) {
                        f.phase = Phase::Reenter;
                    }
                    return Flow::Continue;
                }
                let timer = self.set_timer(at, TimerPurpose::Resume(frame));
                if let Some(f) = self.execution.frames.get_mut(&frame) {
                    f.phase = Phase::Backoff { timer };
                }
                return Flow::Blocked;
            }
        }
        let Some((catch_index, catcher)) = state
            .catch
            .iter()
            .enumerate()
            .find(|(_, c)| error_matches(&c.error_equals, &failure.error))
        else {
            return self.frame_failed(frame, failure);
        };
        let raw = f.input.clone();
        let error_output = json!({ "Error": failure.error, "Cause": failure.cause });
        let computed = {
            let eval = Eval::new(self.execution, &self.host, frame, state);
            (|| {
                let assign_field = format!("Catch[{catch_index}]/Assign");
                let assignments = eval.assignments(
                    catcher.assign.as_ref(),
                    &assign_field,
                    &raw,
                    None,
                    Some(&error_output),
                )?;
                let output = if eval.jsonata() {
                    match &catcher.output {
                        Some(template) => {
                            eval.with_scope(&raw, None, Some(&error_output), |scope| {
                                windlass_asl::jsonata::evaluate_field(
                                    &format!("Catch[{catch_index}]/Output"),
                                    template,
                                    scope,
                                )
                            })?
                        }
                        None => error_output.clone(),
                    }
                } else {
                    eval.result_path(&raw, error_output.clone(), catcher.result_path.as_ref())?
                };
                Ok::<_, Failure>((assignments, output))
            })()
        };
        match computed {
            Ok((assignments, output)) => {
                self.apply_assignments(frame, assignments);
                if let Some(f) = self.execution.frames.get_mut(&frame) {
                    f.phase = Phase::Enter;
                }
                self.exit_state(frame, output, Some(&catcher.next))
            }
            Err(failure) => {
                let failure = self.describe_evaluation_failure(frame, failure);
                self.frame_failed(frame, failure)
            }
        }
    }
}

/// `{error, cause}` as AWS records them: an empty cause is left out.
pub(crate) fn error_details(error: &str, cause: &str) -> Json {
    let mut details = serde_json::Map::with_capacity(2);
    details.insert("error".into(), Json::String(error.to_string()));
    if !cause.is_empty() {
        details.insert("cause".into(), Json::String(cause.to_string()));
    }
    Json::Object(details)
}
