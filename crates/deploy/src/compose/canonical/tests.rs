//! The printer on small projects: the short syntaxes come out long, as
//! compose-go prints them, and normalisation adds what Compose adds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{text, Format, Normalize, Settings};
use crate::compose::{check_text, FileChecks, Options};

/// A project folder of its own under the temporary folder.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wl-canonical-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("project folder");
    dir
}

fn print(dir: &Path, compose: &str, normalize: Normalize, format: Format) -> String {
    let environment = BTreeMap::from([("FROM_ENV".to_owned(), "resolved".to_owned())]);
    let options = Options {
        environment: environment.clone(),
        files: FileChecks::Skip,
        ..Options::default()
    };
    let (project, diagnostics) = check_text(compose, &dir.join("compose.yaml"), &options);
    let project = project.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let settings = Settings {
        environment: &environment,
        normalize,
    };
    text(&project, &settings, format).replace(&dir.display().to_string(), "/project")
}

const SHORT: &str = "
name: shop
services:
  web:
    image: web:1
    command: serve --port 80
    ports: ['127.0.0.1:8080:80', {target: 81, published: 8081, mode: host, name: admin, app_protocol: http}]
    expose: ['9000/udp']
    environment: [MODE=prod, FROM_ENV, UNSET]
    labels: {tier: front, empty: }
    volumes: ['./site:/srv:ro', 'data:/data']
    depends_on: [db]
    healthcheck: {test: probe, interval: 90s}
    stop_grace_period: 1500ms
    networks: [back]
  db:
    image: postgres:16
networks:
  back:
volumes:
  data:
";

#[test]
fn short_syntaxes_come_out_long() {
    let dir = folder("short");
    let printed = print(&dir, SHORT, Normalize::None, Format::Yaml);
    let expected = "\
name: shop
services:
  db:
    image: postgres:16
  web:
    command:
    - serve
    - --port
    - '80'
    depends_on:
      db:
        condition: service_started
        required: true
    environment:
      FROM_ENV: resolved
      MODE: prod
      UNSET: null
    expose:
    - 9000/udp
    healthcheck:
      test:
      - CMD-SHELL
      - probe
      interval: 1m30s
    image: web:1
    labels:
      empty: ''
      tier: front
    networks:
      back: null
    ports:
    - mode: ingress
      host_ip: 127.0.0.1
      target: 80
      published: '8080'
      protocol: tcp
    - name: admin
      mode: host
      target: 81
      published: '8081'
      protocol: tcp
      app_protocol: http
    stop_grace_period: 1.5s
    volumes:
    - type: bind
      source: /project/site
      target: /srv
      read_only: true
      bind: {}
    - type: volume
      source: data
      target: /data
      volume: {}
networks:
  back: {}
volumes:
  data: {}
";
    assert_eq!(printed, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn normalisation_adds_the_default_network_and_names() {
    let dir = folder("normalized");
    let compose =
        "services:\n  api:\n    build: ./api\n    environment: {A: '1'}\nvolumes:\n  data:\n";
    let printed = print(&dir, compose, Normalize::Compose, Format::Yaml);
    let project = dir
        .file_name()
        .map(|n| n.to_string_lossy().replace('.', ""))
        .unwrap_or_default();
    let expected = format!(
        "\
name: {project}
services:
  api:
    build:
      context: /project/api
      dockerfile: Dockerfile
    environment:
      A: '1'
    networks:
      default: null
networks:
  default:
    name: {project}_default
volumes:
  data:
    name: {project}_data
"
    );
    assert_eq!(printed, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_sorts_the_top_level_and_gives_every_network_ipam() {
    let dir = folder("json");
    let compose = "name: app\nservices:\n  web:\n    image: web\n    networks: [front]\nnetworks:\n  front:\n";
    let printed = print(&dir, compose, Normalize::None, Format::Json);
    let value: serde_json::Value = serde_json::from_str(&printed).expect("JSON");
    let keys: Vec<&String> = value.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["name", "networks", "services"]);
    assert_eq!(value["networks"]["front"], serde_json::json!({"ipam": {}}));
    assert_eq!(value["services"]["web"]["command"], serde_json::Value::Null);
    assert!(value["services"]["web"]
        .as_object()
        .expect("service")
        .contains_key("entrypoint"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_obsolete_external_name_reads_as_compose_reads_it() {
    let dir = folder("external");
    let compose = "name: app\nservices:\n  web:\n    image: web\n    networks: [shared]\nnetworks:\n  shared:\n    external:\n      name: proxy-net\n";
    let printed = print(&dir, compose, Normalize::None, Format::Yaml);
    assert!(
        printed.ends_with("networks:\n  shared:\n    name: proxy-net\n    external: true\n"),
        "{printed}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn host_fields_are_printed() {
    let dir = folder("host");
    let compose = "
name: shop
services:
  app:
    image: app:1
  side:
    image: side:1
    network_mode: service:app
    volumes_from: ['app:ro']
    devices: [/dev/fuse]
    cpu_shares: 512
    mem_reservation: 64m
    pid: host
";
    let printed = print(&dir, compose, Normalize::None, Format::Yaml);
    for line in [
        "network_mode: service:app",
        "- app:ro",
        "source: /dev/fuse",
        "cpu_shares: 512",
        "mem_reservation: '67108864'",
        "pid: host",
    ] {
        assert!(printed.contains(line), "{line}: {printed}");
    }
}

#[test]
fn fixed_addresses_are_printed() {
    let dir = folder("addresses");
    let compose = "
name: shop
services:
  dns:
    image: dns:1
    networks:
      back:
        ipv4_address: 10.1.0.5
        ipv6_address: 'fd00:1::5'
networks:
  back:
    enable_ipv6: true
    ipam:
      config: [{subnet: 10.1.0.0/24}, {subnet: 'fd00:1::/64'}]
";
    let printed = print(&dir, compose, Normalize::None, Format::Yaml);
    for line in ["ipv4_address: 10.1.0.5", "ipv6_address: fd00:1::5"] {
        assert!(printed.contains(line), "{line}: {printed}");
    }
}

#[test]
fn lifecycle_hooks_and_the_api_socket_are_printed_as_compose_go_does() {
    let dir = folder("lifecycle");
    let compose = "
name: shop
services:
  web:
    image: web:1
    use_api_socket: true
    post_start:
      - command: warm --all
        user: root
        privileged: true
        environment: [MODE=warm, FROM_ENV]
    pre_stop:
      - command: [flush]
        working_dir: /app
";
    let printed = print(&dir, compose, Normalize::None, Format::Json);
    let value: serde_json::Value = serde_json::from_str(&printed).expect("JSON");
    let web = &value["services"]["web"];
    assert_eq!(web["use_api_socket"], serde_json::json!(true));
    assert_eq!(
        web["post_start"],
        serde_json::json!([{
            "command": ["warm", "--all"],
            "user": "root",
            "privileged": true,
            "environment": {"FROM_ENV": "resolved", "MODE": "warm"}
        }])
    );
    assert_eq!(
        web["pre_stop"],
        serde_json::json!([{"command": ["flush"], "working_dir": "/app"}])
    );
}
