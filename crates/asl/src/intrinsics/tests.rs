//! Table-driven tests of the intrinsic functions: expression, input, result.

use serde_json::{json, Value as Json};

use super::{check, evaluate};
use crate::scope::{Host, NoVariables};
use crate::Scope;

struct FixedHost;

impl Host for FixedHost {
    fn uuid(&self) -> String {
        "11111111-2222-4333-8444-555555555555".to_string()
    }
    fn random(&self) -> f64 {
        0.25
    }
    fn now_millis(&self) -> i64 {
        0
    }
}

fn run(expression: &str, input: &Json) -> Result<Json, crate::Failure> {
    let context = json!({"StateMachine": {"Id": "arn:sm", "Name": "my-machine-name"}, "Execution": {"Input": input.clone()}});
    let scope = Scope {
        input,
        context: &context,
        vars: &NoVariables,
        host: &FixedHost,
        result: None,
        error_output: None,
    };
    evaluate(expression, &scope)
}

#[test]
fn evaluates_like_aws() {
    let cases: Vec<(&str, Json, Json)> = vec![
        ("States.Array()", json!({}), json!([])),
        ("States.Array($.a, $.b)", json!({"a": 1.1, "b": null}), json!([1.1, null])),
        ("States.Array('x', 1, -2.5, true, false, null)", json!({}), json!(["x", 1, -2.5, true, false, null])),
        ("States.Format('Formatting argument {}.', $.v)", json!({"v": ""}), json!("Formatting argument .")),
        ("States.Format('a {} b {}', $.v, $.w)", json!({"v": null, "w": 1.1}), json!("a null b 1.1")),
        ("States.Format('{}', $.v)", json!({"v": {"Arg1": 1, "Arg2": []}}), json!("{Arg1=1, Arg2=[]}")),
        ("States.Format('{}', $.v)", json!({"v": [1, "two", {"k": "v"}]}), json!("[1, two, {k=v}]")),
        ("States.Format('\\{\\} {} \\\\ it\\'s', 'x')", json!({}), json!("{} x \\ it's")),
        ("States.Format($.t, 5)", json!({"t": "n={}"}), json!("n=5")),
        ("States.Format('{}-{}', $$.StateMachine.Name, States.ArrayLength($.l))", json!({"l": [1]}), json!("my-machine-name-1")),
        ("States.StringToJson($.s)", json!({"s": "{\"Arg1\": 1, \"Arg2\": []}"}), json!({"Arg1": 1, "Arg2": []})),
        ("States.StringToJson($.s)", json!({"s": ""}), Json::Null),
        ("States.StringToJson($.s)", json!({"s": " "}), Json::Null),
        ("States.StringToJson($.s)", json!({"s": "-0"}), json!(0)),
        ("States.StringToJson($.s)", json!({"s": "1.1"}), json!(1.1)),
        ("States.StringToJson('{\"text\":\"An escaped quote\"}')", json!({}), json!({"text": "An escaped quote"})),
        ("States.JsonToString($.v)", json!({"v": {"Arg1": 1, "Arg2": []}}), json!("{\"Arg1\":1,\"Arg2\":[]}")),
        ("States.JsonToString($.v)", json!({"v": "HelloWorld"}), json!("\"HelloWorld\"")),
        ("States.JsonToString($.v)", json!({"v": null}), json!("null")),
        ("States.ArrayPartition($.a, 2)", json!({"a": [0, 1, 2]}), json!([[0, 1], [2]])),
        ("States.ArrayPartition($.a, 5)", json!({"a": []}), json!([])),
        ("States.ArrayContains($.a, $.v)", json!({"a": [[1, 2, 3], 2], "v": [1, 2, 3]}), json!(true)),
        ("States.ArrayContains($.a, $.v)", json!({"a": [{"1": 2, "2": []}], "v": {"2": [], "1": 2}}), json!(true)),
        ("States.ArrayContains($.a, $.v)", json!({"a": [], "v": null}), json!(false)),
        ("States.ArrayRange(0, 9, 3)", json!({}), json!([0, 3, 6, 9])),
        ("States.ArrayRange(0, 10, 3)", json!({}), json!([0, 3, 6, 9])),
        ("States.ArrayRange(1, 9, 9)", json!({}), json!([1])),
        ("States.ArrayRange(5, 1, -2)", json!({}), json!([5, 3, 1])),
        ("States.ArrayRange(5, 1, 2)", json!({}), json!([])),
        ("States.ArrayGetItem($.a, 5)", json!({"a": [1, 2, 3, 4, 5, 6, 7, 8, 9]}), json!(6)),
        ("States.ArrayLength($.a)", json!({"a": [1, 2, 3]}), json!(3)),
        ("States.ArrayUnique($.a)", json!({"a": [1, 2, 1, 1.0, "1", [1], [1], {"a": 1}, {"a": 1}]}), json!([1, 2, 1.0, "1", [1], {"a": 1}])),
        ("States.Base64Encode('Data to encode')", json!({}), json!("RGF0YSB0byBlbmNvZGU=")),
        ("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({}), json!("Data to encode")),
        ("States.Base64Decode('')", json!({}), json!("")),
        ("States.Hash('input data', 'MD5')", json!({}), json!("812f45842bc6d66ee14572ce20db8e86")),
        ("States.Hash('input data', 'SHA-1')", json!({}), json!("aaff4a450a104cd177d28d18d74485e8cae074b7")),
        ("States.Hash('input data', 'SHA-256')", json!({}), json!("b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3")),
        ("States.Hash('input data', 'SHA-384')", json!({}), json!("d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562")),
        ("States.Hash('input data', 'SHA-512')", json!({}), json!("6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4")),
        (
            "States.JsonMerge($.a, $.b, false)",
            json!({"a": {"a": {"a1": 1}, "b": 2, "d": 3}, "b": {"a": {"a3": 1}, "c": 3, "d": 4}}),
            json!({"a": {"a3": 1}, "b": 2, "d": 4, "c": 3}),
        ),
        ("States.JsonMerge(States.StringToJson('{\"x\": \"false\"}'), $.o, false)", json!({"o": {"y": 1}}), json!({"x": "false", "y": 1})),
        ("States.MathAdd(-9, 3)", json!({}), json!(-6)),
        ("States.MathAdd($.a, $.b)", json!({"a": 1.49, "b": 1.5}), json!(3)),
        ("States.MathAdd($.a, $.b)", json!({"a": -1.5, "b": -1.51}), json!(-3)),
        ("States.MathAdd($.a, $.b)", json!({"a": -0.5, "b": 0.5}), json!(1)),
        ("States.MathAdd($.a, $.b)", json!({"a": -2.5, "b": 0}), json!(-2)),
        ("States.MathRandom(0, 100)", json!({}), json!(25)),
        ("States.MathRandom(-10, 10)", json!({}), json!(-5)),
        ("States.MathRandom(0, 1000, 7)", json!({}), json!(236)),
        ("States.StringSplit($.s, ',')", json!({"s": ", , ,"}), json!([" ", " "])),
        ("States.StringSplit($.s, ',')", json!({"s": ",,,,"}), json!([])),
        ("States.StringSplit($.s, '.+,=')", json!({"s": "This.is+a,test=string"}), json!(["This", "is", "a", "test", "string"])),
        ("States.StringSplit('Hello\nWorld', '\n')", json!({}), json!(["Hello", "World"])),
        ("States.UUID()", json!({}), json!("11111111-2222-4333-8444-555555555555")),
        (
            "States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))",
            json!({}),
            json!("name"),
        ),
        ("  States.ArrayLength( $.a[*] )  ", json!({"a": [1, 2]}), json!(2)),
        ("States.Array($.a[?(@ > 1)], $['b,c'])", json!({"a": [1, 2], "b,c": 0}), json!([[2], 0])),
    ];
    for (expression, input, expected) in cases {
        assert_eq!(run(expression, &input), Ok(expected), "{expression}");
    }
}

#[test]
fn fails_with_intrinsic_failure() {
    let cases: Vec<(&str, Json)> = vec![
        ("States.ArrayGetItem($.a, 3)", json!({"a": [1]})),
        ("States.ArrayGetItem($.a, -1)", json!({"a": [1]})),
        ("States.ArrayLength($.a)", json!({"a": "no"})),
        ("States.ArrayPartition($.a, 0)", json!({"a": [1]})),
        ("States.ArrayRange(0, 10, 0)", json!({})),
        ("States.ArrayRange(0, 1000, 1)", json!({})),
        ("States.Hash('x', 'SHA-3')", json!({})),
        ("States.JsonMerge($.a, $.a, true)", json!({"a": {}})),
        ("States.JsonMerge($.a, 1, false)", json!({"a": {}})),
        ("States.StringToJson($.s)", json!({"s": "{nope"})),
        ("States.Format('{} {}', 1)", json!({})),
        ("States.Format('{}', 1, 2)", json!({})),
        ("States.MathRandom(5, 5)", json!({})),
        ("States.MathAdd('1', 2)", json!({})),
        ("States.UUID(1)", json!({})),
        ("States.Base64Decode('!!!')", json!({})),
        ("States.Base64Encode($.s)", json!({"s": "x".repeat(10_001)})),
    ];
    for (expression, input) in cases {
        let failure = run(expression, &input).expect_err(expression);
        assert_eq!(
            failure.error, "States.IntrinsicFailure",
            "{expression}: {}",
            failure.cause
        );
    }
    let missing = run("States.Format('{}', $.nope)", &json!({})).expect_err("missing path");
    assert_eq!(missing.error, "States.Runtime");
}

#[test]
fn parses_only_valid_calls() {
    for expression in [
        "States.Format('He said, \\\"Hello, {}!\\\"', 'x')",
        "States.StringToJson('{\"text\":\"An \\\"escaped\\\" here\"}')",
        "States.Nope()",
        "States.Format('x'",
        "States.Format('x') trailing",
        "States.Array(,)",
        "States.Array(1,)",
        "States.Array(undefined)",
        "States.Array('unterminated)",
        "States.Array($.a[)",
        "States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array()))))))))))))",
    ] {
        assert!(check(expression).is_err(), "{expression} should be rejected");
        let failure = run(expression, &json!({})).expect_err(expression);
        assert_eq!(failure.error, "States.IntrinsicFailure");
    }
    for expression in [
        "States.UUID()",
        "States.Format('\\'{}\\'', $$.Execution.Input)",
        "States.Array( 1 , 'a' , $.x , null )",
    ] {
        assert_eq!(check(expression), Ok(()), "{expression}");
    }
}
