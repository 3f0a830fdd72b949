//! Replays the `aws` fuzz target's kept inputs (`fuzz/regressions/aws/*`:
//! seeds and every crash the fuzzer found) under a plain `cargo test`, so
//! CI checks them without cargo-fuzz or nightly. The target body is the
//! fuzz crate's own code, compiled in here.

#[path = "../../../fuzz/src/aws.rs"]
mod targets;

use std::path::Path;

#[test]
fn aws_wire_inputs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/aws");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|file| {
            let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            std::panic::catch_unwind(|| targets::wire(&data)).is_err()
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(failed.is_empty(), "inputs that panic: {failed:#?}");
}
