//! Running the tested state once: its input/output chain through the
//! interpreter's [`Eval`], its work replaced by the mock, and its error
//! through Retry and Catch as a first attempt would see them.

use std::collections::BTreeMap;

use serde_json::{json, Map as JsonMap, Value as Json};
use windlass_asl::definition::{Choice, Fail, Pass, State, StateKind, Task, Wait};
use windlass_asl::failure::names;
use windlass_asl::{jsonata, payload, Failure, Host};

use super::prepare::{Mocked, Prepared, WRAPPED_STATE_NAME};
use super::{
    InspectionData, InspectionLevel, ServiceCall, StateConfiguration, TestStateRequest,
    TestStateResponse,
};
use crate::event::TaskRequest;
use crate::execution::{Execution, ExecutionMeta, Frame, Phase, Status};
use crate::format_timestamp;
use crate::host::SeededHost;
use crate::interpreter::choice::{evaluate, RuleField};
use crate::interpreter::io::Eval;
use crate::interpreter::states::resolve_number;
use crate::time_fmt::parse_timestamp;

/// How the state's own evaluation ended, before Retry and Catch.
pub(super) enum StateEnd {
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

pub(super) fn done(output: Json, assignments: Option<JsonMap<String, Json>>) -> StateEnd {
    StateEnd::Done {
        output,
        next: None,
        assignments,
    }
}

/// What the tested state's expressions see and what it may ask for.
pub(super) struct Tester<'a> {
    pub eval: Eval<'a>,
    pub raw: &'a Json,
    pub prepared: &'a Prepared,
    pub config: StateConfiguration,
    pub inspection: InspectionData,
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
        quiet: false,
    };
    Execution {
        rng: meta.seed,
        meta,
        via: Default::default(),
        status: Status::Running,
        outcome: None,
        frames: BTreeMap::from([(0, Box::new(frame))]),
        tasks: BTreeMap::new(),
        timers: BTreeMap::new(),
        next_id: 0,
        last_event_id: 0,
        stop_millis: None,
        redrive: Default::default(),
        map_runs: Vec::new(),
        history_off: false,
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
pub(super) fn can_retry(state: &State) -> bool {
    matches!(
        state.kind,
        StateKind::Task(_) | StateKind::Parallel(_) | StateKind::Map(_)
    )
}

impl Tester<'_> {
    pub(super) fn jsonpath(&self) -> bool {
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
    pub(super) fn effective_input(&mut self) -> Result<Json, Failure> {
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
    pub(super) fn complete(&mut self, state: &State, result: Json) -> Result<StateEnd, Failure> {
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
                &RuleField(index),
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
