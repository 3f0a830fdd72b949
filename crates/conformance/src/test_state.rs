//! TestState cases: one state run on its own, as the TestState API does.

use serde_json::{Map as JsonMap, Value as Json};
use windlass_engine::test_state::{
    test_state, FieldValidationMode, InspectionLevel, Mock, MockError, StateConfiguration,
    TestStateRequest,
};

use crate::compare::Matcher;
use crate::run::Actual;
use crate::{Case, Expected};

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
/// When the case was recorded does not matter; a fixed clock keeps runs reproducible.
const NOW_MILLIS: i64 = 1_700_000_000_000;

pub(crate) fn run(case: &Case) -> Actual {
    let request = request(case);
    // The AWS SDKs refuse an empty state name before sending the request:
    // there is no API error code, only the SDK's message.
    if request.state_name.as_deref() == Some("") {
        return Actual {
            status: "REJECTED".into(),
            cause: Some(
                "Parameter validation failed:\nInvalid length for parameter stateName, value: 0, valid min length: 1"
                    .into(),
            ),
            ..Default::default()
        };
    }
    match test_state(&request, NOW_MILLIS) {
        Ok(response) => Actual {
            status: response.status.as_str().into(),
            output: response.output,
            error: response.error,
            cause: response.cause,
            next_state: response.next_state,
            inspection_data: response.inspection_data.map(|data| data.to_json()),
        },
        Err(error) => Actual::rejected(error.code(), error.message().to_string()),
    }
}

/// The TestState request a case's `test_state_args` describe.
fn request(case: &Case) -> TestStateRequest {
    let empty = JsonMap::new();
    let args = case
        .test_state_args
        .as_ref()
        .and_then(Json::as_object)
        .unwrap_or(&empty);
    let text = |key: &str| args.get(key).and_then(Json::as_str).map(str::to_string);
    let mock = args.get("mock").and_then(Json::as_object).map(|mock| Mock {
        result: mock
            .get("result")
            .and_then(Json::as_str)
            .map(str::to_string),
        error_output: mock.get("errorOutput").map(|e| MockError {
            error: e.get("error").and_then(Json::as_str).map(str::to_string),
            cause: e.get("cause").and_then(Json::as_str).map(str::to_string),
        }),
        field_validation_mode: mock
            .get("fieldValidationMode")
            .and_then(Json::as_str)
            .and_then(FieldValidationMode::from_name)
            .unwrap_or_default(),
    });
    let state_configuration = args.get("stateConfiguration").map(|c| StateConfiguration {
        retrier_retry_count: c.get("retrierRetryCount").and_then(Json::as_u64),
        error_caused_by_state: c
            .get("errorCausedByState")
            .and_then(Json::as_str)
            .map(str::to_string),
        map_iteration_failure_count: c.get("mapIterationFailureCount").and_then(Json::as_u64),
        map_item_reader_data: c
            .get("mapItemReaderData")
            .and_then(Json::as_str)
            .map(str::to_string),
    });
    // The recorder removed `roleArn` from the arguments. The recorded tests
    // passed one whenever they passed a mock, and a Task without a mock and
    // without a role is refused, so that is the rule that reproduces them.
    let role_arn = text("roleArn").or_else(|| {
        mock.as_ref()
            .map(|_| format!("arn:aws:iam::{ACCOUNT}:role/windlass"))
    });
    let input = match (&case.input_raw, &case.input) {
        (Some(raw), _) => Some(raw.clone()),
        (None, Json::Null) => None,
        (None, input) => Some(input.to_string()),
    };
    TestStateRequest {
        definition: case.definition.to_string(),
        state_name: text("stateName"),
        role_arn,
        input,
        variables: text("variables"),
        context: text("context"),
        mock,
        state_configuration,
        inspection_level: text("inspectionLevel")
            .and_then(|l| InspectionLevel::from_name(&l))
            .unwrap_or_default(),
        reveal_secrets: args
            .get("revealSecrets")
            .and_then(Json::as_bool)
            .unwrap_or(false),
        region: REGION.into(),
        account_id: ACCOUNT.into(),
    }
}

/// The TestState-only parts of a result: the next state, the catcher's
/// output, and the inspection data.
pub(crate) fn judge(matcher: &Matcher, expected: &Expected, actual: &Actual) -> bool {
    if expected.next_state != actual.next_state {
        return false;
    }
    if expected.status == "CAUGHT_ERROR" {
        if let Some(want) = &expected.output {
            if !actual
                .output
                .as_ref()
                .is_some_and(|got| matcher.matches(want, got))
            {
                return false;
            }
        }
    }
    let is_empty = |data: &Json| data.as_object().is_some_and(JsonMap::is_empty);
    match (&expected.inspection_data, &actual.inspection_data) {
        (None, None) => true,
        (None, Some(data)) | (Some(data), None) => is_empty(data),
        (Some(want), Some(got)) => inspection_matches(matcher, want, got),
    }
}

/// AWS sends each inspection field as JSON text; the recorder parsed some
/// (objects) and kept others (arrays) as text. Either form matches.
fn inspection_matches(matcher: &Matcher, want: &Json, got: &Json) -> bool {
    let (Some(want), Some(got)) = (want.as_object(), got.as_object()) else {
        return matcher.matches(want, got);
    };
    want.len() == got.len()
        && want.iter().all(|(key, w)| {
            got.get(key).is_some_and(|g| {
                matcher.matches(w, g)
                    || match (w, g) {
                        (Json::String(text), g) if !g.is_string() => {
                            serde_json::from_str::<Json>(text)
                                .is_ok_and(|parsed| matcher.matches(&parsed, g))
                        }
                        _ => false,
                    }
            })
        })
}

/// The TestState-only parts of a result, for a report line.
pub(crate) fn describe(next_state: Option<&str>, inspection_data: Option<&Json>) -> String {
    format!(
        " nextState={} inspectionData={}",
        next_state.unwrap_or("-"),
        inspection_data.map_or("-".into(), Json::to_string)
    )
}
