//! Deploys as ASL executions on the real Docker engine, through the agent in
//! this process: v1; v2 healthy goes live; v3 never healthy is rolled back
//! while v2 stays live; v4 answers 5xx after the switch and is rolled back
//! during the watch; an explicit rollback to v1. A load generator runs
//! through all of it and must see no request fail because of windlass.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use windlass_deploy::agent::{Agent, DeployRequest, RollbackRequest, Started};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::workflow;
use windlass_engine::{Outcome, Status};
use windlass_runtime::Finished;
use windlass_store::memory::MemoryStore;
use windlass_store::releases::{Outcome as ReleaseOutcome, SqliteReleases};
use windlass_store::Store;

use support::Load;

const SERVICE: &str = "wlflow";

/// The service's key: its app is the project folder's name.
fn key() -> windlass_store::releases::ServiceKey {
    windlass_store::releases::ServiceKey::new("project-flow", SERVICE).expect("a key")
}

async fn deploy(agent: &Agent, file: &Path, text: &str) -> (Started, Finished, Duration) {
    std::fs::write(file, text).expect("compose file");
    let began = Instant::now();
    let mut started = agent
        .deploy(DeployRequest {
            compose_file: file.display().to_string(),
            compose_text: text.to_owned(),
            services: vec![SERVICE.into()],
            by: "test@flow".into(),
            definition: None,
            ..Default::default()
        })
        .await
        .expect("deploy starts");
    let started = started.remove(0);
    let finished = agent
        .runtime()
        .wait(&started.execution)
        .await
        .expect("deploy ends");
    (started, finished, began.elapsed())
}

/// `(state, milliseconds from entering to leaving)` per state, in order.
fn steps(store: &dyn Store, arn: &str) -> Vec<(String, i64)> {
    let mut entered: Option<(String, i64)> = None;
    let mut out = Vec::new();
    for event in store.history(arn, 1, u64::MAX).expect("history") {
        let name = event.details.get("name").and_then(Json::as_str);
        if event.kind.ends_with("StateEntered") {
            entered = name.map(|n| (n.to_owned(), event.timestamp_millis));
        } else if event.kind.ends_with("StateExited") || event.kind == "ExecutionFailed" {
            if let Some((state, at)) = entered.take() {
                out.push((state, event.timestamp_millis - at));
            }
        }
    }
    out
}

fn names(steps: &[(String, i64)]) -> Vec<&str> {
    steps.iter().map(|(s, _)| s.as_str()).collect()
}

fn error_of(finished: &Finished) -> (String, String) {
    match &finished.outcome {
        Some(Outcome::Error { error, cause }) => (error.clone(), cause.clone()),
        other => (String::new(), format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blue_green_deploys_and_rollbacks_with_zero_failed_requests() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("flow");
    let file = dir.join("compose.yaml");
    let port = support::free_port();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let releases = Arc::new(SqliteReleases::in_memory().expect("releases"));
    let agent = Agent::new(
        Arc::clone(&store),
        releases.clone(),
        Arc::new(docker.clone()),
        workflow::Config::default(),
    );
    agent.resume().await.expect("resume");
    let result = scenario(&agent, store.as_ref(), &file, port).await;
    support::cleanup(&docker, SERVICE).await;
    result.expect("scenario");
}

async fn scenario(agent: &Agent, store: &dyn Store, file: &Path, port: u16) -> Result<(), String> {
    let releases = agent.releases();
    fn v(version: &'static str) -> Vec<(&'static str, &'static str)> {
        vec![("TESTAPP_VERSION", version)]
    }

    // v1: the first release; nothing served before it.
    let (one, finished, took) = deploy(
        agent,
        file,
        &support::compose(SERVICE, port, &v("v1"), "1s"),
    )
    .await;
    let trace = steps(store, &one.execution);
    println!("v1 deployed in {took:?}: {trace:?}");
    assert_eq!(
        finished.status,
        Status::Succeeded,
        "{:?}",
        error_of(&finished)
    );
    assert_eq!(one.release, "r1");
    let address = format!("127.0.0.1:{port}").parse().expect("address");
    let load = Load::start(address, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // v2: healthy, goes live; v1 stays running beside it for a quick rollback.
    let (two, finished, took) = deploy(
        agent,
        file,
        &support::compose(SERVICE, port, &v("v2"), "1s"),
    )
    .await;
    let trace = steps(store, &two.execution);
    println!("v2 deployed in {took:?}: {trace:?}");
    assert_eq!(
        finished.status,
        Status::Succeeded,
        "{:?}",
        error_of(&finished)
    );
    assert_eq!(
        names(&trace),
        [
            "BuildImage",
            "PushWanted",
            "Built",
            "StartReplicas",
            "WaitHealthy",
            "Healthy",
            "Switch",
            "WatchRelease",
            "RetireRelease"
        ]
    );
    let live = releases.live(&key()).map_err(|e| e.to_string())?;
    assert_eq!(live.map(|l| l.release).as_deref(), Some("r2"));

    // v3: never healthy: rolled back before the switch, v2 stays live.
    let mut env = v("v3");
    env.push(("TESTAPP_UNHEALTHY_AFTER_MS", "0"));
    let (three, finished, took) =
        deploy(agent, file, &support::compose(SERVICE, port, &env, "1s")).await;
    let trace = steps(store, &three.execution);
    println!("v3 rolled back in {took:?}: {trace:?}");
    let (error, cause) = error_of(&finished);
    assert_eq!(finished.status, Status::Failed);
    assert_eq!(error, "Deploy.RolledBack", "{cause}");
    assert!(cause.contains("Deploy.Unhealthy"), "{cause}");
    assert!(names(&trace).ends_with(&["WaitHealthy", "RollBackRelease", "RolledBack"]));
    let live = releases.live(&key()).map_err(|e| e.to_string())?;
    assert_eq!(live.map(|l| l.release).as_deref(), Some("r2"));

    // v4: healthy, but half its answers are 5xx once it serves: the watch
    // rolls it back and traffic is on v2 again.
    let mut env = v("v4");
    env.push(("TESTAPP_ERROR_RATIO", "0.5"));
    let (four, finished, took) =
        deploy(agent, file, &support::compose(SERVICE, port, &env, "5s")).await;
    let trace = steps(store, &four.execution);
    println!("v4 rolled back in {took:?}: {trace:?}");
    let (error, cause) = error_of(&finished);
    assert_eq!(error, "Deploy.RolledBack", "{cause}");
    assert!(cause.contains("Deploy.ServerErrors"), "{cause}");
    assert!(names(&trace).ends_with(&["Switch", "WatchRelease", "RollBackRelease", "RolledBack"]));
    let r4 = releases
        .get(&key(), "r4")
        .map_err(|e| e.to_string())?
        .ok_or("no r4")?;
    assert_eq!(r4.outcome, ReleaseOutcome::RolledBack);
    println!(
        "v4 automatic rollback flip took {:?} ms",
        r4.rollback_millis
    );
    let live = releases.live(&key()).map_err(|e| e.to_string())?;
    assert_eq!(live.map(|l| l.release).as_deref(), Some("r2"));

    // An explicit rollback to v1, whose containers still run: a flip.
    let asked = Instant::now();
    let back = agent
        .rollback(RollbackRequest {
            service: Some(SERVICE.into()),
            app: None,
            here: None,
            release: None,
            by: "test@flow".into(),
        })
        .await
        .map_err(|e| e.to_string())?
        .remove(0);
    assert_eq!(back.release, "r1");
    let first = load
        .answer_from("r1", asked, Duration::from_secs(10))
        .await
        .ok_or("r1 never answered after the rollback")?;
    let finished = agent
        .runtime()
        .wait(&back.execution)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "explicit rollback: first request served by r1 {:?} after the rollback was asked; steps {:?}",
        first.duration_since(asked),
        steps(store, &back.execution)
    );
    assert_eq!(
        finished.status,
        Status::Succeeded,
        "{:?}",
        error_of(&finished)
    );
    let r2 = releases
        .get(&key(), "r2")
        .map_err(|e| e.to_string())?
        .ok_or("no r2")?;
    assert_eq!(r2.outcome, ReleaseOutcome::RolledBack);

    // v5 goes live from r1; r2, two releases back, is retired (stopped and
    // removed). A rollback to r2 starts it again from its pinned image.
    let (five, finished, took) = deploy(
        agent,
        file,
        &support::compose(SERVICE, port, &v("v5"), "1s"),
    )
    .await;
    println!(
        "v5 deployed in {took:?}: {:?}",
        steps(store, &five.execution)
    );
    assert_eq!(
        finished.status,
        Status::Succeeded,
        "{:?}",
        error_of(&finished)
    );
    let retired = agent
        .runtime()
        .store()
        .history(&five.execution, 1, u64::MAX)
        .map_err(|e| e.to_string())?
        .iter()
        .any(|e| {
            let text = e.details.to_string();
            e.kind == "TaskSucceeded" && text.contains("retired") && text.contains("r2")
        });
    assert!(retired, "v5's Retire stopped r2");
    let asked = Instant::now();
    let back = agent
        .rollback(RollbackRequest {
            service: Some(SERVICE.into()),
            app: None,
            here: None,
            release: Some("r2".into()),
            by: "test@flow".into(),
        })
        .await
        .map_err(|e| e.to_string())?
        .remove(0);
    let finished = agent
        .runtime()
        .wait(&back.execution)
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(
        finished.status,
        Status::Succeeded,
        "{:?}",
        error_of(&finished)
    );
    let first = load
        .answer_from("r2", asked, Duration::from_secs(10))
        .await
        .ok_or("r2 never answered after its restart")?;
    println!(
        "rollback to retired r2: first request served {:?} after it was asked; steps {:?}",
        first.duration_since(asked),
        steps(store, &back.execution)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let seen = load.stop().await;
    println!(
        "load: {} requests, {} app 5xx, {} failed, by release {:?}",
        seen.requests, seen.app_errors, seen.failed, seen.by_release
    );
    assert_eq!(
        seen.failed,
        0,
        "failed requests: {:?}",
        &seen.failures[..seen.failures.len().min(5)]
    );
    assert!(
        seen.by_release.get("r4").copied().unwrap_or(0) > 0,
        "v4 took traffic"
    );
    assert!(seen.requests > 100);
    let listed: Vec<_> = releases
        .list(&key())
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|r| (r.id, r.outcome.as_str(), r.digest.is_some()))
        .collect();
    println!("releases: {listed:?}");
    Ok(())
}
