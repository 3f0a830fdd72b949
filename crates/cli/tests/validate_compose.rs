//! `windlass validate` on Compose files, through the real binary: a valid
//! project (several files merged) prints its summary, a bad file gives
//! every problem with file:line:column, `--json` carries the same, and a
//! state machine beside a Compose file is still checked as one.

use std::path::PathBuf;
use std::process::{Command, Output};

fn corpus(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/tests/compose")
        .join(path)
}

fn validate(args: &[&str], files: &[PathBuf]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
        .arg("validate")
        .args(args)
        .args(files)
        .env_remove("COMPOSE_PROFILES")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .expect("run windlass validate")
}

#[test]
fn a_valid_project_prints_its_services() {
    let files = [
        corpus("shop/compose.yaml"),
        corpus("shop/compose.override.yaml"),
    ];
    let out = validate(&["--merge"], &files);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("project shop: 5 service(s)"), "{stdout}");
    assert!(
        stdout.contains("  api: image registry.local/shop-api:1.4.2; ports 127.0.0.1:3001->3000"),
        "the override's port and .env's TAG: {stdout}"
    );
    assert!(
        stdout.contains("  postgres: image postgres:16; 1 replica(s), stop-first"),
        "{stdout}"
    );
}

#[test]
fn a_bad_file_gives_every_problem_located() {
    let file = corpus("bad/many.yaml");
    let out = validate(&[], std::slice::from_ref(&file));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 10, "{stderr}");
    let prefix = format!("{}:", file.display());
    assert!(lines.iter().all(|l| l.starts_with(&prefix)), "{stderr}");
    assert!(
        lines.contains(&format!("{prefix}6:5: services.web.restart: invalid restart policy \"sometimes\": expected no, always, on-failure[:N] or unless-stopped").as_str()),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no summary for a bad file");
}

#[test]
fn json_carries_file_line_column_and_field() {
    let out = validate(&["--json"], &[corpus("bad/ports-refused.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let diagnostics = report[0]["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(report[0]["result"], "FAIL");
    assert_eq!(diagnostics.len(), 2);
    assert_eq!(diagnostics[1]["location"], "services.dns.ports[1]");
    assert_eq!(diagnostics[1]["line"], 6);
    assert_eq!(diagnostics[1]["column"], 7);
}

#[test]
fn state_machines_and_compose_files_together() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("validate-compose");
    std::fs::create_dir_all(&dir).expect("folder");
    let machine = dir.join("machine.json");
    std::fs::write(
        &machine,
        r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#,
    )
    .expect("write");
    let out = validate(&[], &[machine.clone(), corpus("good/volumes.yaml")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{}: valid", machine.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains("mounts volume good_dbdata:/var/lib/postgresql/data"),
        "{stdout}"
    );
}

/// Fields Compose honours on a plain engine validate, and the plan says
/// why a service deploys stop-first: a read-write data folder, another
/// network mode; merge keys inside merged anchors are applied.
#[test]
fn host_fields_and_nested_merge_keys_validate_with_their_strategy() {
    let cases = [
        ("good/nested-anchors.yaml", "project good: 41 service(s)"),
        (
            "good/bind-data.yaml",
            "  postgres: image postgres:16; ports 127.0.0.1:5432->5432; 1 replica(s), stop-first (it bind-mounts a directory read-write)",
        ),
        (
            "good/network-modes.yaml",
            "  edge: image edge:1; network_mode host; 1 replica(s), stop-first (network_mode host: it binds the host's ports itself",
        ),
        (
            "good/host-fields.yaml",
            "  api: image api:1; ports *:8080->80; 2 replica(s), blue/green behind windlass's proxy",
        ),
    ];
    for (file, line) in cases {
        let out = validate(&[], &[corpus(file)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(line), "{file}: {stdout}");
    }
}

#[test]
fn without_files_it_checks_the_compose_files_a_deploy_here_would_read() {
    // In the shop's folder: compose.yaml with its override, merged.
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .arg("validate")
        .current_dir(corpus("shop"))
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROFILES")
        .env_remove("COMPOSE_PROJECT_NAME")
        .output()
        .expect("run windlass validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("project shop: 5 service(s)"), "{stdout}");

    // Where there is none: it says so, and what to do.
    let empty = std::env::temp_dir().join(format!("windlass-validate-none-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("folder");
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .arg("validate")
        .current_dir(&empty)
        .env_remove("COMPOSE_FILE")
        .output()
        .expect("run windlass validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no file given, and no Compose file here: none of compose.yaml")
            && stderr.contains("windlass validate FILE..."),
        "{stderr}"
    );
    let _ = std::fs::remove_dir(&empty);
}
