//! What the ECS tests and benchmark on fakecloud share: fakecloud with
//! the cluster made and an ECS target on it ([`Rig`]), the test app's
//! image with a shell, the Compose file of each version, and requests to
//! the running task's published loopback port.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use windlass_aws::model::Model;
use windlass_aws::{Client, Service};
use windlass_deploy::backend::docker::Docker;
use windlass_deploy::target::ecs::run::{Ecs, Report};
use windlass_store::releases::{Outcome, Releases, SqliteReleases};

use super::fakecloud::Fakecloud;

/// The cluster every ECS test deploys to.
pub const CLUSTER: &str = "windlass";
/// The release key of the `web` service on it.
pub const KEY: &str = "ecs/windlass/web";

/// fakecloud with cluster [`CLUSTER`] made, and what talks to it. Dropped,
/// it removes the containers fakecloud started, then stops fakecloud.
pub struct Cloud {
    _containers: Containers,
    pub fakecloud: Fakecloud,
    pub client: Client,
}

impl Cloud {
    pub async fn start() -> Cloud {
        let fakecloud = Fakecloud::start();
        let client = Client::new(fakecloud.config());
        let cloud = Cloud {
            _containers: Containers(fakecloud.port),
            fakecloud,
            client,
        };
        cloud
            .call("ecs", "createCluster", json!({ "ClusterName": CLUSTER }))
            .await;
        cloud
    }

    pub fn endpoint(&self) -> String {
        self.fakecloud.endpoint()
    }

    /// `service:action` with `input`, which must succeed.
    pub async fn call(&self, service: &str, action: &str, input: Json) -> Json {
        let model = Model::of(Service::named(service).expect("a known service")).expect("model");
        self.client
            .call(&model, action, &input, None)
            .await
            .unwrap_or_else(|e| panic!("{service}:{action} failed: {e}"))
    }
}

/// An ECS target on fakecloud (in-memory store and releases) and a project
/// folder with the test app's build context.
pub struct Rig {
    pub cloud: Cloud,
    pub ecs: Ecs,
    pub releases: Arc<SqliteReleases>,
    pub dir: PathBuf,
}

impl Rig {
    pub async fn start(case: &str) -> Rig {
        let cloud = Cloud::start().await;
        let dir = with_shell(super::project(case));
        let docker = Docker::connect().await.expect("the Docker engine");
        let releases = Arc::new(SqliteReleases::in_memory().expect("releases"));
        let store = Arc::new(windlass_store::memory::MemoryStore::new());
        let ecs = Ecs::new(
            Arc::new(docker),
            cloud.client.clone(),
            releases.clone(),
            store,
        );
        Rig {
            cloud,
            ecs,
            releases,
            dir,
        }
    }

    /// Deploys `web` of the Compose text `text` (written to the project's
    /// compose.yaml) and reports it.
    pub async fn deploy(&self, step: &str, text: &str) -> Report {
        let file = self.dir.join("compose.yaml");
        std::fs::write(&file, text).expect("compose.yaml");
        let report = self
            .ecs
            .deploy(&file, text, "web", "test")
            .await
            .expect("the deploy runs");
        print(step, &report);
        report
    }

    /// The outcome the store has for release `id` of `web`.
    pub fn outcome(&self, id: &str) -> Option<Outcome> {
        self.releases
            .list(&KEY.parse().expect("a key"))
            .expect("releases")
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.outcome)
    }

    /// The release the live pointer names.
    pub fn live(&self) -> Option<String> {
        self.releases
            .live(&KEY.parse().expect("a key"))
            .expect("live")
            .map(|l| l.release)
    }

    /// The ECS service `web` as DescribeServices has it.
    pub async fn service(&self) -> Json {
        let answer = self
            .cloud
            .call(
                "ecs",
                "describeServices",
                json!({ "Cluster": CLUSTER, "Services": ["web"] }),
            )
            .await;
        answer["Services"][0].clone()
    }

    /// The revision the ECS service is on, as DescribeServices says.
    pub async fn service_revision(&self) -> Json {
        self.service().await["TaskDefinition"].clone()
    }
}

/// The project folder with Debian's static busybox as the image's
/// `/bin/sh`: fakecloud runs an ECS health check's CMD through a shell.
pub fn with_shell(dir: PathBuf) -> PathBuf {
    std::fs::copy("/bin/busybox", dir.join("app/sh"))
        .expect("Debian's busybox-static at /bin/busybox (scripts/setup installs it)");
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM scratch\nCOPY testapp /app\nCOPY sh /bin/sh\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n",
    )
    .expect("Dockerfile");
    dir
}

/// Removes the containers fakecloud started (they outlive it).
pub struct Containers(pub u16);

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
pub fn compose(version: &str, port: u16, crash: bool) -> String {
    let crash = if crash {
        "\n      TESTAPP_CRASH_AT_START: \"3\""
    } else {
        ""
    };
    compose_with(version, port, crash, "")
}

/// [`compose`] with more environment (`env`, each line
/// `\n      NAME: value`) and more `x-windlass.ecs` settings (`ecs`,
/// `, name: value` each).
pub fn compose_with(version: &str, port: u16, env: &str, ecs: &str) -> String {
    format!(
        r#"name: shop
services:
  web:
    build: ./app
    ports: ["{port}:8080"]
    environment:
      TESTAPP_VERSION: {version}{env}
    healthcheck: {{ test: ["CMD", "/app", "probe"], interval: 5s, timeout: 2s, retries: 2, start_period: 1s }}
    x-windlass:
      watch: 3s
      ecs: {{ cluster: windlass, launchType: EC2, networkMode: bridge, pollSeconds: 1, maxPolls: 90{ecs} }}
"#
    )
}

/// What the running task of `revision` answers at `/version` on its
/// published loopback port.
pub async fn version_of(client: &Client, revision: &str) -> String {
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

pub async fn get(url: &str) -> Result<String, String> {
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

pub fn print(step: &str, report: &Report) {
    let t = &report.timing;
    eprintln!(
        "{step}: {:?} {} (build {} ms, push {} ms, execution {} ms = AWS calls {} ms + waits {} ms + windlass {} ms)",
        report.status, report.release, t.build_millis, t.push_millis, t.execution_millis, t.aws_millis, t.wait_millis, t.windlass_millis()
    );
}
