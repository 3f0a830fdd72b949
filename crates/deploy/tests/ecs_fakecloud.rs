//! A full ECS rollout with real containers on fakecloud (its ECS runs each
//! task as a Docker container pulled from its own ECR): the test app is
//! built locally from its static binary, pushed to fakecloud's ECR with
//! GetAuthorizationToken's credentials and pinned by digest; v1 and v2 are
//! deployed, a v3 whose container exits is rolled back to v2, and an
//! explicit rollback puts v1 back, each checked by requests to the running
//! container's published loopback port.

mod support;

#[path = "../../aws/tests/support/fakecloud.rs"]
mod fakecloud;

use std::sync::Arc;

use fakecloud::Fakecloud;
use serde_json::{json, Value as Json};
use support::ecs::{compose, print, version_of, with_shell, Containers};
use windlass_aws::model::Model;
use windlass_aws::{Client, Service};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::target::ecs::run::Ecs;
use windlass_engine::Status;
use windlass_store::releases::{Outcome, Releases, SqliteReleases};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_v1_v2_rolls_back_a_failing_v3_and_rolls_back_to_v1_on_real_containers() {
    let fakecloud = Fakecloud::start();
    let _containers = Containers(fakecloud.port);
    let client = Client::new(fakecloud.config());
    let ecs_model = Model::of(Service::named("ecs").expect("ecs")).expect("model");
    client
        .call(
            &ecs_model,
            "createCluster",
            &json!({ "ClusterName": "windlass" }),
            None,
        )
        .await
        .expect("createCluster");

    let dir = with_shell(support::project("ecs-fakecloud"));
    let file = dir.join("compose.yaml");
    let docker = Docker::connect().await.expect("the Docker engine");
    let releases = Arc::new(SqliteReleases::in_memory().expect("releases"));
    let store = Arc::new(windlass_store::memory::MemoryStore::new());
    let ecs = Ecs::new(Arc::new(docker), client.clone(), releases.clone(), store);
    let deploy = |version: &'static str, crash: bool| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let text = compose(version, port, crash);
        std::fs::write(&file, &text).expect("compose.yaml");
        let ecs = &ecs;
        let file = file.clone();
        async move {
            ecs.deploy(&file, &text, "web", "test")
                .await
                .expect("the deploy runs")
        }
    };

    let v1 = deploy("v1", false).await;
    print("deploy v1", &v1);
    assert_eq!(v1.status, Status::Succeeded, "{:?}", v1.error);
    let r1 = v1.revision.clone().expect("v1's revision");
    assert_eq!(version_of(&client, &r1).await, "v1");

    let v2 = deploy("v2", false).await;
    print("deploy v2", &v2);
    assert_eq!(v2.status, Status::Succeeded, "{:?}", v2.error);
    let r2 = v2.revision.clone().expect("v2's revision");
    assert_ne!(r1, r2);
    assert_eq!(version_of(&client, &r2).await, "v2");

    let v3 = deploy("v3", true).await;
    print("deploy v3 (exits at start)", &v3);
    assert!(
        v3.rolled_back(),
        "v3 must be rolled back: {:?} {:?}",
        v3.status,
        v3.error
    );
    let cause = &v3.error.as_ref().expect("an error").1;
    assert!(cause.contains("stopped during the rollout"), "{cause}");
    let service = client
        .call(
            &ecs_model,
            "describeServices",
            &json!({ "Cluster": "windlass", "Services": ["web"] }),
            None,
        )
        .await
        .expect("describeServices");
    assert_eq!(
        service["Services"][0]["TaskDefinition"],
        Json::String(r2.clone())
    );
    assert_eq!(
        service["Services"][0]["DeploymentConfiguration"]["DeploymentCircuitBreaker"],
        json!({ "Enable": true, "Rollback": true })
    );
    assert_eq!(version_of(&client, &r2).await, "v2");

    let back = ecs
        .rollback("ecs/windlass/web", Some("r1"))
        .await
        .expect("the rollback runs");
    print("rollback to r1", &back);
    assert_eq!(back.status, Status::Succeeded, "{:?}", back.error);
    assert_eq!(back.revision.as_deref(), Some(r1.as_str()));
    assert_eq!(version_of(&client, &r1).await, "v1");

    let recorded = releases.list("ecs/windlass/web").expect("releases");
    let outcome = |id: &str| recorded.iter().find(|r| r.id == id).map(|r| r.outcome);
    assert_eq!(outcome("r1"), Some(Outcome::Live));
    assert_eq!(outcome("r2"), Some(Outcome::RolledBack));
    assert_eq!(outcome("r3"), Some(Outcome::RolledBack));
    assert_eq!(
        releases
            .live("ecs/windlass/web")
            .expect("live")
            .map(|l| l.release)
            .as_deref(),
        Some("r1")
    );
    let r2_record = recorded.iter().find(|r| r.id == "r2").expect("r2");
    assert_eq!(r2_record.image.as_deref(), Some(r2.as_str()));
    assert!(
        r2_record
            .digest
            .as_deref()
            .is_some_and(|d| d.starts_with("sha256:")),
        "{:?}",
        r2_record.digest
    );
}

/// `x-windlass.ecs.probe` on real containers: v1 answers its probe and goes
/// live; v2's containers are healthy by their health check but answer 500
/// on the probed path, so the HTTP probe rolls the service back to v1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_http_probe_rolls_back_to_the_previous_revision() {
    let fakecloud = Fakecloud::start();
    let _containers = Containers(fakecloud.port);
    let client = Client::new(fakecloud.config());
    let ecs_model = Model::of(Service::named("ecs").expect("ecs")).expect("model");
    client
        .call(
            &ecs_model,
            "createCluster",
            &json!({ "ClusterName": "windlass" }),
            None,
        )
        .await
        .expect("createCluster");
    let dir = with_shell(support::project("ecs-probe"));
    let file = dir.join("compose.yaml");
    let docker = Docker::connect().await.expect("the Docker engine");
    let releases = Arc::new(SqliteReleases::in_memory().expect("releases"));
    let store = Arc::new(windlass_store::memory::MemoryStore::new());
    let ecs = Ecs::new(Arc::new(docker), client.clone(), releases.clone(), store);
    let deploy = |version: &'static str, errors: bool| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let ratio = if errors { "1" } else { "0" };
        let text = compose(version, port, false)
            .replace(
                "TESTAPP_VERSION",
                &format!("TESTAPP_ERROR_RATIO: \"{ratio}\"\n      TESTAPP_VERSION"),
            )
            .replace(
                "maxPolls: 90 }",
                &format!("maxPolls: 90, probe: {{ url: \"http://127.0.0.1:{port}\", path: /version, failures: 1 }} }}"),
            );
        std::fs::write(&file, &text).expect("compose.yaml");
        let ecs = &ecs;
        let file = file.clone();
        async move {
            ecs.deploy(&file, &text, "web", "test")
                .await
                .expect("the deploy runs")
        }
    };

    let v1 = deploy("v1", false).await;
    print("deploy v1 (probe answers 200)", &v1);
    assert_eq!(v1.status, Status::Succeeded, "{:?}", v1.error);
    let r1 = v1.revision.clone().expect("v1's revision");
    assert!(
        v1.timing.states.iter().any(|(s, _, _)| s == "ProbeOk"),
        "the probe was made: {:?}",
        v1.timing.states
    );

    let v2 = deploy("v2", true).await;
    print("deploy v2 (probe answers 500)", &v2);
    assert!(v2.rolled_back(), "{:?} {:?}", v2.status, v2.error);
    let cause = &v2.error.as_ref().expect("an error").1;
    assert!(cause.contains("HTTP probe"), "{cause}");
    assert!(cause.contains("/version"), "{cause}");
    assert_eq!(version_of(&client, &r1).await, "v1");
    let recorded = releases.list("ecs/windlass/web").expect("releases");
    let outcome = |id: &str| recorded.iter().find(|r| r.id == id).map(|r| r.outcome);
    assert_eq!(outcome("r2"), Some(Outcome::RolledBack));
    assert_eq!(
        releases
            .live("ecs/windlass/web")
            .expect("live")
            .map(|l| l.release)
            .as_deref(),
        Some("r1")
    );
}
