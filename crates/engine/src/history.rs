//! Execution history events, shaped like Step Functions' GetExecutionHistory.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

/// One history event. `details` holds the type's details object under its
/// AWS field name (e.g. `stateEnteredEventDetails`); `input` and `output`
/// inside it are JSON values, which the API layer writes as JSON text.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HistoryEvent {
    pub id: u64,
    pub previous_event_id: u64,
    pub timestamp_millis: i64,
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    pub details: Json,
}

impl HistoryEvent {
    /// The event as AWS's GetExecutionHistory writes it, with `input` and
    /// `output` as JSON text when `as_text` (the wire) or values otherwise.
    /// The AWS field that holds this event's details (`stateEnteredEventDetails`...).
    pub fn details_key(&self) -> Option<&'static str> {
        details_key(&self.kind)
    }

    pub fn to_aws(&self, as_text: bool) -> Json {
        let mut event = json!({
            "id": self.id,
            "previousEventId": self.previous_event_id,
            "timestamp": crate::format_timestamp(self.timestamp_millis),
            "type": self.kind,
        });
        if let (Some(key), Some(map)) = (self.details_key(), event.as_object_mut()) {
            let mut details = self.details.clone();
            if let Some(fields) = details.as_object_mut() {
                for (field, about) in [("input", "inputDetails"), ("output", "outputDetails")] {
                    let text = fields.remove(&text_key(field));
                    let Some(value) = fields.get_mut(field) else {
                        continue;
                    };
                    if as_text {
                        *value = match text {
                            Some(Json::String(text)) => Json::String(text),
                            _ => Json::String(value.to_string()),
                        };
                    }
                    // Payloads are never truncated here; the stored event
                    // leaves this constant out.
                    if !fields.contains_key(about) {
                        fields.insert(about.into(), json!({ "truncated": false }));
                    }
                }
            }
            map.insert(key.to_string(), details);
        }
        event
    }
}

/// Details with a payload: `{name?, <field>}`; [`HistoryEvent::to_aws`]
/// adds the constant `<field>Details`. Built directly rather than with
/// `json!`, which would copy the payload through serde a second time.
pub(crate) fn payload_details(name: Option<&str>, field: &'static str, value: Json) -> Json {
    let mut details = serde_json::Map::with_capacity(2);
    if let Some(name) = name {
        details.insert("name".into(), Json::String(name.to_string()));
    }
    details.insert(field.into(), value);
    Json::Object(details)
}

/// Where details keep a payload's text as the caller wrote it, beside its
/// value, when the two differ (see [`keep_text`]).
fn text_key(field: &str) -> String {
    format!("{field}Text")
}

/// Keeps `text`, the caller's own spelling of the payload at `field`, for
/// [`HistoryEvent::to_aws`] to write instead of the value's serialization
/// (AWS gives an execution's input back exactly as it was sent). Nothing is
/// kept when the serialization is the same text.
pub(crate) fn keep_text(details: &mut serde_json::Map<String, Json>, field: &str, text: String) {
    // Compared as text: `Value == String` would compare with a JSON string.
    let serialized = details.get(field).map(Json::to_string);
    let same = serialized.as_deref() == Some(text.as_str());
    if !same {
        details.insert(text_key(field), Json::String(text));
    }
}

/// The details key Step Functions uses for each event type.
pub fn details_key(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "ExecutionStarted" => "executionStartedEventDetails",
        "ExecutionSucceeded" => "executionSucceededEventDetails",
        "ExecutionFailed" => "executionFailedEventDetails",
        "ExecutionTimedOut" => "executionTimedOutEventDetails",
        "ExecutionAborted" => "executionAbortedEventDetails",
        "TaskScheduled" => "taskScheduledEventDetails",
        "TaskStarted" => "taskStartedEventDetails",
        "TaskSucceeded" => "taskSucceededEventDetails",
        "TaskFailed" => "taskFailedEventDetails",
        "TaskTimedOut" => "taskTimedOutEventDetails",
        "TaskSubmitted" => "taskSubmittedEventDetails",
        "ActivityScheduled" => "activityScheduledEventDetails",
        "ActivityStarted" => "activityStartedEventDetails",
        "ActivitySucceeded" => "activitySucceededEventDetails",
        "ActivityFailed" => "activityFailedEventDetails",
        "ActivityTimedOut" => "activityTimedOutEventDetails",
        "LambdaFunctionScheduled" => "lambdaFunctionScheduledEventDetails",
        "LambdaFunctionSucceeded" => "lambdaFunctionSucceededEventDetails",
        "LambdaFunctionFailed" => "lambdaFunctionFailedEventDetails",
        "LambdaFunctionTimedOut" => "lambdaFunctionTimedOutEventDetails",
        "MapStateStarted" => "mapStateStartedEventDetails",
        "MapIterationStarted" => "mapIterationStartedEventDetails",
        "MapIterationSucceeded" => "mapIterationSucceededEventDetails",
        "MapIterationFailed" => "mapIterationFailedEventDetails",
        "MapIterationAborted" => "mapIterationAbortedEventDetails",
        "MapRunStarted" => "mapRunStartedEventDetails",
        "MapRunFailed" => "mapRunFailedEventDetails",
        "MapRunRedriven" => "mapRunRedrivenEventDetails",
        "ExecutionRedriven" => "executionRedrivenEventDetails",
        "EvaluationFailed" => "evaluationFailedEventDetails",
        kind if kind.ends_with("StateEntered") => "stateEnteredEventDetails",
        kind if kind.ends_with("StateExited") => "stateExitedEventDetails",
        _ => return None,
    })
}
