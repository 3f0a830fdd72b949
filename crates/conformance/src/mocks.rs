//! Task answers for cases that run Task states: a case's `mocks` field holds
//! one Step Functions Local test case, `{"<StateName>": {"0": {"Return":
//! ...}, "1-2": {"Throw": {"Error": ..., "Cause": ...}}}}`. The keys count
//! the calls of that state in the execution from 0, so retries and loops
//! see their own answers. A call with no answer never returns: the task
//! then waits for its timeout, heartbeat or the execution's timeout on the
//! virtual clock.

use std::collections::HashMap;

use serde_json::{Map as JsonMap, Value as Json};
use windlass_asl::Failure;
use windlass_engine::simulate::SyncInvoker;
use windlass_engine::TaskRequest;

/// One answer of a mocked state.
#[derive(Clone, Debug, PartialEq)]
enum Answer {
    Return(Json),
    Throw(Failure),
}

/// The answers for calls `first..=last` of a state.
#[derive(Clone, Debug)]
struct Range {
    first: u64,
    last: u64,
    answer: Answer,
}

/// Answers tasks from a case's `mocks`, by state name and call count.
#[derive(Debug, Default)]
pub(crate) struct Mocks {
    states: HashMap<String, Vec<Range>>,
    calls: HashMap<String, u64>,
}

impl Mocks {
    /// Reads the `mocks` field; the error says which entry is malformed.
    pub(crate) fn new(mocks: &Json) -> Result<Self, String> {
        let states = mocks
            .as_object()
            .ok_or("mocks must be an object of state names")?;
        let mut parsed = HashMap::new();
        for (state, responses) in states {
            let responses = responses
                .as_object()
                .ok_or_else(|| format!("mocks.{state} must be an object of call numbers"))?;
            parsed.insert(state.clone(), ranges(state, responses)?);
        }
        Ok(Mocks {
            states: parsed,
            calls: HashMap::new(),
        })
    }

    /// The answer for the next call of `state`, counting the call.
    fn next(&mut self, state: &str) -> Option<Answer> {
        let count = self.calls.entry(state.to_string()).or_insert(0);
        let n = *count;
        *count += 1;
        let ranges = self.states.get(state)?;
        ranges
            .iter()
            .find(|r| (r.first..=r.last).contains(&n))
            .map(|r| r.answer.clone())
    }
}

fn ranges(state: &str, responses: &JsonMap<String, Json>) -> Result<Vec<Range>, String> {
    let mut ranges = Vec::new();
    for (key, response) in responses {
        let where_ = format!("mocks.{state}.\"{key}\"");
        let (first, last) =
            call_numbers(key).ok_or_else(|| format!("{where_}: the key must be N or N-M"))?;
        let answer = if let Some(value) = response.get("Return") {
            Answer::Return(value.clone())
        } else if let Some(thrown) = response.get("Throw") {
            let text = |field: &str| {
                thrown
                    .get(field)
                    .and_then(Json::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            Answer::Throw(Failure::new(text("Error"), text("Cause")))
        } else {
            return Err(format!("{where_}: expected Return or Throw"));
        };
        ranges.push(Range {
            first,
            last,
            answer,
        });
    }
    Ok(ranges)
}

/// `"3"` is call 3; `"1-2"` calls 1 and 2.
fn call_numbers(key: &str) -> Option<(u64, u64)> {
    match key.split_once('-') {
        Some((first, last)) => {
            let (first, last) = (first.trim().parse().ok()?, last.trim().parse().ok()?);
            (first <= last).then_some((first, last))
        }
        None => key.trim().parse().ok().map(|n| (n, n)),
    }
}

impl SyncInvoker for Mocks {
    fn invoke(&mut self, request: &TaskRequest) -> Option<Result<Json, Failure>> {
        match self.next(&request.state_name)? {
            Answer::Return(value) => Some(Ok(value)),
            Answer::Throw(failure) => Some(Err(failure)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_follow_call_numbers_per_state() {
        let mut mocks = Mocks::new(&json!({
            "Call": {
                "0-1": {"Throw": {"Error": "Boom", "Cause": "again"}},
                "2": {"Return": {"ok": true}}
            },
            "Other": {"1": {"Return": 1}}
        }))
        .expect("valid mocks");
        let boom = Answer::Throw(Failure::new("Boom", "again"));
        assert_eq!(mocks.next("Call"), Some(boom.clone()));
        assert_eq!(mocks.next("Other"), None);
        assert_eq!(mocks.next("Call"), Some(boom));
        assert_eq!(
            mocks.next("Call"),
            Some(Answer::Return(json!({"ok": true})))
        );
        assert_eq!(mocks.next("Call"), None);
        assert_eq!(mocks.next("Other"), Some(Answer::Return(json!(1))));
        assert_eq!(mocks.next("Unknown"), None);
    }

    #[test]
    fn malformed_mocks_name_the_entry() {
        let error = Mocks::new(&json!({"S": {"x": {"Return": 1}}})).expect_err("bad key");
        assert!(error.contains("mocks.S.\"x\""), "{error}");
        let error = Mocks::new(&json!({"S": {"0": {"Nothing": 1}}})).expect_err("no answer");
        assert!(error.contains("Return or Throw"), "{error}");
        assert!(Mocks::new(&json!([])).is_err());
        assert!(Mocks::new(&json!({"S": {"2-1": {"Return": 1}}})).is_err());
    }
}
