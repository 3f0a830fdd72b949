//! JSONata in ASL: `{% %}` expressions with `$states` and variables bound,
//! plus the functions ASL adds (`$partition`, `$range`, `$hash`, `$random`,
//! `$uuid`, `$parse`).
//!
//! Failures are `States.QueryEvaluationError` with Step Functions' cause text,
//! naming the expression and the field it was written in (`Output/a/b[0]`).
//! The interpreter prefixes the cause with the state it happened in.

mod convert;
mod engine;
mod fast;
mod functions;
mod running;
mod states;
#[cfg(test)]
mod tests;

use serde_json::Value as Json;

use crate::{Failure, Scope};
pub use running::{running, stop, stop_all};
use states::Session;

/// How long one expression may run before it fails (JSONata's D1012): an
/// expression that loops forever (a function calling itself in tail
/// position) must not hold a worker for good.
#[cfg(not(fuzzing))]
pub const EVALUATION_TIMEOUT_MS: u64 = 5_000;

/// The fuzz build's budget (cargo-fuzz sets `cfg(fuzzing)`): the `jsonata`
/// target evaluates each input four times, and four full budgets would
/// outlast libFuzzer's 10 s timeout, which would stop the run at the first
/// expression that loops.
#[cfg(fuzzing)]
pub const EVALUATION_TIMEOUT_MS: u64 = 200;

/// The longest sequence an expression may build (a range `[1..n]`, a
/// map, a filter: JSONata's D2015 beyond it), the bound Step Functions
/// puts on `$range`. It bounds the memory one expression takes: a
/// `[1..1000000]` went to 1.75 GB through a Map of its items, while no
/// state's input or output may hold more than 256 KiB anyway.
pub const MAX_SEQUENCE_LENGTH: usize = 360_145;

pub(crate) fn limits(running: &running::Running) -> jsonata_core::evaluator::EvaluatorOptions {
    jsonata_core::evaluator::EvaluatorOptions {
        timeout_ms: Some(EVALUATION_TIMEOUT_MS),
        max_sequence_length: Some(MAX_SEQUENCE_LENGTH),
        cancel: Some(running.token()),
        ..Default::default()
    }
}

/// Whether `text` is a JSONata expression string (`{% ... %}`).
pub fn is_expression(text: &str) -> bool {
    text.len() >= 4 && text.starts_with("{%") && text.ends_with("%}")
}

/// The JSONata source of an expression string: the text between `{%` and
/// `%}`, trimmed, as Step Functions quotes it in messages. Any other text is
/// taken to be JSONata source already.
pub fn source(text: &str) -> &str {
    if is_expression(text) {
        text[2..text.len() - 2].trim()
    } else {
        text.trim()
    }
}

/// Checks that an expression string parses, for definition validation.
/// The error is the JSONata parser's message.
pub fn check(text: &str) -> Result<(), String> {
    match engine::compile(source(text)) {
        Ok(_) => Ok(()),
        Err(engine::Error::Syntax(message) | engine::Error::Evaluation(message)) => Err(message),
    }
}

/// Evaluates one `{% %}` string; a result of `undefined` is an error.
pub fn evaluate(expression: &str, scope: &Scope) -> Result<Json, Failure> {
    evaluate_field_expression("", expression, scope)
}

/// Evaluates one `{% %}` string written in `field` (e.g. `Items`,
/// `Choices[0]/Condition`); a result of `undefined` is an error naming it.
pub fn evaluate_field_expression(
    field: &str,
    expression: &str,
    scope: &Scope,
) -> Result<Json, Failure> {
    let mut session = Session::new(scope);
    required(field, expression, value_of(expression, &mut session))
}

/// Evaluates one `{% %}` string; `Ok(None)` when the result is `undefined`.
pub fn evaluate_optional(expression: &str, scope: &Scope) -> Result<Option<Json>, Failure> {
    let mut session = Session::new(scope);
    value_of(expression, &mut session).map_err(|problem| problem.failure("", source(expression)))
}

/// Evaluates a JSONata template: every string value that is a `{% %}`
/// expression is replaced by its result, recursively through objects and
/// arrays; anything else is kept as it is. Failures name the place inside
/// the template (`a/b[0]`); prefer [`evaluate_field`], which names the field.
pub fn evaluate_template(template: &Json, scope: &Scope) -> Result<Json, Failure> {
    evaluate_field("", template, scope)
}

/// Evaluates the JSONata template written in `field` (`Output`, `Arguments`,
/// `Assign`, `Catch[1]/Output`, ...), naming `field/key[index]` in failures.
pub fn evaluate_field(field: &str, template: &Json, scope: &Scope) -> Result<Json, Failure> {
    let mut session = Session::new(scope);
    let mut path = String::from(field);
    walk(template, &mut path, &mut session)
}

fn walk(template: &Json, path: &mut String, session: &mut Session) -> Result<Json, Failure> {
    match template {
        Json::String(text) if is_expression(text) => required(path, text, value_of(text, session)),
        Json::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{index}]"));
                out.push(walk(item, path, session)?);
                path.truncate(len);
            }
            Ok(Json::Array(out))
        }
        Json::Object(fields) => {
            let mut out = serde_json::Map::with_capacity(fields.len());
            for (key, value) in fields {
                let len = path.len();
                if !path.is_empty() {
                    path.push('/');
                }
                path.push_str(key);
                out.insert(key.clone(), walk(value, path, session)?);
                path.truncate(len);
            }
            Ok(Json::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// The failure for a value of the wrong type, e.g. `Items` that is not an
/// array: `expected` is a JSON type name (`array`, `number`, `boolean`, ...).
pub fn unexpected_type(field: &str, expression: &str, expected: &str, value: &Json) -> Failure {
    Failure::query_evaluation(format!(
        "{} returned an unexpected result type. Expected '{expected}', but was '{}' for value: {value}",
        subject(field, source(expression)),
        type_name(value)
    ))
}

/// The JSON type name of a value as Step Functions reports it.
pub fn type_name(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// Why an expression gave no JSON value.
enum Problem {
    Undefined,
    Function,
    Failed(String),
}

impl Problem {
    fn failure(self, field: &str, source: &str) -> Failure {
        let subject = subject(field, source);
        Failure::query_evaluation(match self {
            Problem::Undefined => format!("{subject} returned nothing (undefined)."),
            Problem::Function => format!("{subject} returned an unsupported result type."),
            Problem::Failed(message) => {
                format!("{subject} threw an error during evaluation. {message}")
            }
        })
    }
}

fn subject(field: &str, source: &str) -> String {
    if field.is_empty() {
        format!("The JSONata expression '{source}'")
    } else {
        format!("The JSONata expression '{source}' specified for the field '{field}'")
    }
}

fn required(
    field: &str,
    expression: &str,
    value: Result<Option<Json>, Problem>,
) -> Result<Json, Failure> {
    match value {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(Problem::Undefined.failure(field, source(expression))),
        Err(problem) => Err(problem.failure(field, source(expression))),
    }
}

/// The JSON value of one expression string; `None` for `undefined`.
fn value_of(expression: &str, session: &mut Session) -> Result<Option<Json>, Problem> {
    let compiled = engine::compile(source(expression)).map_err(|error| match error {
        engine::Error::Syntax(message) | engine::Error::Evaluation(message) => {
            Problem::Failed(message)
        }
    })?;
    if let Some(path) = &compiled.fast {
        match path.follow(session.scope) {
            fast::Outcome::Value(value) => return Ok(Some(value.clone())),
            fast::Outcome::Undefined => return Ok(None),
            fast::Outcome::Evaluate => {}
        }
    }
    let value = engine::run(&compiled, session).map_err(|error| match error {
        engine::Error::Syntax(message) | engine::Error::Evaluation(message) => {
            Problem::Failed(message)
        }
    })?;
    convert::to_json(&value).map_err(|convert::Unrepresentable::Function| Problem::Function)
}
