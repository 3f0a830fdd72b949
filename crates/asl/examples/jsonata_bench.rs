//! Prints how fast JSONata fields evaluate, for typical state shapes.
//!
//! `cargo run --release -p windlass-asl --example jsonata_bench`

use std::time::Instant;

use serde_json::{json, Value as Json};
use windlass_asl::jsonata;
use windlass_asl::{Host, Scope, Variables};

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

struct Vars(Json);

impl Variables for Vars {
    fn get(&self, name: &str) -> Option<&Json> {
        self.0.get(name)
    }
}

fn main() {
    let input: Json = json!({
        "order": {"id": "o-1", "total": 125.5, "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1}]},
        "customer": {"name": "Ada", "tier": "gold", "tags": ["x", "y", "z"]},
        "flags": {"rush": true, "gift": false},
        "padding": (0..20).map(|i| (format!("k{i}"), json!(i))).collect::<serde_json::Map<_, _>>(),
    });
    let context = json!({
        "Execution": {"Id": "arn:aws:states:us-east-1:1:execution:m:e", "Input": input.clone(), "Name": "e",
                      "StartTime": "2024-01-01T00:00:00Z", "RoleArn": "arn:aws:iam::1:role/r"},
        "State": {"Name": "S", "EnteredTime": "2024-01-01T00:00:00Z", "RetryCount": 0},
        "StateMachine": {"Id": "arn:aws:states:us-east-1:1:stateMachine:m", "Name": "m"},
    });
    let vars = Vars(json!({"limit": 100, "who": {"name": "Ada"}}));
    let result = json!({"status": "ok", "count": 3});
    let scope = Scope {
        input: &input,
        context: &context,
        vars: &vars,
        host: &FixedHost,
        result: Some(&result),
        error_output: None,
    };
    let cases: Vec<(&str, Json)> = vec![
        (
            "plain path (fast path)",
            json!("{% $states.input.customer.name %}"),
        ),
        ("variable (fast path)", json!("{% $who.name %}")),
        ("constant arithmetic", json!("{% 1 + 1 %}")),
        ("variable comparison", json!("{% $limit > 1 %}")),
        (
            "comparison",
            json!("{% $states.input.order.total > $limit %}"),
        ),
        (
            "arithmetic on input",
            json!("{% $sum($states.input.order.items.qty) * 2 %}"),
        ),
        ("context field", json!("{% $states.context.State.Name %}")),
        (
            "Output template of 4 fields",
            json!({
                "id": "{% $states.input.order.id %}",
                "big": "{% $states.input.order.total > $limit %}",
                "skus": "{% $states.input.order.items.sku %}",
                "status": "{% $states.result.status %}",
            }),
        ),
        ("no expression at all", json!({"a": 1, "b": "text"})),
    ];
    for (name, template) in cases {
        let rounds = 200_000;
        // Warm the cache and check the template evaluates.
        if let Err(failure) = jsonata::evaluate_field("Output", &template, &scope) {
            println!("{name:32} fails: {failure}");
            continue;
        }
        let started = Instant::now();
        for _ in 0..rounds {
            let _ = std::hint::black_box(jsonata::evaluate_field("Output", &template, &scope));
        }
        let per = started.elapsed().as_secs_f64() / f64::from(rounds);
        println!("{name:32} {:8.2} µs   {:10.0} /s", per * 1e6, 1.0 / per);
    }
}
