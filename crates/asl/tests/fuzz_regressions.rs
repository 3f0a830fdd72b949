//! Replays the fuzz targets' kept inputs (`fuzz/regressions/<target>/*`:
//! seeds and every crash the fuzzers found) under a plain `cargo test`, so
//! CI checks them without cargo-fuzz or nightly. The target bodies are the
//! fuzz crate's own code, compiled in here.

#[allow(dead_code)]
#[path = "../../../fuzz/src/asl.rs"]
mod targets;

use std::path::Path;

/// Runs `target` on every file of `fuzz/regressions/<name>`; panics name the
/// inputs that panicked.
fn replay(name: &str, target: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(name);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    let failed: Vec<String> = files
        .iter()
        .filter(|file| {
            let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            std::panic::catch_unwind(|| target(&data)).is_err()
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(failed.is_empty(), "inputs that panic: {failed:#?}");
}

#[test]
fn parse_inputs() {
    replay("parse", targets::parse_definition);
}

#[test]
fn path_inputs() {
    replay("path", targets::json_path);
}

#[test]
fn intrinsics_inputs() {
    replay("intrinsics", targets::intrinsic);
}

#[test]
fn jsonata_inputs() {
    replay("jsonata", targets::jsonata);
}
