//! Compose's `deploy.update_config` on the real engine, with three replicas:
//! parallelism and delay pace the start, max_failure_ratio lets a share of
//! replicas fail (they never take traffic), failure_action pause leaves a
//! failed release running unswitched, and order stop-first stops the old
//! release before the new one starts.

mod support;

use std::path::Path;

use windlass_deploy::agent::{Agent, Started};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RunState, RELEASE_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_engine::{Outcome, Status};
use windlass_store::Store;

const SERVICE: &str = "wlpace";

fn compose(port: u16, version: &str, crash: &str, update_config: &str) -> String {
    format!(
        "services:\n  {SERVICE}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n      TESTAPP_CRASH_REPLICAS: \"{crash}\"\n    deploy:\n      replicas: 3\n      update_config: {update_config}\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 0s\n"
    )
}

/// Milliseconds the state `name` took, from its entered to its exited event.
fn took(store: &dyn Store, arn: &str, name: &str) -> i64 {
    let history = store.history(arn, 1, u64::MAX).expect("history");
    let at = |kind: &str| {
        history
            .iter()
            .find(|e| e.kind == kind && e.details["name"] == name)
            .map(|e| e.timestamp_millis)
    };
    at("TaskStateExited").unwrap_or(0) - at("TaskStateEntered").unwrap_or(0)
}

async fn running(docker: &Docker, release: &str) -> usize {
    let labels = [
        (SERVICE_LABEL.to_owned(), SERVICE.to_owned()),
        (RELEASE_LABEL.to_owned(), release.to_owned()),
    ]
    .into();
    docker
        .list_containers(&labels)
        .await
        .expect("containers")
        .iter()
        .filter(|c| c.state == RunState::Running)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_config_paces_tolerates_pauses_and_stops_first() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("pace");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let (agent, store) = support::agent(&docker).await;
    let result = scenario(&agent, store.as_ref(), &docker, &file, port).await;
    support::cleanup(&docker, SERVICE).await;
    result.expect("scenario");
}

async fn scenario(
    agent: &Agent,
    store: &dyn Store,
    docker: &Docker,
    file: &Path,
    port: u16,
) -> Result<(), String> {
    let live = || async {
        agent
            .releases()
            .live(&agent.resolve(None, SERVICE).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())
            .map(|l| l.map(|l| (l.release, l.upstreams.len())))
    };
    // One replica at a time, 400 ms apart: the start takes at least 800 ms.
    let (Started { execution: arn, .. }, finished) = support::deploy(
        agent,
        file,
        SERVICE,
        compose(port, "v1", "", "{parallelism: 1, delay: 400ms}"),
    )
    .await;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    let start = took(store, &arn, "StartReplicas");
    assert!(start >= 800, "StartReplicas took {start} ms");
    assert_eq!(live().await?, Some(("r1".into(), 3)));

    // One of three replicas crashes; a third may fail: live with two.
    let (_, finished) = support::deploy(
        agent,
        file,
        SERVICE,
        compose(port, "v2", "2", "{max_failure_ratio: 0.34}"),
    )
    .await;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(live().await?, Some(("r2".into(), 2)));
    assert_eq!(running(docker, "r2").await, 2);

    // Two of three crash: more than a third, rolled back; r2 stays live.
    let (_, finished) = support::deploy(
        agent,
        file,
        SERVICE,
        compose(port, "v3", "1,2", "{max_failure_ratio: 0.34}"),
    )
    .await;
    assert_eq!(finished.status, Status::Failed);
    assert_eq!(live().await?, Some(("r2".into(), 2)));
    assert_eq!(running(docker, "r3").await, 0);

    // failure_action pause: not switched to, its healthy replicas left running.
    let (_, finished) = support::deploy(
        agent,
        file,
        SERVICE,
        compose(port, "v4", "0", "{failure_action: pause}"),
    )
    .await;
    let Some(Outcome::Error { cause, .. }) = &finished.outcome else {
        return Err(format!("v4 should fail: {:?}", finished.outcome));
    };
    assert!(cause.contains("Deploy.Paused"), "{cause}");
    assert_eq!(live().await?, Some(("r2".into(), 2)));
    assert_eq!(running(docker, "r4").await, 2);

    // stop-first: r2 stops before r5 starts; r5 goes live, and the paused
    // release is cleared away.
    let (_, finished) = support::deploy(
        agent,
        file,
        SERVICE,
        compose(port, "v5", "", "{order: stop-first}"),
    )
    .await;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(live().await?, Some(("r5".into(), 3)));
    assert_eq!(running(docker, "r2").await, 0);
    assert_eq!(running(docker, "r4").await, 0);
    Ok(())
}
