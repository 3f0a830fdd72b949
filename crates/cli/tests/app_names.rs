//! The CLI names an app's service: `APP/SERVICE`, `--app`, the app of the
//! Compose file in the current folder, or a bare name only one app has; a
//! bare name two apps share is refused (exit code 7) with the choices.
//! `deploy --dry-run` prints its plan without starting an agent or a proxy.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use windlass_store::releases::{Live, NewRelease, Outcome, Releases, ServiceKey, SqliteReleases};

const REFUSED: i32 = 7;

/// A fresh folder for `case` under the test's temporary directory.
fn scratch(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("app-names-{case}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
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

/// A store in `state` where the n-th of `apps` (from 0) has a `web` with
/// n + 1 releases, the newest live.
fn deployed(state: &Path, apps: &[&str]) {
    std::fs::create_dir_all(state).expect("state folder");
    let releases =
        SqliteReleases::open(&windlass_deploy::agent::database(state)).expect("the store");
    for (n, app) in apps.iter().enumerate() {
        let key = ServiceKey::new(*app, "web").expect("a key");
        for _ in 0..n {
            releases
                .create(NewRelease {
                    service: key.clone(),
                    compose_file: format!("/{app}/compose.yaml"),
                    compose_text: format!("name: {app}\nservices:\n  web:\n    image: web\n"),
                    by: "test".into(),
                    created_millis: 1,
                    fingerprint: None,
                })
                .expect("release");
        }
        let release = releases
            .create(NewRelease {
                service: key.clone(),
                compose_file: format!("/{app}/compose.yaml"),
                compose_text: format!("name: {app}\nservices:\n  web:\n    image: web\n"),
                by: "test".into(),
                created_millis: 1,
                fingerprint: None,
            })
            .expect("release");
        releases
            .set_outcome(&key, &release.id, Outcome::Live, None, None)
            .expect("outcome");
        releases
            .set_live(&Live {
                service: key,
                release: release.id,
                address: format!("127.0.0.1:{}", 9100 + n),
                upstreams: Vec::new(),
                ports: Vec::new(),
                since_millis: 1,
            })
            .expect("live");
    }
}

#[test]
fn a_bare_name_two_apps_share_is_refused_and_an_app_settles_it() {
    let dir = scratch("bare");
    let state = dir.join("state");
    deployed(&state, &["shop", "blog"]);
    let state_arg = state.display().to_string();

    let refused = windlass(&dir, &["releases", "web", "--state", &state_arg]);
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(REFUSED), "{stderr}");
    assert!(
        stderr.contains("shop/web") && stderr.contains("blog/web") && stderr.contains("--app"),
        "{stderr}"
    );

    for args in [
        vec!["releases", "--app", "shop", "web", "--json"],
        vec!["releases", "shop/web", "--json"],
    ] {
        let out = windlass(&dir, &[&args[..], &["--state", &state_arg]].concat());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(rows[0]["id"], "r1", "{args:?}");
        assert_eq!(rows[0]["live"], true, "{args:?}");
    }

    // In a folder whose Compose file is blog's, `web` is blog's.
    let blog = dir.join("blog");
    std::fs::create_dir_all(&blog).expect("blog folder");
    std::fs::write(
        blog.join("compose.yaml"),
        "name: blog\nservices:\n  web:\n    image: web\n",
    )
    .expect("compose.yaml");
    let out = windlass(&blog, &["releases", "web", "--json", "--state", &state_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let ids: Vec<&str> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids, ["r2", "r1"], "blog's web, not shop's");

    let out = windlass(
        &blog,
        &["status", "--app", "blog", "--json", "--state", &state_arg],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(status["services"][0]["service"], "blog/web", "{status}");
    assert_eq!(status["services"].as_array().map(Vec::len), Some(1));
}

/// Whether a process runs with `needle` in its command line.
fn runs_with(needle: &str) -> bool {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries.flatten().any(|entry| {
                std::fs::read(entry.path().join("cmdline"))
                    .map(|cmdline| text(&cmdline).contains(needle))
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

#[test]
fn a_dry_run_starts_no_agent_and_no_proxy() {
    let dir = scratch("dry-run");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state folder");
    deployed(&state, &["shop"]);
    std::fs::write(
        dir.join("compose.yaml"),
        "name: shop\nservices:\n  web:\n    image: windlass-test/none:1\n    ports: [\"127.0.0.1:9199:80\"]\n",
    )
    .expect("compose.yaml");
    let state_arg = state.display().to_string();
    let out = windlass(
        &dir,
        &["deploy", "--dry-run", "--json", "--state", &state_arg],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(plan["app"], "shop");
    assert_eq!(plan["services"][0]["service"], "web");
    assert_eq!(
        plan["services"][0]["live"], "r1",
        "read from the store: {plan}"
    );
    assert_eq!(plan["services"][0]["deploy"], true, "{plan}");
    for file in ["agent.addr", "proxy.pid"] {
        assert!(!state.join(file).exists(), "{file} appeared");
    }
    assert!(
        !runs_with(&state_arg),
        "a windlass process runs for the state folder"
    );
}
