//! A state folder shared by ECS and Docker deploys: `windlass agent`
//! leaves the ECS target's executions and deploy locks alone (the CLI
//! resumes them), and an agent start that fails takes the `windlass
//! proxy` it started down with it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use windlass_engine::ExecutionMeta;
use windlass_runtime::{Invokers, Runtime, StartRequest, SystemClock};
use windlass_store::releases::{Lock, Releases, ServiceKey, SqliteReleases};
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::Store;

const ECS_MACHINE: &str = "arn:aws:states:us-east-1:000000000000:stateMachine:windlass-ecs-web";
const ECS_EXECUTION: &str =
    "arn:aws:states:us-east-1:000000000000:execution:windlass-ecs-web:web-1";

fn state(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(case);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("state folder");
    let mut permissions = std::fs::metadata(&dir).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o700);
    std::fs::set_permissions(&dir, permissions).expect("0700");
    dir
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Stops the process `pid` of a `windlass proxy` or agent this test made.
fn stop(pid: u32) {
    let _ = Command::new("kill").arg(pid.to_string()).status();
}

fn proxy_pid(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("proxy.pid"))
        .ok()
        .and_then(|t| t.trim().parse().ok())
}

/// An ECS deploy interrupted mid-rollout, as the CLI leaves it in the
/// state folder: its execution RUNNING (in a Wait) and the service's lock
/// held by its process (this test's, which is alive).
async fn interrupted_ecs_deploy(dir: &Path) {
    let db = dir.join("windlass.db");
    let store = Arc::new(SqliteStore::open(&db, Durability::Full).expect("store"));
    let runtime = Runtime::new(store, Invokers::new(), Arc::new(SystemClock));
    let text = json!({ "StartAt": "Wait", "States": {
        "Wait": { "Type": "Wait", "Seconds": 3600, "End": true } } })
    .to_string();
    let definition = windlass_asl::parse::parse_text(&text)
        .valid()
        .expect("valid");
    runtime
        .start(StartRequest {
            definition_text: text,
            definition: Arc::new(definition),
            meta: ExecutionMeta {
                execution_arn: ECS_EXECUTION.into(),
                name: "web-1".into(),
                state_machine_arn: ECS_MACHINE.into(),
                state_machine_name: "windlass-ecs-web".into(),
                role_arn: String::new(),
                input: json!({}),
                start_millis: 1,
                seed: 1,
                express: false,
            },
        })
        .await
        .expect("started");
    let releases = SqliteReleases::open(&db).expect("releases");
    let lock = Lock {
        service: "ecs/windlass/web".parse::<ServiceKey>().expect("key"),
        holder: ECS_EXECUTION.into(),
        pid: std::process::id(),
        host: String::new(),
        heartbeat_millis: i64::MAX / 2,
    };
    assert!(releases.try_lock(&lock, 0).expect("lock").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_leaves_an_ecs_deploy_to_the_cli() {
    let dir = state("agent-ecs-state");
    interrupted_ecs_deploy(&dir).await;
    let log = dir.join("agent.err");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["agent", "--state"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("windlass agent");
    let deadline = Instant::now() + Duration::from_secs(60);
    let said = loop {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        let exited = agent.try_wait().expect("wait").is_some();
        if said.contains("serving on") || exited || Instant::now() > deadline {
            break said;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    stop(agent.id());
    let _ = agent.wait();
    if let Some(pid) = proxy_pid(&dir) {
        stop(pid);
    }
    assert!(said.contains("0 execution(s) resumed"), "{said}");
    let db = dir.join("windlass.db");
    let releases = SqliteReleases::open(&db).expect("releases");
    let lock = releases
        .lock_of(&"ecs/windlass/web".parse().expect("key"))
        .expect("lock")
        .expect("still locked");
    assert_eq!(lock.pid, std::process::id(), "the CLI's lock is not taken");
    let store = SqliteStore::open(&db, Durability::Full).expect("store");
    let record = store
        .execution(ECS_EXECUTION)
        .expect("read")
        .expect("there");
    assert_eq!(record.status, "RUNNING");
    let history = store.history(ECS_EXECUTION, 1, u64::MAX).expect("history");
    assert!(
        history.iter().all(|e| e.kind != "ExecutionFailed"),
        "not run by the agent"
    );
}

#[test]
fn a_failed_agent_start_leaves_no_proxy_behind() {
    let dir = state("agent-failed-start");
    std::fs::write(
        dir.join("windlass.db"),
        "not a database: the agent cannot open its store".repeat(40),
    )
    .expect("db");
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["agent", "--state"])
        .arg(&dir)
        .output()
        .expect("windlass agent");
    let said = String::from_utf8_lossy(&out.stderr);
    let proxy = proxy_pid(&dir);
    let left = proxy.filter(|pid| alive(*pid));
    if let Some(pid) = left {
        stop(pid);
    }
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("not a database"), "{said}");
    assert!(
        left.is_none(),
        "the proxy {proxy:?} the failed start began is gone"
    );
}
