//! A deploy execution as the CLI follows it: its status and the history
//! events after the ones it has already shown, as [`Progress`].

use serde_json::Value as Json;
use windlass_engine::{HistoryEvent, Status};
use windlass_store::Store;

use super::contract::{ExecutionView, Progress, ProgressKind};

/// The execution `arn` with its events after `after`.
pub fn execution_view(
    store: &dyn Store,
    arn: &str,
    after: u64,
) -> Result<Option<ExecutionView>, windlass_store::Error> {
    let Some(record) = store.execution(arn)? else {
        return Ok(None);
    };
    let status = record
        .status
        .parse::<Status>()
        .map_err(|e| windlass_store::Error::Corrupt(format!("execution {arn}: {e}")))?;
    let history = store.history(arn, after.saturating_add(1), u64::MAX)?;
    let mut error = None;
    let mut cause = None;
    let mut events = Vec::with_capacity(history.len());
    for event in history {
        if event.kind == "ExecutionFailed" {
            error = text(&event.details, "error");
            cause = text(&event.details, "cause");
        }
        events.push(progress(&event));
    }
    Ok(Some(ExecutionView {
        arn: arn.to_owned(),
        status,
        error,
        cause,
        events,
        notes: Vec::new(),
    }))
}

/// A history event as progress. Choice and Pass states route and shape
/// the input and do nothing a user waits for (`PushWanted`, `Built`,
/// `Healthy`): they are not steps, so they are left out of the steps
/// printed and timed, as any other event type is.
fn progress(event: &HistoryEvent) -> Progress {
    let kind = &*event.kind;
    let state = || text(&event.details, "name").unwrap_or_default();
    let routing = kind.starts_with("ChoiceState") || kind.starts_with("PassState");
    let kind = if routing {
        ProgressKind::Other {
            event_type: kind.to_owned(),
        }
    } else if kind.ends_with("StateEntered") {
        ProgressKind::Entered {
            state: state(),
            service: service(&event.details, "input"),
        }
    } else if kind.ends_with("StateExited") {
        ProgressKind::Exited {
            state: state(),
            service: service(&event.details, "output"),
        }
    } else if kind == "TaskFailed" {
        ProgressKind::TaskFailed {
            error: text(&event.details, "error").unwrap_or_default(),
            cause: text(&event.details, "cause").unwrap_or_default(),
        }
    } else if let Some(status) = ended(kind) {
        ProgressKind::Ended { status }
    } else {
        ProgressKind::Other {
            event_type: kind.to_owned(),
        }
    };
    Progress {
        id: event.id,
        timestamp_millis: event.timestamp_millis,
        kind,
    }
}

/// The status an execution-ending event gives.
fn ended(kind: &str) -> Option<Status> {
    Some(match kind {
        "ExecutionSucceeded" => Status::Succeeded,
        "ExecutionFailed" => Status::Failed,
        "ExecutionTimedOut" => Status::TimedOut,
        "ExecutionAborted" => Status::Aborted,
        _ => return None,
    })
}

/// The `service` of a state's input or output (JSON text or a value).
fn service(details: &Json, key: &str) -> Option<String> {
    let payload = details.get(key)?;
    let parsed;
    let payload = match payload {
        Json::String(text) => {
            parsed = serde_json::from_str::<Json>(text).ok()?;
            &parsed
        }
        other => other,
    };
    text(payload, "service")
}

fn text(details: &Json, key: &str) -> Option<String> {
    details.get(key).and_then(Json::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, name: &str) -> HistoryEvent {
        HistoryEvent {
            id: 1,
            previous_event_id: 0,
            kind: kind.to_owned().into(),
            timestamp_millis: 0,
            details: json!({ "name": name, "input": "{\"service\":\"web\"}" }),
        }
    }

    /// A deploy's steps are its Tasks, Maps and the like: the Choice and
    /// Pass states between them (`PushWanted`, `Built`) are no step.
    #[test]
    fn routing_states_are_no_steps() {
        assert_eq!(
            progress(&event("TaskStateEntered", "ResolveImage")).kind,
            ProgressKind::Entered {
                state: "ResolveImage".into(),
                service: Some("web".into())
            }
        );
        for (kind, name) in [
            ("ChoiceStateEntered", "PushWanted"),
            ("ChoiceStateExited", "PushWanted"),
            ("PassStateEntered", "Built"),
            ("PassStateExited", "Built"),
        ] {
            assert_eq!(
                progress(&event(kind, name)).kind,
                ProgressKind::Other {
                    event_type: kind.into()
                },
                "{kind}"
            );
        }
    }
}
