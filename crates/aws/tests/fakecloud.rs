//! `ecs:runTask.sync` on fakecloud, whose ECS runs each task as a real
//! Docker container: the image (`FROM scratch` plus Debian's static
//! busybox) is built by the test and pushed to fakecloud's own ECR with the
//! password `ecr:getAuthorizationToken` gives; a task whose container exits
//! 0 succeeds once STOPPED, one that exits 3 fails with States.TaskFailed.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::json;
use support::fakecloud::Fakecloud;
use windlass_aws::model::Model;
use windlass_aws::{Client, Service};

/// Runs `docker` with `args` (and `stdin`), panicking with its output if it fails.
fn docker(config_dir: &Path, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new("docker")
        .env("DOCKER_CONFIG", config_dir)
        .env("DOCKER_BUILDKIT", "0")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("docker could not be run ({e}); the test needs the Docker engine")
        });
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes()).expect("docker's stdin");
    }
    let out = child.wait_with_output().expect("docker ends");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the job image (busybox as entrypoint) and pushes it to
/// fakecloud's ECR; returns its URI.
async fn push_image(client: &Client, work: &Path) -> String {
    let ecr = Model::of(Service::named("ecr").expect("ecr")).expect("model");
    let repository = client
        .call(
            &ecr,
            "createRepository",
            &json!({ "RepositoryName": "job" }),
            None,
        )
        .await
        .expect("createRepository");
    let uri = repository["Repository"]["RepositoryUri"]
        .as_str()
        .expect("a URI")
        .to_string();
    let token = client
        .call(&ecr, "getAuthorizationToken", &json!({}), None)
        .await
        .expect("getAuthorizationToken");
    let encoded = token["AuthorizationData"][0]["AuthorizationToken"]
        .as_str()
        .expect("a token");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    let text = String::from_utf8(decoded).expect("text");
    let password = text
        .split_once(':')
        .map(|(_, p)| p.to_string())
        .expect("AWS:password");
    std::fs::create_dir_all(work.join("context/bin")).expect("context");
    std::fs::copy("/bin/busybox", work.join("context/bin/busybox"))
        .expect("Debian's busybox-static at /bin/busybox (scripts/setup installs it)");
    std::fs::write(
        work.join("context/Dockerfile"),
        "FROM scratch\nCOPY bin/ /bin/\nENTRYPOINT [\"/bin/busybox\"]\nCMD [\"true\"]\n",
    )
    .expect("Dockerfile");
    let config = work.join("docker");
    std::fs::create_dir_all(&config).expect("docker config dir");
    let registry = uri.split('/').next().expect("a registry host");
    docker(
        &config,
        &["login", "-u", "AWS", "--password-stdin", registry],
        Some(&password),
    );
    let tag = format!("{uri}:v1");
    let context = work.join("context");
    docker(
        &config,
        &["build", "-q", "-t", &tag, context.to_str().expect("a path")],
        None,
    );
    docker(&config, &["push", "-q", &tag], None);
    docker(&config, &["rmi", &tag], None);
    tag
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecs_run_task_sync_waits_for_real_containers() {
    let fakecloud = Fakecloud::start();
    let client = Client::new(fakecloud.config());
    let work = std::env::temp_dir().join(format!("windlass-aws-fakecloud-{}", std::process::id()));
    let image = push_image(&client, &work).await;
    let run = |name: &str, command: serde_json::Value| {
        json!({ "Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.sync", "TimeoutSeconds": 120,
            "Parameters": { "Cluster": "jobs", "TaskDefinition": "job", "LaunchType": "EC2",
                "Overrides": { "ContainerOverrides": [{ "Name": "job", "Command": command }] } },
            "ResultPath": format!("$.{name}") })
    };
    let mut ok = run("ok", json!(["true"]));
    ok["Next"] = json!("Bad");
    let mut bad = run("bad", json!(["sh", "-c", "exit 3"]));
    bad["Catch"] =
        json!([{ "ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.bad", "Next": "Done" }]);
    bad["End"] = json!(true);
    let definition = json!({ "StartAt": "Cluster", "States": {
        "Cluster": { "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ecs:createCluster",
            "Parameters": { "ClusterName": "jobs" }, "ResultPath": null, "Next": "Register" },
        "Register": { "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:ecs:registerTaskDefinition",
            "Parameters": { "Family": "job", "ContainerDefinitions": [{ "Name": "job", "Image": image, "Essential": true, "Memory": 64 }] },
            "ResultPath": null, "Next": "Ok" },
        "Ok": ok,
        "Bad": bad,
        "Done": { "Type": "Succeed" } } });
    let out = support::output(fakecloud.config(), &definition, json!({})).await;
    std::fs::remove_dir_all(&work).ok();
    assert_eq!(out["ok"]["LastStatus"], "STOPPED", "{}", out["ok"]);
    assert_eq!(out["ok"]["Containers"][0]["ExitCode"], 0);
    assert_eq!(out["bad"]["Error"], "States.TaskFailed");
    let cause: serde_json::Value =
        serde_json::from_str(out["bad"]["Cause"].as_str().expect("a cause"))
            .expect("the stopped task as JSON");
    assert_eq!(cause["Containers"][0]["ExitCode"], 3);
    assert_eq!(cause["LastStatus"], "STOPPED");
}
