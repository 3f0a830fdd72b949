//! `windlass logs --follow` on the real engine: a release's output is
//! printed as it is written, each line under its container's name, and the
//! command ends when the containers stop.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{release_labels, ContainerSpec};
use windlass_deploy::{Backend, BuildSpec};
use windlass_store::releases::{NewRelease, Releases, ServiceKey, SqliteReleases};

const SERVICE: &str = "wllogs";
const IMAGE: &str = "windlass-test/logs:1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_prints_lines_as_they_come_and_ends_when_the_containers_stop() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("logs-follow");
    docker
        .build_image(&BuildSpec {
            context: dir.join("app"),
            tag: IMAGE.into(),
            ..BuildSpec::default()
        })
        .await
        .expect("build the test image");
    // A release of this state folder's app's service, and its container.
    let state = dir.join("state");
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).expect("state folder");
    let releases =
        SqliteReleases::open(&windlass_deploy::agent::database(&state)).expect("the store");
    let installation = releases.installation().expect("installation");
    let key = ServiceKey::new("wllogs-app", SERVICE).expect("a key");
    // The release as a deploy records it: `logs` refuses a release the
    // service does not have.
    let release = releases
        .create(NewRelease {
            service: key.clone(),
            compose_file: "/wllogs/compose.yaml".into(),
            compose_text: "name: wllogs-app\n".into(),
            by: "test".into(),
            created_millis: 1_796_601_600_000,
            fingerprint: None,
        })
        .expect("a release")
        .id;
    let spec = ContainerSpec {
        name: format!("{SERVICE}-{release}-0"),
        image: IMAGE.into(),
        command: None,
        env: BTreeMap::from([("TESTAPP_VERSION".into(), "follow-v1".into())]),
        ports: Vec::new(),
        labels: release_labels(&installation, &key, &release),
        healthcheck: None,
        network: None,
        init: true,
        stop_grace_period: Some(Duration::from_secs(1)),
        ..ContainerSpec::default()
    };
    let id = docker.create_container(&spec).await.expect("create");
    docker.start_container(&id).await.expect("start");

    let mut child = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args([
            "logs",
            &key.to_string(),
            "--release",
            &release,
            "--follow",
            "--state",
        ])
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("windlass logs");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let first = match received.recv_timeout(Duration::from_secs(20)) {
        Ok(line) => line,
        Err(e) => {
            // Say why: the command's own words, when it ended.
            let _ = child.kill();
            let output = child.wait_with_output().expect("windlass logs' output");
            panic!(
                "no line while the container runs ({e}): windlass logs {}, stderr: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
    };
    assert_eq!(
        first,
        format!("{SERVICE}-{release}-0 | testapp: version follow-v1 listening on port 8080")
    );
    // Still following: nothing ended the command yet.
    assert!(child.try_wait().expect("status").is_none());

    docker
        .stop_container(&id, Duration::from_secs(1))
        .await
        .expect("stop");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("status") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "logs --follow did not end when the container stopped"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    support::cleanup(&docker, SERVICE).await;
    let _ = docker.remove_image(IMAGE).await;
    assert!(status.success(), "{status}");
}
