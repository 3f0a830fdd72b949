//! Running one case.

use serde_json::{json, Value as Json};
use windlass_asl::parse::{execution_input, parse_value_with, Config};
use windlass_engine::simulate::{simulate, NoTasks, SimulateConfig, SyncInvoker};
use windlass_engine::{ExecutionMeta, Outcome, Status};

use crate::compare::Matcher;
use crate::{Case, Verdict};

/// What the engine did with a case, in the terms of `expected`.
#[derive(Debug, Default)]
pub(crate) struct Actual {
    pub status: String,
    pub output: Option<Json>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// TestState only.
    pub next_state: Option<String>,
    pub inspection_data: Option<Json>,
}

impl Actual {
    pub(crate) fn rejected(error: &str, cause: String) -> Self {
        Actual {
            status: "REJECTED".into(),
            error: Some(error.into()),
            cause: Some(cause),
            ..Default::default()
        }
    }

    fn describe(&self) -> String {
        match self.status.as_str() {
            "SUCCEEDED" => format!(
                "SUCCEEDED output={}",
                self.output.as_ref().map_or("-".into(), Json::to_string)
            ),
            status => format!(
                "{status} error={} cause={}",
                self.error.as_deref().unwrap_or("-"),
                self.cause.as_deref().unwrap_or("-")
            ),
        }
    }
}

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";

pub fn run_case(case: &Case) -> Verdict {
    // A TestState request the API refused is still a TestState case.
    let is_test_state = case.kind == "test_state" || case.test_state_args.is_some();
    let actual = if is_test_state {
        crate::test_state::run(case)
    } else {
        run_execution(case)
    };
    judge(case, &actual)
}

fn run_execution(case: &Case) -> Actual {
    let express = case.state_machine_type.as_deref() == Some("EXPRESS");
    let parsed = parse_value_with(&case.definition, &Config { express });
    let definition = match parsed.valid() {
        Ok(definition) => definition,
        Err(diagnostics) => {
            let message = diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Actual::rejected(
                "InvalidDefinition",
                format!("Invalid State Machine Definition: '{message}'"),
            );
        }
    };
    if let Some(raw) = &case.input_raw {
        if let Err(message) = execution_input(raw) {
            let cause = format!("Invalid State Machine Execution Input: '{message}'");
            return Actual::rejected("InvalidExecutionInput", cause);
        }
    }
    let input = if case.input.is_null() && case.input_raw.is_none() {
        json!({})
    } else {
        case.input.clone()
    };
    let machine = "StateMachine";
    let name = "execution";
    let meta = ExecutionMeta {
        // Express executions have ARNs of their own shape on AWS.
        execution_arn: if express {
            format!("arn:aws:states:{REGION}:{ACCOUNT}:express:{machine}:{name}:0b4c1d3e-0000-4000-8000-000000000000")
        } else {
            format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine}:{name}")
        },
        name: name.into(),
        state_machine_arn: format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine}"),
        state_machine_name: machine.into(),
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/windlass"),
        input,
        start_millis: 1_700_000_000_000,
        seed: 42,
        express,
    };
    let start_millis = meta.start_millis;
    let timeline = case.expected.timeline.as_deref();
    let config = SimulateConfig {
        keep_history: timeline.is_some(),
        max_events: 200_000,
        ..Default::default()
    };
    let mut mocks = match case
        .mocks
        .as_ref()
        .map(crate::mocks::Mocks::new)
        .transpose()
    {
        Ok(mocks) => mocks,
        Err(message) => {
            return Actual {
                status: format!("INVALID CASE: {message}"),
                ..Default::default()
            }
        }
    };
    let invoker: &mut dyn SyncInvoker = match &mut mocks {
        Some(mocks) => mocks,
        None => &mut NoTasks,
    };
    let run = simulate(&definition, meta, invoker, &config);
    let timeline = timeline.map(|t| crate::timeline::check(t, &run.history, start_millis));
    let execution = run.execution;
    let (output, error, cause) = match &execution.outcome {
        Some(Outcome::Output(output)) => (Some(output.clone()), None, None),
        Some(Outcome::Error { error, cause }) => (None, Some(error.clone()), Some(cause.clone())),
        None => (None, None, None),
    };
    let status = match execution.status {
        Status::Running => "RUNNING (stuck)",
        other => other.as_str(),
    };
    let status = match timeline {
        Some(Err(difference)) => format!("{status} (timeline differs: {difference})"),
        _ => status.to_string(),
    };
    Actual {
        status,
        output,
        error,
        cause,
        ..Default::default()
    }
}

pub(crate) fn judge(case: &Case, actual: &Actual) -> Verdict {
    let matcher = Matcher::new(&case.redactions);
    let expected = &case.expected;
    let mut passed = expected.status == actual.status;
    let mut message_matched = true;
    if passed {
        match expected.status.as_str() {
            "SUCCEEDED" => {
                let want = expected.output.clone().unwrap_or(Json::Null);
                let got = actual.output.clone().unwrap_or(Json::Null);
                passed = if expected.output_is_raw_text {
                    matches!((&want, &got), (Json::String(w), g) if matcher.string_matches(w, &g.to_string()))
                        || matcher.matches(&want, &got)
                } else {
                    matcher.matches(&want, &got)
                };
            }
            "REJECTED" => {
                passed = expected.error == actual.error;
                message_matched = cause_matches(&matcher, expected, actual.cause.as_deref());
            }
            _ => {
                let error_ok = match &expected.error {
                    Some(e) => actual
                        .error
                        .as_deref()
                        .is_some_and(|a| matcher.string_matches(e, a)),
                    None => true,
                };
                passed = error_ok && cause_matches(&matcher, expected, actual.cause.as_deref());
            }
        }
    }
    let is_test_state = case.kind == "test_state";
    if passed && is_test_state {
        passed = crate::test_state::judge(&matcher, expected, actual);
    }
    let mut describe_expected = match expected.status.as_str() {
        "SUCCEEDED" => format!(
            "SUCCEEDED output={}",
            expected.output.as_ref().map_or("-".into(), Json::to_string)
        ),
        status => format!(
            "{status} error={} cause={}",
            expected.error.as_deref().unwrap_or("-"),
            expected.cause.as_ref().map_or("-".into(), |c| c
                .as_str()
                .map_or(c.to_string(), str::to_string))
        ),
    };
    let mut describe_actual = actual.describe();
    if is_test_state {
        describe_expected += &crate::test_state::describe(
            expected.next_state.as_deref(),
            expected.inspection_data.as_ref(),
        );
        describe_actual += &crate::test_state::describe(
            actual.next_state.as_deref(),
            actual.inspection_data.as_ref(),
        );
    }
    Verdict {
        name: case.name.clone(),
        category: case.category.clone(),
        passed,
        message_matched,
        expected: describe_expected,
        actual: describe_actual,
    }
}

fn cause_matches(matcher: &Matcher, expected: &crate::Expected, actual: Option<&str>) -> bool {
    match (&expected.cause, actual) {
        (None, _) => true,
        (Some(Json::String(want)), Some(got)) if !expected.cause_is_parsed_json => {
            matcher.string_matches(want, got)
        }
        (Some(want), Some(got)) => match serde_json::from_str::<Json>(got) {
            Ok(parsed) => matcher.matches(want, &parsed),
            Err(_) => want
                .as_str()
                .is_some_and(|w| matcher.string_matches(w, got)),
        },
        (Some(Json::String(want)), None) => want.is_empty(),
        (Some(_), None) => false,
    }
}
