//! Checking a TestState request and reading its parts, in the order AWS
//! checks them, so a request with several problems gets AWS's message.

use serde_json::{json, Map as JsonMap, Value as Json};
use windlass_asl::definition::{Definition, MachineId, State, StateId, StateKind};
use windlass_asl::parse::{document_from_text, parse_value, Diagnostic};
use windlass_asl::Failure;

use super::{TestStateError, TestStateRequest};

/// The name a state given on its own gets inside the machine it runs in.
pub(super) const WRAPPED_STATE_NAME: &str = "StateName";

/// What a mock makes the state's work return.
pub(super) enum Mocked {
    Result(Json),
    Error(Failure),
}

/// A request that passed every check.
pub(super) struct Prepared {
    pub definition: Definition,
    pub machine: MachineId,
    pub state: StateId,
    pub input: Json,
    pub variables: JsonMap<String, Json>,
    /// The context object the request gave, if any.
    pub context: Option<Json>,
    pub mock: Option<Mocked>,
}

impl Prepared {
    pub fn state(&self) -> &State {
        self.definition.state(self.machine, self.state)
    }
}

fn validation(message: impl Into<String>) -> TestStateError {
    TestStateError::Validation(message.into())
}

pub(super) fn prepare(request: &TestStateRequest) -> Result<Prepared, TestStateError> {
    if let Some(mock) = &request.mock {
        if mock.result.is_some() && mock.error_output.is_some() {
            return Err(validation(
                "A test mock should have only one of the following fields: [result, errorOutput].",
            ));
        }
        if request.reveal_secrets {
            return Err(validation(
                "TestState does not support RevealSecrets when a mock is specified.",
            ));
        }
    }
    let (definition, machine, state) = locate(request)?;
    let tested = definition.state(machine, state);
    let config = request.state_configuration.clone().unwrap_or_default();
    let has_mock = request.mock.is_some();
    if config.map_iteration_failure_count.is_some() && !has_mock {
        return Err(validation(
            "TestState does not support MapIterationFailureCount when a mock is not specified.",
        ));
    }
    check_mock_allowed(tested, has_mock, request.role_arn.is_some())?;
    let mock = match &request.mock {
        Some(mock) => Some(read_mock(tested, mock)?),
        None => None,
    };
    if let (Some(count), Some(Mocked::Result(Json::Array(items)))) =
        (config.map_iteration_failure_count, &mock)
    {
        if count > items.len() as u64 {
            return Err(validation("Map iteration failure count must be less than or equal to the number of Map iterations"));
        }
    }
    let context = match &request.context {
        Some(text) => Some(read_context(text, tested)?),
        None => None,
    };
    let input = match &request.input {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            TestStateError::InvalidExecutionInput(format!("Invalid State input: {e}"))
        })?,
        None => json!({}),
    };
    let variables = match &request.variables {
        Some(text) => match serde_json::from_str::<Json>(text) {
            Ok(Json::Object(map)) => map,
            Ok(_) => return Err(validation("Variables must be a JSON object")),
            Err(e) => return Err(validation(format!("Variables must be valid JSON: {e}"))),
        },
        None => JsonMap::new(),
    };
    Ok(Prepared {
        definition,
        machine,
        state,
        input,
        variables,
        context,
        mock,
    })
}

/// Parses the definition and finds the state to test in it.
fn locate(request: &TestStateRequest) -> Result<(Definition, MachineId, StateId), TestStateError> {
    let invalid = |diagnostics: Vec<Diagnostic>| {
        let message = diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        TestStateError::InvalidDefinition(format!("Invalid State Machine Definition: '{message}'"))
    };
    let document = document_from_text(&request.definition).map_err(|d| invalid(vec![d]))?;
    let Some(name) = &request.state_name else {
        let definition = parse_value(&wrap_state(document))
            .valid()
            .map_err(invalid)?;
        let state = definition.root().index_of(WRAPPED_STATE_NAME).unwrap_or(0);
        return Ok((definition, 0, state));
    };
    if name.is_empty() {
        return Err(validation(
            "1 validation error detected: Value '' at 'stateName' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    let definition = parse_value(&document).valid().map_err(invalid)?;
    let found = definition
        .machines
        .iter()
        .enumerate()
        .find_map(|(id, m)| m.index_of(name).map(|s| (id, s)));
    match found {
        Some((machine, state)) => Ok((definition, machine, state)),
        None => Err(validation("State not found in definition")),
    }
}

/// A state given on its own, as the only real state of a machine. The
/// states it transitions to become placeholders so the machine is valid.
fn wrap_state(state: Json) -> Json {
    let mut targets: Vec<String> = Vec::new();
    if let Some(object) = state.as_object() {
        let mut add = |value: Option<&Json>| {
            if let Some(Json::String(name)) = value {
                if name != WRAPPED_STATE_NAME && !targets.contains(name) {
                    targets.push(name.clone());
                }
            }
        };
        add(object.get("Next"));
        add(object.get("Default"));
        for list in ["Choices", "Catch"] {
            if let Some(Json::Array(items)) = object.get(list) {
                for item in items {
                    add(item.get("Next"));
                }
            }
        }
    }
    let mut states = JsonMap::new();
    states.insert(WRAPPED_STATE_NAME.into(), state);
    for target in targets {
        states.insert(target, json!({ "Type": "Succeed" }));
    }
    json!({ "StartAt": WRAPPED_STATE_NAME, "States": states })
}

/// Which state types need, or refuse, a mock.
fn check_mock_allowed(state: &State, has_mock: bool, has_role: bool) -> Result<(), TestStateError> {
    match &state.kind {
        StateKind::Map(_) | StateKind::Parallel(_) if !has_mock => Err(TestStateError::InvalidDefinition(
            "TestState API does not support Map or Parallel states. Supported state types include: [Task, Wait, Pass, Succeed, Fail, Choice]"
                .into(),
        )),
        StateKind::Map(_) | StateKind::Parallel(_) | StateKind::Task(_) if has_mock => Ok(()),
        StateKind::Task(_) if !has_role => Err(validation("RoleArn must be specified when testing a Task state")),
        StateKind::Task(_) => Ok(()),
        _ if has_mock => Err(validation(format!("State type '{}' is not supported when a mock is specified", state.type_name()))),
        _ => Ok(()),
    }
}

/// Reads a mock and checks its result fits the state.
fn read_mock(state: &State, mock: &super::Mock) -> Result<Mocked, TestStateError> {
    if let Some(error) = &mock.error_output {
        return Ok(Mocked::Error(Failure::new(
            error.error.clone().unwrap_or_default(),
            error.cause.clone().unwrap_or_default(),
        )));
    }
    let text = mock.result.as_deref().unwrap_or("null");
    let result: Json =
        serde_json::from_str(text).map_err(|_| validation("Mocked result must be valid JSON"))?;
    match &state.kind {
        StateKind::Map(map) if map.result_writer.is_some() && !result.is_object() => {
            return Err(validation("Mocked result must be a JSON object."));
        }
        StateKind::Map(map) if map.result_writer.is_none() && !result.is_array() => {
            return Err(validation("Mocked result must be an array."));
        }
        StateKind::Parallel(parallel) => match &result {
            Json::Array(items) if items.len() == parallel.branches.len() => {}
            Json::Array(_) => {
                return Err(validation("Mocked result must contain the same number of items as number of Parallel branches."))
            }
            _ => return Err(validation("Mocked result must be an array.")),
        },
        StateKind::Task(task) => {
            super::shapes::check(&task.resource, &result, mock.field_validation_mode).map_err(validation)?;
        }
        _ => {}
    }
    Ok(Mocked::Result(result))
}

const CONTEXT_FIELDS: &[(&str, &[&str])] = &[
    (
        "Execution",
        &[
            "Id",
            "Input",
            "Name",
            "RoleArn",
            "StartTime",
            "RedriveCount",
            "RedriveTime",
        ],
    ),
    ("State", &["EnteredTime", "Name", "RetryCount"]),
    ("StateMachine", &["Id", "Name"]),
    ("Task", &["Token"]),
];

/// Fields of the context object that must be text when given.
const CONTEXT_STRINGS: &[(&str, &str)] = &[
    ("Execution", "Id"),
    ("Execution", "Name"),
    ("Execution", "RoleArn"),
    ("Execution", "StartTime"),
    ("State", "EnteredTime"),
    ("State", "Name"),
    ("StateMachine", "Id"),
    ("StateMachine", "Name"),
    ("Task", "Token"),
];

/// Reads the context object a request gives and checks its fields.
fn read_context(text: &str, state: &State) -> Result<Json, TestStateError> {
    let invalid =
        |message: String| validation(format!("Invalid Context object provided: {message}"));
    let context: Json = serde_json::from_str(text).map_err(|e| invalid(format!("{e}")))?;
    let Some(object) = context.as_object() else {
        return Err(invalid("the Context object must be a JSON object".into()));
    };
    for (key, value) in object {
        if key == "Map" {
            return Err(invalid(
                "'Map' field is not supported when mocking a Context object".into(),
            ));
        }
        let Some((_, allowed)) = CONTEXT_FIELDS.iter().find(|(name, _)| name == key) else {
            return Err(invalid(format!("Field '{key}' is not allowed")));
        };
        let Some(fields) = value.as_object() else {
            return Err(invalid(format!("{key} must be an object")));
        };
        for (field, field_value) in fields {
            if !allowed.contains(&field.as_str()) {
                return Err(invalid(format!("Field '{field}' is not allowed")));
            }
            if CONTEXT_STRINGS.contains(&(key.as_str(), field.as_str())) && !field_value.is_string()
            {
                return Err(invalid(format!("{key}.{field} must be a string")));
            }
        }
    }
    if object.contains_key("Task") && !waits_for_task(state) {
        return Err(invalid(
            "Context object contains 'Task' when state is not a Task state with a '.sync' or '.waitForTaskToken' service integration pattern"
                .into(),
        ));
    }
    Ok(context)
}

/// Whether the state is a Task with a `.sync` or `.waitForTaskToken` resource.
fn waits_for_task(state: &State) -> bool {
    match &state.kind {
        StateKind::Task(task) => {
            task.resource.ends_with(".waitForTaskToken")
                || task.resource.ends_with(".sync")
                || task.resource.ends_with(".sync:2")
        }
        _ => false,
    }
}
