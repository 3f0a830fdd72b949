//! Replays the `simulate` fuzz target's kept inputs
//! (`fuzz/regressions/simulate/*`: seeds and every crash found) under a
//! plain `cargo test`: each definition runs to its end or its event budget
//! without panicking. The target body is the fuzz crate's own code.

#[path = "../../../fuzz/src/run.rs"]
mod run;

use std::path::Path;

#[test]
fn simulate_inputs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/simulate");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|file| {
            let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            std::panic::catch_unwind(|| run::simulate(&data)).is_err()
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(failed.is_empty(), "inputs that panic: {failed:#?}");
}
