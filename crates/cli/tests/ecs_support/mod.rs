//! What the CLI's ECS tests share: fakecloud with the cluster made and a
//! project folder of the test app, the `windlass` binary run against it
//! (AWS_ENDPOINT_URL, the state folder in the project), and the Compose
//! file of each version.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;

use crate::support::ecs::{compose, with_shell, Cloud};

/// fakecloud with the cluster made, and a project folder for `case`.
pub async fn start(case: &str) -> (Cloud, PathBuf) {
    let cloud = Cloud::start().await;
    let dir = with_shell(crate::support::project(case));
    (cloud, dir)
}

/// The `windlass` binary in `dir` with the state folder `dir/state`,
/// calling AWS at `endpoint`.
pub fn windlass(dir: &Path, endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
    command
        .args(args)
        .current_dir(dir)
        .env("WINDLASS_STATE", dir.join("state"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1");
    command
}

/// Runs `windlass args` to its end.
pub fn run(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    windlass(dir, endpoint, args)
        .output()
        .expect("windlass runs")
}

/// What a run printed, stdout then stderr.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes `dir/compose.yaml` for `version` on a free published port.
pub fn write_compose(dir: &Path, version: &str, crash: bool) {
    let port = crate::support::free_port();
    std::fs::write(dir.join("compose.yaml"), compose(version, port, crash)).expect("compose.yaml");
}

/// `windlass deploy --target ecs` of `version`.
pub fn deploy(dir: &Path, endpoint: &str, version: &str, crash: bool) -> Output {
    write_compose(dir, version, crash);
    run(dir, endpoint, &["deploy", "--target", "ecs"])
}

/// `windlass releases KEY --json` as JSON rows.
pub fn releases_json(dir: &Path, endpoint: &str, key: &str) -> Json {
    let listed = run(dir, endpoint, &["releases", key, "--json"]);
    assert!(listed.status.success(), "{}", text(&listed));
    serde_json::from_slice(&listed.stdout).expect("JSON")
}

/// Release `id`'s row of [`releases_json`].
pub fn row(rows: &Json, id: &str) -> Json {
    rows.as_array()
        .expect("rows")
        .iter()
        .find(|r| r["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no release {id} in {rows}"))
}
