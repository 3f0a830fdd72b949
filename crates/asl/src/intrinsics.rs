//! The `States.*` intrinsic functions of JSONPath payload templates.

use serde_json::Value as Json;

use crate::{Failure, Scope};

/// Whether `text` is an intrinsic function call (`States.Name(...)`).
pub fn is_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

/// Evaluates an intrinsic function call such as `States.Format('{}', $.a)`.
/// Arguments may be literals, paths (`$.x`, `$$.x`, `$var`) or nested calls.
pub fn evaluate(expression: &str, scope: &Scope) -> Result<Json, Failure> {
    let _ = scope;
    Err(Failure::intrinsic(format!("intrinsic functions are not implemented yet: {expression}")))
}
