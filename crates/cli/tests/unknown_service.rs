//! A service named on the command line that the Compose file does not
//! have, through the real binary: refused before anything is asked of an
//! agent or the engine, the file and its services named, exit 7 (as an
//! unknown service is for `rollback`, `releases` and `logs`), never a
//! panic (`down nosuch` panicked in `ecs::chosen`); and `logs` of a release
//! that is not there.

use std::path::PathBuf;
use std::process::Command;

const COMPOSE: &str =
    "services:\n  web:\n    image: web:1\n    ports: [\"127.0.0.1::80\"]\n  db:\n    image: db:1\n";

fn project() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("unknown-service");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("compose.yaml"), COMPOSE).expect("compose.yaml");
    dir
}

#[test]
fn a_service_the_file_does_not_have_is_refused_with_exit_7() {
    let dir = project();
    for args in [
        &["deploy", "nosuch"][..],
        &["deploy", "--dry-run", "nosuch"],
        &["deploy", "--json", "web", "nosuch"],
        &["down", "nosuch"],
        &["down", "--json", "nosuch"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(args)
            .current_dir(&dir)
            .env("WINDLASS_STATE", dir.join("state"))
            .env_remove("COMPOSE_FILE")
            .output()
            .expect("windlass runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(7), "{args:?}: {stderr}");
        assert!(
            stderr.contains("compose.yaml has no service nosuch; it has web, db"),
            "{args:?}: {stderr}"
        );
        if args.contains(&"--json") {
            // A script asking for JSON gets the refusal as JSON.
            let answer: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("a JSON object on stdout");
            assert_eq!(answer["error"]["code"], "refused", "{args:?}");
            assert_eq!(answer["error"]["exit"], 7, "{args:?}");
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.ends_with("has no service nosuch; it has web, db")),
                "{args:?}: {answer}"
            );
        } else {
            assert!(output.stdout.is_empty(), "{args:?}");
        }
        assert!(
            !dir.join("state").exists(),
            "{args:?}: no agent was started"
        );
    }
}

/// A file whose every service has `profiles` (hoppscotch's), deployed with
/// none enabled: said so, not "no services: declare at least one".
#[test]
fn every_service_left_out_by_profiles_is_said_so() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("all-profiles");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  aio:\n    image: aio:1\n    profiles: [default]\n  backend:\n    image: backend:1\n    profiles: [backend]\n",
    )
    .expect("compose.yaml");
    for args in [&["deploy"][..], &["deploy", "--dry-run"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(args)
            .current_dir(&dir)
            .env("WINDLASS_STATE", dir.join("state"))
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROFILES")
            .output()
            .expect("windlass runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(7), "{args:?}: {stderr}");
        assert!(
            stderr.contains("compose.yaml: every service is left out by profiles (aio, backend): enable one with --profile NAME"),
            "{args:?}: {stderr}"
        );
        assert!(
            !dir.join("state").exists(),
            "{args:?}: no agent was started"
        );
    }
}

/// `logs --release` of a release the service never had, or of one whose
/// containers are gone (rolled back, retired): a refusal (exit 7) that
/// says which, not windlass's own failure (70, "has no containers
/// (retired?)").
#[test]
fn logs_of_a_release_without_containers_is_refused() {
    use windlass_store::releases::{NewRelease, Releases, ServiceKey, SqliteReleases};
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("logs-release");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let store = SqliteReleases::open(&dir.join("windlass.db")).expect("store");
    store
        .create(NewRelease {
            service: ServiceKey::new("wllogs", "web").expect("key"),
            compose_file: "compose.yaml".into(),
            compose_text: COMPOSE.into(),
            by: "test".into(),
            created_millis: 0,
            fingerprint: None,
        })
        .expect("r1");
    drop(store);
    for (release, said) in [
        ("r9", "service wllogs/web has no release r9"),
        (
            "r1",
            "release r1 of wllogs/web has no containers left (deploying)",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(["logs", "wllogs/web", "--release", release, "--state"])
            .arg(&dir)
            .output()
            .expect("windlass runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(7), "{release}: {stderr}");
        assert!(stderr.contains(said), "{release}: {stderr}");
    }
}

/// Under `--json` every refusal ends with one JSON error object on stdout,
/// whichever command: a bad command line (2), a Compose file refused (1),
/// a release the app does not have (7).
#[test]
fn refusals_under_json_print_an_error_object() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("json-refusals");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  web:\n    image: web:1\n    enviroment: {A: b}\n",
    )
    .expect("compose.yaml");
    for (args, code, kind) in [
        (&["deploy", "--json", "--bogus"][..], 2, "usage"),
        (&["deploy", "--json"], 1, "invalid"),
        (&["down", "--json"], 1, "invalid"),
        (&["releases", "--json", "nosuch/web"], 7, "refused"),
        (&["rollback", "--json", "nosuch/web"], 7, "refused"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(args)
            .current_dir(&dir)
            .env("WINDLASS_STATE", dir.join("state"))
            .env_remove("COMPOSE_FILE")
            .output()
            .expect("windlass runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        let answer: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is no JSON ({e}): {stderr}"));
        assert_eq!(answer["error"]["code"], kind, "{args:?}: {answer}");
        assert_eq!(answer["error"]["exit"], code, "{args:?}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
        if code == 1 {
            assert!(
                answer["error"]["problems"][0]
                    .as_str()
                    .is_some_and(|p| p.contains("enviroment")),
                "{args:?}: the file's problems are listed: {answer}"
            );
        }
    }
}

/// A misspelt service name is answered with the nearest one.
#[test]
fn a_misspelt_service_is_answered_with_the_nearest_name() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("misspelt-service");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("compose.yaml"), COMPOSE).expect("compose.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["deploy", "--dry-run", "wbe"])
        .current_dir(&dir)
        .env("WINDLASS_STATE", dir.join("state-misspelt"))
        .env_remove("COMPOSE_FILE")
        .output()
        .expect("windlass runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(7), "{stderr}");
    assert!(
        stderr.contains("compose.yaml has no service wbe (did you mean web?); it has web, db"),
        "{stderr}"
    );
}
