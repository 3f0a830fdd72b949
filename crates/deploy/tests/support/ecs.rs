//! What the ECS tests and benchmark on fakecloud share: the test app's
//! image with a shell, the Compose file of each version, and requests to
//! the running task's published loopback port.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use windlass_aws::model::Model;
use windlass_aws::{Client, Service};
use windlass_deploy::target::ecs::run::Report;

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
