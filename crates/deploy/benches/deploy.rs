//! Deploy and rollback speed on the real Docker engine, printed as figures:
//!
//! - deploy time beyond container start plus the first passing health check
//!   (a prebuilt image, no watch), with the time of every step;
//! - time from an explicit rollback to the first request served by the old
//!   release, with load running through the proxy;
//! - the baselines: `docker-compose up -d` recreating the service (Compose
//!   v1), with the requests it failed meanwhile; and a single-node Docker
//!   Swarm service (`service update` with `failure_action: rollback`, an
//!   explicit `service rollback`, and an update that crashes and is rolled
//!   back automatically). The Swarm service publishes no port (Swarm cannot
//!   bind one to loopback only), so its figures are taken from Swarm's own
//!   update status, polled through the docker CLI every few milliseconds:
//!   a lower bound of when the old release could serve.
//!
//! Run: `cargo bench -p windlass-deploy --bench deploy`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use windlass_deploy::agent::{Agent, DeployRequest, RollbackRequest};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::{workflow, Backend, BuildSpec};
use windlass_store::releases::SqliteReleases;
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::Store;

const SERVICE: &str = "wlbench";
const IMAGE: &str = "windlass-bench/testapp:1";
const ROUNDS: usize = 5;

fn compose(port: u16, version: &str) -> String {
    format!(
        "services:\n  {SERVICE}:\n    image: {IMAGE}\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 2s\n    environment:\n      TESTAPP_VERSION: {version}\n    x-windlass:\n      health: {{http: /health, interval: 10ms, start_timeout: 10s}}\n      watch: 0s\n"
    )
}

fn steps(store: &dyn Store, arn: &str) -> Vec<(String, i64)> {
    let mut entered: Option<(String, i64)> = None;
    let mut out = Vec::new();
    for event in store.history(arn, 1, u64::MAX).unwrap_or_default() {
        let name = event.details.get("name").and_then(Json::as_str);
        if event.kind.ends_with("StateEntered") {
            entered = name.map(|n| (n.to_owned(), event.timestamp_millis));
        } else if event.kind.ends_with("StateExited") {
            if let Some((state, at)) = entered.take() {
                out.push((state, event.timestamp_millis - at));
            }
        }
    }
    out
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(bench());
}

async fn bench() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("bench");
    docker
        .build_image(&BuildSpec {
            context: dir.join("app"),
            tag: IMAGE.into(),
            ..BuildSpec::default()
        })
        .await
        .expect("build the test image");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state");
    let db = state.join("windlass.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db, Durability::Full).expect("store"));
    let agent = Agent::new(
        Arc::clone(&store),
        Arc::new(SqliteReleases::open(&db).expect("releases")),
        Arc::new(docker.clone()),
        workflow::Config::default(),
    );
    agent.resume().await.expect("resume");
    let port = support::free_port();
    let file = dir.join("compose.yaml");

    println!("deploy (prebuilt image, SQLite synchronous=FULL, no watch):");
    let mut overheads = Vec::new();
    let mut last = String::new();
    for round in 0..=ROUNDS {
        let text = compose(port, &format!("v{round}"));
        std::fs::write(&file, &text).expect("compose");
        let began = Instant::now();
        let started = agent
            .deploy(DeployRequest {
                compose_file: file.display().to_string(),
                compose_text: text,
                services: vec![SERVICE.into()],
                by: "bench".into(),
                definition: None,
                ..Default::default()
            })
            .await
            .expect("deploy")
            .remove(0);
        agent
            .runtime()
            .wait(&started.execution)
            .await
            .expect("ends");
        let wall = began.elapsed().as_secs_f64() * 1000.0;
        let trace = steps(store.as_ref(), &started.execution);
        let container: i64 = trace
            .iter()
            .filter(|(s, _)| s == "StartReplicas" || s == "WaitHealthy")
            .map(|(_, ms)| ms)
            .sum();
        let overhead = wall - container as f64;
        if round > 0 {
            overheads.push(overhead);
        }
        println!(
            "  {}: {wall:.0} ms, of which container start + first passing probe {container} ms, windlass {overhead:.0} ms; steps {trace:?}",
            started.release
        );
        last = started.release;
    }
    println!(
        "  median windlass time beyond container start + first health: {:.0} ms (goal <= 300 ms)",
        median(overheads)
    );

    let load = support::Load::start(format!("127.0.0.1:{port}").parse().expect("address"), 2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let previous = format!("r{}", ROUNDS);
    let mut flips = Vec::new();
    println!("explicit rollback between {previous} and {last} (both running), under load:");
    for round in 0..ROUNDS * 2 {
        let target = if round % 2 == 0 { &previous } else { &last };
        let asked = Instant::now();
        let started = agent
            .rollback(RollbackRequest {
                service: Some(SERVICE.into()),
                app: None,
                here: None,
                release: Some(target.clone()),
                by: "bench".into(),
            })
            .await
            .expect("rollback")
            .remove(0);
        let first = load
            .answer_from(target, asked, Duration::from_secs(10))
            .await
            .expect("the target answered");
        agent
            .runtime()
            .wait(&started.execution)
            .await
            .expect("ends");
        let ms = first.duration_since(asked).as_secs_f64() * 1000.0;
        flips.push(ms);
        println!(
            "  to {target}: first request served {ms:.1} ms after the rollback was asked; steps {:?}",
            steps(store.as_ref(), &started.execution)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = load.stop().await;
    println!(
        "  median {:.1} ms (goal <= 50 ms); load: {} requests, {} failed",
        median(flips),
        seen.requests,
        seen.failed
    );
    support::cleanup(&docker, SERVICE).await;
    compose_baseline(&dir).await;
    swarm_baseline();
}

fn docker_cli(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI")
}

fn text(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The service's update state and when that update started.
fn swarm_status() -> (String, String) {
    let text = text(&docker_cli(&[
        "service",
        "inspect",
        "wlswarm",
        "--format",
        "{{if .UpdateStatus}}{{.UpdateStatus.State}} {{.UpdateStatus.StartedAt}}{{end}}",
    ]));
    let (state, started) = text.split_once(' ').unwrap_or((text.as_str(), ""));
    (state.to_owned(), started.to_owned())
}

/// Runs a `docker service` command, then polls until an update that began
/// after it reaches one of `wanted`; returns the time since the command was
/// issued and the state reached.
fn swarm_timed(args: &[&str], wanted: &[&str]) -> (Duration, String) {
    let (_, before) = swarm_status();
    let began = Instant::now();
    docker_cli(args);
    let deadline = began + Duration::from_secs(120);
    loop {
        let (state, started) = swarm_status();
        let new_update = !started.is_empty() && started != before;
        if (new_update && wanted.contains(&state.as_str())) || Instant::now() > deadline {
            return (began.elapsed(), state);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A single-node Docker Swarm service of the same image: deploy, explicit
/// rollback, and automatic rollback of a release that crashes at start.
fn swarm_baseline() {
    let state = text(&docker_cli(&[
        "info",
        "--format",
        "{{.Swarm.LocalNodeState}}",
    ]));
    let joined_here = state == "inactive";
    if joined_here {
        let init = docker_cli(&[
            "swarm",
            "init",
            "--advertise-addr",
            "127.0.0.1",
            "--listen-addr",
            "127.0.0.1:2377",
        ]);
        if !init.status.success() {
            println!(
                "Docker Swarm baseline: `docker swarm init` failed: {}",
                String::from_utf8_lossy(&init.stderr).trim()
            );
            return;
        }
    } else if state != "active" {
        println!("Docker Swarm baseline: the engine's swarm state is {state:?}; skipped");
        return;
    }
    let _ = docker_cli(&["service", "rm", "wlswarm"]);
    let created = docker_cli(&[
        "service",
        "create",
        "--quiet",
        "--name",
        "wlswarm",
        "--no-resolve-image",
        "--replicas",
        "1",
        "--stop-grace-period",
        "2s",
        "--update-order",
        "start-first",
        "--update-failure-action",
        "rollback",
        "--update-monitor",
        "1s",
        "--rollback-order",
        "start-first",
        "--rollback-monitor",
        "1s",
        "--env",
        "TESTAPP_VERSION=s0",
        IMAGE,
    ]);
    println!(
        "Docker Swarm baseline (single node, start-first, monitor 1s, failure_action rollback):"
    );
    if !created.status.success() {
        println!(
            "  `docker service create` failed: {}",
            String::from_utf8_lossy(&created.stderr).trim()
        );
    } else {
        let (mut updates, mut rollbacks, mut automatic) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=3 {
            let version = format!("TESTAPP_VERSION=s{round}");
            let (took, state) = swarm_timed(
                &[
                    "service",
                    "update",
                    "--detach",
                    "--env-add",
                    &version,
                    "wlswarm",
                ],
                &["completed", "paused", "rollback_completed"],
            );
            updates.push(took.as_secs_f64() * 1000.0);
            println!("  update to s{round}: {state} after {took:?} (includes the 1 s monitor)");
            let (took, state) = swarm_timed(
                &["service", "rollback", "--detach", "wlswarm"],
                &["rollback_completed", "rollback_paused"],
            );
            rollbacks.push(took.as_secs_f64() * 1000.0);
            println!("  explicit `service rollback`: {state} after {took:?}");
            let (took, state) = swarm_timed(
                &[
                    "service",
                    "update",
                    "--detach",
                    "--env-add",
                    "TESTAPP_CRASH_AT_START=3",
                    "wlswarm",
                ],
                &["rollback_completed", "rollback_paused", "paused"],
            );
            automatic.push(took.as_secs_f64() * 1000.0);
            println!("  update that crashes at start: {state} after {took:?}");
            // The automatic rollback restored the spec without the crash.
        }
        println!(
            "  medians: update {:.0} ms, explicit rollback {:.0} ms, automatic rollback of a crashing update {:.0} ms",
            median(updates),
            median(rollbacks),
            median(automatic)
        );
    }
    let _ = docker_cli(&["service", "rm", "wlswarm"]);
    if joined_here {
        let _ = docker_cli(&["swarm", "leave", "--force"]);
    }
}

/// `docker-compose up -d` recreating the service for a new version.
async fn compose_baseline(dir: &Path) {
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_err()
    {
        println!("docker-compose baseline: docker-compose is not installed");
        return;
    }
    let port = support::free_port();
    let file = dir.join("baseline.yaml");
    let write = |version: &str| {
        std::fs::write(
            &file,
            format!(
                "version: \"2.4\"\nservices:\n  app:\n    image: {IMAGE}\n    init: true\n    stop_grace_period: 2s\n    ports: [\"127.0.0.1:{port}:8080\"]\n    environment:\n      TESTAPP_VERSION: {version}\n"
            ),
        )
        .expect("baseline compose file");
    };
    let compose = |args: &[&str]| {
        Command::new("docker-compose")
            .arg("-p")
            .arg("wlbaseline")
            .arg("-f")
            .arg(&file)
            .args(args)
            .output()
            .expect("docker-compose")
    };
    write("b0");
    compose(&["up", "-d"]);
    let address = format!("127.0.0.1:{port}").parse().expect("address");
    let deadline = Instant::now() + Duration::from_secs(20);
    while windlass_deploy::probe::http_status(address, "/version")
        .await
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "the baseline never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("docker-compose baseline (Compose v1, `up -d` recreating the container):");
    let mut times = Vec::new();
    for round in 1..=3 {
        write(&format!("b{round}"));
        let began = Instant::now();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let probe = tokio::spawn(count_failures(address, Arc::clone(&stop)));
        let output = compose(&["up", "-d"]);
        let up = began.elapsed();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let answer = version(address).await;
            if answer.as_deref() == Some(&format!("b{round}")) || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let serving = began.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (requests, failed) = probe.await.unwrap_or((0, 0));
        times.push(serving.as_secs_f64() * 1000.0);
        println!(
            "  b{round}: `up -d` returned after {up:?} ({}), new version serving after {serving:?}; {failed} of {requests} requests failed meanwhile",
            output.status
        );
    }
    println!("  median {:.0} ms to the new version", median(times));
    compose(&["down", "-t", "1"]);
}

async fn version(address: std::net::SocketAddr) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    stream
        .write_all(b"GET /version HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await.ok()?;
    text.rsplit("\r\n\r\n").next().map(|b| b.trim().to_owned())
}

/// Requests sent and failed until `stop`.
async fn count_failures(
    address: std::net::SocketAddr,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (u64, u64) {
    let (mut requests, mut failed) = (0, 0);
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        requests += 1;
        if version(address).await.is_none() {
            failed += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (requests, failed)
}
