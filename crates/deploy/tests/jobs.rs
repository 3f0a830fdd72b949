//! A one-shot job (`depends_on: {migrate: {condition:
//! service_completed_successfully}}`) on the real engine: the app's web
//! starts only once the job exited 0; a job that exits non-zero fails the
//! deploy before any traffic moves, and the app stays on its release; a
//! deploy that changes nothing of the job leaves its completed run alone.

mod support;

use std::path::Path;

use windlass_deploy::agent::contract::ProgressKind;
use windlass_deploy::agent::{Agent, Started};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RunState, RELEASE_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_engine::Status;

const WEB: &str = "wljobweb";
const MIGRATE: &str = "wljobmigrate";

fn compose(port: u16, web_version: &str, migrate_exit: u8) -> String {
    format!(
        "name: wljob\nservices:\n  {MIGRATE}:\n    build: ./app\n    environment:\n      TESTAPP_CRASH_AT_START: \"{migrate_exit}\"\n  {WEB}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    depends_on:\n      {MIGRATE}: {{condition: service_completed_successfully}}\n    environment:\n      TESTAPP_VERSION: \"{web_version}\"\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 1s\n"
    )
}

async fn deploy(agent: &Agent, file: &Path, text: String) -> (Vec<Started>, Status) {
    support::deploy_app(agent, file, text, &[WEB, MIGRATE]).await
}

/// The states entered, as `service: State` inside a service's iteration.
fn entered(agent: &Agent, arn: &str) -> Vec<String> {
    let view = windlass_deploy::agent::execution_view(agent.runtime().store().as_ref(), arn, 0)
        .expect("read")
        .expect("the execution");
    view.events
        .into_iter()
        .filter_map(|e| match e.kind {
            ProgressKind::Entered { state, service } => Some(match service {
                Some(service) => format!("{service}: {state}"),
                None => state,
            }),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_runs_to_completion_before_the_services_that_wait_for_it() {
    let docker = Docker::connect().await.expect("Docker engine");
    for s in [WEB, MIGRATE] {
        support::cleanup(&docker, s).await;
    }
    let dir = support::project("jobs");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let (agent, _store) = support::agent(&docker).await;

    let (started, status) = deploy(&agent, &file, compose(port, "v1", 0)).await;
    assert_eq!(status, Status::Succeeded);
    let arn = &started[0].execution;
    let states = entered(&agent, arn);
    let job_done = states
        .iter()
        .position(|s| s == &format!("{MIGRATE}: WaitHealthy"))
        .unwrap_or_else(|| panic!("the job's run was judged: {states:?}"));
    let web_started = states
        .iter()
        .position(|s| s == &format!("{WEB}: StartReplicas"))
        .unwrap_or_else(|| panic!("web started: {states:?}"));
    assert!(
        job_done < web_started,
        "web starts after the job: {states:?}"
    );
    let job = |release: &str| {
        [
            (SERVICE_LABEL.to_owned(), MIGRATE.to_owned()),
            (RELEASE_LABEL.to_owned(), release.to_owned()),
        ]
        .into()
    };
    let ran = docker.list_containers(&job("r1")).await.expect("list");
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert_eq!(ran[0].state, RunState::Exited { code: 0 });
    let web_live = |agent: &Agent| {
        let key = agent.resolve(None, WEB).expect("one app has it");
        agent
            .releases()
            .live(&key)
            .expect("live")
            .map(|l| l.release)
    };
    assert_eq!(web_live(&agent).as_deref(), Some("r1"));

    // web changes, the job does not: its completed run is left alone.
    let (started, status) = deploy(&agent, &file, compose(port, "v2", 0)).await;
    assert_eq!(status, Status::Succeeded);
    let job_started = started.iter().find(|s| s.service == MIGRATE).expect("job");
    assert!(job_started.unchanged, "{started:?}");
    assert_eq!(web_live(&agent).as_deref(), Some("r2"));

    // The job fails: nothing moves, and the cause says how it ended.
    let (started, status) = deploy(&agent, &file, compose(port, "v3", 3)).await;
    assert_eq!(status, Status::Failed);
    assert_eq!(web_live(&agent).as_deref(), Some("r2"));
    let finished = agent
        .runtime()
        .wait(&started[0].execution)
        .await
        .expect("ended");
    let cause = format!("{:?}", finished.outcome);
    assert!(cause.contains("exited with code 3"), "{cause}");
    let states = entered(&agent, &started[0].execution);
    assert!(
        !states.iter().any(|s| s == &format!("{WEB}: StartReplicas")),
        "web v3 never started: {states:?}"
    );
    let answer = reqwest_free_get(port).await;
    assert!(answer.contains("v2"), "{answer}");

    for s in [WEB, MIGRATE] {
        support::cleanup(&docker, s).await;
    }
}

/// GET / through the proxy, as text.
async fn reqwest_free_get(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /version HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.expect("read");
    text
}
