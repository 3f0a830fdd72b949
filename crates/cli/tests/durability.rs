//! Kill -9 the real `windlass run --db` process many times mid-execution;
//! running the same command again must carry the execution on, and the end
//! result and history must be exactly those of an uninterrupted run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const MACHINE: &str = r#"{
  "StartAt": "Prepare",
  "States": {
    "Prepare": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.prepared", "Next": "Pause"},
    "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Fan"},
    "Fan": {
      "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ResultPath": "$.results", "Next": "Both",
      "ItemProcessor": {"StartAt": "Nap", "States": {
        "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Double"},
        "Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, $)"}, "End": true}
      }}
    },
    "Both": {
      "Type": "Parallel", "ResultPath": "$.branches", "Next": "Last",
      "Branches": [
        {"StartAt": "L", "States": {"L": {"Type": "Wait", "Seconds": 1, "Next": "L2"}, "L2": {"Type": "Pass", "Result": "left", "End": true}}},
        {"StartAt": "R", "States": {"R": {"Type": "Pass", "Result": "right", "End": true}}}
      ]
    },
    "Last": {"Type": "Wait", "Seconds": 1, "End": true}
  }
}"#;

const EXPECTED_OUTPUT: &str = r#"{"items":[1,2,3],"prepared":{"n":1},"results":[{"v":2},{"v":4},{"v":6}],"branches":["left","right"]}"#;

fn windlass() -> Command {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
}

fn run_args(dir: &Path) -> Vec<String> {
    vec![
        "run".into(),
        dir.join("machine.json").display().to_string(),
        "--input".into(),
        r#"{"items":[1,2,3]}"#.into(),
        "--db".into(),
        dir.join("store.db").display().to_string(),
        "--name".into(),
        "kill-test".into(),
    ]
}

/// The history as (id, type, state name) rows, from the SQLite store.
fn history(db: &Path) -> Vec<(i64, String, String)> {
    let conn = rusqlite::Connection::open(db).expect("open store");
    // A run killed while it opened the store may have left the file without
    // its tables yet: that is an empty history.
    let Ok(mut statement) = conn.prepare("SELECT events FROM history ORDER BY key") else {
        return Vec::new();
    };
    let rows = statement
        .query_map([], |row| row.get::<_, String>(0))
        .expect("rows");
    let mut events = Vec::new();
    for row in rows {
        let chunk: Vec<serde_json::Value> =
            serde_json::from_str(&row.expect("row")).expect("events json");
        for event in chunk {
            let id = event["id"].as_i64().unwrap_or(-1);
            let kind = event["type"].as_str().unwrap_or_default().to_string();
            let name = event["details"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            events.push((id, kind, name));
        }
    }
    events
}

fn tally(events: &[(i64, String, String)]) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for (_, kind, name) in events {
        *counts.entry((kind.clone(), name.clone())).or_insert(0) += 1;
    }
    counts
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("windlass-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("machine.json"), MACHINE).expect("write machine");
    dir
}

#[test]
fn killed_runs_resume_and_end_exactly_once() {
    // The reference: one run, never interrupted.
    let reference_dir = fresh_dir("reference");
    let output = windlass()
        .args(run_args(&reference_dir))
        .output()
        .expect("run windlass");
    assert!(
        output.status.success(),
        "reference run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reference = history(&reference_dir.join("store.db"));

    let dir = fresh_dir("killed");
    let kills = 12;
    // Kill at spread-out moments: right after start, inside waits, at the end.
    let mut killed = 0;
    let mut seen_lengths = std::collections::BTreeSet::new();
    for attempt in 0..kills {
        let mut child = windlass()
            .args(run_args(&dir))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn windlass");
        let delay = 40 + (attempt * 137) % 700;
        std::thread::sleep(Duration::from_millis(delay as u64));
        if child.try_wait().expect("poll child").is_none() {
            child.kill().expect("kill -9");
            killed += 1;
        }
        let _ = child.wait();
        if dir.join("store.db").exists() {
            seen_lengths.insert(history(&dir.join("store.db")).len());
        }
    }
    assert!(
        seen_lengths.len() >= 3,
        "the kills all landed at the same point of the execution: {seen_lengths:?}"
    );
    assert!(
        killed >= kills / 2,
        "only {killed} of {kills} runs were killed mid-execution"
    );
    let output = windlass().args(run_args(&dir)).output().expect("final run");
    assert!(
        output.status.success(),
        "final run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).expect("output is JSON");
    let want: serde_json::Value = serde_json::from_str(EXPECTED_OUTPUT).expect("expected JSON");
    assert_eq!(got, want);

    let events = history(&dir.join("store.db"));
    let ids: Vec<i64> = events.iter().map(|(id, _, _)| *id).collect();
    let contiguous: Vec<i64> = (1..=events.len() as i64).collect();
    assert_eq!(ids, contiguous, "history ids have a gap or a duplicate");
    assert_eq!(
        tally(&events),
        tally(&reference),
        "the killed run's history differs from an uninterrupted one"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&reference_dir);
}
