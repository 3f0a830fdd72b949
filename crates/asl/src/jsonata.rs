//! JSONata in ASL: `{% %}` expressions with `$states` and variables bound,
//! plus the functions ASL adds (`$partition`, `$range`, `$hash`, `$random`,
//! `$uuid`, `$parse`).

use serde_json::Value as Json;

use crate::{Failure, Scope};

/// Whether `text` is a JSONata expression string (`{% ... %}`).
pub fn is_expression(text: &str) -> bool {
    text.starts_with("{%") && text.ends_with("%}") && text.len() >= 4
}

/// Evaluates one `{% %}` string.
pub fn evaluate(expression: &str, scope: &Scope) -> Result<Json, Failure> {
    let _ = scope;
    Err(Failure::query_evaluation(format!("JSONata is not implemented yet: {expression}")))
}

/// Evaluates a JSONata template: every string value that is a `{% %}`
/// expression is replaced by its result, recursively through objects and
/// arrays; anything else is kept as it is.
pub fn evaluate_template(template: &Json, scope: &Scope) -> Result<Json, Failure> {
    match template {
        Json::String(text) if is_expression(text) => evaluate(text, scope),
        Json::Array(items) => items.iter().map(|item| evaluate_template(item, scope)).collect(),
        Json::Object(fields) => {
            let mut out = serde_json::Map::with_capacity(fields.len());
            for (key, value) in fields {
                out.insert(key.clone(), evaluate_template(value, scope)?);
            }
            Ok(Json::Object(out))
        }
        other => Ok(other.clone()),
    }
}
