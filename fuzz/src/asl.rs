//! Fuzz bodies for the pure ASL crate: definitions, JSONPath, intrinsic
//! functions and JSONata. Each takes raw bytes and must return without
//! panicking, whatever they hold; errors are the expected answer to garbage.
//!
//! Expression targets read the first line as the expression and the rest, if
//! it is JSON, as the state input (otherwise a fixed sample input is used), so
//! a found input is a readable text file.

use serde_json::{json, Value as Json};
use windlass_asl::parse::{line_of, parse_text_with, Config};
use windlass_asl::{intrinsics, jsonata, path, Host, Scope, Variables};

/// A host with fixed answers: runs must be reproducible.
struct FixedHost;

impl Host for FixedHost {
    fn uuid(&self) -> String {
        "00000000-0000-4000-8000-000000000000".into()
    }

    fn random(&self) -> f64 {
        0.5
    }

    fn now_millis(&self) -> i64 {
        1_700_000_000_000
    }
}

/// A few variables, so `$name` references resolve sometimes.
struct SampleVariables {
    values: serde_json::Map<String, Json>,
}

impl Variables for SampleVariables {
    fn get(&self, name: &str) -> Option<&Json> {
        self.values.get(name)
    }
}

fn sample_input() -> Json {
    json!({
        "a": 1, "b": "two", "c": [1, 2.5, "x", null, true, {"d": [3, 4]}],
        "nested": {"e": {"f": "g"}, "list": [{"k": 1}, {"k": 2}]},
        "empty": {}, "none": null, "big": 1e300, "neg": -7
    })
}

fn sample_context() -> Json {
    json!({
        "Execution": {
            "Id": "arn:aws:states:us-east-1:111111111111:execution:M:e",
            "Input": {"a": 1}, "Name": "e", "StartTime": "2024-01-01T00:00:00.000Z",
            "RoleArn": "arn:aws:iam::111111111111:role/r"
        },
        "State": {"Name": "S", "EnteredTime": "2024-01-01T00:00:00.000Z", "RetryCount": 0},
        "StateMachine": {"Id": "arn:aws:states:us-east-1:111111111111:stateMachine:M", "Name": "M"},
        "Map": {"Item": {"Index": 0, "Value": {"a": 1}}},
        "Task": {"Token": "token"}
    })
}

/// Splits `data` into an expression (first line) and an input (the rest,
/// when it is JSON). `None` when the bytes are not UTF-8.
fn expression_and_input(data: &[u8]) -> Option<(&str, Json)> {
    let text = std::str::from_utf8(data).ok()?;
    let (expression, rest) = text.split_once('\n').unwrap_or((text, ""));
    let input = serde_json::from_str(rest).unwrap_or_else(|_| sample_input());
    Some((expression, input))
}

/// Runs `f` with a scope over `input`, the sample context and variables.
fn with_scope(input: &Json, f: impl FnOnce(&Scope)) {
    let context = sample_context();
    let mut values = serde_json::Map::new();
    values.insert("x".into(), input.clone());
    values.insert("n".into(), json!(3));
    values.insert("s".into(), json!("text"));
    let vars = SampleVariables { values };
    let result = json!({"r": [1, 2, 3]});
    let error_output = json!({"Error": "E", "Cause": "C"});
    let scope = Scope {
        input,
        context: &context,
        vars: &vars,
        host: &FixedHost,
        result: Some(&result),
        error_output: Some(&error_output),
    };
    f(&scope);
}

/// Target `parse`: a definition as JSON or YAML text, parsed and validated
/// for STANDARD and EXPRESS machines; every diagnostic is located.
pub fn parse_definition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for express in [false, true] {
        let parsed = parse_text_with(text, &Config { express });
        for diagnostic in &parsed.diagnostics {
            let _ = line_of(text, &diagnostic.pointer);
            let _ = diagnostic.to_string();
        }
    }
}

/// Target `path`: a JSONPath selected from the input, checked as a path and
/// a reference path, and used as a ResultPath.
pub fn json_path(data: &[u8]) {
    let Some((expression, input)) = expression_and_input(data) else {
        return;
    };
    let _ = path::check(expression);
    let _ = path::check_reference(expression);
    let _ = path::is_definite(expression);
    with_scope(&input, |scope| {
        let _ = path::select(expression, scope);
        let _ = path::select_opt(expression, scope);
        let _ = path::select_field(expression, "Field.$", scope);
    });
    let mut target = input.clone();
    let _ = path::assign(&mut target, expression, json!({"result": true}));
}

/// Target `intrinsics`: an intrinsic function call checked and evaluated.
pub fn intrinsic(data: &[u8]) {
    let Some((expression, input)) = expression_and_input(data) else {
        return;
    };
    let _ = intrinsics::is_call(expression);
    let _ = intrinsics::check(expression);
    with_scope(&input, |scope| {
        let _ = intrinsics::evaluate(expression, scope);
        let _ = intrinsics::evaluate_for_field(expression, "Field.$", scope);
    });
}

/// Target `jsonata`: a JSONata expression (with or without `{% %}`)
/// checked and evaluated, alone and inside a template.
pub fn jsonata(data: &[u8]) {
    let Some((expression, input)) = expression_and_input(data) else {
        return;
    };
    let _ = jsonata::check(expression);
    with_scope(&input, |scope| {
        let _ = jsonata::evaluate(expression, scope);
        let _ = jsonata::evaluate_optional(expression, scope);
        let template = json!({"k": [format!("{{% {expression} %}}")]});
        let _ = jsonata::evaluate_field("Output", &template, scope);
    });
}
