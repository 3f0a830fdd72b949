//! Compose reading: a complete good file, and every bad file under
//! `tests/compose/bad`, each of which names its expected error in its first
//! line (`# error: ...`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn cases(folder: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compose")
        .join(folder)
}

#[test]
fn reads_every_supported_field() {
    let file = cases("good").join("full.yaml");
    let project = load(&file).expect("full.yaml is valid");
    assert_eq!(project.name.as_deref(), Some("shop"));
    let web = &project.services["web"];
    let build = web.build.as_ref().expect("build");
    assert_eq!(build.context, cases("good").join("./app"));
    assert_eq!(build.dockerfile.as_deref(), Some("Dockerfile.prod"));
    assert_eq!(build.args.get("FEATURES"), Some(&None));
    assert_eq!(
        web.ports[0],
        Port {
            target: 80,
            published: Some(8080),
            host_ip: None,
            protocol: Protocol::Tcp
        }
    );
    assert_eq!(web.ports[1].published, Some(9091));
    // environment overrides env_file; numbers and booleans become strings.
    assert_eq!(
        web.environment.get("APP_MODE"),
        Some(&Some("production".into()))
    );
    assert_eq!(web.environment.get("FROM_FILE"), Some(&Some("yes".into())));
    assert_eq!(web.environment.get("WORKERS"), Some(&Some("4".into())));
    assert_eq!(web.environment.get("DEBUG"), Some(&Some("false".into())));
    assert_eq!(
        web.command.as_deref(),
        Some(
            &[
                "serve".to_owned(),
                "--port".into(),
                "80".into(),
                "--name=the shop".into()
            ][..]
        )
    );
    let health = web.healthcheck.as_ref().expect("healthcheck");
    assert_eq!(health.start_period, Some(Duration::from_secs(90)));
    assert_eq!(health.timeout, Some(Duration::from_millis(500)));
    let update = web.deploy.update_config.as_ref().expect("update_config");
    assert_eq!(web.deploy.replicas, Some(2));
    assert_eq!(update.failure_action, Some(FailureAction::Rollback));
    assert_eq!(update.order, Some(Order::StartFirst));
    assert_eq!(update.monitor, Some(Duration::from_secs(30)));
    assert_eq!(
        web.deploy.rollback_config.as_ref().and_then(|c| c.order),
        Some(Order::StopFirst)
    );
    assert_eq!(web.stop_grace_period, Some(Duration::from_secs(15)));
    assert_eq!(
        web.labels.get("com.example.tier"),
        Some(&Some("front".into()))
    );
    assert_eq!(web.networks.0["front"].aliases, vec!["shop".to_owned()]);
    assert_eq!(web.init, Some(true));
    let x = &web.windlass;
    assert_eq!(
        web.proxy_address(),
        Some("127.0.0.1:18080".parse().expect("addr"))
    );
    assert_eq!(web.routed_port(), Some(80));
    assert_eq!(x.health.http.as_deref(), Some("/healthz"));
    assert_eq!(x.watch, Some(Duration::from_secs(30)));
    assert_eq!(x.rollback_on.p99_latency, Some(Duration::from_millis(250)));
    assert_eq!(x.retain, Some(5));
    assert_eq!(
        x.hooks.before_switch,
        vec![Hook {
            command: Some(vec!["/app".into(), "migrate".into()]),
            state: None
        }]
    );
    assert_eq!(
        x.hooks.after_switch,
        vec![Hook {
            command: None,
            state: Some(serde_json::json!({"Type": "Pass", "Result": {"warmed": true}}))
        }]
    );
    let worker = &project.services["worker"];
    assert_eq!(worker.image.as_deref(), Some("registry.local/worker:1"));
    assert_eq!(worker.environment.get("TOKEN"), Some(&None));
    assert_eq!(worker.proxy_address(), None);
    assert_eq!(project.networks["front"].driver.as_deref(), Some("bridge"));
}

#[test]
fn proxy_address_defaults_to_the_first_published_port_on_loopback() {
    let text = "services:\n  web:\n    image: web\n    ports: [\"80\", \"8080:80\"]\n";
    let project = parse(text, Path::new("compose.yaml")).expect("valid");
    assert_eq!(
        project.services["web"].proxy_address(),
        Some("127.0.0.1:8080".parse().expect("addr"))
    );
}

#[test]
fn every_bad_file_gives_its_expected_error() {
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(cases("bad"))
        .expect("tests/compose/bad")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    let mut failures = Vec::new();
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("readable case");
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{} must start with `# error: ...`", path.display()));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match parse(&text, Path::new(&name)) {
            Ok(_) => failures.push(format!("{name}: accepted, expected {expected}")),
            Err(err) if err.to_string() == expected => {}
            Err(err) => failures.push(format!("{name}:\n  expected {expected}\n  got      {err}")),
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 10, "only {checked} bad files");
}

#[test]
fn a_missing_file_says_which() {
    let err = load(Path::new("/nonexistent/compose.yaml")).expect_err("missing");
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/compose.yaml:"),
        "{err}"
    );
}
