//! The PostgreSQL store against a private cluster (`scripts/pg-cluster`):
//! the same observable behaviour as SQLite, plus ownership between processes.

use std::process::Command;
use std::time::Duration;

use postgres::{Client, NoTls};
use serde_json::json;
use windlass_engine::{Execution, ExecutionMeta};

use super::{Config, PostgresStore};
use crate::{Commit, Error, Store, WaitingTask};

include!("fresh_database.rs");

fn open(url: &str, lease: Duration) -> PostgresStore {
    PostgresStore::open(&Config {
        lease,
        ..Config::new(url)
    })
    .expect("open")
}

fn update(arn: &str, status: &str, snapshot: &str) -> Commit {
    Commit {
        arn: arn.into(),
        create: None,
        status: status.into(),
        stop_millis: None,
        snapshot: snapshot.into(),
        history: vec![],
        token_tasks: Some(Vec::new()),
    }
}

fn create(arn: &str, snapshot: String) -> Commit {
    let mut record = crate::sqlite::tests::record(arn);
    record.snapshot = snapshot.clone();
    Commit {
        create: Some(record),
        ..update(arn, "RUNNING", &snapshot)
    }
}

#[test]
fn behaves_as_sqlite_does() {
    let url = fresh_database("parity");
    let store = open(&url, Duration::from_secs(60));
    crate::sqlite::tests::exercise(&store);
    crate::machines::tests::exercise(&store);
}

#[test]
fn only_the_owner_writes_and_orphans_are_taken_over() {
    let url = fresh_database("owners");
    let a = open(&url, Duration::from_secs(60));
    let b = open(&url, Duration::from_secs(60));
    a.commit(&[create("x", "s".into())]).expect("a creates x");
    assert!(matches!(
        b.commit(&[update("x", "RUNNING", "b")]),
        Err(Error::NotOwner(_))
    ));
    assert!(
        b.claim_orphans().expect("claim").is_empty(),
        "a's lease is live"
    );

    // A lease of zero has expired as soon as it is taken: c is as good as dead.
    let c = open(&url, Duration::ZERO);
    c.commit(&[create("y", "s".into())]).expect("c creates y");
    let claimed = a.claim_orphans().expect("claim");
    assert_eq!(
        claimed.iter().map(|r| r.arn.as_str()).collect::<Vec<_>>(),
        ["y"]
    );
    assert!(
        b.claim_orphans().expect("claim again").is_empty(),
        "y has a live owner now"
    );
    assert!(matches!(
        c.commit(&[update("y", "RUNNING", "c")]),
        Err(Error::NotOwner(_))
    ));
    a.commit(&[update("y", "SUCCEEDED", "a")])
        .expect("the new owner writes");

    // A redrive: whoever claims the ended execution first owns it again;
    // a claim after it runs again finds nothing to claim.
    assert!(!b.claim_ended("x").expect("claim x"), "x still runs");
    assert!(b.claim_ended("y").expect("claim y"));
    b.commit(&[update("y", "RUNNING", "b redrives")])
        .expect("the claimant writes");
    assert!(matches!(
        a.commit(&[update("y", "RUNNING", "a")]),
        Err(Error::NotOwner(_))
    ));
    assert!(!a.claim_ended("y").expect("claim again"), "y runs again");
    b.commit(&[update("y", "SUCCEEDED", "b")]).expect("ends");

    // A process that shuts down gives its executions up at once.
    let d = open(&url, Duration::from_secs(60));
    d.commit(&[create("z", "s".into())]).expect("d creates z");
    d.release_lease().expect("release");
    let claimed = b.claim_orphans().expect("claim");
    assert_eq!(
        claimed.iter().map(|r| r.arn.as_str()).collect::<Vec<_>>(),
        ["z"]
    );

    // Messages reach the owner only; those of ended executions anyone drops.
    b.post("x", "to x").expect("post");
    b.post("y", "to y").expect("post");
    assert_eq!(
        b.inbox(10)
            .expect("inbox")
            .iter()
            .map(|m| m.body.as_str())
            .collect::<Vec<_>>(),
        ["to y"]
    );
    let mine = a.inbox(10).expect("inbox");
    assert_eq!(mine.len(), 2);
    a.ack(&mine.iter().map(|m| m.id).collect::<Vec<_>>())
        .expect("ack");
    assert!(a.inbox(10).expect("inbox").is_empty());
}

#[test]
fn waiting_activity_tasks_follow_the_commits() {
    let url = fresh_database("tokens");
    let store = open(&url, Duration::from_secs(60));
    let activity = "arn:aws:states:us-east-1:123456789012:activity:work";
    let text = json!({ "StartAt": "W", "States": { "W": { "Type": "Task", "Resource": activity, "End": true } } });
    let definition = windlass_asl::parse::parse_text(&text.to_string())
        .valid()
        .expect("valid definition");
    let meta = ExecutionMeta {
        execution_arn: "e".into(),
        name: "e".into(),
        state_machine_arn: "m".into(),
        state_machine_name: "m".into(),
        role_arn: "r".into(),
        input: json!({ "n": 1 }),
        start_millis: 0,
        seed: 7,
        express: false,
    };
    let (execution, _) = Execution::start(&definition, meta, 0);
    let token = execution
        .token_tasks()
        .map(|(token, _)| token.to_string())
        .next()
        .expect("a token");
    let waiting = vec![WaitingTask {
        token: token.clone(),
        activity: Some(activity.into()),
        input: r#"{"n":1}"#.into(),
        started: false,
    }];
    let snapshot = serde_json::to_string(&execution).expect("snapshot");
    let unlisted = Commit {
        token_tasks: None,
        ..create("e", snapshot.clone())
    };
    assert!(
        matches!(store.commit(&[unlisted]), Err(Error::Unsupported(_))),
        "a shared store needs the commit's token tasks"
    );
    store
        .commit(&[Commit {
            token_tasks: Some(waiting.clone()),
            ..create("e", snapshot.clone())
        }])
        .expect("create");

    let found = store
        .token_task(&token)
        .expect("lookup")
        .expect("the token is known");
    assert_eq!(
        (
            found.arn.as_str(),
            found.activity.as_deref(),
            found.input.as_str()
        ),
        ("e", Some(activity), r#"{"n":1}"#)
    );
    let taken = store
        .take_activity_task(activity)
        .expect("take")
        .expect("a task");
    assert_eq!(taken.token, token);
    assert!(
        store
            .take_activity_task(activity)
            .expect("take again")
            .is_none(),
        "handed out once"
    );
    // Another step that still waits keeps the task handed out.
    store
        .commit(&[Commit {
            token_tasks: Some(waiting),
            ..update("e", "RUNNING", &snapshot)
        }])
        .expect("step");
    assert!(store
        .take_activity_task(activity)
        .expect("take after a step")
        .is_none());
    store
        .commit(&[update("e", "SUCCEEDED", "{}")])
        .expect("end");
    assert!(
        store.token_task(&token).expect("lookup").is_none(),
        "an ended execution waits for nothing"
    );
}
