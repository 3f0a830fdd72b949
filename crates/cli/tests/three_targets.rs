//! One Compose file, three targets (issue 25): the app a user writes (an
//! HTTP service built from a Dockerfile, with a health check, two
//! replicas and a port published on 127.0.0.1, and a worker that
//! `depends_on` it) goes through the same steps with the real `windlass`
//! binary on the local engine, on a three-node Swarm (`--target swarm`)
//! and on ECS (`--target ecs`, fakecloud):
//!
//! v1 serves; v2 serves; a v3 whose web service never passes its health
//! check is rolled back as a whole (exit 6, v2 still serving, the worker
//! left on v2); `windlass rollback` puts the app back on v1; `releases`
//! lists the three; `down` takes it away (nothing answers).
//!
//! The file is the same for the three (what ECS needs is in
//! `x-windlass.ecs`, which the other targets do not read). What ECS on
//! fakecloud needs beyond it is one override file, `compose.ecs.yaml`, for
//! web's published port, because of where the tasks run rather than of
//! the file: an ECS task's port has no host address (`host_ip` is
//! refused: the instance publishes it on its interfaces), and fakecloud
//! runs every task on this one machine in bridge mode, takes a host port of
//! 0 as the container's, and ignores stop-first, so two tasks (two
//! replicas, or the old and new revision during a rolling update) cannot
//! hold one host port. The override gives web one task
//! (`x-windlass.ecs.desiredCount: 1`) on a host port of the test's choosing
//! for each deploy (`ECS_WEB_PORT`); on AWS, `"8080"` (a host port ECS
//! picks per task) or `awsvpc` with a load balancer does it. The test finds
//! the port from the running tasks (DescribeTasks), then asks 127.0.0.1
//! only.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use support::swarm::{Shared, REGISTRY};

/// The Swarm of the file's one Swarm test.
static SWARM: Shared = Shared::new(1, 0);

/// The user's Compose file at `version`; `broken` gives web a health check
/// that never passes (the test app's probe fails from its start).
fn compose(version: &str, broken: bool) -> String {
    let broken = if broken {
        "\n      TESTAPP_UNHEALTHY_AFTER_MS: \"0\""
    } else {
        ""
    };
    format!(
        r#"name: wl3shop
services:
  web:
    build: ./app
    image: {REGISTRY}/wl3shop-web
    pull_policy: build
    ports: ["127.0.0.1:${{WEB_PORT:-8000}}:8080"]
    environment:
      TESTAPP_VERSION: web-{version}{broken}
    healthcheck: {{ test: ["CMD", "/app", "probe"], interval: 5s, timeout: 2s, retries: 2 }}
    init: true
    stop_grace_period: 2s
    deploy: {{ replicas: 2 }}
    x-windlass:
      watch: 2s
      ecs: {{ cluster: windlass, launchType: EC2, networkMode: bridge, pollSeconds: 1, maxPolls: 30 }}
  worker:
    build: ./app
    image: {REGISTRY}/wl3shop-worker
    pull_policy: build
    environment:
      TESTAPP_VERSION: worker-{version}
    depends_on:
      web: {{ condition: service_healthy }}
    init: true
    stop_grace_period: 2s
    x-windlass:
      watch: 2s
      ecs: {{ cluster: windlass, launchType: EC2, networkMode: bridge, pollSeconds: 1, maxPolls: 30 }}
"#
    )
}

/// The ECS override: the host port left to ECS.
const ECS_OVERRIDE: &str = "services:\n  web:\n    ports: !override [\"${ECS_WEB_PORT:-8080}:8080\"]\n    x-windlass:\n      ecs: { desiredCount: 1 }\n";

/// How one target is driven and asked what it serves.
struct Target {
    name: &'static str,
    dir: PathBuf,
    /// Arguments after the command (`--target`, `-f`).
    args: Vec<String>,
    /// Arguments after `rollback` (which takes no files here).
    rollback: Vec<String>,
    env: Vec<(String, String)>,
    /// An environment variable given a new free port for each deploy.
    fresh_port: Option<&'static str>,
}

impl Target {
    fn windlass(&self, command: &[&str]) -> Output {
        let mut run = Command::new(env!("CARGO_BIN_EXE_windlass"));
        run.args(command)
            .current_dir(&self.dir)
            .env("WINDLASS_STATE", self.dir.join("state"))
            .env_remove("COMPOSE_FILE")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null());
        let output = run.output().expect("windlass runs");
        eprintln!(
            "[{}] $ windlass {}: {}\n{}{}",
            self.name,
            command.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `windlass COMMAND` with the target's arguments.
    fn command(&self, command: &[&str]) -> Output {
        let mut all: Vec<&str> = command.to_vec();
        all.extend(self.args.iter().map(String::as_str));
        self.windlass(&all)
    }

    fn deploy(&mut self, version: &str, broken: bool) -> Output {
        std::fs::write(self.dir.join("compose.yaml"), compose(version, broken)).expect("compose");
        if let Some(name) = self.fresh_port {
            self.env.retain(|(k, _)| k != name);
            self.env
                .push((name.into(), support::free_port().to_string()));
        }
        self.command(&["deploy"])
    }
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A GET of `/version` on 127.0.0.1:`port`: the body of a 200.
async fn version(port: u16) -> Result<String, String> {
    let client: support::LoadClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let uri: hyper::Uri = format!("http://127.0.0.1:{port}/version")
        .parse()
        .expect("uri");
    match support::answer(&client, &uri).await {
        Ok(answer) if answer.status == 200 => Ok(answer.body.trim().to_owned()),
        Ok(answer) => Err(format!("status {}", answer.status)),
        Err(e) => Err(e),
    }
}

/// Waits up to 60 s until every one of `ports` answers `wanted`: what a
/// finished deploy serves (ECS's old tasks drain after it returns).
async fn serves(ports: impl Fn() -> BoxPorts, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut seen = BTreeSet::new();
        let listed = ports().await;
        for port in &listed {
            seen.insert(version(*port).await.unwrap_or_else(|e| e));
        }
        if !listed.is_empty() && seen.len() == 1 && seen.contains(wanted) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{wanted} was not all that answered on {listed:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

type BoxPorts = std::pin::Pin<Box<dyn std::future::Future<Output = Vec<u16>> + Send>>;

/// The scenario, the same on every target; `ports` lists the loopback
/// ports that reach the web service.
async fn scenario(target: &mut Target, ports: impl Fn() -> BoxPorts + Copy) {
    let began = Instant::now();
    let v1 = target.deploy("v1", false);
    assert_eq!(code(&v1), Some(0), "{}", said(&v1));
    serves(ports, "web-v1").await;

    let v2 = target.deploy("v2", false);
    assert_eq!(code(&v2), Some(0), "{}", said(&v2));
    serves(ports, "web-v2").await;

    let v3 = target.deploy("v3", true);
    assert_eq!(code(&v3), Some(6), "rolled back: {}", said(&v3));
    serves(ports, "web-v2").await;

    let mut rollback = vec!["rollback"];
    rollback.extend(target.rollback.iter().map(String::as_str));
    let back = target.windlass(&rollback);
    assert_eq!(code(&back), Some(0), "{}", said(&back));
    serves(ports, "web-v1").await;

    for service in ["web", "worker"] {
        let listed = target.windlass(&["releases", service, "--json"]);
        assert_eq!(code(&listed), Some(0), "{}", said(&listed));
        let rows: Json = serde_json::from_slice(&listed.stdout).expect("JSON");
        let live: Vec<&Json> = rows
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["live"] == true)
            .collect();
        assert_eq!(live.len(), 1, "{service}: one live release: {rows}");
        assert_eq!(live[0]["id"], "r1", "{service} is back on v1: {rows}");
        let ids: Vec<&str> = rows
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|r| r["id"].as_str())
            .collect();
        assert!(ids.contains(&"r2"), "{service}: {rows}");
        // web's v3 is listed and not live; the worker's, where the target
        // started it beside web's (local, Swarm), is rolled back with it;
        // ECS deploys the worker after web went live, so it never started.
        let r3 = rows
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["id"] == "r3");
        match r3 {
            Some(r3) => assert_ne!(r3["outcome"], json!("live"), "{rows}"),
            None => assert_eq!(service, "worker", "web r3 is listed: {rows}"),
        }
    }

    let serving = ports().await;
    let down = target.command(&["down"]);
    assert_eq!(code(&down), Some(0), "{}", said(&down));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut answered = Vec::new();
        for port in serving.iter().copied() {
            if let Ok(v) = version(port).await {
                answered.push((port, v));
            }
        }
        if answered.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still answering after down: {answered:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "[{}] the scenario took {:.1} s",
        target.name,
        began.elapsed().as_secs_f64()
    );
}

/// The project folder: the test app's build context (with a shell, which
/// fakecloud's health checks run through) and the ECS override.
fn project(case: &str) -> PathBuf {
    let dir = support::ecs::with_shell(support::project(case));
    std::fs::write(dir.join("compose.ecs.yaml"), ECS_OVERRIDE).expect("override");
    dir
}

/// The local agent of a state folder and the proxy it started, stopped at
/// the end of the test (also when an assertion fails).
struct Agent {
    child: std::process::Child,
    state: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        support::stop_proxy(&self.state);
    }
}

fn fixed(ports: Vec<u16>) -> impl Fn() -> BoxPorts + Copy {
    let ports: &'static [u16] = Box::leak(ports.into_boxed_slice());
    move || -> BoxPorts { Box::pin(async move { ports.to_vec() }) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_local_engine() {
    let dir = project("three-targets-local");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state");
    let _agent = Agent {
        child: support::agent_process(Path::new(env!("CARGO_BIN_EXE_windlass")), &state),
        state: state.clone(),
    };
    let port = support::free_port();
    let mut target = Target {
        name: "local",
        dir,
        args: Vec::new(),
        rollback: Vec::new(),
        env: vec![("WEB_PORT".into(), port.to_string())],
        fresh_port: None,
    };
    scenario(&mut target, fixed(vec![port])).await;
    let docker = windlass_deploy::backend::docker::Docker::connect()
        .await
        .expect("docker");
    support::cleanup_apps(&docker, &["wl3shop"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_three_node_swarm() {
    let turn = SWARM.turn().await;
    let (swarm, entry) = (turn.swarm, turn.entry);
    let mut target = Target {
        name: "swarm",
        dir: project("three-targets-swarm"),
        args: vec!["--target".into(), "swarm".into()],
        rollback: vec!["--target".into(), "swarm".into()],
        env: vec![
            ("DOCKER_HOST".into(), swarm.docker_host().into()),
            ("WINDLASS_SWARM_ENTRY_IMAGE".into(), entry.into()),
        ],
        fresh_port: None,
    };
    // Port 8000 of every manager, each published on 127.0.0.1.
    let ports = swarm.managers().map(|n| n.app_ports[0]).collect();
    scenario(&mut target, fixed(ports)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_ecs() {
    let cloud = support::ecs::Cloud::start().await;
    let endpoint = cloud.endpoint();
    let mut target = Target {
        name: "ecs",
        dir: project("three-targets-ecs"),
        args: [
            "--target",
            "ecs",
            "-f",
            "compose.yaml",
            "-f",
            "compose.ecs.yaml",
        ]
        .map(String::from)
        .to_vec(),
        rollback: vec!["--target".into(), "ecs".into()],
        env: [
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec(),
        fresh_port: Some("ECS_WEB_PORT"),
    };
    let client: &'static windlass_aws::Client = Box::leak(Box::new(cloud.client.clone()));
    let ports = move || -> BoxPorts { Box::pin(task_ports(client)) };
    scenario(&mut target, ports).await;
}

/// The loopback ports of the RUNNING tasks of ECS service `web`.
async fn task_ports(client: &windlass_aws::Client) -> Vec<u16> {
    let ecs = windlass_aws::model::Model::of(windlass_aws::Service::named("ecs").expect("ecs"))
        .expect("model");
    let listed = client
        .call(
            &ecs,
            "listTasks",
            &json!({ "Cluster": support::ecs::CLUSTER, "ServiceName": "web", "DesiredStatus": "RUNNING" }),
            None,
        )
        .await
        .expect("listTasks");
    let arns = listed["TaskArns"].clone();
    if arns.as_array().is_none_or(Vec::is_empty) {
        return Vec::new();
    }
    let tasks = client
        .call(
            &ecs,
            "describeTasks",
            &json!({ "Cluster": support::ecs::CLUSTER, "Tasks": arns }),
            None,
        )
        .await
        .expect("describeTasks");
    tasks["Tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["LastStatus"] == "RUNNING")
        .filter_map(|t| t["Containers"][0]["NetworkBindings"][0]["HostPort"].as_u64())
        .filter_map(|p| u16::try_from(p).ok())
        .collect()
}
