//! The TestState API: one state run on its own with a given input, optional
//! variables, context object and mock, reporting its output, error, next
//! state and the intermediate values of its input/output chain.
//!
//! This is the engine half of AWS Step Functions' `TestState`. The types are
//! plain Rust: the API server maps them to and from the wire. Requests AWS
//! refuses come back as a [`TestStateError`] carrying AWS's exact message.

mod children;
mod outcome;
mod prepare;
mod run;
mod shapes;
#[cfg(test)]
mod tests;

use serde::Serialize;
use serde_json::Value as Json;
use windlass_asl::Failure;

use crate::event::TaskRequest;

/// How much of the state's evaluation the response shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InspectionLevel {
    /// Status, output, error and next state only.
    #[default]
    Info,
    /// Also the data after each step of the input/output chain.
    Debug,
    /// As `Debug`, plus the raw HTTP request and response of HTTP tasks.
    Trace,
}

impl InspectionLevel {
    /// `INFO`, `DEBUG` or `TRACE`, as the API spells them.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "INFO" => Some(InspectionLevel::Info),
            "DEBUG" => Some(InspectionLevel::Debug),
            "TRACE" => Some(InspectionLevel::Trace),
            _ => None,
        }
    }
}

/// How strictly a mocked result is checked against the service's API shape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidationMode {
    #[default]
    Strict,
    Present,
    None,
}

impl FieldValidationMode {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "STRICT" => Some(FieldValidationMode::Strict),
            "PRESENT" => Some(FieldValidationMode::Present),
            "NONE" => Some(FieldValidationMode::None),
            _ => None,
        }
    }
}

/// The error a mock makes the state's work fail with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MockError {
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// What the state's work (a Task's service call, a Map's iterations, a
/// Parallel's branches) returns instead of running.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mock {
    /// The result as JSON text.
    pub result: Option<String>,
    pub error_output: Option<MockError>,
    pub field_validation_mode: FieldValidationMode,
}

/// Where in its life the tested state is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateConfiguration {
    /// Retries already made by the retrier that matches the error.
    pub retrier_retry_count: Option<u64>,
    /// The state inside a Map or Parallel that raised the mocked error.
    pub error_caused_by_state: Option<String>,
    /// How many of a Map's (mocked) iterations failed.
    pub map_iteration_failure_count: Option<u64>,
    /// The items a Map's ItemReader would read, as JSON text.
    pub map_item_reader_data: Option<String>,
}

/// One TestState call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestStateRequest {
    /// A state's definition, or a whole state machine with `state_name`.
    pub definition: String,
    pub state_name: Option<String>,
    pub role_arn: Option<String>,
    /// The state's input as JSON text; `{}` when absent.
    pub input: Option<String>,
    /// Variables in scope, as a JSON object in text.
    pub variables: Option<String>,
    /// The context object (`$$`), as a JSON object in text.
    pub context: Option<String>,
    pub mock: Option<Mock>,
    pub state_configuration: Option<StateConfiguration>,
    pub inspection_level: InspectionLevel,
    pub reveal_secrets: bool,
    /// Where the call is served, for the ARNs in the context object.
    pub region: String,
    pub account_id: String,
}

/// How the state ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestStateStatus {
    Succeeded,
    Failed,
    /// A Catch caught the error: `output` and `next_state` are the catcher's.
    CaughtError,
    /// A Retry would run the state again.
    Retriable,
}

impl TestStateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TestStateStatus::Succeeded => "SUCCEEDED",
            TestStateStatus::Failed => "FAILED",
            TestStateStatus::CaughtError => "CAUGHT_ERROR",
            TestStateStatus::Retriable => "RETRIABLE",
        }
    }
}

/// Which retrier or catcher handled the error.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catch_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_backoff_interval_seconds: Option<u64>,
}

/// The data at each step of the state's evaluation (DEBUG and TRACE).
/// Serializes to the field names of the TestState API's `inspectionData`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectionData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_input_path: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_parameters: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_arguments: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_items_path: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_item_selector: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_result_selector: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_result_path: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variables: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerated_failure_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerated_failure_percentage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
}

impl InspectionData {
    /// The data as one JSON object, with the API's field names.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }
}

/// What TestState answered.
#[derive(Clone, Debug, PartialEq)]
pub struct TestStateResponse {
    pub status: TestStateStatus,
    pub output: Option<Json>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub next_state: Option<String>,
    /// Present at the DEBUG and TRACE inspection levels.
    pub inspection_data: Option<InspectionData>,
}

/// A request TestState refuses, with AWS's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TestStateError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidDefinition(String),
    #[error("{0}")]
    InvalidExecutionInput(String),
}

impl TestStateError {
    /// The AWS error code (`__type`).
    pub fn code(&self) -> &'static str {
        match self {
            TestStateError::Validation(_) => "ValidationException",
            TestStateError::InvalidDefinition(_) => "InvalidDefinition",
            TestStateError::InvalidExecutionInput(_) => "InvalidExecutionInput",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            TestStateError::Validation(m)
            | TestStateError::InvalidDefinition(m)
            | TestStateError::InvalidExecutionInput(m) => m,
        }
    }
}

/// Calls a Task state's service for real (a TestState without a mock).
pub trait ServiceCall {
    fn call(&mut self, request: &TaskRequest) -> Result<Json, Failure>;
}

/// A [`ServiceCall`] for where no service can be reached: an unmocked Task
/// fails with `States.Runtime`.
pub struct NoService;

impl ServiceCall for NoService {
    fn call(&mut self, request: &TaskRequest) -> Result<Json, Failure> {
        Err(Failure::runtime(format!(
            "No service is available to call '{}' from TestState; give the request a mock",
            request.resource
        )))
    }
}

/// Runs one state as TestState does, with no service to call: Task states
/// need a mock.
pub fn test_state(
    request: &TestStateRequest,
    now: i64,
) -> Result<TestStateResponse, TestStateError> {
    test_state_with(request, now, &mut NoService)
}

/// Runs one state as TestState does; an unmocked Task calls `service`.
pub fn test_state_with(
    request: &TestStateRequest,
    now: i64,
    service: &mut dyn ServiceCall,
) -> Result<TestStateResponse, TestStateError> {
    let prepared = prepare::prepare(request)?;
    Ok(run::run(request, &prepared, now, service))
}
