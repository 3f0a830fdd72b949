//! TestState: one state run on its own by the engine's TestState, with the
//! wire's JSON-text fields converted both ways.

use serde_json::{Map as JsonMap, Value as Json};
use windlass_asl::Failure;
use windlass_engine::test_state::{
    test_state_with, FieldValidationMode, InspectionLevel, Mock, MockError, ServiceCall,
    StateConfiguration, TestStateRequest,
};
use windlass_engine::TaskRequest;
use windlass_runtime::Runtime;

use super::required;
use crate::error::{ApiError, ApiResult};
use crate::region::Regional;
use crate::wire;

/// Inspection fields the wire carries as numbers or objects; all others are JSON text.
const STRUCTURED: [&str; 4] = [
    "errorDetails",
    "maxConcurrency",
    "toleratedFailureCount",
    "toleratedFailurePercentage",
];

fn enum_error(value: &str, field: &str, allowed: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]"
    ))
}

fn mock(mock: wire::TestStateMock) -> ApiResult<Mock> {
    let mode = match mock.field_validation_mode.as_deref() {
        None => FieldValidationMode::default(),
        Some(name) => FieldValidationMode::from_name(name)
            .ok_or_else(|| enum_error(name, "mock.fieldValidationMode", "STRICT, PRESENT, NONE"))?,
    };
    Ok(Mock {
        result: mock.result,
        error_output: mock.error_output.map(|e| MockError {
            error: e.error,
            cause: e.cause,
        }),
        field_validation_mode: mode,
    })
}

fn as_text(value: Json) -> Json {
    Json::String(value.to_string())
}

/// An unmocked Task of TestState calls its service for real, as AWS does,
/// through the server's invokers (the engine's TestState is synchronous:
/// it runs on a blocking thread that waits for each call).
struct RealService {
    runtime: Runtime,
    handle: tokio::runtime::Handle,
}

impl ServiceCall for RealService {
    fn call(&mut self, request: &TaskRequest) -> Result<Json, Failure> {
        let Some(invoker) = self.runtime.invoker(&request.resource) else {
            return Err(Failure::runtime(format!(
                "windlass has no task invoker for the resource '{}'; give the request a mock",
                request.resource
            )));
        };
        self.handle.block_on(invoker.invoke(request.clone()))
    }
}

pub async fn run(
    server: &Regional<'_>,
    input: wire::TestStateInput,
) -> ApiResult<wire::TestStateOutput> {
    required(&input.definition, "definition")?;
    if let Some(diagnostic) = super::machines::json_diagnostic(&input.definition) {
        return Err(super::machines::invalid_definition(&[diagnostic]));
    }
    let inspection_level = match input.inspection_level.as_deref() {
        None => InspectionLevel::default(),
        Some(name) => InspectionLevel::from_name(name)
            .ok_or_else(|| enum_error(name, "inspectionLevel", "INFO, DEBUG, TRACE"))?,
    };
    let request = TestStateRequest {
        definition: input.definition,
        state_name: input.state_name,
        role_arn: input.role_arn,
        input: input.input,
        variables: input.variables,
        context: input.context,
        mock: input.mock.map(mock).transpose()?,
        state_configuration: input.state_configuration.map(|c| StateConfiguration {
            retrier_retry_count: c.retrier_retry_count,
            error_caused_by_state: c.error_caused_by_state,
            map_iteration_failure_count: c.map_iteration_failure_count,
            map_item_reader_data: c.map_item_reader_data,
        }),
        inspection_level,
        reveal_secrets: input.reveal_secrets,
        region: server.arns.region.clone(),
        account_id: server.config.account.clone(),
    };
    let now = server.now_millis();
    let mut service = RealService {
        runtime: server.runtime.clone(),
        handle: tokio::runtime::Handle::current(),
    };
    let response =
        tokio::task::spawn_blocking(move || test_state_with(&request, now, &mut service))
            .await
            .map_err(|e| ApiError::new("InternalFailure", format!("TestState stopped: {e}")))?
            .map_err(|e| ApiError::new(e.code(), e.message()))?;
    let inspection_data = response.inspection_data.map(|data| {
        let fields = match data.to_json() {
            Json::Object(fields) => fields,
            _ => JsonMap::new(),
        };
        let wire_fields = fields
            .into_iter()
            .map(|(key, value)| {
                let value = if STRUCTURED.contains(&key.as_str()) {
                    value
                } else {
                    as_text(value)
                };
                (key, value)
            })
            .collect();
        Json::Object(wire_fields)
    });
    Ok(wire::TestStateOutput {
        output: response.output.map(|o| o.to_string()),
        error: response.error,
        cause: response.cause,
        inspection_data,
        next_state: response.next_state,
        status: response.status.as_str(),
    })
}
