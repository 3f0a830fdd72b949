//! A deploy execution as the CLI follows it: its status and the history
//! events after the ones it has already shown.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use windlass_store::Store;

/// One look at an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionView {
    pub arn: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, ...
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// History events with ids after the one asked for: `{id, type,
    /// timestamp_millis, state?, details}`.
    pub events: Vec<Json>,
}

/// The execution `arn` with its events after `after`.
pub fn execution_view(
    store: &dyn Store,
    arn: &str,
    after: u64,
) -> Result<Option<ExecutionView>, windlass_store::Error> {
    let Some(record) = store.execution(arn)? else {
        return Ok(None);
    };
    let history = store.history(arn, after.saturating_add(1), u64::MAX)?;
    let mut error = None;
    let mut cause = None;
    let mut events = Vec::with_capacity(history.len());
    for event in history {
        if event.kind == "ExecutionFailed" {
            error = text(&event.details, "error");
            cause = text(&event.details, "cause");
        }
        events.push(serde_json::json!({
            "id": event.id,
            "type": event.kind,
            "timestamp_millis": event.timestamp_millis,
            "state": text(&event.details, "name"),
            "details": event.details,
        }));
    }
    Ok(Some(ExecutionView {
        arn: arn.to_owned(),
        status: record.status,
        error,
        cause,
        events,
    }))
}

fn text(details: &Json, key: &str) -> Option<String> {
    details.get(key).and_then(Json::as_str).map(str::to_owned)
}
