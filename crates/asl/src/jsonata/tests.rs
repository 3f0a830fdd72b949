//! Data-driven tests: an expression, the state's input, its variables, and
//! the expected result or failure cause.

use std::cell::Cell;

use serde_json::{json, Value as Json};

use super::*;
use crate::{Host, Variables};

/// A host whose values are predictable: UUIDs and random numbers count up.
struct TestHost {
    drawn: Cell<u32>,
}

impl TestHost {
    fn new() -> Self {
        TestHost {
            drawn: Cell::new(0),
        }
    }
}

impl Host for TestHost {
    fn uuid(&self) -> String {
        self.drawn.set(self.drawn.get() + 1);
        format!("00000000-0000-4000-8000-{:012}", self.drawn.get())
    }
    fn random(&self) -> f64 {
        self.drawn.set(self.drawn.get() + 1);
        f64::from(self.drawn.get()) / 100.0
    }
    fn now_millis(&self) -> i64 {
        1_700_000_000_123
    }
}

struct Vars(Json);

impl Variables for Vars {
    fn get(&self, name: &str) -> Option<&Json> {
        self.0.get(name)
    }
}

/// What a case expects.
enum Expect {
    Value(Json),
    Undefined,
    /// The failure cause, exactly.
    Cause(&'static str),
}
use Expect::*;

struct Case {
    expression: &'static str,
    input: Json,
    vars: Json,
    expect: Expect,
}

fn case(expression: &'static str, input: Json, vars: Json, expect: Expect) -> Case {
    Case {
        expression,
        input,
        vars,
        expect,
    }
}

fn run_cases(cases: Vec<Case>) {
    let context =
        json!({"Execution": {"Id": "arn:exec", "Input": {"k": 1}}, "State": {"Name": "S"}});
    let mut failures = Vec::new();
    for case in cases {
        let host = TestHost::new();
        let vars = Vars(case.vars.clone());
        let scope = Scope {
            input: &case.input,
            context: &context,
            vars: &vars,
            host: &host,
            result: vars.0.get("__result"),
            error_output: vars.0.get("__errorOutput"),
        };
        let got = evaluate_optional(case.expression, &scope);
        let ok = match (&case.expect, &got) {
            (Value(want), Ok(Some(value))) => {
                serde_json::to_string(want).ok() == serde_json::to_string(value).ok()
            }
            (Undefined, Ok(None)) => true,
            (Cause(want), Err(failure)) => {
                failure.error == "States.QueryEvaluationError" && failure.cause == *want
            }
            _ => false,
        };
        if !ok {
            let want = match &case.expect {
                Value(v) => v.to_string(),
                Undefined => "undefined".into(),
                Cause(c) => format!("error {c}"),
            };
            failures.push(format!(
                "{}\n   want {want}\n   got  {got:?}",
                case.expression
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn states_and_variables() {
    let input = json!({"a": {"b": [1, 2, 3], "one": [7], "n": null, "s": "x"}, "items": [{"v": 1}, {"v": 2}]});
    let vars =
        json!({"x": 5, "obj": {"k": [1]}, "__result": {"r": 1}, "__errorOutput": {"Error": "E"}});
    run_cases(vec![
        case(
            "{% $states.input.a.s %}",
            input.clone(),
            vars.clone(),
            Value(json!("x")),
        ),
        case(
            "{% $states.input.a.b %}",
            input.clone(),
            vars.clone(),
            Value(json!([1, 2, 3])),
        ),
        case(
            "{% $states.input.a.one %}",
            input.clone(),
            vars.clone(),
            Value(json!([7])),
        ),
        case(
            "{% $states.input.a.n %}",
            input.clone(),
            vars.clone(),
            Value(json!(null)),
        ),
        case(
            "{% $states.input.a.missing %}",
            input.clone(),
            vars.clone(),
            Undefined,
        ),
        case(
            "{% $states.input.items.v %}",
            input.clone(),
            vars.clone(),
            Value(json!([1, 2])),
        ),
        case(
            "{% $states.input.items[0].v %}",
            input.clone(),
            vars.clone(),
            Value(json!(1)),
        ),
        case(
            "{% $states.input.a.b[1] %}",
            input.clone(),
            vars.clone(),
            Value(json!(2)),
        ),
        case(
            "{% $states.context.State.Name %}",
            input.clone(),
            vars.clone(),
            Value(json!("S")),
        ),
        case(
            "{% $states.result %}",
            input.clone(),
            vars.clone(),
            Value(json!({"r": 1})),
        ),
        case(
            "{% $states.errorOutput.Error %}",
            input.clone(),
            vars.clone(),
            Value(json!("E")),
        ),
        case(
            "{% $keys($states) %}",
            input.clone(),
            vars.clone(),
            Value(json!(["input", "context", "result", "errorOutput"])),
        ),
        case(
            "{% $keys($states) %}",
            input.clone(),
            json!({}),
            Value(json!(["input", "context"])),
        ),
        case("{% $x %}", input.clone(), vars.clone(), Value(json!(5))),
        case(
            "{% $x * 2 + $count($states.input.a.b) %}",
            input.clone(),
            vars.clone(),
            Value(json!(13)),
        ),
        case(
            "{% $obj.k %}",
            input.clone(),
            vars.clone(),
            Value(json!([1])),
        ),
        case(
            "{% $doesNotExist %}",
            input.clone(),
            vars.clone(),
            Undefined,
        ),
        case("{% $ %}", input.clone(), vars.clone(), Undefined),
        case("{% a %}", input.clone(), vars.clone(), Undefined),
        case(
            "{% ($y := 3; $y + $x) %}",
            input.clone(),
            vars.clone(),
            Value(json!(8)),
        ),
        case(
            "{% $variable := 1 %}",
            input.clone(),
            vars.clone(),
            Value(json!(1)),
        ),
        case(
            "{% $states.input = {} %}",
            json!({}),
            vars.clone(),
            Value(json!(true)),
        ),
        case(
            "{% $states.input.a.s & $string($states.input.a.b[0]) %}",
            input.clone(),
            vars.clone(),
            Value(json!("x1")),
        ),
        case(
            "{% $keys($states.input.a) ~> $count() %}",
            input.clone(),
            vars.clone(),
            Value(json!(4)),
        ),
        case(
            "{% $states.input.a.s and $keys($states.input) %}",
            input.clone(),
            vars.clone(),
            Value(json!(true)),
        ),
        case(
            "{% $count($states.input.items.v) + $states.input.items[1].v %}",
            input.clone(),
            vars.clone(),
            Value(json!(4)),
        ),
        case(
            "{% $states.input.a.b.%.s %}",
            input.clone(),
            vars.clone(),
            Value(json!(["x", "x", "x"])),
        ),
        case(
            "{% $states.input.a.b[0] %}",
            json!({"a": [{"b": [5]}, {"b": [6]}]}),
            json!({}),
            Value(json!([5, 6])),
        ),
        case(
            "{% $states.input.a.b %}",
            json!({"a": [{"b": 5}, {"b": 6}]}),
            json!({}),
            Value(json!([5, 6])),
        ),
        case(
            "{% $states.input.x.y %}",
            json!([{"x": {"y": 1}}, {"x": {"y": 2}}]),
            json!({}),
            Value(json!([1, 2])),
        ),
    ]);
}

#[test]
fn literals_and_numbers() {
    run_cases(vec![
        case("{% 1 %}", json!({}), json!({}), Value(json!(1))),
        case("{% 1.5 %}", json!({}), json!({}), Value(json!(1.5))),
        case("{% 10 / 4 %}", json!({}), json!({}), Value(json!(2.5))),
        case("{% 3 * 1.0 %}", json!({}), json!({}), Value(json!(3))),
        case("{% -0 %}", json!({}), json!({}), Value(json!(0))),
        case("{% null %}", json!({}), json!({}), Value(json!(null))),
        case("{% [] %}", json!({}), json!({}), Value(json!([]))),
        case("{% [0] %}", json!({}), json!({}), Value(json!([0]))),
        case(
            "{% {'foo': 'bar', 'a': 1} %}",
            json!({}),
            json!({}),
            Value(json!({"foo": "bar", "a": 1})),
        ),
        case(
            "{% {'z': 1, 'a': 2, 'm': 3} %}",
            json!({}),
            json!({}),
            Value(json!({"z": 1, "a": 2, "m": 3})),
        ),
        case("{% $number('2') %}", json!({}), json!({}), Value(json!(2))),
        case(
            "{% $states.input.big %}",
            json!({"big": 9007199254740993_i64}),
            json!({}),
            Value(json!(9007199254740993_i64)),
        ),
        case(
            "{% $states.input.big + 0 %}",
            json!({"big": 12345678901_i64}),
            json!({}),
            Value(json!(12345678901_i64)),
        ),
        case(
            "{% $contains('hello$world', /^hello\\$/) %}",
            json!({}),
            json!({}),
            Value(json!(true)),
        ),
        case(
            "{% $sum([1, 2.5]) %}",
            json!({}),
            json!({}),
            Value(json!(3.5)),
        ),
    ]);
}

#[test]
fn asl_functions() {
    run_cases(vec![
        case("{% $partition([1, 2, 3, 4, 5], 2) %}", json!({}), json!({}), Value(json!([[1, 2], [3, 4], [5]]))),
        case("{% $partition([0], 1) %}", json!({}), json!({}), Value(json!([[0]]))),
        case("{% $partition([], 3) %}", json!({}), json!({}), Value(json!([]))),
        case("{% $partition([1, 2, 3], 2.9) %}", json!({}), json!({}), Value(json!([[1, 2], [3]]))),
        case("{% $partition([1, 2], 0) %}", json!({}), json!({}), Undefined),
        case("{% $range(0, 9, 3) %}", json!({}), json!({}), Value(json!([0, 3, 6, 9]))),
        case("{% $range(0, 10, 3) %}", json!({}), json!({}), Value(json!([0, 3, 6, 9]))),
        case("{% $range(1, 9, 9) %}", json!({}), json!({}), Value(json!(1))),
        case("{% $range(5, 1, -2) %}", json!({}), json!({}), Value(json!([5, 3, 1]))),
        case("{% $range(5, 1, 2) %}", json!({}), json!({}), Undefined),
        case("{% $range(1, 5) %}", json!({}), json!({}), Undefined),
        case("{% $range(-1.7, 2, 1) %}", json!({}), json!({}), Value(json!([-1, 0, 1, 2]))),
        case("{% $hash('input data', 'SHA-256') %}", json!({}), json!({}),
            Value(json!("b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"))),
        case("{% $hash('abc', 'MD5') %}", json!({}), json!({}), Value(json!("900150983cd24fb0d6963f7d28e17f72"))),
        case("{% $hash('abc', 'SHA-1') %}", json!({}), json!({}), Value(json!("a9993e364706816aba3e25717850c26c9cd0d89d"))),
        case("{% $hash('abc') %}", json!({}), json!({}), Undefined),
        case("{% $parse('-0') %}", json!({}), json!({}), Value(json!(0))),
        case("{% $parse('1.1') %}", json!({}), json!({}), Value(json!(1.1))),
        case("{% $parse('{\"Arg1\": 1, \"Arg2\": []}') %}", json!({}), json!({}), Value(json!({"Arg1": 1, "Arg2": []}))),
        case("{% $parse($states.input.s) %}", json!({"s": "[1, 2, \"HelloWorld\"]"}), json!({}), Value(json!([1, 2, "HelloWorld"]))),
        case("{% $uuid() %}", json!({}), json!({}), Value(json!("00000000-0000-4000-8000-000000000001"))),
        case("{% [$uuid(), $uuid(), $uuid()] %}", json!({}), json!({}), Value(json!([
            "00000000-0000-4000-8000-000000000001",
            "00000000-0000-4000-8000-000000000002",
            "00000000-0000-4000-8000-000000000003"]))),
        case("{% $random() %}", json!({}), json!({}), Value(json!(0.01))),
        case("{% $random(7) = $random(7) %}", json!({}), json!({}), Value(json!(true))),
        case("{% $random(7) != $random(8) %}", json!({}), json!({}), Value(json!(true))),
        case("{% $millis() %}", json!({}), json!({}), Value(json!(1_700_000_000_123_i64))),
        case("{% $now() %}", json!({}), json!({}), Value(json!("2023-11-14T22:13:20.123Z"))),
        case("{% $now('[Y0001]') %}", json!({}), json!({}), Value(json!("2023"))),
        case("{% $eval('1') %}", json!({}), json!({}),
            Cause("The JSONata expression '$eval('1')' threw an error during evaluation. T1006: Attempted to invoke a non-function")),
        case("{% $randomSeeded(1) %}", json!({}), json!({}),
            Cause("The JSONata expression '$randomSeeded(1)' threw an error during evaluation. T1006: Attempted to invoke a non-function")),
        case(
            "{% $map([1..5], function($i) { $uuid() }) ~> $distinct() ~> $count() %}",
            json!({}),
            json!({}),
            Value(json!(5)),
        ),
        case(
            "{% [$random(), $random(), $random()] %}",
            json!({}),
            json!({}),
            Value(json!([0.01, 0.02, 0.03])),
        ),
        case("{% $now() = $now() %}", json!({}), json!({}), Value(json!(true))),
    ]);
}

#[test]
fn failures_name_the_field() {
    let host = TestHost::new();
    let vars = Vars(json!({}));
    let input = json!({"a": 1});
    let scope = Scope {
        input: &input,
        context: &input,
        vars: &vars,
        host: &host,
        result: None,
        error_output: None,
    };
    let cause = |field: &str, template: Json| match evaluate_field(field, &template, &scope) {
        Err(failure) => failure.cause,
        Ok(value) => format!("no failure: {value}"),
    };
    assert_eq!(
        cause("Output", json!("{% $doesNotExist %}")),
        "The JSONata expression '$doesNotExist' specified for the field 'Output' returned nothing (undefined)."
    );
    assert_eq!(
        cause("Output", json!({"x": 1, "result": "{% $doesNotExist %}"})),
        "The JSONata expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined)."
    );
    assert_eq!(
        cause("Assign", json!({"a": {"b": [0, "{%$nope%}"]}})),
        "The JSONata expression '$nope' specified for the field 'Assign/a/b[1]' returned nothing (undefined)."
    );
    assert_eq!(
        cause("Items", json!("{% $fn := function($x){$x} %}")),
        "The JSONata expression '$fn := function($x){$x}' specified for the field 'Items' returned an unsupported result type."
    );
    assert_eq!(
        unexpected_type("Items", "{% 'string' %}", "array", &json!("string")).cause,
        "The JSONata expression ''string'' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was 'string' for value: \"string\""
    );
    assert_eq!(
        evaluate_field(
            "Output",
            &json!({"k": "{% $states.input.a + 1 %}", "lit": "x {% 1 %}", "n": [null]}),
            &scope
        )
        .expect("evaluates"),
        json!({"k": 2, "lit": "x {% 1 %}", "n": [null]})
    );
}

#[test]
fn never_panics_on_odd_expressions() {
    let host = TestHost::new();
    let vars = Vars(json!({}));
    let input = json!({"a": [1, 2]});
    let scope = Scope {
        input: &input,
        context: &input,
        vars: &vars,
        host: &host,
        result: None,
        error_output: None,
    };
    for text in [
        "{%%}",
        "{% %}",
        "{% ( %}",
        "{% $states.input.a[ %}",
        "{% 1/0 %}",
        "{% 0/0 %}",
        "{% $string(1/0) %}",
        "{% ($f := function($n){$n = 0 ? 0 : $f($n - 1) + 1}; $f(5000)) %}",
        "{% [1..10000000] ~> $count() %}",
        "{% '\u{1F600}' & $substring('ab', -5, 99) %}",
        "{% $$ %}",
        "{% $partition('a', 1e308) %}",
        "{% $range(0, 1e300, 1) %}",
        "{% $hash(1, 2) %}",
        "{% $parse('{') %}",
    ] {
        if let Err(failure) = evaluate_optional(text, &scope) {
            assert_eq!(failure.error, "States.QueryEvaluationError", "{text}");
        }
    }
}

/// A range longer than Step Functions lets `$range` build is refused before
/// it is built; one at the bound is built.
#[test]
fn long_sequences_are_refused() {
    let host = TestHost::new();
    let vars = Vars(json!({}));
    let input = json!({});
    let scope = Scope {
        input: &input,
        context: &input,
        vars: &vars,
        host: &host,
        result: None,
        error_output: None,
    };
    let failure = evaluate("{% [1..1000000] %}", &scope).expect_err("too long");
    assert_eq!(failure.error, "States.QueryEvaluationError");
    assert!(failure.cause.contains("D2015"), "{}", failure.cause);
    let failure =
        evaluate("{% $append([1..300000], [1..300000]) %}", &scope).expect_err("too long");
    assert!(failure.cause.contains("D2015"), "{}", failure.cause);
    assert_eq!(
        evaluate("{% $count([1..360145]) %}", &scope).expect("at the bound"),
        json!(360145)
    );
}
