//! Running the tested state once: its input/output chain through the
//! interpreter's [`Eval`], its work replaced by the mock, and its error
//! through Retry and Catch as a first attempt would see them.

use std::collections::BTreeMap;

use serde_json::{json, Map as JsonMap, Value as Json};
use windlass_asl::definition::{
    error_matches, Choice, Fail, Map, Pass, State, StateKind, Task, Transition, Wait,
};
use windlass_asl::failure::names;
use windlass_asl::{jsonata, payload, Failure, Host};

use super::prepare::{Mocked, Prepared, WRAPPED_STATE_NAME};
use super::{
    ErrorDetails, InspectionData, InspectionLevel, ServiceCall, StateConfiguration,
    TestStateRequest, TestStateResponse, TestStateStatus,
};
use crate::event::TaskRequest;
use crate::execution::{Execution, ExecutionMeta, Frame, Phase, Status};
use crate::format_timestamp;
use crate::host::SeededHost;
use crate::interpreter::choice::evaluate;
use crate::interpreter::io::Eval;
use crate::interpreter::states::resolve_number;
use crate::time_fmt::parse_timestamp;

/// How the state's own evaluation ended, before Retry and Catch.
enum StateEnd {
    Done {
        output: Json,
        next: Option<String>,
        assignments: Option<JsonMap<String, Json>>,
    },
    Failed(Failure),
}

impl From<Result<StateEnd, Failure>> for StateEnd {
    fn from(result: Result<StateEnd, Failure>) -> Self {
        result.unwrap_or_else(StateEnd::Failed)
    }
}

fn done(output: Json, assignments: Option<JsonMap<String, Json>>) -> StateEnd {
    StateEnd::Done {
        output,
        next: None,
        assignments,
    }
}

/// What the tested state's expressions see and what it may ask for.
struct Tester<'a> {
    eval: Eval<'a>,
    raw: &'a Json,
    prepared: &'a Prepared,
    config: StateConfiguration,
    inspection: InspectionData,
}

pub(super) fn run(
    request: &TestStateRequest,
    prepared: &Prepared,
    now: i64,
    service: &mut dyn ServiceCall,
) -> TestStateResponse {
    let state = prepared.state();
    let seed = (now as u64) ^ 0x7E57_57A7_E000_0001;
    let host = SeededHost::new(seed, now);
    let machine_name = host.uuid();
    let execution_name = host.uuid();
    let region = &request.region;
    let account = &request.account_id;
    let meta = ExecutionMeta {
        execution_arn: format!(
            "arn:aws:states:{region}:{account}:express:{machine_name}:{execution_name}"
        ),
        name: execution_name,
        state_machine_arn: format!("arn:aws:states:{region}:{account}:stateMachine:{machine_name}"),
        state_machine_name: machine_name,
        role_arn: request.role_arn.clone().unwrap_or_default(),
        input: prepared.input.clone(),
        start_millis: now,
        seed,
        express: true,
    };
    let config = request.state_configuration.clone().unwrap_or_default();
    let retry_count = config.retrier_retry_count.unwrap_or(0);
    let token = match &state.kind {
        StateKind::Task(task) if task.resource.ends_with(".waitForTaskToken") => Some(host.uuid()),
        _ => None,
    };
    let context = match &prepared.context {
        Some(context) => context.clone(),
        None => default_context(
            &meta,
            request.role_arn.as_deref(),
            state,
            retry_count,
            token.as_deref(),
        ),
    };
    let execution = execution(meta, prepared, now);
    let mut eval = Eval::new(&execution, &host, 0, state);
    eval.context = context;
    let mut tester = Tester {
        eval,
        raw: &prepared.input,
        prepared,
        config,
        inspection: InspectionData {
            input: Some(prepared.input.clone()),
            ..Default::default()
        },
    };
    let end = tester.run_state(state, token, service);
    let mut response = tester.finish(state, end);
    if request.inspection_level == InspectionLevel::Info {
        response.inspection_data = None;
    }
    response
}

/// An execution with one frame at the tested state, holding the request's variables.
fn execution(meta: ExecutionMeta, prepared: &Prepared, now: i64) -> Execution {
    let frame = Frame {
        machine: prepared.machine,
        parent: None,
        inherit_vars: false,
        state: prepared.state,
        input: prepared.input.clone(),
        vars: prepared.variables.clone(),
        phase: Phase::Enter,
        retries: Vec::new(),
        entered_millis: now,
        last_event: 0,
        entered_event: 0,
        map_item: None,
    };
    Execution {
        rng: meta.seed,
        meta,
        status: Status::Running,
        outcome: None,
        frames: BTreeMap::from([(0, frame)]),
        tasks: BTreeMap::new(),
        timers: BTreeMap::new(),
        next_id: 0,
        last_event_id: 0,
        stop_millis: None,
    }
}

/// `$$` when the request gives none. TestState runs in an express-like
/// execution and names the state `StateName`, as AWS does.
fn default_context(
    meta: &ExecutionMeta,
    role_arn: Option<&str>,
    state: &State,
    retry_count: u64,
    token: Option<&str>,
) -> Json {
    let time = format_timestamp(meta.start_millis);
    let mut state_object = json!({ "Name": WRAPPED_STATE_NAME, "EnteredTime": time });
    if can_retry(state) {
        if let Some(map) = state_object.as_object_mut() {
            map.insert("RetryCount".into(), json!(retry_count));
        }
    }
    let mut context = json!({
        "Execution": {
            "Id": meta.execution_arn,
            "Input": meta.input,
            "Name": meta.name,
            "RoleArn": role_arn,
            "StartTime": time,
        },
        "StateMachine": { "Id": meta.state_machine_arn, "Name": meta.state_machine_name },
        "State": state_object,
    });
    if let (Some(token), Some(map)) = (token, context.as_object_mut()) {
        map.insert("Task".into(), json!({ "Token": token }));
    }
    context
}

/// Whether Retry and Catch apply to the state's errors.
fn can_retry(state: &State) -> bool {
    matches!(
        state.kind,
        StateKind::Task(_) | StateKind::Parallel(_) | StateKind::Map(_)
    )
}

impl Tester<'_> {
    fn jsonpath(&self) -> bool {
        !self.eval.jsonata()
    }

    fn run_state(
        &mut self,
        state: &State,
        token: Option<String>,
        service: &mut dyn ServiceCall,
    ) -> StateEnd {
        match &state.kind {
            StateKind::Pass(pass) => self.pass(state, pass).into(),
            StateKind::Task(task) => self.task(state, task, token, service).into(),
            StateKind::Choice(choice) => self.choice(state, choice).into(),
            StateKind::Wait(wait) => self.wait(state, wait).into(),
            StateKind::Succeed => self.succeed().into(),
            StateKind::Fail(fail) => self.fail(fail).into(),
            StateKind::Parallel(_) => self.parallel().into(),
            StateKind::Map(map) => self.map(map).into(),
        }
    }

    /// InputPath, recorded as `afterInputPath` (JSONPath).
    fn effective_input(&mut self) -> Result<Json, Failure> {
        let effective = self.eval.effective_input(self.raw)?;
        if self.jsonpath() {
            self.inspection.after_input_path = Some(effective.clone());
        }
        Ok(effective)
    }

    fn pass(&mut self, state: &State, pass: &Pass) -> Result<StateEnd, Failure> {
        let raw = self.raw;
        if !self.jsonpath() {
            let result = self.eval.parameters(raw.clone())?;
            let assignments =
                self.eval
                    .assignments(state.assign.as_ref(), "Assign", raw, Some(&result), None)?;
            return Ok(done(
                self.eval.output(raw, result, None, true)?,
                assignments,
            ));
        }
        let result = match &pass.result {
            Some(result) => {
                self.eval.effective_input(raw)?;
                self.inspection.result = Some(result.clone());
                result.clone()
            }
            None => {
                let effective = self.effective_input()?;
                let parameters = self.eval.parameters(effective)?;
                self.inspection.after_parameters = Some(parameters.clone());
                parameters
            }
        };
        self.inspection.after_result_selector = Some(result.clone());
        let assignments =
            self.eval
                .assignments(state.assign.as_ref(), "Assign", raw, Some(&result), None)?;
        let combined = self
            .eval
            .result_path(raw, result, state.io.result_path.as_ref())?;
        self.inspection.after_result_path = Some(combined.clone());
        Ok(done(self.eval.output_path(combined)?, assignments))
    }

    fn task(
        &mut self,
        state: &State,
        task: &Task,
        token: Option<String>,
        service: &mut dyn ServiceCall,
    ) -> Result<StateEnd, Failure> {
        let effective = self.effective_input()?;
        let input = self.eval.parameters(effective)?;
        if self.jsonpath() {
            self.inspection.after_parameters = Some(input.clone());
        } else {
            self.inspection.after_arguments = Some(input.clone());
        }
        let result = match &self.prepared.mock {
            Some(Mocked::Result(result)) => result.clone(),
            Some(Mocked::Error(failure)) => return Err(failure.clone()),
            None => {
                let request = TaskRequest {
                    task: 1,
                    resource: task.resource.clone(),
                    input,
                    state_name: state.name.clone(),
                    token,
                    timeout_seconds: None,
                    heartbeat_seconds: None,
                    attempt: self.config.retrier_retry_count.unwrap_or(0),
                    credentials: None,
                };
                service.call(&request)?
            }
        };
        self.inspection.result = Some(result.clone());
        self.complete(state, result)
    }

    /// ResultSelector, Assign and the output chain on the work's result.
    fn complete(&mut self, state: &State, result: Json) -> Result<StateEnd, Failure> {
        let raw = self.raw;
        let selected = self.eval.result_selector(result)?;
        let assignments =
            self.eval
                .assignments(state.assign.as_ref(), "Assign", raw, Some(&selected), None)?;
        if !self.jsonpath() {
            return Ok(done(
                self.eval.output(raw, selected, None, false)?,
                assignments,
            ));
        }
        self.inspection.after_result_selector = Some(selected.clone());
        let combined = self
            .eval
            .result_path(raw, selected, state.io.result_path.as_ref())?;
        self.inspection.after_result_path = Some(combined.clone());
        Ok(done(self.eval.output_path(combined)?, assignments))
    }

    fn choice(&mut self, state: &State, choice: &Choice) -> Result<StateEnd, Failure> {
        let raw = self.raw;
        let effective = self.effective_input()?;
        let mut matched = None;
        for (index, rule) in choice.choices.iter().enumerate() {
            if evaluate(
                &self.eval,
                &rule.condition,
                raw,
                &effective,
                &format!("Choices[{index}]/Condition"),
            )? {
                matched = Some((index, rule));
                break;
            }
        }
        let (next, (assign_field, assign), output_template) = match (matched, &choice.default) {
            (Some((index, rule)), _) => {
                let assign = match &rule.assign {
                    Some(assign) => (format!("Choices[{index}]/Assign"), Some(assign)),
                    None => ("Assign".to_string(), state.assign.as_ref()),
                };
                (
                    rule.next.clone(),
                    assign,
                    rule.output
                        .as_ref()
                        .map(|o| (format!("Choices[{index}]/Output"), o)),
                )
            }
            (None, Some(default)) => (
                default.clone(),
                ("Assign".to_string(), state.assign.as_ref()),
                None,
            ),
            (None, None) => {
                return Err(Failure::new(
                    names::NO_CHOICE_MATCHED,
                    format!("No Matches! for the input '{effective}'"),
                ))
            }
        };
        let assignments =
            self.eval
                .assignments(assign, &assign_field, raw, Some(&effective), None)?;
        let output = if self.jsonpath() {
            self.eval.output_path(effective)?
        } else {
            let template = output_template
                .as_ref()
                .map(|(field, t)| (field.as_str(), *t));
            self.eval.output(raw, raw.clone(), template, true)?
        };
        Ok(StateEnd::Done {
            output,
            next: Some(next),
            assignments,
        })
    }

    fn succeed(&mut self) -> Result<StateEnd, Failure> {
        let effective = self.effective_input()?;
        let output = if self.jsonpath() {
            self.eval.output_path(effective)?
        } else {
            self.eval.output(self.raw, self.raw.clone(), None, true)?
        };
        Ok(done(output, None))
    }

    fn wait(&mut self, state: &State, wait: &Wait) -> Result<StateEnd, Failure> {
        let raw = self.raw;
        let effective = self.effective_input()?;
        // TestState does not wait; it only checks the wait is well formed.
        match wait {
            Wait::Seconds(source) => {
                resolve_number(&self.eval, &effective, source, "SecondsPath")?;
            }
            Wait::Timestamp(text) if jsonata::is_expression(text) => {
                timestamp(self.eval.select(raw, text, "Timestamp")?, "Timestamp")?;
            }
            Wait::Timestamp(text) => timestamp(Json::String(text.clone()), "Timestamp")?,
            Wait::TimestampPath(p) => timestamp(
                self.eval.select(&effective, p, "TimestampPath")?,
                "TimestampPath",
            )?,
        }
        let assignments =
            self.eval
                .assignments(state.assign.as_ref(), "Assign", raw, Some(&effective), None)?;
        let output = if self.jsonpath() {
            self.eval.output_path(effective)?
        } else {
            self.eval.output(raw, raw.clone(), None, true)?
        };
        Ok(done(output, assignments))
    }

    fn fail(&mut self, fail: &Fail) -> Result<StateEnd, Failure> {
        self.effective_input()?;
        let error = self.fail_text(&fail.error, &fail.error_path, "Error")?;
        let cause = self.fail_text(&fail.cause, &fail.cause_path, "Cause")?;
        Err(Failure::new(
            error.unwrap_or_default(),
            cause.unwrap_or_default(),
        ))
    }

    /// A Fail state's `Error` or `Cause`: literal, `...Path`, or JSONata.
    fn fail_text(
        &self,
        literal: &Option<String>,
        path: &Option<String>,
        field: &str,
    ) -> Result<Option<String>, Failure> {
        if let Some(p) = path {
            let field_name = format!("{field}Path");
            let value = self.eval.with_scope(self.raw, None, None, |scope| {
                payload::evaluate_field(&field_name, p, scope)
            })?;
            return match value {
                Json::String(s) => Ok(Some(s)),
                other => Err(Failure::runtime(format!(
                    "The {field}Path field's value must be a string, but was {other}"
                ))),
            };
        }
        match literal {
            Some(text) if jsonata::is_expression(text) && self.eval.jsonata() => {
                match self.eval.select(self.raw, text, field)? {
                    Json::String(s) => Ok(Some(s)),
                    other => Err(Failure::query_evaluation(format!(
                        "The {field} field must evaluate to a string, but was {other}"
                    ))),
                }
            }
            other => Ok(other.clone()),
        }
    }

    fn parallel(&mut self) -> Result<StateEnd, Failure> {
        // The branches' input is evaluated for its errors; AWS does not show it.
        let effective = self.eval.effective_input(self.raw)?;
        self.eval.parameters(effective)?;
        let state = self.eval.state;
        match &self.prepared.mock {
            Some(Mocked::Result(result)) => self.complete(state, result.clone()),
            Some(Mocked::Error(failure)) => Err(failure.clone()),
            None => Err(Failure::runtime(
                "A Parallel state needs a mock in TestState",
            )),
        }
    }

    fn map(&mut self, map: &Map) -> Result<StateEnd, Failure> {
        let effective = self.effective_input()?;
        let items = self.map_items(map, &effective)?;
        if self.jsonpath() {
            self.inspection.after_items_path = Some(Json::Array(items.clone()));
            if let Some(selector) = &map.item_selector {
                self.inspection.after_item_selector =
                    Some(self.item_selector(selector, &effective, &items)?);
            }
        }
        let number = |tester: &Self,
                      source: &Option<windlass_asl::definition::NumberSource>,
                      field: &str| {
            source
                .as_ref()
                .map(|s| resolve_number(&tester.eval, &effective, s, field))
                .transpose()
        };
        let max_concurrency =
            number(self, &map.max_concurrency, "MaxConcurrencyPath")?.unwrap_or(0.0);
        self.inspection.max_concurrency = Some(max_concurrency as u64);
        let tolerated_count = number(
            self,
            &map.tolerated_failure_count,
            "ToleratedFailureCountPath",
        )?
        .map(|n| n as u64);
        let tolerated_percentage = number(
            self,
            &map.tolerated_failure_percentage,
            "ToleratedFailurePercentagePath",
        )?;
        self.inspection.tolerated_failure_count = tolerated_count;
        self.inspection.tolerated_failure_percentage = tolerated_percentage;
        let result = match &self.prepared.mock {
            Some(Mocked::Result(result)) => result.clone(),
            Some(Mocked::Error(failure)) => return Err(failure.clone()),
            None => return Err(Failure::runtime("A Map state needs a mock in TestState")),
        };
        let failures = self.config.map_iteration_failure_count.unwrap_or(0);
        let total = result.as_array().map_or(items.len(), Vec::len);
        if tolerance_exceeded(failures, total, tolerated_count, tolerated_percentage) {
            return Err(Failure::new(
                names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                "The specified tolerated failure threshold was exceeded",
            ));
        }
        let state = self.eval.state;
        self.complete(state, result)
    }

    /// The Map's items: `ItemsPath` (JSONPath) or `Items` (JSONata).
    fn map_items(&self, map: &Map, effective: &Json) -> Result<Vec<Json>, Failure> {
        if self.jsonpath() {
            let (items, path) = match &map.items_path {
                Some(p) => (self.eval.select(effective, p, "ItemsPath")?, p.as_str()),
                None => (effective.clone(), "$"),
            };
            return match items {
                Json::Array(items) => Ok(items),
                // AWS names a context path (`$$...`) with one `$` here.
                _ => Err(Failure::runtime(format!(
                    "Reference path \"{}\" must point to array.",
                    path.strip_prefix('$')
                        .filter(|p| p.starts_with('$'))
                        .unwrap_or(path)
                ))),
            };
        }
        let items = match &map.items {
            Some(Json::String(expression)) if jsonata::is_expression(expression) => {
                let value = self.eval.select(self.raw, expression, "Items")?;
                if !value.is_array() {
                    return Err(jsonata::unexpected_type(
                        "Items", expression, "array", &value,
                    ));
                }
                value
            }
            Some(template) => self.eval.with_scope(self.raw, None, None, |scope| {
                jsonata::evaluate_field("Items", template, scope)
            })?,
            None if !self.raw.is_array() => {
                return Err(Failure::query_evaluation(format!(
                    "Map state input must be an array but was: {}",
                    self.raw
                )))
            }
            None => self.raw.clone(),
        };
        match items {
            Json::Array(items) => Ok(items),
            other => Err(Failure::query_evaluation(format!(
                "Items of the Map state must be an array, but was: {other}"
            ))),
        }
    }

    /// Each item through ItemSelector, with `$$.Map.Item` set (JSONPath).
    fn item_selector(
        &mut self,
        selector: &Json,
        effective: &Json,
        items: &[Json],
    ) -> Result<Json, Failure> {
        let saved = self.eval.context.clone();
        let mut selected = Vec::with_capacity(items.len());
        let mut outcome = Ok(());
        for (index, item) in items.iter().enumerate() {
            self.eval.set_map_item(index, item);
            match self.eval.with_scope(effective, None, None, |scope| {
                payload::render(selector, scope)
            }) {
                Ok(value) => selected.push(value),
                Err(failure) => {
                    outcome = Err(failure);
                    break;
                }
            }
        }
        self.eval.context = saved;
        outcome.map(|()| Json::Array(selected))
    }

    /// Status, output and next state, after Retry and Catch had their say.
    fn finish(mut self, state: &State, end: StateEnd) -> TestStateResponse {
        let mut variables = self.prepared.variables.clone();
        let mut response = TestStateResponse {
            status: TestStateStatus::Succeeded,
            output: None,
            error: None,
            cause: None,
            next_state: None,
            inspection_data: None,
        };
        match end {
            StateEnd::Done {
                output,
                next,
                assignments,
            } => {
                variables.extend(assignments.unwrap_or_default());
                response.output = Some(output);
                response.next_state = next.or_else(|| match &state.transition {
                    Transition::Next(next) => Some(next.clone()),
                    _ => None,
                });
            }
            StateEnd::Failed(failure) => {
                self.handle_error(state, failure, &mut response, &mut variables)
            }
        }
        if !variables.is_empty() {
            self.inspection.variables = Some(Json::Object(variables));
        }
        response.inspection_data = Some(self.inspection);
        response
    }

    /// Retry (the state would run again), Catch, or the state fails.
    fn handle_error(
        &mut self,
        state: &State,
        failure: Failure,
        response: &mut TestStateResponse,
        variables: &mut JsonMap<String, Json>,
    ) {
        response.status = TestStateStatus::Failed;
        response.error = Some(failure.error.clone()).filter(|e| !e.is_empty());
        response.cause = Some(failure.cause.clone()).filter(|c| !c.is_empty());
        if !can_retry(state) {
            return;
        }
        let mut details = ErrorDetails::default();
        if let Some((index, retrier)) = state
            .retry
            .iter()
            .enumerate()
            .find(|(_, r)| error_matches(&r.error_equals, &failure.error))
        {
            details.retry_index = Some(index);
            let attempts = self.config.retrier_retry_count.unwrap_or(0);
            if attempts < retrier.max_attempts {
                let exponent = i32::try_from(attempts).unwrap_or(i32::MAX);
                let mut delay = retrier.interval_seconds * retrier.backoff_rate.powi(exponent);
                if let Some(max) = retrier.max_delay_seconds {
                    delay = delay.min(max);
                }
                details.retry_backoff_interval_seconds = Some(delay as u64);
                response.status = TestStateStatus::Retriable;
                self.inspection.error_details = Some(details);
                return;
            }
        }
        if let Some((index, catcher)) = state
            .catch
            .iter()
            .enumerate()
            .find(|(_, c)| error_matches(&c.error_equals, &failure.error))
        {
            details.catch_index = Some(index);
            let raw = self.raw;
            let error_output = json!({ "Error": failure.error, "Cause": failure.cause });
            let caught = (|| {
                let assignments = self.eval.assignments(
                    catcher.assign.as_ref(),
                    "Assign",
                    raw,
                    None,
                    Some(&error_output),
                )?;
                let output = if self.eval.jsonata() {
                    match &catcher.output {
                        Some(template) => {
                            self.eval
                                .with_scope(raw, None, Some(&error_output), |scope| {
                                    jsonata::evaluate_field(
                                        &format!("Catch[{index}]/Output"),
                                        template,
                                        scope,
                                    )
                                })?
                        }
                        None => error_output.clone(),
                    }
                } else {
                    self.eval.result_path(
                        raw,
                        error_output.clone(),
                        catcher.result_path.as_ref(),
                    )?
                };
                Ok::<_, Failure>((assignments, output))
            })();
            match caught {
                Ok((assignments, output)) => {
                    variables.extend(assignments.unwrap_or_default());
                    response.status = TestStateStatus::CaughtError;
                    response.output = Some(output);
                    response.next_state = Some(catcher.next.clone());
                }
                Err(failure) => {
                    response.error = Some(failure.error);
                    response.cause = Some(failure.cause);
                }
            }
        }
        if details != ErrorDetails::default() {
            self.inspection.error_details = Some(details);
        }
    }
}

/// Whether `failures` failed iterations of `total` exceed the Map's
/// tolerance. TestState applies the threshold only when one is set.
fn tolerance_exceeded(
    failures: u64,
    total: usize,
    count: Option<u64>,
    percentage: Option<f64>,
) -> bool {
    if failures == 0 {
        return false;
    }
    let over_count = count.map(|max| failures > max);
    let over_percentage =
        percentage.map(|max| total > 0 && failures as f64 * 100.0 / total as f64 > max);
    match (over_count, over_percentage) {
        (None, None) => false,
        (Some(c), None) => c,
        (None, Some(p)) => p,
        (Some(c), Some(p)) => c && p,
    }
}

fn timestamp(value: Json, field: &str) -> Result<(), Failure> {
    match &value {
        Json::String(text) if parse_timestamp(text).is_some() => Ok(()),
        Json::String(text) => Err(Failure::runtime(format!(
            "The {field} value '{text}' is not a valid ISO-8601 timestamp"
        ))),
        other => Err(Failure::runtime(format!(
            "The {field} value must be a string timestamp, but was {other}"
        ))),
    }
}
