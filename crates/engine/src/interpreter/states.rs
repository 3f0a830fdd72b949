//! Entering a state: what each state type does with its input.

use serde_json::{json, Map as JsonMap, Value as Json};
use windlass_asl::definition::{
    Fail, NumberSource, Pass, QueryLanguage, State, StateKind, Task, Wait,
};
use windlass_asl::{jsonata, path, Failure};

use super::io::Eval;
use super::{Flow, Output, Run};
use crate::event::{Action, TaskRequest};
use crate::execution::{FrameId, PendingTask, Phase, TimerPurpose};
use crate::time_fmt::parse_timestamp;

impl Run<'_> {
    /// Enters (or, after a back-off, re-runs) the frame's current state.
    pub(super) fn enter_state(&mut self, frame: FrameId) -> Flow {
        if !self.wreck_children.is_empty() {
            // A new attempt at the state: the children of an earlier,
            // failed attempt are no longer what a redrive would resume.
            self.wreck_children.remove(&frame);
        }
        let Some(f) = self.execution.frames.get_mut(&frame) else {
            return Flow::Blocked;
        };
        let reentry = matches!(f.phase, Phase::Reenter);
        let state = self.def.state(f.machine, f.state);
        if !reentry && f.quiet {
            f.retries = vec![0; state.retry.len()];
        } else if !reentry {
            f.retries = vec![0; state.retry.len()];
            let details = if self.execution.history_off {
                Json::Null
            } else {
                crate::history::payload_details(Some(&state.name), "input", f.input.clone())
            };
            let kind = super::entered_kind(state);
            let id = self.emit_for(frame, kind, details);
            if let Some(f) = self.execution.frames.get_mut(&frame) {
                f.entered_event = id;
            }
        }
        if self.execution.last_event_id > super::MAX_HISTORY_EVENTS {
            return self.frame_failed(
                frame,
                Failure::new(
                    windlass_asl::failure::names::RUNTIME,
                    "The execution reached the maximum number of history events (25000).",
                ),
            );
        }
        match &state.kind {
            StateKind::Pass(pass) => self.run_pass(frame, state, pass),
            StateKind::Task(task) => self.run_task(frame, state, task),
            StateKind::Choice(choice) => self.run_choice(frame, state, choice),
            StateKind::Wait(wait) => self.run_wait(frame, state, wait),
            StateKind::Succeed => self.run_succeed(frame, state),
            StateKind::Fail(fail) => self.run_fail(frame, state, fail),
            StateKind::Parallel(parallel) => self.start_parallel(frame, state, parallel),
            StateKind::Map(map) => self.start_map(frame, state, map),
        }
    }

    pub(super) fn raw_input(&self, frame: FrameId) -> Json {
        self.execution
            .frames
            .get(&frame)
            .map(|f| f.input.clone())
            .unwrap_or(Json::Null)
    }

    /// Sets variables in the frame's own scope.
    pub(super) fn apply_assignments(
        &mut self,
        frame: FrameId,
        assignments: Option<JsonMap<String, Json>>,
    ) {
        if let (Some(values), Some(f)) = (assignments, self.execution.frames.get_mut(&frame)) {
            for (name, value) in values {
                f.vars.insert(name, value);
            }
        }
    }

    fn run_pass(&mut self, frame: FrameId, state: &State, pass: &Pass) -> Flow {
        let io = &state.io;
        let unchanged = state.query_language == QueryLanguage::JsonPath
            && pass.result.is_none()
            && io.input_path.is_none()
            && io.parameters.is_none()
            && io.result_path.is_none()
            && io.output_path.is_none();
        if unchanged {
            // The output is the input: nothing to copy.
            let assignments = match &state.assign {
                None => Ok(None),
                Some(assign) => {
                    let Some(current) = self.execution.frames.get(&frame) else {
                        return Flow::Blocked;
                    };
                    let raw = &current.input;
                    let eval = Eval::new(self.execution, &self.host, frame, state);
                    eval.assignments(Some(assign), "Assign", raw, Some(raw), None)
                }
            };
            return match assignments {
                Ok(assignments) => {
                    self.apply_assignments(frame, assignments);
                    self.exit_with(frame, Output::Input, None)
                }
                Err(failure) => self.evaluation_failed(frame, failure),
            };
        }
        let computed = {
            let Some(current) = self.execution.frames.get(&frame) else {
                return Flow::Blocked;
            };
            let raw = &current.input;
            let eval = Eval::new(self.execution, &self.host, frame, state);
            (|| {
                let effective = eval.effective_input(raw)?;
                let parameters = eval.parameters(effective)?;
                let result = match (&pass.result, eval.jsonata()) {
                    (Some(result), false) => result.clone(),
                    _ => parameters,
                };
                let assignments =
                    eval.assignments(state.assign.as_ref(), "Assign", raw, Some(&result), None)?;
                let output = eval.output(raw, result, None, true)?;
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

    fn run_succeed(&mut self, frame: FrameId, state: &State) -> Flow {
        let unchanged = match state.query_language {
            QueryLanguage::JsonPath => {
                state.io.input_path.is_none() && state.io.output_path.is_none()
            }
            QueryLanguage::Jsonata => state.io.output.is_none(),
        };
        if unchanged {
            return self.exit_with(frame, Output::Input, None);
        }
        let raw = self.raw_input(frame);
        let computed = {
            let eval = Eval::new(self.execution, &self.host, frame, state);
            eval.effective_input(&raw).and_then(|effective| {
                if eval.jsonata() {
                    eval.output(&raw, raw.clone(), None, true)
                } else {
                    eval.output_path(effective)
                }
            })
        };
        match computed {
            Ok(output) => self.exit_state(frame, output, None),
            Err(failure) => self.evaluation_failed(frame, failure),
        }
    }

    fn run_fail(&mut self, frame: FrameId, state: &State, fail: &Fail) -> Flow {
        let raw = self.raw_input(frame);
        let computed = {
            let eval = Eval::new(self.execution, &self.host, frame, state);
            let text = |literal: &Option<String>,
                        path: &Option<String>,
                        field: &str|
             -> Result<Option<String>, Failure> {
                if let Some(p) = path {
                    let field_name = format!("{field}Path");
                    let value = eval.with_scope(&raw, None, None, |scope| {
                        windlass_asl::payload::evaluate_field(&field_name, p, scope)
                    })?;
                    return match value {
                        Json::String(s) => Ok(Some(s)),
                        other => Err(Failure::runtime(format!(
                            "The {field}Path field's value must be a string, but was {other}"
                        ))),
                    };
                }
                match literal {
                    Some(s) if jsonata::is_expression(s) && eval.jsonata() => {
                        match eval.select(&raw, s, field)? {
                            Json::String(s) => Ok(Some(s)),
                            other => Err(Failure::query_evaluation(format!(
                                "The {field} field must evaluate to a string, but was {other}"
                            ))),
                        }
                    }
                    other => Ok(other.clone()),
                }
            };
            text(&fail.error, &fail.error_path, "Error")
                .and_then(|e| Ok((e, text(&fail.cause, &fail.cause_path, "Cause")?)))
        };
        match computed {
            Ok((error, cause)) => self.frame_failed(
                frame,
                Failure::new(error.unwrap_or_default(), cause.unwrap_or_default()),
            ),
            Err(failure) => {
                let failure = self.describe_evaluation_failure(frame, failure);
                self.frame_failed(frame, failure)
            }
        }
    }

    fn run_wait(&mut self, frame: FrameId, state: &State, wait: &Wait) -> Flow {
        let raw = self.raw_input(frame);
        let now = self.now;
        let computed = {
            let eval = Eval::new(self.execution, &self.host, frame, state);
            (|| {
                let effective = eval.effective_input(&raw)?;
                let deadline = match wait {
                    Wait::Seconds(source) => {
                        let seconds = resolve_number(&eval, &effective, source, "SecondsPath")?;
                        now.saturating_add((seconds * 1000.0) as i64)
                    }
                    Wait::Timestamp(text) if jsonata::is_expression(text) => {
                        let value = eval.select(&raw, text, "Timestamp")?;
                        let parsed = value.as_str().and_then(parse_timestamp);
                        parsed.ok_or_else(|| {
                            let shown = value.as_str().map_or(value.to_string(), str::to_string);
                            Failure::query_evaluation(format!(
                                "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {shown}"
                            ))
                        })?
                    }
                    Wait::Timestamp(text) => {
                        timestamp_value(Json::String(text.clone()), "Timestamp", text)?
                    }
                    Wait::TimestampPath(p) => timestamp_value(
                        eval.select(&effective, p, "TimestampPath")?,
                        "TimestampPath",
                        p,
                    )?,
                };
                if deadline.saturating_sub(now) > MAX_WAIT_MILLIS {
                    return Err(Failure::runtime("Wait state delay is too long."));
                }
                let assignments = eval.assignments(
                    state.assign.as_ref(),
                    "Assign",
                    &raw,
                    Some(&effective),
                    None,
                )?;
                let output = if eval.jsonata() {
                    eval.output(&raw, raw.clone(), None, true)?
                } else {
                    eval.output_path(effective)?
                };
                Ok::<_, Failure>((deadline, assignments, output))
            })()
        };
        match computed {
            Ok((deadline, assignments, output)) => {
                self.apply_assignments(frame, assignments);
                if deadline <= now {
                    return self.exit_state(frame, output, None);
                }
                let timer = self.set_timer(deadline, TimerPurpose::Resume(frame));
                if let Some(f) = self.execution.frames.get_mut(&frame) {
                    f.phase = Phase::Wait { timer, output };
                }
                Flow::Blocked
            }
            Err(failure) => self.evaluation_failed(frame, failure),
        }
    }

    fn run_task(&mut self, frame: FrameId, state: &State, task: &Task) -> Flow {
        let raw = self.raw_input(frame);
        let activity = is_activity(&task.resource);
        let wants_token = activity || task.resource.ends_with(".waitForTaskToken");
        let token = wants_token.then(|| windlass_asl::Host::uuid(&self.host));
        let attempt = self
            .execution
            .frames
            .get(&frame)
            .map_or(0, |f| f.retries.iter().sum());
        let computed = {
            let eval = Eval::with_token(self.execution, &self.host, frame, state, token.as_deref());
            (|| {
                let effective = eval.effective_input(&raw)?;
                let timeout = task
                    .timeout
                    .as_ref()
                    .map(|source| resolve_number(&eval, &effective, source, "TimeoutSecondsPath"))
                    .transpose()?;
                let heartbeat = task
                    .heartbeat
                    .as_ref()
                    .map(|source| resolve_number(&eval, &effective, source, "HeartbeatSecondsPath"))
                    .transpose()?;
                let credentials = match &task.credentials {
                    Some(template) if eval.jsonata() => {
                        Some(eval.with_scope(&raw, None, None, |s| {
                            jsonata::evaluate_field("Credentials", template, s)
                        })?)
                    }
                    Some(template) => Some(eval.with_scope(&effective, None, None, |s| {
                        windlass_asl::payload::render(template, s)
                    })?),
                    None => None,
                };
                let input = eval.parameters(effective)?;
                super::within_payload_limit(&input, &state.name, "has an input")?;
                Ok::<_, Failure>((input, timeout, heartbeat, credentials))
            })()
        };
        let (input, timeout, heartbeat, credentials) = match computed {
            Ok(values) => values,
            Err(failure) => return self.evaluation_failed(frame, failure),
        };
        let id = self.execution.fresh_id();
        let timeout_seconds = timeout.map(|s| s as u64).filter(|s| *s > 0);
        let heartbeat_seconds = heartbeat.map(|s| s as u64).filter(|s| *s > 0);
        let request = TaskRequest {
            task: id,
            resource: task.resource.clone(),
            input: input.clone(),
            state_name: state.name.clone(),
            token,
            timeout_seconds,
            heartbeat_seconds,
            attempt,
            credentials,
        };
        let (resource_type, resource) = resource_parts(&task.resource);
        if activity {
            let mut details = json!({ "resource": task.resource, "input": input, "inputDetails": { "truncated": false } });
            add_seconds(&mut details, timeout_seconds, heartbeat_seconds);
            self.emit_for(frame, "ActivityScheduled", details);
        } else if is_lambda_function(&task.resource) {
            // A function's own ARN: Step Functions records LambdaFunction*
            // events, as it did before the service integrations.
            let mut details = json!({ "resource": task.resource, "input": input });
            add_seconds(&mut details, timeout_seconds, None);
            self.emit_for(frame, "LambdaFunctionScheduled", details);
            self.emit_for(frame, "LambdaFunctionStarted", Json::Null);
        } else {
            let mut details = json!({
                "resourceType": resource_type,
                "resource": resource,
                "region": region_of(&self.execution.meta.state_machine_arn),
                "parameters": input.to_string(),
            });
            add_seconds(&mut details, timeout_seconds, heartbeat_seconds);
            self.emit_for(frame, "TaskScheduled", details);
            self.emit_for(
                frame,
                "TaskStarted",
                json!({ "resourceType": resource_type, "resource": resource }),
            );
        }
        let timeout_timer = timeout_seconds.map(|s| {
            let at = self.now.saturating_add((s as i64).saturating_mul(1000));
            self.set_timer(at, TimerPurpose::TaskTimeout(id))
        });
        // An activity's heartbeat clock starts when a worker takes the task
        // (see `task_started`); a queued activity only has its timeout.
        let heartbeat_timer = heartbeat_seconds.filter(|_| !activity).map(|s| {
            let at = self.now.saturating_add((s as i64).saturating_mul(1000));
            self.set_timer(at, TimerPurpose::TaskHeartbeat(id))
        });
        self.execution.tasks.insert(
            id,
            PendingTask {
                frame,
                request: request.clone(),
                started: !activity,
                timeout_timer,
                heartbeat_timer,
                activity,
                purpose: Default::default(),
            },
        );
        self.step.actions.push(Action::Invoke(request));
        if let Some(f) = self.execution.frames.get_mut(&frame) {
            f.phase = Phase::Task { task: id };
        }
        Flow::Blocked
    }
}

fn add_seconds(details: &mut Json, timeout: Option<u64>, heartbeat: Option<u64>) {
    if let Some(map) = details.as_object_mut() {
        if let Some(t) = timeout {
            map.insert("timeoutInSeconds".into(), json!(t));
        }
        if let Some(h) = heartbeat {
            map.insert("heartbeatInSeconds".into(), json!(h));
        }
    }
}

/// Whether a Task `Resource` is a Lambda function's own ARN
/// (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`): Step
/// Functions invokes the function and records LambdaFunction* events.
pub fn is_lambda_function(resource: &str) -> bool {
    let Some(rest) = resource.strip_prefix("arn:aws:lambda:") else {
        return false;
    };
    let parts: Vec<&str> = rest.split(':').collect();
    matches!(parts.as_slice(), [_, _, "function", name] | [_, _, "function", name, _] if !name.is_empty())
}

/// Whether a Task `Resource` names an activity.
pub(super) fn is_activity(resource: &str) -> bool {
    resource.starts_with("arn:") && resource.split(':').nth(5) == Some("activity")
}

/// `arn:aws:states:::http:invoke` -> (`http`, `invoke`); a Lambda function
/// ARN -> (`lambda`, `invoke`).
pub(super) fn resource_parts(resource: &str) -> (String, String) {
    let parts: Vec<&str> = resource.split(':').collect();
    if parts.len() >= 7 && parts[2] == "states" && parts[3].is_empty() {
        return (parts[5].to_string(), parts[6..].join(":"));
    }
    if parts.len() >= 6 && parts[2] == "lambda" {
        return ("lambda".into(), "invoke".into());
    }
    (
        parts.get(2).copied().unwrap_or("unknown").to_string(),
        resource.to_string(),
    )
}

fn region_of(arn: &str) -> String {
    arn.split(':')
        .nth(3)
        .filter(|r| !r.is_empty())
        .unwrap_or("us-east-1")
        .to_string()
}

/// Resolves a number field: literal, `...Path` or JSONata. `field` is the
/// field's name without `Path` (`Seconds`, `MaxConcurrency`, ...).
pub(crate) fn resolve_number(
    eval: &Eval,
    effective: &Json,
    source: &NumberSource,
    field: &str,
) -> Result<f64, Failure> {
    let field = field.trim_end_matches("Path");
    let (value, path) = match source {
        NumberSource::Literal(n) => return Ok(*n),
        NumberSource::Path(p) => (
            eval.with_scope(effective, None, None, |scope| path::select(p, scope))?,
            p.as_str(),
        ),
        NumberSource::Jsonata(expression) => (
            eval.select(effective, expression, field)?,
            expression.as_str(),
        ),
    };
    let shown = match &value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    };
    if field == "Seconds" || field == "TimeoutSeconds" || field == "HeartbeatSeconds" {
        // Step Functions reads these as a Java long.
        return match value.as_i64() {
            Some(n) if n >= 0 => Ok(n as f64),
            Some(_) => Err(Failure::runtime(format!(
                "The {field}Path parameter references a negative value: {path} == {shown}"
            ))),
            None => Err(Failure::runtime(format!(
                "The {field}Path parameter cannot be parsed as a long value: {path} == {shown}"
            ))),
        };
    }
    let number = match &value {
        Json::Number(n) => n.as_f64(),
        Json::String(text) => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    let integral = field != "ToleratedFailurePercentage";
    match number {
        Some(n) if integral && n.fract() != 0.0 => Err(not_valid(field, &shown, path, integral)),
        Some(n) if n < 0.0 => Err(Failure::runtime(format!("{field} cannot be negative."))),
        Some(n) => Ok(n),
        None => Err(not_valid(field, &shown, path, integral)),
    }
}

fn not_valid(field: &str, shown: &str, path: &str, integral: bool) -> Failure {
    let kind = if integral { "integer" } else { "number" };
    Failure::runtime(format!(
        "The {field}Path field refers to value \"{shown}\" which is not a valid {kind}: {path}"
    ))
}

/// Longest wait Step Functions accepts: its delay must fit a Java int of seconds.
const MAX_WAIT_MILLIS: i64 = i32::MAX as i64 * 1000;

fn timestamp_value(value: Json, field: &str, path: &str) -> Result<i64, Failure> {
    let invalid = |shown: &str| {
        Failure::runtime(format!(
            "The {field} parameter does not reference a valid ISO-8601 extended offset date-time format string: {path} == {shown}"
        ))
    };
    match &value {
        Json::String(text) => parse_timestamp(text).ok_or_else(|| invalid(text)),
        other => Err(invalid(&other.to_string())),
    }
}
