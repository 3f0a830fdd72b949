//! A Compose app with a service that publishes no port (a worker): deployed
//! with the web service in one request, told healthy by its Docker
//! healthcheck or by staying up, never given a proxy; a new release replaces
//! the old one (two workers never run side by side), a crashing one is
//! rolled back, and `rollback` starts the previous release again.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use windlass_deploy::agent::{Agent, DeployRequest};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RunState, RELEASE_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_engine::Status;

const WEB: &str = "wlnpweb";
const WORKER: &str = "wlnpworker";
const PLAIN: &str = "wlnpplain";

fn compose(port: u16, version: &str, crash: bool) -> String {
    let crash = if crash {
        "      TESTAPP_CRASH_AT_START: \"4\"\n"
    } else {
        ""
    };
    format!(
        "services:\n  {WEB}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 0s\n  {WORKER}:\n    build: ./app\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n{crash}    healthcheck:\n      test: [\"CMD\", \"/app\", \"probe\"]\n      interval: 1s\n      start_period: 5s\n    x-windlass:\n      watch: 1s\n  {PLAIN}:\n    build: ./app\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n{crash}    x-windlass:\n      watch: 0s\n"
    )
}

async fn running(docker: &Docker, service: &str) -> BTreeMap<String, usize> {
    let labels = BTreeMap::from([(SERVICE_LABEL.to_owned(), service.to_owned())]);
    let mut by_release = BTreeMap::new();
    for c in docker.list_containers(&labels).await.expect("containers") {
        if c.state == RunState::Running {
            let release = c.labels.get(RELEASE_LABEL).cloned().unwrap_or_default();
            *by_release.entry(release).or_insert(0) += 1;
        }
    }
    by_release
}

async fn deploy_all(agent: &Agent, file: &Path, text: &str, services: &[&str]) -> Vec<Status> {
    std::fs::write(file, text).expect("compose file");
    let started = agent
        .deploy(DeployRequest {
            compose_file: file.display().to_string(),
            compose_text: text.to_owned(),
            services: services.iter().map(|s| (*s).to_owned()).collect(),
            by: "test@no-proxy".into(),
            definition: None,
            ..Default::default()
        })
        .await
        .expect("deploy starts");
    let mut statuses = Vec::new();
    for one in started {
        let finished = agent.runtime().wait(&one.execution).await.expect("ends");
        statuses.push(finished.status);
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_without_a_port_deploy_replace_and_roll_back_without_a_proxy() {
    let docker = Docker::connect().await.expect("Docker engine");
    for service in [WEB, WORKER, PLAIN] {
        support::cleanup(&docker, service).await;
    }
    let dir = support::project("no-proxy");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let (agent, _) = support::agent(&docker).await;
    let result = scenario(&agent, &docker, &file, port).await;
    for service in [WEB, WORKER, PLAIN] {
        support::cleanup(&docker, service).await;
    }
    result.expect("scenario");
}

async fn scenario(agent: &Agent, docker: &Docker, file: &Path, port: u16) -> Result<(), String> {
    // Every service of the file in one request.
    let statuses = deploy_all(agent, file, &compose(port, "w1", false), &[]).await;
    assert_eq!(statuses, [Status::Succeeded; 3], "v1");
    assert!(
        !agent
            .proxies()
            .has(&agent.resolve(None, WORKER).expect("one app has it"))
            .await
            .expect("proxies"),
        "no proxy for a worker"
    );
    let live = |service: &str| {
        agent
            .releases()
            .live(&agent.resolve(None, service).expect("one app has it"))
            .map_err(|e| e.to_string())
            .map(|l| l.map(|l| (l.release, l.address)))
    };
    assert_eq!(live(WORKER)?, Some(("r1".into(), String::new())));

    // A new release replaces the old: one worker release runs at a time.
    let statuses = deploy_all(agent, file, &compose(port, "w2", false), &[WORKER, PLAIN]).await;
    assert_eq!(statuses, [Status::Succeeded; 2], "v2");
    for service in [WORKER, PLAIN] {
        assert_eq!(
            running(docker, service).await,
            BTreeMap::from([("r2".into(), 1)]),
            "{service}"
        );
    }

    // A release that crashes at start is rolled back: r2 runs again.
    let statuses = deploy_all(agent, file, &compose(port, "w3", true), &[WORKER, PLAIN]).await;
    assert_eq!(statuses, [Status::Failed; 2], "v3");
    for service in [WORKER, PLAIN] {
        assert_eq!(
            live(service)?.map(|l| l.0).as_deref(),
            Some("r2"),
            "{service}"
        );
        assert_eq!(
            running(docker, service).await,
            BTreeMap::from([("r2".into(), 1)]),
            "{service}"
        );
    }

    // An explicit rollback starts r1 again from its image, and stops r2.
    let (_, finished) = support::rollback(agent, WORKER, "r1").await?;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(live(WORKER)?.map(|l| l.0).as_deref(), Some("r1"));
    assert_eq!(
        running(docker, WORKER).await,
        BTreeMap::from([("r1".into(), 1)])
    );
    Ok(())
}
