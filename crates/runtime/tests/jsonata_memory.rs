//! A JSONata expression that builds a value larger than the memory bound is
//! stopped with `States.QueryEvaluationError` before it takes the memory:
//! a string doubled 30 times (1 GiB) inside one `$reduce`.

use serde_json::json;
use windlass_asl::scope::{Host, NoVariables};
use windlass_asl::Scope;
use windlass_runtime::memory_watch::{resident_bytes, watch_jsonata_memory_with};

const BOUND: u64 = 128 << 20;

#[test]
fn an_expression_that_grows_past_the_bound_is_stopped() {
    assert_eq!(watch_jsonata_memory_with(BOUND), BOUND);
    let before = resident_bytes().expect("VmRSS");
    let input = json!({});
    let context = json!({});
    let scope = Scope {
        input: &input,
        context: &context,
        vars: &NoVariables,
        host: &FixedHost,
        result: None,
        error_output: None,
    };
    let failed = windlass_asl::jsonata::evaluate(
        "{% $length($reduce([1..30], function($text, $i) { $text & $text }, 'x')) %}",
        &scope,
    )
    .expect_err("stopped");
    let peak = peak_bytes();
    eprintln!(
        "resident before {} MiB, peak {} MiB, bound {} MiB: {}",
        before >> 20,
        peak >> 20,
        BOUND >> 20,
        failed.cause
    );
    assert_eq!(failed.error, "States.QueryEvaluationError");
    assert!(
        failed.cause.contains("windlass's bound of 128 MiB"),
        "{}",
        failed.cause
    );
    // Stopped near the bound: far below the 1 GiB (and its copies) it asked for.
    assert!(peak < before + 3 * BOUND, "peak {} MiB", peak >> 20);

    // A small expression still evaluates, with the watch running.
    let small = windlass_asl::jsonata::evaluate(
        "{% $length($reduce([1..10], function($text, $i) { $text & $text }, 'x')) %}",
        &scope,
    )
    .expect("evaluates");
    assert_eq!(small, json!(1024));
}

struct FixedHost;

impl Host for FixedHost {
    fn uuid(&self) -> String {
        "uuid".into()
    }
    fn random(&self) -> f64 {
        0.0
    }
    fn now_millis(&self) -> i64 {
        0
    }
}

fn peak_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number");
    kib * 1024
}
