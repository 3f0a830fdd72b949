//! moto's own Step Functions tests (from moto's source distribution on
//! PyPI) in moto's server mode against the real `windlass server`, with a
//! moto server beside it for IAM, KMS, DynamoDB and the rest:
//! `tests/moto-stepfunctions/run.py` does the work. The tests that check
//! only moto's own behaviour are listed, each with its reason, in
//! `tests/moto-stepfunctions/exclusions.txt`; any other test that fails
//! fails this one.

mod server;

use std::path::Path;
use std::process::Command;

#[test]
fn moto_step_functions_tests_pass_against_windlass() {
    server::require_python_packages();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("moto-stepfunctions");
    let output = Command::new("python3")
        .arg(root.join("tests/moto-stepfunctions/run.py"))
        .arg("--windlass")
        .arg(env!("CARGO_BIN_EXE_windlass"))
        .arg("--cache")
        .arg(&cache)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    // run.py's summary: the counts, then each test that failed unlisted.
    let summary = stdout
        .find("Step Functions tests against windlass")
        .map_or("no summary: see the output above", |at| {
            &stdout[stdout[..at].rfind('\n').map_or(0, |n| n + 1)..]
        });
    assert!(output.status.success(), "{summary}");
}
