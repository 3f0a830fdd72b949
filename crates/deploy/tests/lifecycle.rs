//! Compose's lifecycle hooks on the real engine (busybox from Debian's
//! busybox-static in a `FROM scratch` image): a `post_start` command writes
//! the file the app waits for and copies into its volume before it is
//! healthy; a `pre_stop` command writes to the volume as its release is
//! stopped for the next one, read back once that release is retired; a
//! `post_start` that fails fails the deploy with its command, exit code and
//! output, and the release before serves again.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::{RunState, APP_LABEL, SERVICE_LABEL};
use windlass_deploy::Backend;
use windlass_engine::{Outcome, Status};

const APP: &str = "wllife-app";
const SERVICE: &str = "wllife";

/// The app's file: it waits for /tmp/ready, which only its `post_start`
/// writes, and copies it to the volume; `post_start` here is `hook`.
fn compose(version: &str, post_start: &str) -> String {
    format!(
        r#"name: {APP}
services:
  {SERVICE}:
    build: ./app
    init: true
    # No network: the test needs none, and takes no address pool of the engine's.
    network_mode: none
    stop_grace_period: 1s
    command: ["sh", "-c", "until [ -f /tmp/ready ]; do sleep 0.05; done; cat /tmp/ready >> /data/seen; touch /tmp/served; exec /bin/busybox sleep 600"]
    environment:
      VERSION: "{version}"
    volumes: ["data:/data"]
    tmpfs: [/tmp]
    healthcheck:
      test: ["CMD", "/bin/busybox", "test", "-f", "/tmp/served"]
      interval: 100ms
      timeout: 1s
      retries: 50
    post_start:
      - command: {post_start}
        environment: [GREETING=ready]
    pre_stop:
      - command: ["/bin/busybox", "sh", "-c", "echo stopped $$WINDLASS_RELEASE >> /data/stops"]
    x-windlass:
      watch: 0s
volumes:
  data:
"#
    )
}

const WRITES_READY: &str =
    r#"["/bin/busybox", "sh", "-c", "echo $$GREETING $$VERSION $$WINDLASS_RELEASE > /tmp/ready"]"#;

/// A folder with the busybox image's build context.
fn folder() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("project-wllife");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("app")).expect("project folder");
    std::fs::copy("/bin/busybox", dir.join("app/busybox"))
        .expect("Debian's busybox-static (scripts/setup installs it)");
    std::fs::write(
        dir.join("app/Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n",
    )
    .expect("Dockerfile");
    dir.join("compose.yaml")
}

/// What the one running container of the service reads in `file`.
async fn read(docker: &Docker, file: &str) -> Result<String, String> {
    let labels = BTreeMap::from([
        (APP_LABEL.to_owned(), APP.to_owned()),
        (SERVICE_LABEL.to_owned(), SERVICE.to_owned()),
    ]);
    let running: Vec<_> = docker
        .list_containers(&labels)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|c| c.state == RunState::Running)
        .collect();
    if running.len() != 1 {
        return Err(format!("{} containers run, not 1", running.len()));
    }
    let out = Command::new("docker")
        .args(["exec", &running[0].id, "/bin/busybox", "cat", file])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

async fn cleanup(docker: &Docker) {
    support::cleanup(docker, SERVICE).await;
    let _ = docker.remove_volume(&format!("{APP}_data")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_start_and_pre_stop_run_in_the_replicas() {
    let docker = Docker::connect().await.expect("Docker engine");
    cleanup(&docker).await;
    let file = folder();
    let (agent, _store) = support::agent(&docker).await;
    let result = scenario(&agent, &docker, &file).await;
    cleanup(&docker).await;
    result.expect("scenario");
}

async fn scenario(
    agent: &windlass_deploy::agent::Agent,
    docker: &Docker,
    file: &Path,
) -> Result<(), String> {
    // v1: healthy only once it read what its post_start wrote.
    let (_, finished) = support::deploy(agent, file, SERVICE, compose("v1", WRITES_READY)).await;
    if finished.status != Status::Succeeded {
        return Err(format!("v1: {:?}", finished.outcome));
    }
    assert_eq!(read(docker, "/data/seen").await?, "ready v1 r1\n");

    // v2 replaces v1 (a named volume: stop-first): v1's pre_stop ran as it
    // was stopped, and v2 read its own post_start's file.
    let (_, finished) = support::deploy(agent, file, SERVICE, compose("v2", WRITES_READY)).await;
    if finished.status != Status::Succeeded {
        return Err(format!("v2: {:?}", finished.outcome));
    }
    assert_eq!(read(docker, "/data/stops").await?, "stopped r1\n");
    assert_eq!(
        read(docker, "/data/seen").await?,
        "ready v1 r1\nready v2 r2\n"
    );

    // v3's post_start fails: the deploy fails with its command, exit code
    // and output, and v2 serves again.
    let failing = r#"["/bin/busybox", "sh", "-c", "echo no database >&2; exit 3"]"#;
    let (_, finished) = support::deploy(agent, file, SERVICE, compose("v3", failing)).await;
    let Some(Outcome::Error { error, cause }) = finished.outcome else {
        return Err(format!("v3 should fail: {:?}", finished.outcome));
    };
    assert_eq!(error, "Deploy.RolledBack", "{cause}");
    assert!(
        cause.contains("Deploy.StartFailed")
            && cause.contains("post_start[0]")
            && cause.contains("exited with code 3")
            && cause.contains("no database"),
        "{cause}"
    );
    let live = agent
        .releases()
        .live(&agent.resolve(None, SERVICE).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    assert_eq!(live.map(|l| l.release).as_deref(), Some("r2"));
    // v2 stopped for v3 (its pre_stop wrote so) and started again.
    let stops = read(docker, "/data/stops").await?;
    assert!(stops.starts_with("stopped r1\nstopped r2\n"), "{stops}");
    Ok(())
}
