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
use std::time::{Duration, Instant};

use fakecloud::Fakecloud;
use serde_json::{json, Value as Json};
use windlass_aws::model::Model;
use windlass_aws::{Client, Service};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::target::ecs::run::{Ecs, Report};
use windlass_engine::Status;
use windlass_store::releases::{Outcome, Releases, SqliteReleases};

/// Removes the containers fakecloud started (they outlive it).
struct Containers(u16);

impl Drop for Containers {
    fn drop(&mut self) {
        let listed = std::process::Command::new("docker")
            .args(["ps", "-a", "--format", "{{.ID}} {{.Image}}"])
            .output();
        let Ok(listed) = listed else { return };
        let prefix = format!("127.0.0.1:{}/", self.0);
        for line in String::from_utf8_lossy(&listed.stdout).lines() {
            if let Some((id, image)) = line.split_once(' ') {
                if image.starts_with(&prefix) {
                    let _ = std::process::Command::new("docker")
                        .args(["rm", "-f", id])
                        .output();
                }
            }
        }
    }
}

/// Each version publishes its own host port: fakecloud, like ECS's bridge
/// mode on one instance, cannot run two tasks on one static port, and it
/// takes a host port of 0 as the container's.
fn compose(version: &str, port: u16, crash: bool) -> String {
    let crash = if crash {
        "\n      TESTAPP_CRASH_AT_START: \"3\""
    } else {
        ""
    };
    format!(
        r#"name: shop
services:
  web:
    build: ./app
    ports: ["{port}:8080"]
    environment:
      TESTAPP_VERSION: {version}{crash}
    healthcheck: {{ test: ["CMD", "/app", "probe"], interval: 5s, timeout: 2s, retries: 2, start_period: 1s }}
    x-windlass:
      watch: 3s
      ecs: {{ cluster: windlass, launchType: EC2, networkMode: bridge, pollSeconds: 1, maxPolls: 90 }}
"#
    )
}

/// What the running task of `revision` answers at `/version` on its
/// published loopback port.
async fn version_of(client: &Client, revision: &str) -> String {
    let ecs = Model::of(Service::named("ecs").expect("ecs")).expect("model");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = client
            .call(
                &ecs,
                "listTasks",
                &json!({ "Cluster": "windlass", "ServiceName": "web", "DesiredStatus": "RUNNING" }),
                None,
            )
            .await
            .expect("listTasks");
        let arns = listed["TaskArns"].clone();
        if arns.as_array().is_some_and(|a| !a.is_empty()) {
            let tasks = client
                .call(
                    &ecs,
                    "describeTasks",
                    &json!({ "Cluster": "windlass", "Tasks": arns }),
                    None,
                )
                .await
                .expect("describeTasks");
            let port = tasks["Tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|task| {
                    (task["TaskDefinitionArn"] == revision && task["LastStatus"] == "RUNNING")
                        .then(|| task["Containers"][0]["NetworkBindings"][0]["HostPort"].as_u64())
                        .flatten()
                });
            if let Some(port) = port {
                if let Ok(answer) = get(&format!("http://127.0.0.1:{port}/version")).await {
                    return answer;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no task of {revision} answered on its loopback port"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn get(url: &str) -> Result<String, String> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let response = client
        .get(url.parse().map_err(|e| format!("{e}"))?)
        .await
        .map_err(|e| e.to_string())?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).trim().to_string())
}

fn print(step: &str, report: &Report) {
    let t = &report.timing;
    eprintln!(
        "{step}: {:?} {} (build {} ms, push {} ms, execution {} ms = AWS calls {} ms + waits {} ms + windlass {} ms)",
        report.status, report.release, t.build_millis, t.push_millis, t.execution_millis, t.aws_millis, t.wait_millis, t.windlass_millis()
    );
}

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

    let dir = support::project("ecs-fakecloud");
    // fakecloud runs an ECS health check's CMD through /bin/sh: the image
    // gets Debian's static busybox as its shell.
    std::fs::copy("/bin/busybox", dir.join("app/sh"))
        .expect("Debian's busybox-static at /bin/busybox (scripts/setup installs it)");
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM scratch\nCOPY testapp /app\nCOPY sh /bin/sh\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n",
    )
    .expect("Dockerfile");
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
