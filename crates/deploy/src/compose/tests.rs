//! Compose reading: a complete good file read field by field, and the
//! corpus under `tests/compose` run as data (see
//! `the_corpus_gives_its_expected_diagnostics_and_plans`).

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
    assert_eq!(web.ports[0], Port::tcp(80, Some(8080)));
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
        web.published_ports()[0].listen,
        "127.0.0.1:18080".parse().expect("addr")
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
            state: None,
            lambda: None,
        }]
    );
    assert_eq!(
        x.hooks.after_switch,
        vec![Hook {
            command: None,
            state: Some(serde_json::json!({"Type": "Pass", "Result": {"warmed": true}})),
            lambda: None,
        }]
    );
    let worker = &project.services["worker"];
    assert_eq!(worker.image.as_deref(), Some("registry.local/worker:1"));
    assert_eq!(worker.environment.get("TOKEN"), Some(&None));
    assert!(worker.published_ports().is_empty() && !worker.has_proxy());
    assert_eq!(project.networks["front"].driver.as_deref(), Some("bridge"));
}

/// Every entry of `ports` gets a proxy where Compose would publish it:
/// every interface when no host IP is written, a port the system picks
/// when no published port is.
#[test]
fn every_published_port_gets_a_proxy_where_compose_publishes_it() {
    let text = "services:\n  web:\n    image: web\n    ports: [\"80\", \"8080:80\", \"127.0.0.1:8443:443\", \"[::1]:9000-9001:9000-9001\", \"5353:53/udp\", {target: 81, published: 8081, app_protocol: http}]\n    x-windlass: {health: {http: /health}}\n";
    let project = parse(text, Path::new("compose.yaml")).expect("valid");
    let listening: Vec<(String, u16, Protocol, bool)> = project.services["web"]
        .published_ports()
        .into_iter()
        .map(|p| (p.listen.to_string(), p.target, p.protocol, p.http))
        .collect();
    let tcp = Protocol::Tcp;
    assert_eq!(
        listening,
        vec![
            ("[::]:0".to_owned(), 80, tcp, true),
            ("[::]:8080".to_owned(), 80, tcp, true),
            ("127.0.0.1:8443".to_owned(), 443, tcp, false),
            ("[::1]:9000".to_owned(), 9000, tcp, false),
            ("[::1]:9001".to_owned(), 9001, tcp, false),
            ("[::]:5353".to_owned(), 53, Protocol::Udp, false),
            ("[::]:8081".to_owned(), 81, tcp, true),
        ]
    );
}

#[test]
fn a_port_published_twice_is_refused() {
    let text = "services:\n  web:\n    image: web\n    ports: [\"8080:80\", \"8080:81\", \"8080:80/udp\"]\n";
    let error = parse(text, Path::new("compose.yaml")).expect_err("refused");
    assert!(error.to_string().contains("published twice"), "{error}");
}

/// The corpus: every `NAME.expect` under `tests/compose` names
/// its case. Its header lines say how to read it (`# files: a.yaml b.yaml`,
/// default `NAME.yaml`; `# env: K=V ...`; `# profiles: a,b`); the rest is
/// what `check_files` must give: every diagnostic, then the summary of a
/// good project, with the case folder left out of paths. The environment is
/// only what the header gives, so that the machine's does not leak in.
/// `WINDLASS_BLESS=1` rewrites the expectations from what is read.
#[test]
fn the_corpus_gives_its_expected_diagnostics_and_plans() {
    let mut cases = Vec::new();
    let mut folders = vec![cases_dir("")];
    while let Some(dir) = folders.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("corpus folder")
            .filter_map(Result::ok)
        {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "expect") {
                cases.push(path);
            }
        }
    }
    cases.sort();
    let bless = std::env::var_os("WINDLASS_BLESS").is_some();
    let mut failures = Vec::new();
    let (mut good, mut bad) = (0, 0);
    for case in &cases {
        let (header, expected, actual) = run_case(case);
        if actual.starts_with("project ") || actual.lines().any(|l| l.starts_with("project ")) {
            good += 1;
        } else {
            bad += 1;
        }
        if bless {
            std::fs::write(case, format!("{header}{actual}")).expect("bless");
        } else if actual != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{actual}",
                case.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(cases.len() >= 30, "only {} corpus cases", cases.len());
    assert!(good >= 8 && bad >= 15, "{good} good and {bad} bad cases");
}

fn cases_dir(folder: &str) -> PathBuf {
    cases(folder)
}

/// The case's header, its expected text and what was read.
fn run_case(case: &Path) -> (String, String, String) {
    let text = std::fs::read_to_string(case).expect("readable case");
    let dir = case.parent().expect("folder");
    let stem = case
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut files = vec![dir.join(format!("{stem}.yaml"))];
    let mut options = Options::default();
    let mut header = String::new();
    let mut body = String::new();
    for line in text.lines() {
        if !body.is_empty() || !line.starts_with("# ") {
            body.push_str(line);
            body.push('\n');
            continue;
        }
        header.push_str(line);
        header.push('\n');
        if let Some(list) = line.strip_prefix("# files: ") {
            files = list.split_whitespace().map(|f| dir.join(f)).collect();
        } else if let Some(vars) = line.strip_prefix("# env: ") {
            for pair in vars.split_whitespace() {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                options.environment.insert(k.into(), v.into());
            }
        } else if let Some(list) = line.strip_prefix("# profiles: ") {
            options.profiles = list.split(',').map(str::to_owned).collect();
        }
    }
    let (project, diagnostics) = check_files(&files, &options);
    let mut actual = String::new();
    for d in &diagnostics {
        actual.push_str(&d.to_string());
        actual.push('\n');
    }
    if let Some(project) = project {
        actual.push_str(&project.summary());
    }
    let prefix = format!("{}/", dir.display());
    (header, body, actual.replace(&prefix, ""))
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

#[test]
fn a_release_can_be_read_again_without_its_build_context() {
    let text = "services:\n  web:\n    build: ./gone\n    secrets: [token]\nsecrets:\n  token: {file: ./gone.txt}\n";
    let file = cases("bad").join("release.yaml");
    let (project, diagnostics) = check_text(text, &file, &Options::default());
    assert!(project.is_none());
    assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
    let options = Options {
        files: FileChecks::Skip,
        ..Options::default()
    };
    let (project, diagnostics) = check_text(text, &file, &options);
    assert_eq!(diagnostics, vec![]);
    let web = &project.expect("read without looking at files").services["web"];
    assert_eq!(
        web.secrets[0].content,
        Some(FileContent::File(cases("bad").join("gone.txt")))
    );
}

#[test]
fn reads_lifecycle_hooks_the_api_socket_and_raw_env_files() {
    let file = cases("good").join("lifecycle.yaml");
    let project = load(&file).expect("lifecycle.yaml is valid");
    let web = &project.services["web"];
    // `format: raw`: quotes, `$` and `${...}` kept as written.
    assert_eq!(
        web.environment.get("GREETING"),
        Some(&Some("'hello ${USER}'".into()))
    );
    assert_eq!(web.environment.get("PRICE"), Some(&Some("$5".into())));
    assert_eq!(web.env_file[0].format, EnvFormat::Raw);
    assert!(web.use_api_socket);
    assert_eq!(
        web.post_start[0].command,
        ["sh", "-c", "echo ready > /tmp/ready"]
    );
    assert_eq!(web.post_start[0].user.as_deref(), Some("root"));
    assert_eq!(web.pre_stop[0].working_dir.as_deref(), Some("/app"));
    let installation = windlass_store::releases::Installation::from("wl1");
    let key = windlass_store::releases::ServiceKey::new("shop", "web").expect("key");
    let spec = crate::plan::container_spec(&installation, &key, web, "r1", 0, "web:1", |_| None);
    let socket = spec
        .mounts
        .iter()
        .find(|m| m.target == crate::plan::API_SOCKET)
        .expect("the engine's socket is mounted");
    assert_eq!(
        socket.kind,
        crate::backend::MountKind::Bind {
            source: crate::plan::API_SOCKET.into(),
            create: false
        }
    );
}

/// A file using what only a Swarm gives meaning to: secrets and configs
/// in its store, and `deploy.placement`, `deploy.labels`,
/// `deploy.endpoint_mode`.
const SWARM_FIELDS: &str = "services:
  web:
    image: web
    secrets:
      - source: token
        target: /run/token
        uid: '100'
        mode: 0400
      - shared
    configs: [site]
    deploy:
      placement:
        constraints: [node.hostname==node1]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
      labels: {team: shop}
      endpoint_mode: vip
    x-windlass: {target: TARGET}
secrets:
  token:
    environment: TOKEN
    labels: {kind: api}
  shared:
    external: true
    name: shop-shared
configs:
  site:
    content: 'hello {{.Service.Name}}'
    template_driver: golang
";

fn swarm_fields(target: &str) -> String {
    SWARM_FIELDS.replace("TARGET", target)
}

fn with_token() -> Options {
    Options {
        environment: [("TOKEN".to_owned(), "s3cret".to_owned())].into(),
        ..Options::default()
    }
}

#[test]
fn a_file_for_a_swarm_reads_its_secrets_store_and_placement_with_swarms_meaning() {
    let file = cases("good").join("swarm.yaml");
    let (project, diagnostics) = check_text(&swarm_fields("swarm"), &file, &with_token());
    // `vip` is read, and windlass says what it does instead.
    let said: Vec<(&str, Severity)> = diagnostics
        .iter()
        .map(|d| (d.field.as_str(), d.severity))
        .collect();
    assert_eq!(
        said,
        [("services.web.deploy.endpoint_mode", Severity::Warning)],
        "{diagnostics:?}"
    );
    assert!(diagnostics[0].message.contains("dnsrr"), "{diagnostics:?}");
    let project = project.expect("read for a Swarm");
    assert_eq!(project.target, Target::Swarm);
    let web = &project.services["web"];
    let placement = web.deploy.placement.as_ref().expect("placement");
    assert_eq!(placement.constraints, ["node.hostname==node1"]);
    assert_eq!(placement.preferences[0].spread, "node.labels.zone");
    assert_eq!(placement.max_replicas_per_node, Some(2));
    assert_eq!(web.deploy.labels.get("team"), Some(&Some("shop".into())));
    assert_eq!(web.deploy.endpoint_mode, Some(EndpointMode::Vip));
    let token = &web.secrets[0];
    assert_eq!(token.target.as_deref(), Some("/run/token"));
    assert_eq!(
        (token.uid.as_deref(), token.mode),
        (Some("100"), Some(0o400))
    );
    assert_eq!(token.content, Some(FileContent::Text("s3cret".into())));
    let declared = token.declared.as_ref().expect("declared");
    assert_eq!(declared.labels.get("kind"), Some(&Some("api".into())));
    let shared = &web.secrets[1];
    assert_eq!(shared.content, None);
    assert_eq!(shared.target.as_deref(), Some("/run/secrets/shared"));
    let declared = shared.declared.as_ref().expect("declared");
    assert!(declared.external);
    assert_eq!(declared.name.as_deref(), Some("shop-shared"));
    let site = &web.configs[0];
    assert_eq!(
        site.declared
            .as_ref()
            .and_then(|d| d.template_driver.as_deref()),
        Some("golang")
    );
    // `windlass config` prints them as compose-go does.
    let environment = BTreeMap::new();
    let settings = canonical::Settings {
        environment: &environment,
        normalize: canonical::Normalize::Compose,
    };
    let printed: serde_json::Value = serde_json::from_str(&canonical::text(
        &project,
        &settings,
        canonical::Format::Json,
    ))
    .expect("json");
    let deploy = &printed["services"]["web"]["deploy"];
    assert_eq!(
        deploy["placement"]["constraints"][0],
        "node.hostname==node1"
    );
    assert_eq!(
        deploy["placement"]["preferences"][0]["spread"],
        "node.labels.zone"
    );
    assert_eq!(deploy["placement"]["max_replicas_per_node"], 2);
    assert_eq!(deploy["labels"]["team"], "shop");
    assert_eq!(deploy["endpoint_mode"], "vip");
    assert_eq!(printed["secrets"]["token"]["labels"]["kind"], "api");
    assert_eq!(printed["configs"]["site"]["template_driver"], "golang");
}

#[test]
fn the_same_file_for_one_engine_keeps_composes_one_engine_meaning() {
    let file = cases("bad").join("swarm.yaml");
    let (project, diagnostics) = check_text(&swarm_fields("docker"), &file, &with_token());
    assert!(project.is_none());
    let said: Vec<(String, Severity)> = diagnostics
        .iter()
        .map(|d| (d.field.clone(), d.severity))
        .collect();
    for (path, severity) in [
        ("secrets.token.labels", Severity::Error),
        ("secrets.shared.external", Severity::Error),
        ("configs.site.template_driver", Severity::Error),
        ("services.web.deploy.placement", Severity::Warning),
        ("services.web.deploy.labels", Severity::Warning),
        ("services.web.deploy.endpoint_mode", Severity::Warning),
    ] {
        assert!(
            said.contains(&(path.to_owned(), severity)),
            "{path}: {diagnostics:?}"
        );
    }
}

/// A Swarm's networks: the overlay driver's settings are read, a bridge's
/// option is refused with its field named.
#[test]
fn a_swarm_network_keeps_its_settings_and_a_bridge_option_is_refused() {
    let text = "name: shop\nservices:\n  web:\n    image: web\n    networks: [back]\n    x-windlass: {target: swarm}\nnetworks:\n  back:\n    internal: true\n    attachable: true\n    labels: {tier: back}\n    driver_opts: {encrypted: \"\"}\n    ipam: {config: [{subnet: 10.231.0.0/24}]}\n";
    let file = cases("good").join("swarm-network.yaml");
    let (project, diagnostics) = check_text(text, &file, &Options::default());
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let project = project.expect("read for a Swarm");
    let options = &project.services["web"].networks.0["back"].options;
    assert!(options.internal && options.attachable, "{options:?}");
    assert_eq!(options.labels.get("tier").map(String::as_str), Some("back"));
    assert_eq!(options.pools[0].subnet.as_deref(), Some("10.231.0.0/24"));
    let bridged = text.replace(
        "{encrypted: \"\"}",
        "{com.docker.network.bridge.name: br-shop}",
    );
    let (project, diagnostics) = check_text(&bridged, &file, &Options::default());
    assert!(project.is_none());
    assert_eq!(
        diagnostics[0].field, "networks.back.driver_opts.com.docker.network.bridge.name",
        "{diagnostics:?}"
    );
    assert!(
        diagnostics[0].message.contains("overlay"),
        "{diagnostics:?}"
    );
}

#[test]
fn target_swarm_given_reads_the_file_for_a_swarm_and_its_pinned_text_says_so() {
    let dir = std::env::temp_dir().join(format!("wl-swarm-target-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("compose.yaml");
    // No `x-windlass.target`: `--target swarm` chooses the Swarm.
    let text = swarm_fields("swarm").replace("    x-windlass: {target: swarm}\n", "");
    std::fs::write(&file, &text).expect("write");
    let (project, _) = check_text(&text, &file, &with_token());
    assert!(
        project.is_none(),
        "read for one engine, external is refused"
    );
    let options = Options {
        target: Some(Target::Swarm),
        ..with_token()
    };
    let (pinned, diagnostics) = pin_files(std::slice::from_ref(&file), &options);
    assert!(
        diagnostics.iter().all(|d| d.severity == Severity::Warning),
        "{diagnostics:?}"
    );
    let (project, pinned) = pinned.expect("pinned");
    assert_eq!(project.target, Target::Swarm);
    assert!(pinned.contains("x-windlass-target: swarm"), "{pinned}");
    // The agent reads the pinned text with no target given.
    let again = parse_pinned(&pinned, &file).expect("the pinned text reads for a Swarm");
    assert_eq!(again.target, Target::Swarm);
    assert!(again.extensions.is_empty(), "{:?}", again.extensions);
    assert_eq!(
        again.services["web"].secrets[0].content,
        Some(FileContent::Text("s3cret".into()))
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn on_a_swarm_a_config_has_no_driver_an_external_secret_no_source_and_networks_are_overlay() {
    let text = "services:\n  web:\n    image: web\n    configs: [site]\n    secrets: [key]\n    networks: [back, front]\n    x-windlass: {target: swarm}\nnetworks:\n  back: {driver: overlay}\n  front: {driver: bridge}\nconfigs:\n  site: {content: hi, driver: vault}\nsecrets:\n  key: {external: true, file: ./key.txt}\n";
    let file = cases("bad").join("swarm-driver.yaml");
    let options = Options {
        files: FileChecks::Skip,
        ..Options::default()
    };
    let (project, diagnostics) = check_text(text, &file, &options);
    assert!(project.is_none());
    let paths: Vec<String> = diagnostics.iter().map(|d| d.field.clone()).collect();
    assert!(
        paths.contains(&"configs.site.driver".to_owned()),
        "{diagnostics:?}"
    );
    assert!(
        paths.contains(&"secrets.key.external".to_owned()),
        "{diagnostics:?}"
    );
}

#[test]
fn a_text_pinned_for_a_swarm_keeps_its_secret_files_bytes() {
    let dir = std::env::temp_dir().join(format!("wl-swarm-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("compose.yaml");
    let text = "services:\n  web:\n    image: web\n    secrets: [token]\n    x-windlass: {target: swarm}\nsecrets:\n  token: {file: ./token.txt}\n";
    std::fs::write(&file, text).expect("compose");
    std::fs::write(dir.join("token.txt"), [0xff, b'o', b'l', b'd']).expect("token");
    let (pinned, diagnostics) = pin_files(std::slice::from_ref(&file), &Options::default());
    assert_eq!(diagnostics, vec![]);
    let (_, pinned) = pinned.expect("pinned");
    assert!(pinned.contains("x-windlass-files"), "{pinned}");
    // The file changes after the deploy: the release keeps its bytes.
    std::fs::write(dir.join("token.txt"), "new").expect("token");
    let again = parse_pinned(&pinned, &file).expect("reads");
    assert!(again.extensions.is_empty(), "{:?}", again.extensions);
    assert_eq!(
        again.services["web"].secrets[0].content,
        Some(FileContent::Bytes(vec![0xff, b'o', b'l', b'd']))
    );
    // A text pinned for one engine mounts the file as it is.
    let for_docker = text.replace("    x-windlass: {target: swarm}\n", "");
    std::fs::write(&file, for_docker).expect("compose");
    let (pinned, _) = pin_files(std::slice::from_ref(&file), &Options::default());
    let (_, pinned) = pinned.expect("pinned");
    assert!(!pinned.contains("x-windlass-files"), "{pinned}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}
