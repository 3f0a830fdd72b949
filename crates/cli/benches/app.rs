//! A multi-service app updated from v1 to v2 and rolled back, by windlass
//! (the real binaries: `windlass agent`, the `windlass proxy` it starts, and
//! `windlass deploy` / `windlass rollback` as a user runs them) and by
//! `docker-compose up -d` (Compose v1), side by side in one run, on the
//! real Docker engine. Figures per round, then the median and p90:
//!
//! - time from starting the update command until every service answers
//!   with v2 (windlass: `deploy` of the whole app, all traffic moves in one
//!   step once every service is healthy; docker-compose: `up -d`, which
//!   recreates each container stop-first);
//! - failed requests during the update and the rollback, counted by a load
//!   generator on every service (a failure: no connection, no answer
//!   within 5 s, or an answer other than 200);
//! - rollback time: from starting the command (`windlass rollback` of the
//!   app; `docker-compose up -d` of the v1 file) to the first request
//!   answered by v1, per service, and until all services answered by v1.
//!
//! The app: three HTTP services of the workspace's static test app
//! (`FROM scratch`), `web` depending on `api`, on ports of 127.0.0.1 only.
//!
//! Run: `cargo bench -p windlass --bench app`.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::{Backend, BuildSpec};

const IMAGE: &str = "windlass-bench/testapp:app";
/// Service names, also the prefix of everything the bench leaves in Docker.
const SERVICES: [&str; 3] = ["wlapp-api", "wlapp-auth", "wlapp-web"];
const APP: &str = "wlappbench";
const ROUNDS: usize = 7;
/// Load workers per service, and the pause each makes between requests.
const WORKERS: usize = 2;
const PAUSE: Duration = Duration::from_millis(1);

fn windlass_compose(ports: &[u16], version: &str) -> String {
    let mut text = format!("name: {APP}\nservices:\n");
    for (service, port) in SERVICES.iter().zip(ports) {
        let depends = if service.ends_with("web") {
            "    depends_on: [wlapp-api]\n"
        } else {
            ""
        };
        text.push_str(&format!(
            "  {service}:\n    image: {IMAGE}\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 2s\n{depends}    environment:\n      TESTAPP_VERSION: {version}\n    x-windlass:\n      health: {{http: /health, interval: 10ms, start_timeout: 10s}}\n      watch: 0s\n"
        ));
    }
    text
}

fn compose_v1_file(ports: &[u16], version: &str) -> String {
    let mut text = String::from("version: \"2.4\"\nservices:\n");
    for (service, port) in SERVICES.iter().zip(ports) {
        let depends = if service.ends_with("web") {
            "    depends_on: [wlapp-api]\n"
        } else {
            ""
        };
        text.push_str(&format!(
            "  {service}:\n    image: {IMAGE}\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 2s\n{depends}    environment:\n      TESTAPP_VERSION: {version}\n"
        ));
    }
    text
}

/// What one load generator saw of one service.
#[derive(Debug, Default, Clone)]
struct Seen {
    requests: u64,
    failed: u64,
    failures: Vec<String>,
    /// When the answering version changed, and to which.
    transitions: Vec<(Instant, String)>,
}

/// Requests to one address's `/version`, from `WORKERS` tasks, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(address: SocketAddr) -> Load {
        assert!(address.ip().is_loopback(), "load only on loopback");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let client: support::LoadClient = Client::builder(TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
        let tasks = (0..WORKERS)
            .map(|_| {
                let (stop, seen, client) = (Arc::clone(&stop), Arc::clone(&seen), client.clone());
                tokio::spawn(async move {
                    let uri: hyper::Uri = format!("http://{address}/version").parse().expect("uri");
                    while !stop.load(Ordering::Relaxed) {
                        // Any answer but a 200 is a failure, with or without
                        // windlass's release header (docker-compose has none).
                        let outcome = support::answer(&client, &uri).await.and_then(|a| {
                            if a.status == 200 {
                                Ok(a.body)
                            } else {
                                Err(format!("HTTP {}: {}", a.status, a.body))
                            }
                        });
                        let at = Instant::now();
                        {
                            let mut seen = seen.lock().expect("seen");
                            seen.requests += 1;
                            match outcome {
                                Ok(version) => {
                                    if seen.transitions.last().map(|(_, v)| v) != Some(&version) {
                                        seen.transitions.push((at, version));
                                    }
                                }
                                Err(e) => {
                                    seen.failed += 1;
                                    seen.failures.push(e);
                                }
                            }
                        }
                        tokio::time::sleep(PAUSE).await;
                    }
                })
            })
            .collect();
        Load { stop, seen, tasks }
    }

    fn seen(&self) -> Seen {
        self.seen.lock().expect("seen").clone()
    }

    /// When `version` first answered after `since`.
    fn first(&self, version: &str, since: Instant) -> Option<Instant> {
        self.seen()
            .transitions
            .iter()
            .find(|(at, v)| *at >= since && v == version)
            .map(|(at, _)| *at)
    }

    async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let seen = self.seen.lock().expect("seen").clone();
        seen
    }
}

/// One load per service.
struct Loads(Vec<Load>);

impl Loads {
    fn start(ports: &[u16]) -> Loads {
        Loads(
            ports
                .iter()
                .map(|p| Load::start(SocketAddr::from(([127, 0, 0, 1], *p))))
                .collect(),
        )
    }

    fn failed(&self) -> (u64, u64) {
        self.0
            .iter()
            .map(Load::seen)
            .fold((0, 0), |(r, f), s| (r + s.requests, f + s.failed))
    }

    /// Waits until every service answered with `version` after `since`;
    /// the time from `since` per service.
    async fn all_answer(&self, version: &str, since: Instant) -> Option<Vec<Duration>> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let firsts: Vec<Option<Instant>> =
                self.0.iter().map(|l| l.first(version, since)).collect();
            if firsts.iter().all(Option::is_some) {
                return Some(
                    firsts
                        .into_iter()
                        .flatten()
                        .map(|at| at.duration_since(since))
                        .collect(),
                );
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    async fn stop(self) -> Vec<Seen> {
        let mut all = Vec::new();
        for load in self.0 {
            all.push(load.stop().await);
        }
        all
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

/// Figures of one tool over the rounds.
#[derive(Default)]
struct Figures {
    update: Vec<f64>,
    update_failed: u64,
    rollback_first: Vec<f64>,
    rollback_all: Vec<f64>,
    rollback_failed: u64,
    requests: u64,
}

impl Figures {
    fn row(&self, tool: &str) {
        println!(
            "  {tool:<26} {:>8.0} {:>8.0} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>9}",
            quantile(&self.update, 0.5),
            quantile(&self.update, 0.9),
            self.update_failed,
            quantile(&self.rollback_first, 0.5),
            quantile(&self.rollback_first, 0.9),
            quantile(&self.rollback_all, 0.5),
            quantile(&self.rollback_all, 0.9),
            self.rollback_failed,
            self.requests
        );
    }
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
    for service in SERVICES {
        support::cleanup(&docker, service).await;
    }
    let dir = support::project("app-bench");
    docker
        .build_image(&BuildSpec {
            context: dir.join("app"),
            tag: IMAGE.into(),
            ..BuildSpec::default()
        })
        .await
        .expect("build the test image");
    println!(
        "app of {} HTTP services ({}), {ROUNDS} rounds of update v1 -> v2 and rollback to v1, load on every service ({WORKERS} clients each, {PAUSE:?} apart):",
        SERVICES.len(),
        SERVICES.join(", ")
    );
    let windlass = windlass_rounds(&dir).await;
    for service in SERVICES {
        support::cleanup(&docker, service).await;
    }
    let compose = compose_rounds(&dir).await;
    println!("\nmedian and p90 over {ROUNDS} rounds (ms; failed requests summed over all rounds):");
    println!(
        "  {:<26} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9}",
        "",
        "v2 p50",
        "v2 p90",
        "failed",
        "rb1 p50",
        "rb1 p90",
        "rball p50",
        "rball p90",
        "failed",
        "requests"
    );
    windlass.row("windlass deploy/rollback");
    match compose {
        Some(compose) => compose.row("docker-compose up -d"),
        None => println!("  docker-compose: not installed, no baseline"),
    }
    println!("  v2: from starting the update command to every service answering v2;");
    println!("  rb1: from starting the rollback command to the first request answered by v1 (each service);");
    println!(
        "  rball: ... until every service has answered by v1. Goals: 0 failed; rb1 p50 <= 20 ms."
    );
    let _ = docker.remove_image(IMAGE).await;
}

/// The bench's state folder with an agent (and the proxy daemon it starts).
struct Windlass {
    state: PathBuf,
    agent: Child,
}

impl Windlass {
    fn start(state: &Path) -> Windlass {
        let _ = std::fs::remove_dir_all(state);
        std::fs::create_dir_all(state).expect("state folder");
        let log = std::fs::File::create(state.join("agent.log")).expect("log");
        let agent = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(["agent", "--state"])
            .arg(state)
            // Each rollback's stages, printed to the agent's log.
            .env(windlass_deploy::timing::VARIABLE, "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the agent");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !state.join("agent.sock").exists() {
            assert!(Instant::now() < deadline, "the agent did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Windlass {
            state: state.to_owned(),
            agent,
        }
    }

    /// Runs `windlass ARGS --state STATE --json`; its exit status and stdout.
    fn run(&self, args: &[&str]) -> (bool, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(args)
            .arg("--state")
            .arg(&self.state)
            .arg("--json")
            .stderr(Stdio::null())
            .output()
            .expect("run windlass");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        )
    }

    /// Stops the agent and the proxy daemon it started (their own pids).
    fn stop(mut self) {
        let _ = self.agent.kill();
        let _ = self.agent.wait();
        if let Ok(pid) = std::fs::read_to_string(self.state.join("proxy.pid")) {
            if let Ok(pid) = pid.trim().parse::<u32>() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}

async fn windlass_rounds(dir: &Path) -> Figures {
    let ports: Vec<u16> = SERVICES.iter().map(|_| support::free_port()).collect();
    let file = dir.join("compose.yaml");
    let windlass = Windlass::start(&dir.join("state"));
    let deploy = |version: &str| {
        std::fs::write(&file, windlass_compose(&ports, version)).expect("compose file");
        windlass.run(&["deploy", "-f", file.to_str().expect("path")])
    };
    let (ok, out) = deploy("v1");
    assert!(ok, "the first deploy failed: {out}");
    let loads = Loads::start(&ports);
    assert!(
        loads.all_answer("v1", Instant::now()).await.is_some(),
        "v1 never answered"
    );
    println!(
        "\nwindlass (agent, proxy daemon and CLI as separate processes; SQLite synchronous=FULL):"
    );
    let mut figures = Figures::default();
    for round in 1..=ROUNDS {
        let version = format!("v2.{round}");
        let (_, failed_before) = loads.failed();
        let began = Instant::now();
        let (ok, out) = deploy(&version);
        let serving = loads.all_answer(&version, began).await;
        let (_, failed_after_update) = loads.failed();
        assert!(ok, "deploy {version} failed: {out}");
        let serving = serving.expect("v2 answered");
        let update = serving.iter().copied().max().unwrap_or_default();
        // Both releases run now: v1 is the warm standby.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let asked_unix = std::time::SystemTime::now();
        let asked = Instant::now();
        let (ok, out) = windlass.run(&["rollback", "--app", APP]);
        let command = asked.elapsed();
        let back = loads.all_answer("v1", asked).await;
        let (_, failed_after_rollback) = loads.failed();
        assert!(ok, "the rollback failed: {out}");
        let back = back.expect("v1 answered again");
        let first: Vec<f64> = back.iter().copied().map(ms).collect();
        let all = ms(back.iter().copied().max().unwrap_or_default());
        println!(
            "  round {round}: {version} serving on all after {:.0} ms (command {}), {} failed; rollback: v1 answered after {} ms (per service), all {all:.1} ms, command ended after {:.0} ms, {} failed; steps {}\n    agent's marks (ms from the command's start): {}",
            ms(update),
            if ok { "ok" } else { "failed" },
            failed_after_update - failed_before,
            first.iter().map(|m| format!("{m:.1}")).collect::<Vec<_>>().join("/"),
            ms(command),
            failed_after_rollback - failed_after_update,
            steps(&out),
            marks(&windlass.state, asked_unix),
        );
        figures.update.push(ms(update));
        figures.update_failed += failed_after_update - failed_before;
        figures.rollback_first.extend(first);
        figures.rollback_all.push(all);
        figures.rollback_failed += failed_after_rollback - failed_after_update;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = loads.stop().await;
    figures.requests = seen.iter().map(|s| s.requests).sum();
    for (service, seen) in SERVICES.iter().zip(&seen) {
        if let Some(failure) = seen.failures.first() {
            println!("  {service}: {} failed, first: {failure}", seen.failed);
        }
    }
    let (_, out) = windlass.run(&["down", "-f", file.to_str().expect("path")]);
    let _ = out;
    windlass.stop();
    figures
}

/// The last rollback's timing line in the agent's log, each stage's end
/// given from the command's start (`asked`): the first, `arrived`, is the
/// CLI's process start and its request.
fn marks(state: &Path, asked: std::time::SystemTime) -> String {
    let log = std::fs::read_to_string(state.join("agent.log")).unwrap_or_default();
    let Some(line) = log
        .lines()
        .rev()
        .find(|l| l.starts_with(windlass_deploy::timing::PREFIX))
    else {
        return "none in agent.log".into();
    };
    let asked = asked
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    let mut arrived = None;
    let mut stages = Vec::new();
    for field in line.split_whitespace() {
        let Some((key, value)) = field.split_once('=') else {
            continue;
        };
        if key == "arrived_unix_micros" {
            arrived = value
                .parse::<u128>()
                .ok()
                .map(|at| at.saturating_sub(asked) as f64 / 1000.0);
            stages.push(format!("arrived {:.1}", arrived.unwrap_or(f64::NAN)));
        } else if let (Some(base), Ok(ms)) = (arrived, value.parse::<f64>()) {
            stages.push(format!("{key} {:.1}", base + ms));
        }
    }
    stages.join(", ")
}

/// The step times of `windlass rollback --json`'s output, in a short form.
fn steps(json: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return "?".into();
    };
    let mut merged: BTreeMap<String, u64> = BTreeMap::new();
    let mut order = Vec::new();
    for step in value["steps"].as_array().into_iter().flatten() {
        let (Some(state), Some(millis)) = (step["state"].as_str(), step["millis"].as_u64()) else {
            continue;
        };
        if !merged.contains_key(state) {
            order.push(state.to_owned());
        }
        let entry = merged.entry(state.to_owned()).or_default();
        *entry = (*entry).max(millis);
    }
    order
        .iter()
        .map(|s| format!("{s} {}", merged[s]))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn compose_rounds(dir: &Path) -> Option<Figures> {
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_err()
    {
        return None;
    }
    let ports: Vec<u16> = SERVICES.iter().map(|_| support::free_port()).collect();
    let file = dir.join("baseline.yaml");
    let up = |version: &str| {
        std::fs::write(&file, compose_v1_file(&ports, version)).expect("compose file");
        Command::new("docker-compose")
            .arg("-p")
            .arg(APP)
            .arg("-f")
            .arg(&file)
            .args(["up", "-d"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("docker-compose")
            .success()
    };
    assert!(up("v1"), "docker-compose up -d of v1 failed");
    let loads = Loads::start(&ports);
    let ready = loads.all_answer("v1", Instant::now()).await;
    assert!(ready.is_some(), "the docker-compose app never answered");
    println!("\ndocker-compose (Compose v1, `up -d` recreating every changed container):");
    let mut figures = Figures::default();
    for round in 1..=ROUNDS {
        let version = format!("v2.{round}");
        let (_, failed_before) = loads.failed();
        let began = Instant::now();
        let ok = up(&version);
        let serving = loads.all_answer(&version, began).await;
        let (_, failed_after_update) = loads.failed();
        let update = serving
            .map(|s| s.into_iter().max().unwrap_or_default())
            .unwrap_or(Duration::MAX);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let asked = Instant::now();
        let back_ok = up("v1");
        let back = loads.all_answer("v1", asked).await.unwrap_or_default();
        let (_, failed_after_rollback) = loads.failed();
        let first: Vec<f64> = back.iter().copied().map(ms).collect();
        let all = ms(back.iter().copied().max().unwrap_or_default());
        println!(
            "  round {round}: {version} serving on all after {:.0} ms (up -d {}), {} failed; back to v1: v1 answered after {} ms (per service), all {all:.1} ms (up -d {}), {} failed",
            ms(update),
            if ok { "ok" } else { "failed" },
            failed_after_update - failed_before,
            first.iter().map(|m| format!("{m:.0}")).collect::<Vec<_>>().join("/"),
            if back_ok { "ok" } else { "failed" },
            failed_after_rollback - failed_after_update,
        );
        figures.update.push(ms(update));
        figures.update_failed += failed_after_update - failed_before;
        figures.rollback_first.extend(first);
        figures.rollback_all.push(all);
        figures.rollback_failed += failed_after_rollback - failed_after_update;
    }
    let seen = loads.stop().await;
    figures.requests = seen.iter().map(|s| s.requests).sum();
    for (service, seen) in SERVICES.iter().zip(&seen) {
        if let Some(failure) = seen.failures.first() {
            println!("  {service}: {} failed, first: {failure}", seen.failed);
        }
    }
    let _ = Command::new("docker-compose")
        .arg("-p")
        .arg(APP)
        .arg("-f")
        .arg(&file)
        .args(["down", "-t", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    Some(figures)
}
