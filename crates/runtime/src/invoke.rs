//! Task invokers: what a Task state's `Resource` calls.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde_json::Value as Json;
use windlass_asl::Failure;
use windlass_engine::TaskRequest;

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Carries out tasks for resources it was registered for.
pub trait Invoker: Send + Sync + 'static {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>>;
}

/// Routes resources to invokers by the longest matching prefix.
#[derive(Clone, Default)]
pub struct Invokers {
    routes: Vec<(String, Arc<dyn Invoker>)>,
}

impl Invokers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `invoker` for resources starting with `prefix`.
    pub fn register(&mut self, prefix: impl Into<String>, invoker: Arc<dyn Invoker>) {
        self.routes.push((prefix.into(), invoker));
        self.routes
            .sort_by_key(|route| std::cmp::Reverse(route.0.len()));
    }

    pub fn find(&self, resource: &str) -> Option<Arc<dyn Invoker>> {
        self.routes
            .iter()
            .find(|(prefix, _)| resource.starts_with(prefix.as_str()))
            .map(|(_, i)| i.clone())
    }
}

/// Answers tasks from a Step Functions Local mock configuration file
/// (`StateMachines.<machine>.TestCases.<case>.<state>` names a response in
/// `MockedResponses`, whose keys are invocation numbers or ranges: `"0"`,
/// `"1-2"`).
pub struct MockInvoker {
    /// State name -> mocked response, for the chosen test case.
    responses: HashMap<String, Json>,
    calls: Mutex<HashMap<String, u64>>,
}

#[derive(Debug, thiserror::Error)]
pub enum MockError {
    #[error("the mock configuration has no state machine '{0}' (looked in StateMachines)")]
    NoMachine(String),
    #[error("state machine '{machine}' has no test case '{case}' in the mock configuration")]
    NoTestCase { machine: String, case: String },
    #[error(
        "test case '{case}' maps state '{state}' to '{response}', which is not in MockedResponses"
    )]
    NoResponse {
        case: String,
        state: String,
        response: String,
    },
}

impl MockInvoker {
    /// Picks `machine`'s test case `case` from a parsed mock configuration.
    pub fn new(config: &Json, machine: &str, case: &str) -> Result<Self, MockError> {
        let machine_config = config
            .pointer(&format!(
                "/StateMachines/{}",
                machine.replace('~', "~0").replace('/', "~1")
            ))
            .ok_or_else(|| MockError::NoMachine(machine.to_string()))?;
        let cases = machine_config
            .get("TestCases")
            .and_then(|c| c.get(case))
            .and_then(Json::as_object)
            .ok_or_else(|| MockError::NoTestCase {
                machine: machine.into(),
                case: case.into(),
            })?;
        let mut responses = HashMap::new();
        for (state, response_name) in cases {
            let name = response_name.as_str().unwrap_or_default();
            let response = config
                .get("MockedResponses")
                .and_then(|r| r.get(name))
                .ok_or_else(|| MockError::NoResponse {
                    case: case.into(),
                    state: state.clone(),
                    response: name.into(),
                })?;
            responses.insert(state.clone(), response.clone());
        }
        Ok(MockInvoker {
            responses,
            calls: Mutex::new(HashMap::new()),
        })
    }

    /// The answer for the `n`th call of `state`, if the test case mocks it.
    pub fn answer(&self, state: &str) -> Option<Result<Json, Failure>> {
        let response = self.responses.get(state)?;
        let n = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            let count = calls.entry(state.to_string()).or_insert(0);
            let n = *count;
            *count += 1;
            n
        };
        let entry = response
            .as_object()?
            .iter()
            .find(|(key, _)| range_contains(key, n))
            .map(|(_, v)| v)?;
        if let Some(value) = entry.get("Return") {
            return Some(Ok(value.clone()));
        }
        let thrown = entry.get("Throw")?;
        let text = |key: &str| {
            thrown
                .get(key)
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Some(Err(Failure::new(text("Error"), text("Cause"))))
    }
}

/// `"3"` contains 3; `"1-2"` contains 1 and 2.
fn range_contains(key: &str, n: u64) -> bool {
    match key.split_once('-') {
        Some((low, high)) => match (low.trim().parse::<u64>(), high.trim().parse::<u64>()) {
            (Ok(low), Ok(high)) => (low..=high).contains(&n),
            _ => false,
        },
        None => key.trim().parse::<u64>() == Ok(n),
    }
}

impl Invoker for MockInvoker {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let answer = self.answer(&request.state_name).unwrap_or_else(|| {
            Err(Failure::new(
                "States.TaskFailed",
                format!(
                    "The mock test case has no response for state '{}' (call for {})",
                    request.state_name, request.resource
                ),
            ))
        });
        Box::pin(async move { answer })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mock_responses_follow_invocation_ranges() {
        let config = json!({
            "StateMachines": { "M": { "TestCases": { "Flaky": { "Call": "FailTwice" } } } },
            "MockedResponses": { "FailTwice": {
                "0-1": { "Throw": { "Error": "Boom", "Cause": "again" } },
                "2": { "Return": { "ok": true } }
            } }
        });
        let mock = MockInvoker::new(&config, "M", "Flaky").expect("valid config");
        assert_eq!(
            mock.answer("Call"),
            Some(Err(Failure::new("Boom", "again")))
        );
        assert_eq!(
            mock.answer("Call"),
            Some(Err(Failure::new("Boom", "again")))
        );
        assert_eq!(mock.answer("Call"), Some(Ok(json!({ "ok": true }))));
        assert_eq!(mock.answer("Call"), None);
        assert!(matches!(
            MockInvoker::new(&config, "M", "Nope"),
            Err(MockError::NoTestCase { .. })
        ));
    }
}
