//! `kill -9` of the windlass agent at many points of a deploy, on the real
//! binary and the real Docker engine: no request fails while the agent is
//! dead (the proxies live in `windlass proxy`, which the agent started and
//! which outlives it); after a restart the deploy carries on, and at the end
//! exactly one release takes traffic, the one the store says is live, and
//! the history shows the interrupted step run again.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RunState, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_store::releases::{Releases, SqliteReleases};
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::Store;

const SERVICE: &str = "wlcrash";

fn start_agent(state: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.join("agent.log"))
        .expect("log");
    let _ = std::fs::remove_file(state.join("agent.addr"));
    let child = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["agent", "--state"])
        .arg(state)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the agent");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !state.join("agent.addr").exists() {
        assert!(Instant::now() < deadline, "the agent did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn deploy(state: &Path, file: &Path) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
    command
        .arg("deploy")
        .arg("-f")
        .arg(file)
        .arg("--json")
        .arg("--state")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command.spawn().expect("windlass deploy")
}

/// The newest deploy execution and the states it has entered so far.
fn newest(store: &SqliteStore) -> Option<(String, String, Vec<String>)> {
    let filter = windlass_store::ExecutionFilter {
        limit: 1000,
        ..Default::default()
    };
    let record = store
        .list(&filter)
        .ok()?
        .into_iter()
        .filter(|r| r.state_machine_arn.ends_with(":windlass-app-deploy"))
        .max_by_key(|r| r.start_millis)?;
    let entered = store
        .history(&record.arn, 1, u64::MAX)
        .ok()?
        .into_iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .filter_map(|e| {
            e.details
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_owned)
        })
        .collect();
    Some((record.arn, record.status, entered))
}

/// Sends `count` requests through the proxy; returns the release of each
/// answer (`None` when the request failed).
async fn sample(port: u16, count: usize) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for _ in 0..count {
        let answer = tokio::time::timeout(Duration::from_secs(2), async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()?;
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            stream
                .write_all(b"GET /version HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .ok()?;
            let mut text = String::new();
            stream.read_to_string(&mut text).await.ok()?;
            text.lines().find_map(|l| {
                l.strip_prefix("x-windlass-release: ")
                    .map(|r| r.trim().to_owned())
            })
        })
        .await
        .ok()
        .flatten();
        out.push(answer);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_any_step_ends_with_exactly_one_release_live() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("crash");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let mut agent = start_agent(&state);

    std::fs::write(
        &file,
        support::compose(SERVICE, port, &[("TESTAPP_VERSION", "v1")], "1s"),
    )
    .expect("compose");
    let first = deploy(&state, &file).wait_with_output().expect("deploy v1");
    assert!(
        first.status.success(),
        "v1: {}",
        String::from_utf8_lossy(&first.stdout)
    );

    // (state to kill in, whether the new version turns bad after the switch)
    let points = [
        ("BuildImage", false),
        ("StartReplicas", false),
        ("WaitHealthy", false),
        ("Switch", false),
        ("WatchRelease", false),
        ("WatchRelease", true),
        ("RollBackRelease", true),
    ];
    let db = state.join("windlass.db");
    let store = SqliteStore::open(&db, Durability::Normal).expect("store");
    let mut report = vec![newest(&store).expect("v1's execution").0];
    for (round, (point, bad)) in points.iter().enumerate() {
        let version = format!("v{}", round + 2);
        let mut env = vec![("TESTAPP_VERSION", version.as_str())];
        if *bad {
            env.push(("TESTAPP_ERROR_RATIO", "1"));
        }
        std::fs::write(&file, support::compose(SERVICE, port, &env, "3s")).expect("compose");
        let mut cli = deploy(&state, &file);
        // Traffic until the deploy ends, so that a bad release is judged by
        // its 5xx before and after the restart.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = std::sync::Arc::clone(&stop);
        let traffic = tokio::spawn(async move {
            let (mut sent, mut failed) = (0u64, 0u64);
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                sent += 1;
                if sample(port, 1).await[0].is_none() {
                    failed += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (sent, failed)
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let arn = loop {
            assert!(
                Instant::now() < deadline,
                "round {round}: never reached {point}"
            );
            if let Some((arn, _, entered)) = newest(&store) {
                if entered.iter().any(|s| s == point)
                    && !arn.is_empty()
                    && round_started(&arn, &report)
                {
                    break arn;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        agent.kill().expect("kill -9 the agent");
        let _ = agent.wait();
        let _ = cli.kill();
        let _ = cli.wait();
        agent = start_agent(&state);
        let deadline = Instant::now() + Duration::from_secs(90);
        let (status, entered) = loop {
            assert!(
                Instant::now() < deadline,
                "round {round}: the deploy never ended after the restart"
            );
            let (now_arn, status, entered) = newest(&store).expect("execution");
            assert_eq!(now_arn, arn);
            if status != "RUNNING" {
                break (status, entered);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (sent, failed_meanwhile) = traffic.await.expect("traffic");
        assert_eq!(
            failed_meanwhile, 0,
            "round {round} ({point}): {failed_meanwhile} of {sent} requests failed while the agent was killed and restarted"
        );
        let releases = SqliteReleases::open(&db).expect("releases");
        let live = releases
            .live(SERVICE)
            .expect("live")
            .expect("a live release");
        let answers = sample(port, 40).await;
        let failed = answers.iter().filter(|a| a.is_none()).count();
        let distinct: std::collections::BTreeSet<_> = answers.iter().flatten().cloned().collect();
        assert_eq!(
            failed, 0,
            "round {round} ({point}): requests failed after the restart"
        );
        assert_eq!(
            distinct,
            [live.release.clone()].into(),
            "round {round} ({point}): exactly the stored live release takes traffic"
        );
        let labels = [(SERVICE_LABEL.to_owned(), SERVICE.to_owned())].into();
        let running: Vec<_> = docker
            .list_containers(&labels)
            .await
            .expect("list")
            .into_iter()
            .filter(|c| c.state == RunState::Running)
            .collect();
        assert!(
            running.len() <= 2,
            "round {round}: at most live + standby run: {running:?}"
        );
        assert!(
            releases.lock_of(SERVICE).expect("lock").is_none(),
            "round {round}: lock freed"
        );
        let interrupted = store
            .history(&arn, 1, u64::MAX)
            .expect("history")
            .into_iter()
            .filter(|e| e.kind == "TaskFailed")
            .filter(|e| e.details.to_string().contains("interrupted"))
            .count();
        println!(
            "killed in {point}{}: execution {status}, live {}, {sent} requests through the kill and restart, none failed; states {entered:?}, {interrupted} task(s) failed as interrupted and retried",
            if *bad { " (bad release)" } else { "" },
            live.release
        );
        report.push(arn);
    }
    let _ = agent.kill();
    let _ = agent.wait();
    stop_proxy(&state);
    support::cleanup(&docker, SERVICE).await;
}

/// Stops the `windlass proxy` the agent started (it outlives the agent).
fn stop_proxy(state: &Path) {
    if let Ok(pid) = std::fs::read_to_string(state.join("proxy.pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
}

/// True when `arn` is not a deploy of an earlier round.
fn round_started(arn: &str, earlier: &[String]) -> bool {
    !earlier.iter().any(|a| a == arn)
}
