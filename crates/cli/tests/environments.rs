//! `--env` on the command line: `config` and `validate` read an
//! environment's override; a typo in `--env` is refused with what to add;
//! `deploy --from` refuses an environment with nothing live (before any
//! agent starts); `releases` shows an app's environments side by side and
//! where a promoted release's image came from, `status --env` one
//! environment.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use windlass_store::releases::{
    Live, Member, NewAppRelease, NewRelease, Outcome, Releases, ServiceKey, SqliteReleases,
};

const INVALID: i32 = 1;
const REFUSED: i32 = 7;

fn scratch(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("environments-{case}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    std::fs::write(
        dir.join("compose.yaml"),
        "name: shop\nservices:\n  web:\n    image: shop-web:1\n",
    )
    .expect("compose.yaml");
    std::fs::write(
        dir.join("compose.staging.yaml"),
        "services:\n  web:\n    ports: [\"127.0.0.1:9381:8080\"]\n",
    )
    .expect("compose.staging.yaml");
    dir
}

fn windlass(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .current_dir(cwd)
        .env_remove("COMPOSE_FILE")
        .output()
        .expect("windlass runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_environment_reads_its_override_and_a_typo_is_refused() {
    let dir = scratch("read");
    let out = windlass(&dir, &["config", "--env", "staging", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(config["name"], "shop");
    assert_eq!(config["services"]["web"]["ports"][0]["published"], "9381");

    let out = windlass(&dir, &["validate", "compose.yaml", "--env", "staging"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let state = dir.join("state").display().to_string();
    let out = windlass(&dir, &["deploy", "--env", "stagign", "--state", &state]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(INVALID), "{stderr}");
    assert!(
        stderr.contains("compose.yaml:1:") && stderr.contains("compose.stagign.yaml"),
        "{stderr}"
    );
    let out = windlass(&dir, &["deploy", "--env", "Prod"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("cannot name an environment"));
}

#[test]
fn a_promotion_from_an_environment_with_nothing_live_is_refused() {
    let dir = scratch("refused");
    std::fs::write(
        dir.join("compose.production.yaml"),
        "services:\n  web:\n    ports: [\"127.0.0.1:9382:8080\"]\n",
    )
    .expect("compose.production.yaml");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state");
    SqliteReleases::open(&windlass_deploy::agent::database(&state)).expect("an empty store");
    let state_arg = state.display().to_string();
    let out = windlass(
        &dir,
        &[
            "deploy",
            "--env",
            "production",
            "--from",
            "staging",
            "--state",
            &state_arg,
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(REFUSED), "{stderr}");
    assert!(
        stderr.contains("shop.staging") && stderr.contains("no live release"),
        "{stderr}"
    );
    assert!(!state.join("agent.sock").exists(), "no agent was started");
}

/// A store where shop's staging runs web r2 and production runs web r1,
/// promoted from staging's r2 (its pinned text says so).
fn deployed(state: &Path) {
    std::fs::create_dir_all(state).expect("state folder");
    let store = SqliteReleases::open(&windlass_deploy::agent::database(state)).expect("store");
    let promoted = "name: shop\nx-windlass-env: production\nservices:\n  web:\n    image: sha256:5eed\n    pull_policy: never\nx-windlass-origin:\n  environment: staging\n  app: shop.staging\n  app_release: a2\n  services:\n    web: {release: r2, digest: 'sha256:5eed', image: 'sha256:5eed'}\n";
    for (app, count, text) in [
        (
            "shop.staging",
            2,
            "name: shop\nx-windlass-env: staging\nservices: {web: {image: w}}\n",
        ),
        ("shop.production", 1, promoted),
    ] {
        let key = ServiceKey::new(app, "web").expect("key");
        let mut members = Vec::new();
        for _ in 0..count {
            let release = store
                .create(NewRelease {
                    service: key.clone(),
                    compose_file: "/shop/compose.yaml".into(),
                    compose_text: text.into(),
                    by: "test".into(),
                    created_millis: 1,
                    fingerprint: None,
                })
                .expect("release");
            store
                .set_image(&key, &release.id, "tag", "sha256:5eed")
                .expect("image");
            store
                .set_outcome(&key, &release.id, Outcome::Live, None, None)
                .expect("outcome");
            members = vec![Member {
                service: "web".into(),
                release: release.id.clone(),
                changed: true,
            }];
            let app_release = store
                .create_app(NewAppRelease {
                    app: app.into(),
                    services: members.clone(),
                    by: "test".into(),
                    created_millis: 1,
                })
                .expect("app release");
            store
                .set_app_outcome(app, &app_release.id, Outcome::Live, None, None)
                .expect("app outcome");
        }
        store
            .set_live(&Live {
                service: key,
                release: members[0].release.clone(),
                address: "127.0.0.1:1".into(),
                upstreams: Vec::new(),
                ports: Vec::new(),
                since_millis: 1,
            })
            .expect("live");
    }
}

#[test]
fn releases_show_the_environments_side_by_side_and_where_an_image_came_from() {
    let dir = scratch("releases");
    let state = dir.join("state");
    deployed(&state);
    let state_arg = state.display().to_string();
    let out = windlass(&dir, &["releases", "--state", &state_arg]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("environments of app shop"), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("web "))
        .expect("a row for web");
    assert!(
        row.contains("r2 5eed") && row.contains("r1 5eed < staging r2"),
        "{row}"
    );
    assert!(
        stdout.contains("promoted from staging release a2"),
        "{stdout}"
    );

    let out = windlass(
        &dir,
        &[
            "releases",
            "web",
            "--env",
            "production",
            "--json",
            "--state",
            &state_arg,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(rows[0]["origin"]["environment"], "staging");
    assert_eq!(rows[0]["origin"]["services"]["web"]["release"], "r2");

    let out = windlass(
        &dir,
        &[
            "status", "--env", "staging", "--json", "--state", &state_arg,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        status["services"][0]["service"], "shop.staging/web",
        "{status}"
    );
    assert_eq!(status["services"].as_array().map(Vec::len), Some(1));
}
