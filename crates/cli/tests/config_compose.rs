//! `windlass config` through the real binary: the shop project (two files,
//! an include, `.env`) printed in Compose's canonical form, in YAML and in
//! JSON, and a refused file printing nothing but its problems.

use std::path::PathBuf;
use std::process::{Command, Output};

fn corpus(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/tests/compose")
        .join(path)
}

fn config(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
        .arg("config")
        .args(args)
        .env_remove("COMPOSE_PROFILES")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_FILE")
        .output()
        .expect("run windlass config")
}

fn shop_args(extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "-f".to_owned(),
        corpus("shop/compose.yaml").display().to_string(),
        "-f".to_owned(),
        corpus("shop/compose.override.yaml").display().to_string(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args
}

#[test]
fn the_shop_prints_in_canonical_form() {
    let args = shop_args(&[]);
    let out = config(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_norway::from_str(&stdout).expect("YAML on stdout");
    assert_eq!(doc["name"], "shop");
    let api = &doc["services"]["api"];
    // The override's port over the base's, in the long syntax.
    let ports = api["ports"].as_array().expect("ports");
    assert!(
        ports.iter().any(|p| p["target"] == 3000
            && p["published"] == "3001"
            && p["host_ip"] == "127.0.0.1"
            && p["mode"] == "ingress"
            && p["protocol"] == "tcp"),
        "{stdout}"
    );
    assert_eq!(api["image"], "registry.local/shop-api:1.4.2", "{stdout}");
    assert_eq!(api["environment"]["LOG_LEVEL"], "debug", "{stdout}");
    assert_eq!(
        api["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    // The included file's services, and every named network with its name.
    assert!(doc["services"]["postgres"].is_object(), "{stdout}");
    assert_eq!(doc["networks"]["back"]["name"], "shop_back", "{stdout}");
    // The build context absolute, its Dockerfile named.
    let web = &doc["services"]["web"]["build"];
    let context = std::fs::canonicalize(corpus("shop/web")).expect("shop/web");
    assert_eq!(web["context"], context.display().to_string());
    assert_eq!(web["dockerfile"], "Dockerfile");
}

#[test]
fn json_is_the_same_document() {
    let yaml = config(
        &shop_args(&[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let json = config(
        &shop_args(&["--format", "json"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(json.status.code(), Some(0));
    let mut from_yaml: serde_json::Value = serde_norway::from_slice(&yaml.stdout).expect("YAML");
    let mut from_json: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    // compose-go's JSON form: every network has an `ipam`, every service
    // a `command` and an `entrypoint`, even null.
    for network in from_json["networks"]
        .as_object_mut()
        .expect("networks")
        .values_mut()
    {
        assert_eq!(network["ipam"], serde_json::json!({}));
        network.as_object_mut().expect("network").remove("ipam");
    }
    for service in from_json["services"]
        .as_object_mut()
        .expect("services")
        .values_mut()
    {
        let service = service.as_object_mut().expect("service");
        for key in ["command", "entrypoint"] {
            assert!(service.contains_key(key));
            if service[key].is_null() {
                service.remove(key);
            }
        }
    }
    // compose-go's JSON keeps the project's `x-` extensions only: a
    // service's are YAML's alone.
    for service in from_yaml["services"]
        .as_object_mut()
        .expect("services")
        .values_mut()
    {
        let service = service.as_object_mut().expect("service");
        let extensions: Vec<String> = service
            .keys()
            .filter(|k| k.starts_with("x-"))
            .cloned()
            .collect();
        assert!(
            extensions.iter().all(|k| !from_json["services"]
                .to_string()
                .contains(&format!("\"{k}\""))),
            "no service extension in JSON"
        );
        for key in extensions {
            service.remove(&key);
        }
    }
    assert_eq!(from_json, from_yaml);
}

#[test]
fn a_refused_file_prints_only_its_problems() {
    let file = corpus("bad/many.yaml");
    let out = config(&["-f", &file.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout for a refused file"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("services.web.restart: invalid restart policy"),
        "{stderr}"
    );
}

#[test]
fn services_lists_the_names() {
    let out = config(
        &shop_args(&["--services"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(0));
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for name in ["web", "api", "worker", "postgres", "redis"] {
        assert!(names.iter().any(|n| n == name), "{names:?}");
    }
}

/// Strings a YAML 1.1 reader (PyYAML, Compose v1) would take for booleans,
/// numbers or null come out quoted, as `docker compose config` quotes them:
/// the printed file read by PyYAML gives back every value as the string it
/// was.
#[test]
fn strings_stay_strings_for_a_yaml_1_1_reader() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("config-yaml11");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let values = [
        "no", "yes", "on", "off", "y", "N", "true", "1.0", "~", "null", "1:20", "012", "",
    ];
    let mut compose = String::from("services:\n  web:\n    image: web:1\n    environment:\n");
    for (i, value) in values.iter().enumerate() {
        compose.push_str(&format!("      V{i:02}: \"{value}\"\n"));
    }
    compose
        .push_str("    command: [\"echo\", \"off\", \"yes\"]\n    labels:\n      \"on\": \"no\"\n");
    std::fs::write(dir.join("compose.yaml"), &compose).expect("compose.yaml");
    let out = config(&["-f", &dir.join("compose.yaml").display().to_string()]);
    assert_eq!(out.status.code(), Some(0));
    let reader = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)['services']['web']))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with PyYAML (awscli's)");
    use std::io::Write;
    reader
        .stdin
        .as_ref()
        .expect("stdin")
        .write_all(&out.stdout)
        .expect("write");
    let read = reader.wait_with_output().expect("python3");
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let web: serde_json::Value = serde_json::from_slice(&read.stdout).expect("json");
    for (i, value) in values.iter().enumerate() {
        assert_eq!(
            web["environment"][format!("V{i:02}")],
            serde_json::json!(value),
            "V{i:02} in:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert_eq!(web["command"], serde_json::json!(["echo", "off", "yes"]));
    assert_eq!(web["labels"], serde_json::json!({"on": "no"}));
}

/// With no Compose file in the current folder, the nearest parent folder's
/// is read, as `docker compose` walks up to find one; stderr says which
/// (once), and the project is that folder's (its name, its `.env`).
#[test]
fn a_parent_folder_s_file_is_found_and_named() {
    let top = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("config-parent");
    let _ = std::fs::remove_dir_all(&top);
    let deep = top.join("ut2app/src/lib");
    std::fs::create_dir_all(&deep).expect("dirs");
    std::fs::write(
        top.join("ut2app/compose.yaml"),
        "services:\n  web:\n    image: web:${TAG}\n",
    )
    .expect("compose.yaml");
    std::fs::write(top.join("ut2app/.env"), "TAG=7\n").expect(".env");
    let run = |dir: &PathBuf| {
        Command::new(env!("CARGO_BIN_EXE_windlass"))
            .arg("config")
            .current_dir(dir)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("TAG")
            .output()
            .expect("run windlass config")
    };
    let out = run(&deep);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let file = top.join("ut2app/compose.yaml");
    assert_eq!(
        stderr.matches(&format!("using {}", file.display())).count(),
        1,
        "{stderr}"
    );
    assert!(stdout.contains("name: ut2app\n"), "{stdout}");
    assert!(stdout.contains("image: web:7\n"), "{stdout}");
    // In the file's own folder nothing is said.
    let out = run(&top.join("ut2app"));
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
