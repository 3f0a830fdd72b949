//! The runtime survives a store that fails commits: a failed commit is
//! retried from the execution as the store has it, so the execution
//! finishes without a restart and its history ids stay contiguous. First
//! with a wrapper that fails chosen commits, then with SQLite on a real
//! full disk (a small tmpfs; needs root to mount it).

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value as Json};
use tokio::sync::Semaphore;
use windlass_asl::Failure;
use windlass_engine::{Outcome, Status, TaskRequest};
use windlass_runtime::invoke::BoxFuture;
use windlass_runtime::{Invoker, Invokers, Runtime, StartRequest, SystemClock};
use windlass_store::failing::FailingStore;
use windlass_store::memory::MemoryStore;
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::Store;

const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:m:one";

/// Answers each task with `{"echo": <its input>, "pad": <pad>}` once the
/// gate lets it through.
struct Echo {
    gate: Arc<Semaphore>,
    pad: String,
}

impl Invoker for Echo {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let gate = self.gate.clone();
        let pad = self.pad.clone();
        Box::pin(async move {
            let _permit = gate
                .acquire()
                .await
                .map_err(|e| Failure::new("Gate", e.to_string()))?;
            Ok(json!({ "echo": request.input, "pad": pad }))
        })
    }
}

fn runtime(store: Arc<dyn Store>, gate: Arc<Semaphore>, pad: String) -> Runtime {
    let mut invokers = Invokers::new();
    invokers.register("test:echo", Arc::new(Echo { gate, pad }));
    Runtime::new(store, invokers, Arc::new(SystemClock))
}

/// A Parallel of two branches, each a Task then a Pass.
fn parallel() -> StartRequest {
    let branch = |name: &str| {
        json!({ "StartAt": name, "States": {
            name: { "Type": "Task", "Resource": "test:echo",
                    "Parameters": { "branch": name }, "Next": format!("{name}Done") },
            format!("{name}Done"): { "Type": "Pass", "OutputPath": "$.echo", "End": true } } })
    };
    support::start_request(
        json!({ "StartAt": "Both", "States": { "Both": {
            "Type": "Parallel", "Branches": [branch("A"), branch("B")], "End": true } } }),
        ARN,
        "one",
        json!({}),
    )
}

/// The execution's stored history ids, which must be 1..=n with no gap.
fn history_ids(store: &dyn Store) -> Vec<u64> {
    store
        .history(ARN, 1, u64::MAX)
        .expect("history")
        .iter()
        .map(|e| e.id)
        .collect()
}

fn assert_contiguous(ids: &[u64]) {
    let expected: Vec<u64> = (1..=ids.len() as u64).collect();
    assert_eq!(ids, expected, "history ids are 1..=n with none missing");
}

fn assert_both_branches(outcome: Option<Outcome>) {
    let Some(Outcome::Output(output)) = outcome else {
        panic!("no output: {outcome:?}");
    };
    assert_eq!(output, json!([{ "branch": "A" }, { "branch": "B" }]));
}

/// How many history events the Parallel makes when nothing fails.
async fn events_without_failures() -> usize {
    let store = Arc::new(MemoryStore::new());
    let open = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
    let runtime = runtime(store.clone(), open, String::new());
    runtime.start(parallel()).await.expect("started");
    let finished = runtime.wait(ARN).await.expect("ends");
    assert_eq!(finished.status, Status::Succeeded);
    history_ids(store.as_ref()).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_commits_are_retried_and_lose_no_event() {
    let expected_events = events_without_failures().await;
    let store = Arc::new(FailingStore::new(Arc::new(MemoryStore::new())));
    // The create commits; the step of the first task result fails once, and so does the next step.
    store.fail_commits(ARN, [2, 4]);
    let open = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
    let runtime = runtime(store.clone(), open, String::new());
    runtime.start(parallel()).await.expect("started");

    let finished = runtime.wait(ARN).await.expect("ends");
    assert_eq!(finished.status, Status::Succeeded);
    assert_both_branches(finished.outcome);
    assert_eq!(store.failures(), 2, "the two chosen commits failed");
    let ids = history_ids(store.as_ref());
    assert_contiguous(&ids);
    assert_eq!(ids.len(), expected_events);
    let record = store.execution(ARN).expect("read").expect("stored");
    assert_eq!(record.status, "SUCCEEDED");
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> std::io::Result<Tmpfs> {
        let dir = std::env::temp_dir().join(format!("windlass-full-disk-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!("mount exited with {status}")));
        }
        Ok(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Writes zeros to `path` until the file system is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).expect("filler");
    let block = vec![0u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_execution_finishes_after_its_disk_was_full() {
    let tmpfs = match Tmpfs::mount("4m") {
        Ok(tmpfs) => tmpfs,
        // Mounting needs root (CI runs as root); the wrapper test above
        // covers the runtime's side without it.
        Err(error) => {
            eprintln!("no tmpfs ({error}): the full-disk test needs root; not run");
            return;
        }
    };
    let sqlite = SqliteStore::open(&tmpfs.0.join("windlass.db"), Durability::Full).expect("open");
    let store = Arc::new(FailingStore::new(Arc::new(sqlite)));
    let gate = Arc::new(Semaphore::new(0));
    // Task results of 100 KB each: their commits need new pages of the WAL.
    let runtime = runtime(store.clone(), gate.clone(), "x".repeat(100_000));
    runtime.start(parallel()).await.expect("started");

    let filler = tmpfs.0.join("filler");
    fill(&filler);
    gate.add_permits(2);
    let waiting = store.clone();
    tokio::task::spawn_blocking(move || waiting.wait_for_failures(1))
        .await
        .expect("a commit failed on the full disk");
    let record = store.execution(ARN).expect("read").expect("stored");
    assert_eq!(record.status, "RUNNING");

    std::fs::remove_file(&filler).expect("space comes back");
    let finished = runtime.wait(ARN).await.expect("ends");
    assert_eq!(finished.status, Status::Succeeded);
    let Some(Outcome::Output(output)) = finished.outcome else {
        panic!("no output");
    };
    assert_eq!(output[0]["branch"], "A");
    assert_eq!(output[1]["branch"], "B");
    println!("commits that failed on the full disk: {}", store.failures());
    assert_contiguous(&history_ids(store.as_ref()));
    let record = store.execution(ARN).expect("read").expect("stored");
    assert_eq!(record.status, "SUCCEEDED");
}
