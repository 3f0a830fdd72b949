//! JSONPath payload templates (Parameters, ResultSelector, ItemSelector,
//! Assign in JSONPath states): a field whose name ends in `.$` takes the value
//! of a path or intrinsic function; every other field is copied.

use serde_json::Value as Json;

use crate::{intrinsics, path, Failure, Scope};

/// Renders a payload template against the scope. Nested objects and arrays
/// are rendered too. A `.$` field whose value is not a string, or whose path
/// matches nothing, fails with `States.Runtime`.
pub fn render(template: &Json, scope: &Scope) -> Result<Json, Failure> {
    match template {
        Json::Object(fields) => {
            let mut out = serde_json::Map::with_capacity(fields.len());
            for (key, value) in fields {
                match key.strip_suffix(".$") {
                    Some(name) => {
                        let Json::String(expression) = value else {
                            return Err(Failure::runtime(format!(
                                "The value for the field '{key}' must be a STRING that contains a JSONPath or an intrinsic function call"
                            )));
                        };
                        out.insert(name.to_string(), evaluate_field(key, expression, scope)?);
                    }
                    None => {
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

/// The value of the `.$` field named `field` (with its `.$`), failing with
/// AWS's message that names the field when a path matches nothing.
pub fn evaluate_field(field: &str, expression: &str, scope: &Scope) -> Result<Json, Failure> {
    if intrinsics::is_call(expression) {
        intrinsics::evaluate_for_field(expression, field, scope)
    } else {
        path::select_field(expression, field, scope)
    }
}

/// A problem found in a payload template before running it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateError {
    /// JSON pointer of the object holding the field, relative to the
    /// template (empty for the template itself).
    pub pointer: String,
    /// AWS's message, e.g. "The value for the field 'x.$' must be a valid
    /// JSONPath or a valid intrinsic function call".
    pub message: String,
}

/// Checks every `.$` field of a template: its value must be a string that
/// is a valid path or a valid intrinsic call. Returns every problem found.
pub fn check(template: &Json) -> Vec<TemplateError> {
    let mut errors = Vec::new();
    check_into(template, "", &mut errors);
    errors
}

fn check_into(template: &Json, pointer: &str, errors: &mut Vec<TemplateError>) {
    match template {
        Json::Object(fields) => {
            for (key, value) in fields {
                let valid = match (key.ends_with(".$"), value) {
                    (false, _) => {
                        check_into(value, &format!("{pointer}/{}", escape(key)), errors);
                        continue;
                    }
                    (true, Json::String(expression)) => check_expression(expression),
                    (true, _) => false,
                };
                if !valid {
                    errors.push(TemplateError {
                        pointer: pointer.to_string(),
                        message: format!("The value for the field '{key}' must be a valid JSONPath or a valid intrinsic function call"),
                    });
                }
            }
        }
        Json::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_into(item, &format!("{pointer}/{index}"), errors);
            }
        }
        _ => {}
    }
}

/// Whether a `.$` value is a valid path or intrinsic function call.
pub fn check_expression(expression: &str) -> bool {
    if intrinsics::is_call(expression) {
        intrinsics::check(expression).is_ok()
    } else {
        expression.starts_with('$') && path::check(expression).is_ok()
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests;
