//! The `States.*` intrinsic functions of JSONPath payload templates: a parser
//! for the call syntax and every function Step Functions offers.

mod functions;
mod parse;
mod text;

use serde_json::Value as Json;

use crate::{path, Failure, Scope};

use functions::Argument;
use parse::{Arg, Call};

/// Whether `text` is an intrinsic function call (`States.Name(...)`).
pub fn is_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

/// Checks that `expression` is a well-formed call of a known function, for
/// validation ("must be a valid JSONPath or a valid intrinsic function call").
pub fn check(expression: &str) -> Result<(), String> {
    parse::parse(expression).map(|_| ())
}

/// Evaluates an intrinsic function call such as `States.Format('{}', $.a)`.
/// Arguments may be literals, paths (`$.x`, `$$.x`, `$var`) or nested calls.
pub fn evaluate(expression: &str, scope: &Scope) -> Result<Json, Failure> {
    evaluate_call(expression, None, scope)
}

/// Like [`evaluate`], for the call written in the field `field` (`x.$`): a
/// path argument that matches nothing fails with AWS's message naming it.
pub fn evaluate_for_field(expression: &str, field: &str, scope: &Scope) -> Result<Json, Failure> {
    evaluate_call(expression, Some(field), scope)
}

fn evaluate_call(expression: &str, field: Option<&str>, scope: &Scope) -> Result<Json, Failure> {
    let call = parse::parse(expression).map_err(|message| {
        Failure::intrinsic(format!(
            "Invalid intrinsic function call '{expression}': {message}"
        ))
    })?;
    apply(&call, field, scope)
}

fn apply(call: &Call, field: Option<&str>, scope: &Scope) -> Result<Json, Failure> {
    let mut arguments = Vec::with_capacity(call.args.len());
    for arg in &call.args {
        arguments.push(match arg {
            Arg::String { value, raw } => Argument {
                value: Json::String(value.clone()),
                raw: Some(raw.as_str()),
            },
            Arg::Number(n) => Argument::of(Json::Number(n.clone())),
            Arg::Bool(b) => Argument::of(Json::Bool(*b)),
            Arg::Null => Argument::of(Json::Null),
            Arg::Path { text, path: parsed } => match path::evaluate(parsed, scope) {
                Ok(value) => Argument::of(value),
                Err(message) => {
                    return Err(match field {
                        Some(field) => path::not_found_in_field(text, field, scope),
                        None => Failure::runtime(format!("Invalid path '{text}' : {message}")),
                    })
                }
            },
            Arg::Call(inner) => Argument::of(apply(inner, field, scope)?),
        });
    }
    functions::call(&call.name, &arguments, scope.host)
}

#[cfg(test)]
mod tests;
