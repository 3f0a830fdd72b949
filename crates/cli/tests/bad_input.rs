//! Bad input through the real binary, from data in `tests/bad_input/`:
//! every definition in `validate/` must give a diagnostic (with file:line
//! where the file names one) and every run in `run/` a clean runtime error,
//! never a panic.
//!
//! Each case is `NAME.<ext>` (a definition) or `NAME.asl.json` plus an
//! optional `NAME.input.json` (a run), and `NAME.expect`: a first line
//! `exit N`, then lines that must each appear in the command's output;
//! `{file}` stands for the definition's path.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Exit code of a Rust panic; no bad input may produce it.
const PANIC_EXIT: i32 = 101;

struct Expectation {
    exit: i32,
    lines: Vec<String>,
}

fn cases_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bad_input")
        .join(kind)
}

fn expectation(path: &Path, file: &Path) -> Expectation {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let exit = lines
        .next()
        .and_then(|l| l.strip_prefix("exit "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{}: the first line must be `exit N`", path.display()));
    let file = file.display().to_string();
    let lines = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.replace("{file}", &file))
        .collect();
    Expectation { exit, lines }
}

/// Runs the binary and checks the expectation; returns a problem, if any.
fn check(name: &str, command: &mut Command, expected: &Expectation) -> Option<String> {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot start windlass: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let code = output.status.code().unwrap_or(-1);
    if code == PANIC_EXIT || text.contains("panicked") {
        return Some(format!("{name}: windlass panicked:\n{text}"));
    }
    if code != expected.exit {
        return Some(format!(
            "{name}: exit {code}, expected {}:\n{text}",
            expected.exit
        ));
    }
    let missing: Vec<&String> = expected
        .lines
        .iter()
        .filter(|l| !text.contains(l.as_str()))
        .collect();
    if !missing.is_empty() {
        return Some(format!("{name}: output lacks {missing:?}:\n{text}"));
    }
    None
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn bad_definitions_give_diagnostics() {
    let dir = cases_dir("validate");
    let mut checked = 0;
    let mut problems = Vec::new();
    for expect in files_ending(&dir, ".expect") {
        let stem = expect
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let definition = ["json", "yaml"]
            .iter()
            .map(|ext| dir.join(format!("{stem}.{ext}")))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{stem}: no {stem}.json or {stem}.yaml next to its .expect"));
        let expected = expectation(&expect, &definition);
        let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
        command.arg("validate").arg(&definition);
        problems.extend(check(&stem, &mut command, &expected));
        checked += 1;
    }
    assert!(
        checked >= 10,
        "only {checked} bad definitions found in {}",
        dir.display()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn bad_runs_fail_cleanly() {
    let dir = cases_dir("run");
    let mut checked = 0;
    let mut problems = Vec::new();
    for definition in files_ending(&dir, ".asl.json") {
        let name = definition
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let stem = name.trim_end_matches(".asl.json").to_string();
        let expected = expectation(&dir.join(format!("{stem}.expect")), &definition);
        let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
        command.arg("run").arg(&definition);
        let input = dir.join(format!("{stem}.input.json"));
        if input.exists() {
            command.arg("--input").arg(format!("@{}", input.display()));
        }
        problems.extend(check(&stem, &mut command, &expected));
        checked += 1;
    }
    assert!(
        checked >= 10,
        "only {checked} bad runs found in {}",
        dir.display()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A command about deployed apps, given a state folder where nothing was
/// deployed and no agent runs: refused (exit 7) with what to do, never
/// windlass's own failure (70).
#[test]
fn commands_on_an_empty_state_folder_are_refused() {
    let state = std::env::temp_dir().join(format!("windlass-empty-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let start = format!("windlass agent --state {}", state.display());
    let nothing = "nothing was deployed there";
    let cases: [(&[&str], &str); 6] = [
        (&["releases"], nothing),
        (&["logs", "web"], nothing),
        (&["rollback"], &start),
        (&["promote"], &start),
        (&["approve"], &start),
        (&["abort"], &start),
    ];
    let mut problems = Vec::new();
    for (args, said) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(args)
            .arg("--state")
            .arg(&state)
            .current_dir(std::env::temp_dir())
            .output()
            .expect("windlass runs");
        let text = String::from_utf8_lossy(&output.stderr);
        if output.status.code() != Some(7) || !text.contains(said) {
            problems.push(format!(
                "{args:?}: exit {:?}, said: {text}",
                output.status.code()
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&state);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
