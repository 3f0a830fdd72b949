//! JSONPath payload templates (Parameters, ResultSelector, ItemSelector,
//! Assign in JSONPath states): a field whose name ends in `.$` takes the value
//! of a path or intrinsic function; every other field is copied.

use serde_json::Value as Json;

use crate::{intrinsics, path, Failure, Scope};

/// Renders a payload template against the scope.
pub fn render(template: &Json, scope: &Scope) -> Result<Json, Failure> {
    match template {
        Json::Object(fields) => {
            let mut out = serde_json::Map::with_capacity(fields.len());
            for (key, value) in fields {
                match (key.strip_suffix(".$"), value) {
                    (Some(name), Json::String(expression)) => {
                        out.insert(name.to_string(), evaluate_dynamic(expression, scope)?);
                    }
                    _ => {
                        out.insert(key.clone(), render(value, scope)?);
                    }
                }
            }
            Ok(Json::Object(out))
        }
        Json::Array(items) => items.iter().map(|item| render(item, scope)).collect(),
        other => Ok(other.clone()),
    }
}

/// The value of a `.$` field: an intrinsic call or a path.
pub fn evaluate_dynamic(expression: &str, scope: &Scope) -> Result<Json, Failure> {
    if intrinsics::is_call(expression) {
        intrinsics::evaluate(expression, scope)
    } else {
        path::select(expression, scope)
    }
}
