//! A fixed address on a network (`networks.NAME.ipv4_address`) on the real
//! engine: the live container holds it on that network through a deploy of
//! a new version (stop-first, as the plan says, since two containers cannot
//! hold one address) and a rollback, while the proxy on 127.0.0.1 serves
//! each version. The address is only read back (`docker inspect`), never
//! sent traffic.

mod support;

use std::path::Path;
use std::process::Command;

use windlass_deploy::agent::{Agent, DeployRequest};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RunState, RELEASE_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_engine::Status;

const SERVICE: &str = "wlfixed";
/// The app: the project folder's name.
const APP: &str = "project-fixed-address";
const ADDRESS: &str = "10.213.78.10";

fn compose(port: u16, version: &str) -> String {
    format!(
        "services:\n  {SERVICE}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n    networks:\n      back:\n        ipv4_address: {ADDRESS}\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 0s\nnetworks:\n  back:\n    ipam:\n      config: [{{subnet: 10.213.78.0/24}}]\n"
    )
}

/// The address of release `release`'s running container on the app's
/// `back` network.
async fn address_of(docker: &Docker, release: &str) -> String {
    let labels = [
        (SERVICE_LABEL.to_owned(), SERVICE.to_owned()),
        (RELEASE_LABEL.to_owned(), release.to_owned()),
    ]
    .into();
    let containers = docker.list_containers(&labels).await.expect("containers");
    let running: Vec<_> = containers
        .iter()
        .filter(|c| c.state == RunState::Running)
        .collect();
    assert_eq!(running.len(), 1, "{release} runs alone: {containers:?}");
    let format = format!("{{{{(index .NetworkSettings.Networks \"{APP}_back\").IPAddress}}}}");
    let out = Command::new("docker")
        .args(["inspect", "-f", &format, &running[0].id])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn version(port: u16) -> String {
    let client: support::LoadClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let uri = format!("http://127.0.0.1:{port}/version")
        .parse()
        .expect("uri");
    support::answer(&client, &uri)
        .await
        .expect("an answer")
        .body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_address_moves_to_each_live_release() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("fixed-address");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let (agent, _) = support::agent(&docker).await;
    let result = scenario(&agent, &docker, &file, port).await;
    support::cleanup(&docker, SERVICE).await;
    let _ = Command::new("docker")
        .args(["network", "rm", &format!("{APP}_back")])
        .output();
    result.expect("scenario");
}

async fn scenario(agent: &Agent, docker: &Docker, file: &Path, port: u16) -> Result<(), String> {
    let plan = agent
        .plan(DeployRequest {
            compose_file: file.display().to_string(),
            compose_text: compose(port, "v1"),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(plan.services[0].strategy, "stop-first", "{plan:?}");
    assert!(plan.services[0].why.contains("fixed address"), "{plan:?}");

    let (_, finished) = support::deploy(agent, file, SERVICE, compose(port, "v1")).await;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(address_of(docker, "r1").await, ADDRESS);
    assert_eq!(version(port).await, "v1");

    // The new release takes the address once the old one has stopped.
    let (_, finished) = support::deploy(agent, file, SERVICE, compose(port, "v2")).await;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(address_of(docker, "r2").await, ADDRESS);
    assert_eq!(version(port).await, "v2");

    // And a rollback gives it back to r1.
    let (_, finished) = support::rollback(agent, SERVICE, "r1").await?;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(address_of(docker, "r1").await, ADDRESS);
    assert_eq!(version(port).await, "v1");
    Ok(())
}
