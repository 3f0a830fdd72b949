//! Table-driven tests of selection and reference paths.

use serde_json::{json, Value as Json};

use super::{assign, check_reference, select, select_opt};
use crate::scope::{Host, Variables};
use crate::Scope;

struct FixedHost;

impl Host for FixedHost {
    fn uuid(&self) -> String {
        "00000000-0000-4000-8000-000000000000".to_string()
    }
    fn random(&self) -> f64 {
        0.5
    }
    fn now_millis(&self) -> i64 {
        0
    }
}

struct Vars(Json);

impl Variables for Vars {
    fn get(&self, name: &str) -> Option<&Json> {
        self.0.get(name)
    }
}

fn with_scope<T>(input: &Json, f: impl FnOnce(&Scope) -> T) -> T {
    let context =
        json!({"Execution": {"Id": "arn:exec", "Input": {"k": 1}}, "State": {"Name": "S"}});
    let vars = Vars(json!({"x": {"a": [1, 2]}, "n": 7}));
    let scope = Scope {
        input,
        context: &context,
        vars: &vars,
        host: &FixedHost,
        result: None,
        error_output: None,
    };
    f(&scope)
}

fn store() -> Json {
    json!({
        "store": {
            "book": [
                {"category": "reference", "author": "Nigel Rees", "title": "Sayings", "price": 8.95},
                {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword", "price": 12.99},
                {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553", "price": 8.99},
                {"category": "fiction", "author": "J. R. R. Tolkien", "title": "LOTR", "isbn": "0-395", "price": 22.99}
            ],
            "bicycle": {"color": "red", "price": 19.95}
        },
        "expensive": 10,
        "items": [0, 1, 2, 3, 4],
        "odd key": {"a.b": 1, "q'uote": 2, "Test\\\"\"Name\"": "v"},
        "n": null,
        "i": 1,
        "f": 1.0
    })
}

#[test]
fn selects_like_jayway() {
    let cases: Vec<(&str, Json)> = vec![
        ("$", store()),
        ("$.expensive", json!(10)),
        ("$['expensive']", json!(10)),
        ("$[\"expensive\"]", json!(10)),
        ("$.i", json!(1)),
        ("$.f", json!(1.0)),
        ("$.n", Json::Null),
        ("$.store.bicycle.color", json!("red")),
        ("$.store.book[0].title", json!("Sayings")),
        ("$.store.book[-1].title", json!("LOTR")),
        ("$.items[1:3]", json!([1, 2])),
        ("$.items[-2:]", json!([3, 4])),
        ("$.items[:2]", json!([0, 1])),
        ("$.items[3:]", json!([3, 4])),
        ("$.items[9:]", json!([])),
        ("$.items[::2]", json!([0, 2, 4])),
        ("$.items[0,2]", json!([0, 2])),
        ("$.items[*]", json!([0, 1, 2, 3, 4])),
        ("$.store.bicycle.*", json!(["red", 19.95])),
        (
            "$.store.book[*].author",
            json!([
                "Nigel Rees",
                "Evelyn Waugh",
                "Herman Melville",
                "J. R. R. Tolkien"
            ]),
        ),
        (
            "$..author",
            json!([
                "Nigel Rees",
                "Evelyn Waugh",
                "Herman Melville",
                "J. R. R. Tolkien"
            ]),
        ),
        ("$.store..price", json!([8.95, 12.99, 8.99, 22.99, 19.95])),
        ("$..book[2].title", json!(["Moby Dick"])),
        ("$..book[?(@.isbn)].title", json!(["Moby Dick", "LOTR"])),
        (
            "$.store.book[?(@.price < 10)].title",
            json!(["Sayings", "Moby Dick"]),
        ),
        (
            "$.store.book[?(@.price<10)].title",
            json!(["Sayings", "Moby Dick"]),
        ),
        (
            "$.store.book[?(@.price <= $.expensive)].title",
            json!(["Sayings", "Moby Dick"]),
        ),
        (
            "$.store.book[?(@.category == 'fiction' && @.price > 20)].title",
            json!(["LOTR"]),
        ),
        (
            "$.store.book[?(@.category != 'fiction' || @.price > 20)].title",
            json!(["Sayings", "LOTR"]),
        ),
        (
            "$.store.book[?(!(@.price > 10))].title",
            json!(["Sayings", "Moby Dick"]),
        ),
        (
            "$.store.book[?(@.author in ['Nigel Rees', 'Evelyn Waugh'])].price",
            json!([8.95, 12.99]),
        ),
        (
            "$.store.book[?(@.title =~ /.*Dick.*/)].author",
            json!(["Herman Melville"]),
        ),
        ("$.items[?(@ > 2)]", json!([3, 4])),
        ("$.items[?(@ == 1.0)]", json!([1])),
        ("$['odd key']['a.b']", json!(1)),
        ("$['odd key']['q\\'uote']", json!(2)),
        ("$['odd key']['Test\\\"\"Name\"']", json!("v")),
        ("$.store['bicycle','nope'].color", json!(["red"])),
        (
            "$.store.bicycle['color','nope','price']",
            json!({"color": "red", "price": 19.95}),
        ),
        ("$.items.length()", json!(5)),
        ("$.store.book[*].price.length()", json!(4)),
        ("$.missing[*]", json!([])),
        ("$.missing[1:5].x", json!([])),
        ("$[*]", json!([])),
        ("$$.Execution.Id", json!("arn:exec")),
        ("$$.Execution.Input", json!({"k": 1})),
        (
            "$$",
            json!({"Execution": {"Id": "arn:exec", "Input": {"k": 1}}, "State": {"Name": "S"}}),
        ),
        ("$x.a[1]", json!(2)),
        ("$n", json!(7)),
        ("  $.i  ", json!(1)),
    ];
    let input = store();
    for (path, expected) in cases {
        let input = if path == "$[*]" {
            json!({})
        } else {
            input.clone()
        };
        let got = with_scope(&input, |scope| select(path, scope));
        assert_eq!(got, Ok(expected), "path {path}");
    }
}

#[test]
fn reports_definite_paths_that_match_nothing() {
    let cases = [
        ("$.nope", "Invalid path '$.nope' : No results for path: $['nope']"),
        ("$.nope.deeper", "Invalid path '$.nope.deeper' : Missing property in path $['nope']"),
        ("$.items[10]", "Invalid path '$.items[10]' : No results for path: $['items'][10]"),
        ("$.n.x", "Invalid path '$.n.x' : Expected to find an object with property ['x'] in path $['n'] but found 'null'."),
        ("$.i.x", "Invalid path '$.i.x' : Expected to find an object with property ['x'] in path $['i'] but found 'java.lang.Integer'."),
        ("$.n[0]", "Invalid path '$.n[0]' : The path $['n'] is null"),
        ("$.expensive[0]", "Invalid path '$.expensive[0]' : Filter: [0] can only be applied to arrays. Current context is: 10"),
        ("$nobody.x", "Invalid path '$nobody.x' : The variable 'nobody' is not defined"),
    ];
    let input = store();
    for (path, message) in cases {
        let failure = with_scope(&input, |scope| select(path, scope)).expect_err(path);
        assert_eq!(failure.error, "States.Runtime", "path {path}");
        assert!(
            failure.cause.starts_with(message),
            "path {path}: {}",
            failure.cause
        );
        assert_eq!(
            with_scope(&input, |scope| select_opt(path, scope)),
            Ok(None),
            "path {path}"
        );
    }
}

#[test]
fn rejects_malformed_paths_without_panicking() {
    for path in [
        "",
        "a.b",
        "$.",
        "$[",
        "$['a'",
        "$[?(@.a >)]",
        "$.a[1:2:0]",
        "$.a[x]",
        "$..",
        "$.a.nope()",
        "$.é[",
        "$[?(",
        "$[-]",
    ] {
        let result = with_scope(&json!({"a": [1]}), |scope| select_opt(path, scope));
        assert!(
            result.is_err(),
            "path {path:?} should be rejected, got {result:?}"
        );
    }
}

#[test]
fn assigns_through_reference_paths() {
    let cases: Vec<(Json, &str, Json)> = vec![
        (json!({"a": 1}), "$", json!("r")),
        (json!({"a": 1}), "$.b", json!({"a": 1, "b": "r"})),
        (json!({"a": 1}), "$.a", json!({"a": "r"})),
        (json!({}), "$.x.y.z", json!({"x": {"y": {"z": "r"}}})),
        (
            json!({"x": {"k": 0}}),
            "$.x.y",
            json!({"x": {"k": 0, "y": "r"}}),
        ),
        (
            json!({"x": {"k": 0}}),
            "$['x']['y']",
            json!({"x": {"k": 0, "y": "r"}}),
        ),
        (json!({"l": [1, 2]}), "$.l[1]", json!({"l": [1, "r"]})),
        (
            json!({"l": [{"a": 1}]}),
            "$.l[0].b",
            json!({"l": [{"a": 1, "b": "r"}]}),
        ),
        (
            json!([1, {"p": 0}]),
            "$[1].q",
            json!([1, {"p": 0, "q": "r"}]),
        ),
    ];
    for (mut target, path, expected) in cases {
        let expected = if path == "$" { json!("r") } else { expected };
        assert_eq!(assign(&mut target, path, json!("r")), Ok(()), "path {path}");
        assert_eq!(target, expected, "path {path}");
    }
}

#[test]
fn refuses_references_it_cannot_apply() {
    let cases: Vec<(Json, &str)> = vec![
        (json!("text"), "$.a"),
        (json!({"a": 1}), "$.a.b"),
        (json!({"a": [1]}), "$.a[3]"),
        (json!({"a": {}}), "$.a[0]"),
        (json!({}), "$.a[0]"),
        (json!({}), "$.a[*]"),
        (json!({}), "$$.a"),
        (json!({}), "$..a"),
        (json!({}), "$['a','b']"),
        (json!({}), "nope"),
    ];
    for (mut target, path) in cases {
        let before = target.clone();
        let failure = assign(&mut target, path, json!("r")).expect_err(path);
        assert_eq!(
            failure.error, "States.ResultPathMatchFailure",
            "path {path}"
        );
        assert_eq!(
            target, before,
            "path {path} must leave the target unchanged"
        );
    }
    let failure = assign(&mut json!({"a": 1}), "$.a.b", json!(0)).expect_err("scalar");
    assert_eq!(
        failure.cause,
        "Unable to apply ReferencePath $.a.b to input {\"a\":1}"
    );
}

#[test]
fn tells_reference_paths_apart() {
    for path in [
        "$",
        "$.a",
        "$.a[0].b",
        "$['a b']",
        "$$.Execution.Input",
        "$var.x",
    ] {
        assert_eq!(check_reference(path), Ok(()), "path {path}");
    }
    for path in [
        "$.a[*]",
        "$..a",
        "$.a[1:2]",
        "$.a[?(@.x)]",
        "$.a.length()",
        "x",
    ] {
        assert!(check_reference(path).is_err(), "path {path}");
    }
}

/// Garbage in, an answer out: no input may panic or overflow the stack.
#[test]
fn survives_arbitrary_text() {
    let alphabet: Vec<char> = "$@.[]()*?,:'\"\\-0123456789ab =!<>&|~/{}é"
        .chars()
        .collect();
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let input = store();
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 24) as usize;
        let mut text = String::from("$");
        let mut s = seed;
        for _ in 0..len {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            text.push(alphabet[(s >> 33) as usize % alphabet.len()]);
        }
        let _ = with_scope(&input, |scope| select_opt(&text, scope));
        let _ = assign(&mut input.clone(), &text, json!(1));
        let _ = crate::intrinsics::check(&format!("States.Array({})", &text[1..]));
    }
    let deep = format!("$[?{}@.a{}]", "(".repeat(5_000), ")".repeat(5_000));
    assert!(with_scope(&input, |scope| select_opt(&deep, scope)).is_err());
    let negated = format!("$[?({}@.a)]", "!".repeat(100_000));
    assert!(with_scope(&input, |scope| select_opt(&negated, scope)).is_err());
    let nested = format!("$[?(@[?(@{}.a)])]", "[?(@".repeat(10_000));
    assert!(with_scope(&input, |scope| select_opt(&nested, scope)).is_err());
}

/// The shortcut for definite paths of names and indexes gives what the
/// full evaluator gives, and leaves everything else (misses, other shapes,
/// functions) to it.
#[test]
fn walking_by_reference_agrees_with_the_evaluator() {
    let input = json!({"a": {"b": [10, {"c": "x"}]}, "n": null, "list": [1, 2, 3]});
    let paths = [
        "$",
        "$.a",
        "$.a.b",
        "$.a.b[0]",
        "$.a.b[-1].c",
        "$.a.b[5]",
        "$.a.x",
        "$.n",
        "$.list[1]",
        "$.list.length()",
        "$.list[*]",
        "$['a']['b'][1]",
        "$.a.b.c",
        "$$.Execution.Input.k",
        "$x.a[1]",
        "$missing.a",
        "$.list[-4]",
        "$.n.x",
    ];
    for path in paths {
        let expected = with_scope(&input, |scope| select_opt(path, scope))
            .ok()
            .flatten();
        let parsed = super::Parsed::new(path);
        let looked_up = with_scope(&input, |scope| {
            super::lookup(path, &parsed, scope, |value| value.cloned())
        });
        assert_eq!(looked_up.ok().flatten(), expected, "{path}");
        if path.starts_with("$.") || path == "$" || path.starts_with("$[") {
            // On the input: the full evaluator alone, without the shortcut.
            let parsed = parsed_path(path);
            let full = super::eval::evaluate(
                &parsed,
                &super::eval::Roots {
                    start: &input,
                    document: &input,
                },
            );
            let plain = with_scope(&input, |scope| select(path, scope));
            assert_eq!(plain.ok(), full.ok(), "{path}");
        }
    }
}

fn parsed_path(text: &str) -> std::rc::Rc<super::Path> {
    super::parse_or_fail(text).unwrap_or_else(|_| panic!("{text} parses"))
}
