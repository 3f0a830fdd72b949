//! The real binary and agent: `deploy --env staging`, then `deploy --env
//! production --from staging` (staging's image, production's port and
//! configuration, read from the store beside the running agent), a new
//! staging release rolled back with `rollback --env staging`, and `down
//! --env staging`, under load on both environments' ports: production
//! serves throughout, and no request to either fails.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use windlass_deploy::backend::docker::Docker;

const APP: &str = "wlcenv-shop";

fn write_files(dir: &Path, ports: (u16, u16), staging_version: &str) {
    std::fs::write(
        dir.join("compose.yaml"),
        format!("name: {APP}\nservices:\n  web:\n    build: ./app\n    init: true\n    stop_grace_period: 2s\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 0s\n"),
    )
    .expect("compose.yaml");
    for (env, port, version) in [
        ("staging", ports.0, staging_version),
        ("production", ports.1, "production"),
    ] {
        std::fs::write(
            dir.join(format!("compose.{env}.yaml")),
            format!("services:\n  web:\n    ports: [\"127.0.0.1:{port}:8080\"]\n    environment:\n      TESTAPP_VERSION: {version}\n"),
        )
        .expect("override");
    }
}

fn windlass(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .arg("--state")
        .arg(dir.join("state"))
        .current_dir(dir)
        .env_remove("COMPOSE_FILE")
        .output()
        .expect("windlass runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

async fn version(port: u16) -> String {
    let client: support::LoadClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let uri = format!("http://127.0.0.1:{port}/version")
        .parse()
        .expect("uri");
    support::answer(&client, &uri)
        .await
        .expect("an answer")
        .body
}

async fn cleanup(docker: &Docker) {
    let staging = format!("{APP}.staging");
    let production = format!("{APP}.production");
    support::cleanup_apps(docker, &[&staging, &production]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staging_is_promoted_to_production_by_the_cli_under_load() {
    let docker = Docker::connect().await.expect("Docker engine");
    cleanup(&docker).await;
    let dir = support::project("cli-env-promotion");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state");
    let ports = (support::free_port(), support::free_port());
    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    write_files(&dir, ports, "staging-v1");
    let mut agent = support::agent_process(Path::new(env!("CARGO_BIN_EXE_windlass")), &state);

    windlass(&dir, &["deploy", "--env", "staging"]);
    let staging_load = support::Load::start(at(ports.0), 2);
    let promoted = windlass(
        &dir,
        &["deploy", "--env", "production", "--from", "staging"],
    );
    let said = String::from_utf8_lossy(&promoted.stderr);
    assert!(
        said.contains("promoting staging of wlcenv-shop.staging"),
        "{said}"
    );
    let production_load = support::Load::start(at(ports.1), 2);
    assert_eq!(version(ports.0).await, "staging-v1");
    assert_eq!(version(ports.1).await, "production");

    let listed = windlass(&dir, &["releases"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("environments of app wlcenv-shop") && listed.contains("< staging r1"),
        "{listed}"
    );

    // A new staging release, rolled back: production does not move.
    write_files(&dir, ports, "staging-v2");
    windlass(&dir, &["deploy", "--env", "staging"]);
    assert_eq!(version(ports.0).await, "staging-v2");
    windlass(&dir, &["rollback", "--env", "staging"]);
    assert_eq!(version(ports.0).await, "staging-v1");
    assert_eq!(version(ports.1).await, "production");

    let staging_seen = staging_load.stop().await;
    windlass(&dir, &["down", "--env", "staging"]);
    assert_eq!(version(ports.1).await, "production");
    let production_seen = production_load.stop().await;
    let _ = agent.kill();
    let _ = agent.wait();
    support::stop_proxy(&state);
    for (name, seen) in [("staging", staging_seen), ("production", production_seen)] {
        eprintln!(
            "{name}: {} requests, {} failed, by release {:?}",
            seen.requests, seen.failed, seen.by_release
        );
        assert_eq!(seen.failed, 0, "{name}: {:?}", seen.failures);
        assert!(seen.requests > 0, "{name} saw no request");
    }
    cleanup(&docker).await;
}
