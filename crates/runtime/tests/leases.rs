//! Two runtimes on one PostgreSQL store (a private cluster from
//! `scripts/pg-cluster`): one is taken over, loses its next commit, drops
//! the execution, and reaches the new owner through the inbox.

mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, NoTls};
use serde_json::json;
use windlass_engine::Status;
use windlass_runtime::{Error, Invokers, Runtime, StartRequest, SystemClock};
use windlass_store::postgres::{Config, PostgresStore};

const ACTIVITY: &str = "arn:aws:states:us-east-1:123456789012:activity:work";
const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:m:one";

include!("../../store/src/postgres/fresh_database.rs");

fn runtime(url: &str, lease: Duration) -> Runtime {
    let store = PostgresStore::open(&Config {
        lease,
        ..Config::new(url)
    })
    .expect("open");
    Runtime::new(Arc::new(store), Invokers::new(), Arc::new(SystemClock))
}

fn request() -> StartRequest {
    support::start_request(
        json!({ "StartAt": "W", "States": { "W": { "Type": "Task", "Resource": ACTIVITY, "End": true } } }),
        ARN,
        "one",
        json!({ "n": 1 }),
    )
}

#[test]
fn a_runtime_that_lost_its_lease_stops_and_its_calls_reach_the_new_owner() {
    let url = fresh_database("runtime_leases");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(lost_lease(&url));
}

async fn lost_lease(url: &str) {
    // A lease of zero is over as soon as it is taken: `old` is as good as dead.
    let old = runtime(url, Duration::ZERO);
    let new = runtime(url, Duration::from_secs(60));
    old.start(request()).await.expect("start");
    let task = old
        .get_activity_task(ACTIVITY, Some("w".into()), Duration::from_secs(5))
        .await
        .expect("a task");

    assert_eq!(
        new.recover().await.expect("recover"),
        1,
        "the new runtime takes the execution over"
    );
    // The old runtime still holds the token, but its commit is refused...
    let refused = old
        .send_task_success(&task.token, json!({ "late": true }))
        .await;
    assert!(matches!(refused, Err(Error::NotOwner(_))), "{refused:?}");
    // ...and it dropped the execution: the same call now goes to the owner.
    old.send_task_success(&task.token, json!({ "done": true }))
        .await
        .expect("routed through the inbox");

    let finished = new.wait(ARN).await.expect("wait");
    assert_eq!(finished.status, Status::Succeeded);
    let events = new.store().history(ARN, 1, u64::MAX).expect("history");
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_ref()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "ActivitySucceeded").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.details.to_string().contains("done")),
        "the routed result is the one recorded"
    );
}
