//! Shared by the deploy tests on the real engine: the static test app in a
//! `FROM scratch` build context, Compose files for it, and a load generator
//! that sends requests through windlass's proxy on 127.0.0.1 only.

#![allow(dead_code)]

pub mod ecs;
#[path = "../../../aws/tests/support/fakecloud.rs"]
pub mod fakecloud;
pub mod swarm;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{APP_LABEL, INSTALLATION_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;

/// Builds the test app with a static C runtime, in a target folder of its
/// own so that the usual builds keep their cache.
pub fn static_testapp() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("static-testapp");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "windlass-testapp",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo");
    assert!(status.success(), "building the static testapp failed");
    target.join("x86_64-unknown-linux-gnu/release/windlass-testapp")
}

/// A folder with a build context (`app/`) for the test app; Compose files
/// are written next to it.
pub fn project(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("project-{case}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("app")).expect("project folder");
    std::fs::copy(static_testapp(), dir.join("app/testapp")).expect("copy testapp");
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM scratch\nCOPY testapp /app\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n",
    )
    .expect("Dockerfile");
    dir
}

/// An agent on the real engine with an in-memory store and releases,
/// resumed and ready to deploy.
pub async fn agent(
    docker: &Docker,
) -> (
    windlass_deploy::agent::Agent,
    Arc<dyn windlass_store::Store>,
) {
    let store: Arc<dyn windlass_store::Store> =
        Arc::new(windlass_store::memory::MemoryStore::new());
    let agent = windlass_deploy::agent::Agent::new(
        Arc::clone(&store),
        Arc::new(windlass_store::releases::SqliteReleases::in_memory().expect("releases")),
        // As the agent's process does: glances read the live view.
        Arc::new(docker.clone().watching()),
        windlass_deploy::workflow::Config::default(),
    );
    agent.resume().await.expect("resume");
    (agent, store)
}

/// Writes `text` to `file`, deploys `service` from it and waits for the
/// deploy to end.
pub async fn deploy(
    agent: &windlass_deploy::agent::Agent,
    file: &Path,
    service: &str,
    text: String,
) -> (windlass_deploy::agent::Started, windlass_runtime::Finished) {
    std::fs::write(file, &text).expect("compose file");
    let started = agent
        .deploy(windlass_deploy::agent::DeployRequest {
            compose_file: file.display().to_string(),
            compose_text: text,
            services: vec![service.into()],
            by: "test".into(),
            definition: None,
            ..Default::default()
        })
        .await
        .expect("deploy starts")
        .remove(0);
    let finished = agent
        .runtime()
        .wait(&started.execution)
        .await
        .expect("deploy ends");
    (started, finished)
}

/// Rolls `service` back to `release` and waits for the rollback to end.
pub async fn rollback(
    agent: &windlass_deploy::agent::Agent,
    service: &str,
    release: &str,
) -> Result<(windlass_deploy::agent::Started, windlass_runtime::Finished), String> {
    let started = agent
        .rollback(windlass_deploy::agent::RollbackRequest {
            service: Some(service.into()),
            app: None,
            here: None,
            release: Some(release.into()),
            by: "test".into(),
        })
        .await
        .map_err(|e| e.to_string())?
        .remove(0);
    let finished = agent
        .runtime()
        .wait(&started.execution)
        .await
        .map_err(|e| e.to_string())?;
    Ok((started, finished))
}

/// Writes `text` to `file`, deploys the whole app from it (one execution),
/// waits for it to end and for its waiter to settle `services`.
pub async fn deploy_app(
    agent: &windlass_deploy::agent::Agent,
    file: &Path,
    text: String,
    services: &[&str],
) -> (
    Vec<windlass_deploy::agent::Started>,
    windlass_engine::Status,
) {
    std::fs::write(file, &text).expect("compose file");
    let started = agent
        .deploy(windlass_deploy::agent::DeployRequest {
            compose_file: file.display().to_string(),
            compose_text: text,
            services: Vec::new(),
            by: "test".into(),
            definition: None,
            ..Default::default()
        })
        .await
        .expect("deploy starts");
    // Unchanged services have no execution; when every one is, nothing ran.
    let Some(deployed) = started.iter().find(|s| !s.unchanged) else {
        return (started, windlass_engine::Status::Succeeded);
    };
    let finished = agent
        .runtime()
        .wait(&deployed.execution)
        .await
        .expect("ends");
    settled(agent, services).await;
    (started, finished.status)
}

/// Waits (at most 5 s) until the execution's waiter has recorded the
/// outcomes and freed the locks of `services`, which it does just after the
/// execution ends.
pub async fn settled(agent: &windlass_deploy::agent::Agent, services: &[&str]) {
    for _ in 0..500 {
        let free = services.iter().all(|s| {
            let key = agent.resolve(None, s).expect("one app has the service");
            agent.releases().lock_of(&key).expect("lock").is_none()
        });
        if free {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the locks of {services:?} were not freed within 5 s");
}

/// Starts `windlass agent` (the binary at `windlass`: the CLI's tests have
/// it) on state folder `state`, its log in `agent.log` there, and waits
/// until it serves on its socket.
pub fn agent_process(windlass: &Path, state: &Path) -> std::process::Child {
    agent_process_with_env(windlass, state, &[])
}

/// [`agent_process`] with `env` added to the agent's environment (an AWS
/// endpoint, say).
pub fn agent_process_with_env(
    windlass: &Path,
    state: &Path,
    env: &[(&str, &str)],
) -> std::process::Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.join("agent.log"))
        .expect("log");
    let _ = std::fs::remove_file(state.join("agent.sock"));
    let child = Command::new(windlass)
        .args(["agent", "--state"])
        .arg(state)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the agent");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !state.join("agent.sock").exists() {
        assert!(Instant::now() < deadline, "the agent did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Stops the `windlass proxy` the agent of `state` started.
pub fn stop_proxy(state: &Path) {
    if let Ok(pid) = std::fs::read_to_string(state.join("proxy.pid")) {
        let _ = Command::new("kill")
            .arg(pid.trim())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A free port on 127.0.0.1 for the proxy.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// A Compose file for service `service` of the test app, served by the
/// proxy on 127.0.0.1:`port`, with the test app's environment `env`.
pub fn compose(service: &str, port: u16, env: &[(&str, &str)], watch: &str) -> String {
    let env: String = env
        .iter()
        .map(|(k, v)| format!("      {k}: \"{v}\"\n"))
        .collect();
    format!(
        "services:\n  {service}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 2s\n    environment:\n{env}    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: {watch}\n      rollback_on: {{server_error_ratio: 0.1, failed_health_checks: 3}}\n"
    )
}

/// Removes every container and release image of `service`.
pub async fn cleanup(docker: &Docker, service: &str) {
    let labels = BTreeMap::from([(SERVICE_LABEL.to_owned(), service.to_owned())]);
    let mut installations = std::collections::BTreeSet::new();
    if let Ok(containers) = docker.list_containers(&labels).await {
        for container in containers {
            let _ = docker.remove_container(&container.id).await;
            installations.extend(container.labels.get(INSTALLATION_LABEL).cloned());
        }
    }
    // The app networks those installations made (each test's state folder
    // is a new installation, and its app a new name): left behind, they
    // use up the engine's ~30 address pools within one run. A network
    // still in use (another service of the app not yet cleaned) is kept
    // by the engine and removed by that service's cleanup.
    for installation in installations {
        remove_networks_of(&installation);
    }
    // Release images are `windlass/INSTALLATION/APP/SERVICE:rN`: every
    // test agent's store is a new installation.
    for image in release_images(service) {
        let _ = docker.remove_image(&image).await;
    }
}

/// Removes what apps `apps` left on the engine: their containers, their
/// release images (`windlass/INSTALLATION/APP/SERVICE:rN`) and their
/// networks, found by the labels windlass puts on them.
pub async fn cleanup_apps(docker: &Docker, apps: &[&str]) {
    for app in apps {
        let labels = BTreeMap::from([(APP_LABEL.to_owned(), (*app).to_owned())]);
        for container in docker.list_containers(&labels).await.unwrap_or_default() {
            let _ = docker.remove_container(&container.id).await;
        }
        let listed = |args: &[&str]| -> Vec<String> {
            Command::new("docker")
                .args(args)
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        for image in listed(&[
            "image",
            "ls",
            "--filter",
            &format!("reference=windlass/*/{app}/*"),
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ]) {
            let _ = docker.remove_image(&image).await;
        }
        for network in listed(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("label={APP_LABEL}={app}"),
        ]) {
            let _ = Command::new("docker")
                .args(["network", "rm", &network])
                .stderr(std::process::Stdio::null())
                .output();
        }
    }
}

/// Removes the app networks `installation` made that no container uses.
pub fn remove_networks_of(installation: &str) {
    let listed = Command::new("docker")
        .args(["network", "ls", "-q", "--filter"])
        .arg(format!("label={INSTALLATION_LABEL}={installation}"))
        .output();
    let Ok(listed) = listed else { return };
    for id in String::from_utf8_lossy(&listed.stdout).split_whitespace() {
        let _ = Command::new("docker")
            .args(["network", "rm", id])
            .stderr(std::process::Stdio::null())
            .output();
    }
}

/// The release images of `service` of any app and installation on the
/// engine (`docker image ls`), as `repo:tag`.
pub fn release_images(service: &str) -> Vec<String> {
    let output = Command::new("docker")
        .args([
            "image",
            "ls",
            "--filter",
            &format!("reference=windlass/*/*/{service}"),
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ])
        .output();
    match output {
        Ok(output) => String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// What the load generator saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub requests: u64,
    /// Answers the application gave with a 5xx (they carry the release header).
    pub app_errors: u64,
    /// Requests that failed because of windlass: no connection, no answer,
    /// or an answer the proxy made itself (502/503/504 without a release).
    pub failed: u64,
    pub failures: Vec<String>,
    /// Requests per release header.
    pub by_release: BTreeMap<String, u64>,
    /// When the answering release changed, and to which.
    pub transitions: Vec<(Instant, String)>,
}

/// One answer of a load generator's request.
pub struct Answer {
    pub status: u16,
    /// The proxy's release header, when the answer has one.
    pub release: Option<String>,
    /// The body, trimmed.
    pub body: String,
}

/// A load generator's HTTP client.
pub type LoadClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

/// One GET of `uri` with a 5 s limit; a failure says what went wrong.
pub async fn answer(client: &LoadClient, uri: &hyper::Uri) -> Result<Answer, String> {
    tokio::time::timeout(Duration::from_secs(5), async {
        let response = client
            .get(uri.clone())
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let release = response
            .headers()
            .get(windlass_proxy::RELEASE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(Answer {
            status,
            release,
            body: String::from_utf8_lossy(&body).trim().to_owned(),
        })
    })
    .await
    .unwrap_or_else(|_| Err("no answer within 5 s".into()))
}

/// Sends requests to `address` from `workers` tasks until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub fn start(address: SocketAddr, workers: usize) -> Load {
        assert!(address.ip().is_loopback(), "load only on loopback");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let client: LoadClient = Client::builder(TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
        let tasks = (0..workers)
            .map(|_| {
                let stop = Arc::clone(&stop);
                let seen = Arc::clone(&seen);
                let client = client.clone();
                tokio::spawn(async move {
                    let uri: hyper::Uri = format!("http://{address}/version").parse().expect("uri");
                    while !stop.load(Ordering::Relaxed) {
                        let outcome = answer(&client, &uri).await.map(|a| (a.status, a.release));
                        let at = Instant::now();
                        let mut seen = seen.lock().expect("seen");
                        seen.requests += 1;
                        match outcome {
                            Ok((status, Some(release))) => {
                                if status >= 500 {
                                    seen.app_errors += 1;
                                }
                                *seen.by_release.entry(release.clone()).or_default() += 1;
                                if seen.transitions.last().map(|(_, r)| r) != Some(&release) {
                                    seen.transitions.push((at, release));
                                }
                            }
                            Ok((status, None)) => {
                                seen.failed += 1;
                                seen.failures
                                    .push(format!("the proxy answered {status} itself"));
                            }
                            Err(e) => {
                                seen.failed += 1;
                                seen.failures.push(e);
                            }
                        }
                    }
                })
            })
            .collect();
        Load { stop, seen, tasks }
    }
}

impl Load {
    /// What was seen so far.
    pub fn seen(&self) -> Seen {
        self.seen.lock().expect("seen").clone()
    }

    /// Waits until `release` answers a request after `since`; returns when.
    pub async fn answer_from(
        &self,
        release: &str,
        since: Instant,
        within: Duration,
    ) -> Option<Instant> {
        let deadline = Instant::now() + within;
        loop {
            let seen = self.seen();
            if let Some((at, _)) = seen
                .transitions
                .iter()
                .find(|(at, r)| *at >= since && r == release)
            {
                return Some(*at);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let seen = self.seen.lock().expect("seen").clone();
        seen
    }
}
