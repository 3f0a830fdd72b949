//! Runs the conformance cases through the library: windlass's own cases
//! (`tests/conformance/cases`, written from the Step Functions
//! documentation) must all pass, and the shared AWS-recorded corpus
//! (`../shared/conformance/asl`) must pass at least as many cases as
//! `tests/conformance/FLOOR` says. Raise the floor when the count goes up.

use std::path::{Path, PathBuf};

use windlass_conformance::{case_files, load_case, run_case, Verdict};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run_dir(dir: &Path) -> Vec<Verdict> {
    let files = case_files(dir).unwrap_or_else(|e| panic!("{e}"));
    files
        .iter()
        .map(|file| run_case(&load_case(file).unwrap_or_else(|e| panic!("{e}"))))
        .collect()
}

fn describe(failures: &[&Verdict]) -> String {
    failures
        .iter()
        .map(|v| {
            format!(
                "{}\n  expected: {}\n  actual:   {}",
                v.name, v.expected, v.actual
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn own_cases_all_pass() {
    let verdicts = run_dir(&workspace_root().join("tests/conformance/cases"));
    assert!(
        verdicts.len() >= 40,
        "only {} own cases found",
        verdicts.len()
    );
    let failures: Vec<&Verdict> = verdicts.iter().filter(|v| !v.passed).collect();
    assert!(
        failures.is_empty(),
        "{} of {} own cases failed:\n{}",
        failures.len(),
        verdicts.len(),
        describe(&failures)
    );
}

#[test]
fn shared_corpus_pass_count_stays_above_floor() {
    let root = workspace_root();
    // WINDLASS_CONFORMANCE_DIR names the corpus when the workspace is not
    // beside `shared/` (a git worktree elsewhere).
    let dir = std::env::var_os("WINDLASS_CONFORMANCE_DIR")
        .map_or_else(|| root.join("../shared/conformance/asl"), PathBuf::from);
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing; CI must have it",
            dir.display()
        );
        eprintln!(
            "skipping the shared corpus: {} does not exist here",
            dir.display()
        );
        return;
    }
    let floor_file = root.join("tests/conformance/FLOOR");
    let floor_text = std::fs::read_to_string(&floor_file)
        .unwrap_or_else(|e| panic!("{}: {e}", floor_file.display()));
    let floor: usize = floor_text
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: not a number: {e}", floor_file.display()));
    let verdicts = run_dir(&dir);
    let passed = verdicts.iter().filter(|v| v.passed).count();
    let failures: Vec<&Verdict> = verdicts.iter().filter(|v| !v.passed).collect();
    assert!(
        passed >= floor,
        "{passed} of {} shared cases passed, below the floor of {floor}; failing now:\n{}",
        verdicts.len(),
        describe(&failures)
    );
    eprintln!("{passed} of {} shared cases pass", verdicts.len());
    if passed > floor {
        eprintln!(
            "{passed} shared cases pass, above the floor of {floor}: raise tests/conformance/FLOOR"
        );
    }
}
