//! Judging results another runner reported, such as a client that ran the
//! cases through `windlass server`'s HTTP API: the same rules as in process.

use serde_json::{Map as JsonMap, Value as Json};

use crate::run::{judge, Actual};
use crate::{Case, Verdict};

/// Inspection fields the TestState API carries as numbers or objects; the
/// API sends every other field as JSON text.
const STRUCTURED: [&str; 4] = [
    "errorDetails",
    "maxConcurrency",
    "toleratedFailureCount",
    "toleratedFailurePercentage",
];

/// Judges `reported`, a result in the API's terms: `{"status", "output",
/// "error", "cause", "nextState", "inspectionData"}` with `output` and the
/// inspection fields as the JSON text the API returned. `status` is the
/// execution's or TestState's status, or `REJECTED` when the API refused the
/// request (then `error` is the error code and `cause` its message).
pub fn judge_reported(case: &Case, reported: &Json) -> Verdict {
    let text = |key: &str| reported.get(key).and_then(Json::as_str).map(str::to_string);
    let actual = Actual {
        status: text("status").unwrap_or_else(|| "NOT REPORTED".into()),
        output: reported.get("output").and_then(parsed_text),
        error: text("error"),
        cause: text("cause"),
        next_state: text("nextState"),
        inspection_data: reported
            .get("inspectionData")
            .and_then(Json::as_object)
            .map(inspection_data),
    };
    judge(case, &actual)
}

/// JSON text as its value; text that is not JSON stays a string.
fn parsed_text(value: &Json) -> Option<Json> {
    match value {
        Json::Null => None,
        Json::String(text) => Some(serde_json::from_str(text).unwrap_or_else(|_| value.clone())),
        other => Some(other.clone()),
    }
}

fn inspection_data(fields: &JsonMap<String, Json>) -> Json {
    let fields = fields
        .iter()
        .map(|(key, value)| {
            let value = if STRUCTURED.contains(&key.as_str()) {
                value.clone()
            } else {
                parsed_text(value).unwrap_or(Json::Null)
            };
            (key.clone(), value)
        })
        .collect();
    Json::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case(expected: Json) -> Case {
        serde_json::from_value(json!({
            "name": "c", "category": "test", "kind": "execution",
            "definition": {}, "expected": expected, "redactions": ["MyMachine"]
        }))
        .expect("a case")
    }

    #[test]
    fn output_text_is_compared_as_json() {
        let case = case(
            json!({"status": "SUCCEEDED", "output": {"arn": "arn:aws:states:<region>:111111111111:execution:MyMachine:<uuid:1>", "n": 1.0}}),
        );
        let good = json!({"status": "SUCCEEDED", "output": r#"{"arn":"arn:aws:states:us-east-1:123:execution:M-4:e","n":1}"#});
        assert!(judge_reported(&case, &good).passed);
        let bad = json!({"status": "SUCCEEDED", "output": r#"{"arn":"x","n":1}"#});
        assert!(!judge_reported(&case, &bad).passed);
    }

    #[test]
    fn rejections_compare_the_error_code() {
        let case = case(json!({"status": "REJECTED", "error": "InvalidDefinition"}));
        let reported = json!({"status": "REJECTED", "error": "InvalidDefinition", "cause": "Invalid State Machine Definition: ..."});
        assert!(judge_reported(&case, &reported).passed);
        assert!(!judge_reported(&case, &json!({"status": "SUCCEEDED", "output": "{}"})).passed);
    }
}
