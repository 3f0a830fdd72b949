//! How the dashboard holds up with a big store: 10,000 executions listed
//! and one execution of about 25,000 history events, in headless Chromium
//! against the real `windlass server`. Prints, for the executions list and
//! for the execution page, the time to first render (the page's frame
//! drawn with the server's answer) and to a complete graph (every state
//! placed and coloured), then how long a click on a state takes to show its
//! input and output, and a page of older history.
//!
//! The executions are run to their end by the engine on a virtual clock
//! (`simulate`) and committed to a SQLite store as the runtime commits
//! them, then the server is started on that store.
//!
//! Run: `cargo bench -p windlass --bench dashboard` (needs chromium,
//! chromium-driver and selenium, as the browser tests do).

#[path = "../tests/server/mod.rs"]
mod server;

use std::time::Instant;

use serde_json::json;
use windlass_engine::simulate::{simulate, NoTasks, SimulateConfig};
use windlass_engine::ExecutionMeta;
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::{Commit, ExecutionRecord, Store};

const LISTED: usize = 10_000;
/// Map iterations of the big execution: four events each.
const ITEMS: usize = 6_247;
const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:bench";

fn meta(name: &str, input: serde_json::Value, start_millis: i64) -> ExecutionMeta {
    ExecutionMeta {
        execution_arn: format!("arn:aws:states:us-east-1:123456789012:execution:bench:{name}"),
        name: name.into(),
        state_machine_arn: MACHINE.into(),
        state_machine_name: "bench".into(),
        role_arn: "arn:aws:iam::123456789012:role/windlass".into(),
        input,
        start_millis,
        seed: start_millis as u64,
        express: false,
    }
}

/// Runs `definition` to its end and commits it (record and history, in
/// commits of 100 events as the runtime's steps would write).
fn run_into(store: &SqliteStore, definition: &str, meta: ExecutionMeta) -> (String, usize) {
    let parsed = windlass_asl::parse::parse_text(definition)
        .valid()
        .expect("a valid definition");
    let record = ExecutionRecord {
        arn: meta.execution_arn.clone(),
        name: meta.name.clone(),
        state_machine_arn: meta.state_machine_arn.clone(),
        definition: definition.to_string(),
        status: String::new(),
        input: meta.input.to_string(),
        start_millis: meta.start_millis,
        stop_millis: None,
        snapshot: String::new(),
    };
    let run = simulate(&parsed, meta, &mut NoTasks, &SimulateConfig::default());
    let status = run.execution.status.as_str().to_string();
    let snapshot = serde_json::to_string(&run.execution).expect("snapshot");
    let events = run.history.len();
    let mut commits = Vec::new();
    for (i, chunk) in run.history.chunks(100).enumerate() {
        commits.push(Commit {
            arn: record.arn.clone(),
            create: (i == 0).then(|| ExecutionRecord {
                status: "RUNNING".into(),
                ..record.clone()
            }),
            status: status.clone(),
            stop_millis: Some(run.end_millis),
            snapshot: snapshot.clone(),
            history: chunk.to_vec(),
            token_tasks: None,
        });
    }
    store.commit(&commits).expect("commit");
    (record.arn, events)
}

fn main() {
    let dir = server::temp_dir("dashboard-bench");
    let store = SqliteStore::open(&dir.join("windlass.db"), Durability::Normal).expect("store");
    let began = Instant::now();
    let small = r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Choice","Choices":[{"Variable":"$.fail","BooleanEquals":true,"Next":"Bad"}],"Default":"Good"},"Good":{"Type":"Succeed"},"Bad":{"Type":"Fail","Error":"Bench.Failed"}}}"#;
    for i in 0..LISTED {
        let input = json!({"fail": i % 7 == 0});
        run_into(
            &store,
            small,
            meta(
                &format!("e{i:05}"),
                input,
                1_790_000_000_000 + i as i64 * 1000,
            ),
        );
    }
    let big = r#"{"StartAt":"Prepare","States":{"Prepare":{"Type":"Pass","Next":"Each"},"Each":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":0,"ItemProcessor":{"StartAt":"Shape","States":{"Shape":{"Type":"Pass","Parameters":{"v.$":"$"},"End":true}}},"Next":"Done"},"Done":{"Type":"Succeed"}}}"#;
    let items: Vec<usize> = (0..ITEMS).collect();
    let (arn, events) = run_into(
        &store,
        big,
        meta("big", json!({ "items": items }), 1_800_000_000_000),
    );
    drop(store);
    println!(
        "store: {LISTED} executions and one of {events} history events written in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let server = server::Server::start(&dir);
    let output = server::python_command(
        "../dashboard/browser.py",
        &["bench", &server.url, server::KEY_ID, server::SECRET, &arn],
    )
    .output()
    .expect("python3 runs");
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser benchmark failed");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
