//! `ipc: service:NAME` and `pid: service:NAME` on the real engine: the
//! dependent service's container shares the IPC and PID namespaces of the
//! container of NAME's release that runs, and when only NAME gets a new
//! release the dependent is deployed again into the new container's
//! namespaces, as Compose recreates it. (Since Docker 20.10 a container's
//! IPC namespace is private unless it says `ipc: shareable`, so NAME does.)

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use windlass_deploy::agent::{Agent, DeployRequest};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RunState, RELEASE_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_engine::Status;

const HOST: &str = "wlnshost";
const GUEST: &str = "wlnsguest";

fn compose(port: u16, host_version: &str) -> String {
    format!(
        r#"services:
  {HOST}:
    build: ./app
    ports: ["127.0.0.1:{port}:8080"]
    init: true
    stop_grace_period: 1s
    ipc: shareable
    environment: {{TESTAPP_VERSION: "{host_version}"}}
    x-windlass:
      health: {{http: /health, interval: 50ms, start_timeout: 4s}}
      watch: 0s
  {GUEST}:
    build: ./app
    init: true
    stop_grace_period: 1s
    ipc: "service:{HOST}"
    pid: "service:{HOST}"
    environment: {{TESTAPP_VERSION: "g1", TESTAPP_PORT: "8081"}}
    x-windlass: {{watch: 0s}}
"#
    )
}

async fn deploy(agent: &Agent, file: &Path, text: String) -> Vec<(String, Status)> {
    std::fs::write(file, &text).expect("compose file");
    let started = agent
        .deploy(DeployRequest {
            compose_file: file.display().to_string(),
            compose_text: text,
            by: "test@shared-namespaces".into(),
            ..Default::default()
        })
        .await
        .expect("deploy starts");
    let mut statuses = Vec::new();
    for one in started.iter().filter(|s| !s.unchanged) {
        let finished = agent.runtime().wait(&one.execution).await.expect("ends");
        statuses.push((one.service.clone(), finished.status));
    }
    statuses
}

/// The running container of `service` (of its release `release` when
/// given: the host's previous release stays warm): its id and release.
async fn running(docker: &Docker, service: &str, release: Option<&str>) -> (String, String) {
    let mut labels = BTreeMap::from([(SERVICE_LABEL.to_owned(), service.to_owned())]);
    if let Some(release) = release {
        labels.insert(RELEASE_LABEL.to_owned(), release.to_owned());
    }
    let running: Vec<_> = docker
        .list_containers(&labels)
        .await
        .expect("containers")
        .into_iter()
        .filter(|c| c.state == RunState::Running)
        .collect();
    assert_eq!(running.len(), 1, "{service}: {running:?}");
    let release = running[0]
        .labels
        .get(RELEASE_LABEL)
        .cloned()
        .unwrap_or_default();
    (running[0].id.clone(), release)
}

/// The guest's IPC and PID modes as the engine shows them.
async fn modes(raw: &bollard::Docker, id: &str) -> (Option<String>, Option<String>) {
    let inspected = raw
        .inspect_container(id, None)
        .await
        .expect("inspect the guest");
    let host = inspected.host_config.expect("a host config");
    (host.ipc_mode, host.pid_mode)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_shares_the_ipc_and_pid_namespaces_of_the_release_that_runs() {
    let docker = Docker::connect().await.expect("Docker engine");
    let raw = bollard::Docker::connect_with_local_defaults()
        .expect("socket")
        .negotiate_version()
        .await
        .expect("version");
    for service in [HOST, GUEST] {
        support::cleanup(&docker, service).await;
    }
    let dir = support::project("shared-namespaces");
    let (agent, _) = support::agent(&docker).await;
    let result = scenario(&agent, &docker, &raw, &dir.join("compose.yaml")).await;
    for service in [HOST, GUEST] {
        support::cleanup(&docker, service).await;
    }
    let _ = docker
        .remove_network("project-shared-namespaces_default")
        .await;
    result.expect("scenario");
}

async fn scenario(
    agent: &Agent,
    docker: &Docker,
    raw: &bollard::Docker,
    file: &Path,
) -> Result<(), String> {
    let port = support::free_port();
    let statuses = deploy(agent, file, compose(port, "h1")).await;
    assert!(
        statuses.iter().all(|(_, s)| *s == Status::Succeeded) && statuses.len() == 2,
        "{statuses:?}"
    );
    let (host, _) = running(docker, HOST, None).await;
    let (guest, release) = running(docker, GUEST, None).await;
    assert_eq!(release, "r1");
    let shared = format!("container:{host}");
    assert_eq!(
        modes(raw, &guest).await,
        (Some(shared.clone()), Some(shared))
    );

    // Only the host changes: the guest is deployed again with it, into the
    // namespaces of the host's new container.
    let statuses = deploy(agent, file, compose(port, "h2")).await;
    assert!(
        statuses.iter().all(|(_, s)| *s == Status::Succeeded) && statuses.len() == 2,
        "{statuses:?}"
    );
    let (host, _) = running(docker, HOST, Some("r2")).await;
    let (guest, release) = running(docker, GUEST, None).await;
    assert_eq!(release, "r2", "the guest is deployed again");
    let shared = format!("container:{host}");
    assert_eq!(
        modes(raw, &guest).await,
        (Some(shared.clone()), Some(shared))
    );
    Ok(())
}
