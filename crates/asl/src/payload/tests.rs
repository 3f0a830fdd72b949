//! Table-driven tests of payload templates.

use serde_json::{json, Value as Json};

use super::{check, render};
use crate::scope::{Host, NoVariables};
use crate::Scope;

struct FixedHost;

impl Host for FixedHost {
    fn uuid(&self) -> String {
        "uuid".to_string()
    }
    fn random(&self) -> f64 {
        0.0
    }
    fn now_millis(&self) -> i64 {
        0
    }
}

fn run(template: &Json, input: &Json) -> Result<Json, crate::Failure> {
    let context = json!({"State": {"Name": "S"}});
    let scope = Scope {
        input,
        context: &context,
        vars: &NoVariables,
        host: &FixedHost,
        result: None,
        error_output: None,
    };
    render(template, &scope)
}

#[test]
fn renders_templates() {
    let input = json!({"a": 1, "l": [{"v": 1}, {"v": 2}]});
    let cases: Vec<(Json, Json)> = vec![
        (json!({"x": 1, "y.$": "$.a"}), json!({"x": 1, "y": 1})),
        (
            json!({"n": {"m.$": "$$.State.Name", "k": [{"z.$": "$.l[*].v"}, "t"]}}),
            json!({"n": {"m": "S", "k": [{"z": [1, 2]}, "t"]}}),
        ),
        (
            json!({"u.$": "States.UUID()", "s": "$.a"}),
            json!({"u": "uuid", "s": "$.a"}),
        ),
        (json!({"all.$": "$"}), json!({"all": input.clone()})),
        (json!({}), json!({})),
        (json!([1, {"a.$": "$.a"}]), json!([1, {"a": 1}])),
        (json!("plain"), json!("plain")),
    ];
    for (template, expected) in cases {
        assert_eq!(run(&template, &input), Ok(expected), "{template}");
    }
}

#[test]
fn reports_missing_paths_with_the_field() {
    let input = json!({"int-literal": 0});
    let cases = [
        (json!({"value.$": "$.no_such_jsonpath"}), "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be found in the input '{\"int-literal\":0}'"),
        (json!({"o": {"value.$": "$$.Nope"}}), "The JSONPath '$$.Nope' specified for the field 'value.$' could not be found in the input '{\"int-literal\":0}'"),
        (json!({"f.$": "States.Format('{}', $.nope)"}), "The JSONPath '$.nope' specified for the field 'f.$' could not be found in the input '{\"int-literal\":0}'"),
    ];
    for (template, cause) in cases {
        let failure = run(&template, &input).expect_err("missing");
        assert_eq!(failure.error, "States.Runtime");
        assert_eq!(failure.cause, cause);
    }
    let failure = run(&json!({"x.$": 1}), &input).expect_err("non-string");
    assert_eq!(failure.error, "States.Runtime");
}

#[test]
fn checks_templates_before_running() {
    let template = json!({
        "ok.$": "$.a",
        "ok2.$": "States.Format('{}', $.a)",
        "bad.$": "States.StringToJson('{\"t\":\"\\\"q\\\"\"}')",
        "nested": {"worse.$": 5, "fine.$": "$$"},
        "list": [{"alsobad.$": "nope"}]
    });
    let errors = check(&template);
    let found: Vec<(String, String)> = errors.into_iter().map(|e| (e.pointer, e.message)).collect();
    assert_eq!(
        found,
        vec![
            ("".to_string(), "The value for the field 'bad.$' must be a valid JSONPath or a valid intrinsic function call".to_string()),
            ("/nested".to_string(), "The value for the field 'worse.$' must be a valid JSONPath or a valid intrinsic function call".to_string()),
            ("/list/0".to_string(), "The value for the field 'alsobad.$' must be a valid JSONPath or a valid intrinsic function call".to_string()),
        ]
    );
}
