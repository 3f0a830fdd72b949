//! The Swarm target on a real three-node Swarm (`support::swarm`), made
//! once for the tests of this file and removed after the last one; they run
//! one at a time (they publish the same ports).
//!
//! - In the agent's process: an app of two services deployed across the
//!   nodes, a new version, a version whose second service crashes rolled
//!   back as a whole, and an app rollback to the first version (a flip of
//!   the entry's routes to the warm standby), then `down`; a load generator
//!   on each published port, through a different node each, counts failed
//!   requests (none may fail).
//! - The real binary: `deploy --dry-run` starts nothing, `deploy` (the file
//!   says `x-windlass.target: swarm`), a crashing version exits 6 and the
//!   first one still serves, `releases`, `status` (the services the Swarm
//!   serves, no agent needed), `logs` (the tasks' output, from the
//!   manager), `rollback --target swarm` and `down --target swarm`.
//! - The dashboard: an app deployed by the binary is rolled back from the
//!   page of a `windlass server` whose DOCKER_HOST is the Swarm's manager
//!   (the same execution `rollback --target swarm` runs, followed through
//!   the page's API); a server that reaches another engine, or none, keeps
//!   the button off with its reason and refuses the rollback.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use support::swarm::{InProcess, Shared, Swarm};
use windlass_deploy::agent::{Agent, DownRequest, RollbackRequest};
use windlass_engine::Status;
use windlass_store::releases::ServiceKey;

const APP: &str = "wlswarm-app";

/// The Swarm the file's 3 tests share.
static SWARM: Shared = Shared::new(3, 0);

fn compose(version: u32, crash_api: bool) -> String {
    let crash = if crash_api {
        "      TESTAPP_CRASH_AT_START: \"3\"\n"
    } else {
        ""
    };
    let health = "    healthcheck: {test: [\"CMD\", \"/app\", \"probe\"], interval: 500ms, timeout: 2s, retries: 2}\n    init: true\n    stop_grace_period: 2s\n";
    format!(
        "name: {APP}\nservices:\n  web:\n    image: registry:5000/wlswarm-testapp:1\n    ports: [{{target: 8080, published: 8000, app_protocol: http}}]\n    environment:\n      TESTAPP_VERSION: \"web-{version}\"\n{health}    deploy: {{replicas: 2}}\n    depends_on: {{api: {{condition: service_healthy}}}}\n    x-windlass: {{watch: 2s}}\n  api:\n    image: registry:5000/wlswarm-testapp:1\n    ports: [{{target: 8080, published: 8001, app_protocol: http}}]\n    environment:\n      TESTAPP_VERSION: \"api-{version}\"\n{crash}{health}    deploy: {{replicas: 2}}\n    x-windlass: {{watch: 2s}}\n"
    )
}

async fn body(address: SocketAddr) -> String {
    let client: support::LoadClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let uri: hyper::Uri = format!("http://{address}/version").parse().expect("uri");
    match support::answer(&client, &uri).await {
        Ok(answer) => answer.body,
        Err(e) => format!("no answer: {e}"),
    }
}

fn on(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

async fn deploy(agent: &Agent, file: &Path, text: String) -> (Status, Duration) {
    let began = Instant::now();
    let (_, status) = support::deploy_app(agent, file, text, &["web", "api"]).await;
    (status, began.elapsed())
}

/// What every node's entry answers on each published port.
async fn everywhere(swarm: &Swarm) -> Vec<String> {
    let mut seen = Vec::new();
    for node in &swarm.nodes {
        // web's and api's ports (the nodes publish more for other apps).
        for port in &node.app_ports[..2] {
            seen.push(body(on(*port)).await);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_deploys_rolls_forward_and_rolls_back_whole_on_three_nodes() {
    let turn = SWARM.turn().await;
    let (swarm, entry) = (turn.swarm, turn.entry);

    let InProcess {
        agent,
        releases,
        client,
    } = swarm.in_process(entry).await;
    agent.resume().await.expect("resume");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wlswarm-app");
    std::fs::create_dir_all(&dir).expect("app folder");
    let file = dir.join("compose.yaml");

    let (status, took) = deploy(&agent, &file, compose(1, false)).await;
    assert_eq!(status, Status::Succeeded);
    eprintln!(
        "swarm: v1 deployed (2 services, 2 replicas each, entry created) in {:.1} s",
        took.as_secs_f64()
    );
    let seen = everywhere(swarm).await;
    assert_eq!(seen, ["web-1", "api-1"].repeat(3), "every node's entry");

    // Load through node 1 on web's port and node 2 on api's.
    let web_load = support::Load::start(on(swarm.nodes[0].app_ports[0]), 4);
    let api_load = support::Load::start(on(swarm.nodes[1].app_ports[1]), 4);

    let (status, took) = deploy(&agent, &file, compose(2, false)).await;
    assert_eq!(status, Status::Succeeded);
    eprintln!("swarm: v2 deployed in {:.1} s", took.as_secs_f64());
    assert_eq!(everywhere(swarm).await, ["web-2", "api-2"].repeat(3));

    let (status, took) = deploy(&agent, &file, compose(3, true)).await;
    assert_eq!(
        status,
        Status::Failed,
        "api crashes: the app is rolled back"
    );
    eprintln!(
        "swarm: v3 (api crashing) rolled back in {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(everywhere(swarm).await, ["web-2", "api-2"].repeat(3));
    for service in ["web", "api"] {
        let key = ServiceKey::new(APP, service).expect("key");
        let live = releases.live(&key).expect("store").expect("live");
        assert_eq!(live.release, "r2", "{service}");
    }

    let began = Instant::now();
    let started = agent
        .rollback(RollbackRequest {
            service: None,
            app: Some(APP.into()),
            here: None,
            release: None,
            by: "test".into(),
        })
        .await
        .expect("rollback starts");
    let finished = agent
        .runtime()
        .wait(&started[0].execution)
        .await
        .expect("ends");
    assert_eq!(finished.status, Status::Succeeded);
    eprintln!(
        "swarm: app rolled back to v1 (a flip of the entry's routes) in {:.2} s",
        began.elapsed().as_secs_f64()
    );
    let seen = everywhere(swarm).await;
    if seen != ["web-1", "api-1"].repeat(3) {
        // What the entry's tasks went through, to tell why a node did not answer.
        let tasks = swarm.on(
            0,
            &[
                "service",
                "ps",
                "--no-trunc",
                "--format",
                "{{.Node}} {{.CurrentState}} {{.DesiredState}} {{.Error}}",
                &format!(
                    "{APP}_windlass-entry_{}",
                    releases.installation().expect("installation")
                ),
            ],
        );
        eprintln!("swarm: entry tasks:\n{tasks}");
    }
    assert_eq!(seen, ["web-1", "api-1"].repeat(3));

    let web = web_load.stop().await;
    let api = api_load.stop().await;
    eprintln!(
        "swarm: load on web {} requests ({} failed, by release {:?}), on api {} ({} failed, {:?})",
        web.requests, web.failed, web.by_release, api.requests, api.failed, api.by_release
    );
    assert_eq!(
        web.failed,
        0,
        "{:?}",
        web.failures.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(
        api.failed,
        0,
        "{:?}",
        api.failures.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(web.app_errors + api.app_errors, 0);

    let began = Instant::now();
    let report = agent
        .down(DownRequest {
            compose_file: file.display().to_string(),
            compose_text: compose(1, false),
            services: Vec::new(),
            volumes: false,
        })
        .await
        .expect("down");
    eprintln!(
        "swarm: down {report:?} in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let left = client
        .list_services(Some(bollard::query_parameters::ListServicesOptions {
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![format!("windlass.app={APP}")],
            )])),
            ..Default::default()
        }))
        .await
        .expect("services");
    assert!(
        left.is_empty(),
        "left after down: {:?}",
        left.iter()
            .map(|s| s.spec.as_ref().and_then(|s| s.name.clone()))
            .collect::<Vec<_>>()
    );
}

/// Runs the windlass binary against the test Swarm; its exit code, stdout
/// and stderr.
fn windlass(
    swarm: &Swarm,
    entry: &str,
    state: &Path,
    folder: &Path,
    args: &[&str],
) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .current_dir(folder)
        .env("DOCKER_HOST", swarm.docker_host())
        .env("WINDLASS_SWARM_ENTRY_IMAGE", entry)
        .env("WINDLASS_STATE", state)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run windlass");
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("$ windlass {}\n{out}{err}", args.join(" "));
    (output.status.code().unwrap_or(-1), out, err)
}

fn cli_compose(version: u32, crash: bool) -> String {
    let crash = if crash {
        "      TESTAPP_CRASH_AT_START: \"3\"\n"
    } else {
        ""
    };
    format!(
        "name: wlswarm-cli\nservices:\n  web:\n    image: registry:5000/wlswarm-testapp:1\n    ports: [{{target: 8080, published: 8000, app_protocol: http}}]\n    environment:\n      TESTAPP_VERSION: \"cli-{version}\"\n{crash}    healthcheck: {{test: [\"CMD\", \"/app\", \"probe\"], interval: 500ms, timeout: 2s, retries: 2}}\n    init: true\n    stop_grace_period: 2s\n    x-windlass: {{target: swarm, watch: 1s}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_deploys_fails_over_and_takes_down_on_the_swarm() {
    let turn = SWARM.turn().await;
    let (swarm, entry) = (turn.swarm, turn.entry);
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wlswarm-cli");
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("folder");
    let state = folder.join("state");
    let file = folder.join("compose.yaml");
    let run = |args: &[&str]| {
        tokio::task::block_in_place(|| windlass(swarm, entry, &state, &folder, args))
    };
    let web = on(swarm.nodes[2].app_ports[0]);

    std::fs::write(&file, cli_compose(1, false)).expect("compose");
    let (code, out, _) = run(&["deploy", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("plan for app wlswarm-cli on the Swarm"),
        "{out}"
    );
    let (_, services, _) = run(&["status"]);
    assert!(
        !services.contains("wlswarm-cli/web"),
        "a dry run deploys nothing: {services}"
    );

    let (code, _, err) = run(&["deploy"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body(web).await, "cli-1");

    std::fs::write(&file, cli_compose(2, true)).expect("compose");
    let (code, _, err) = run(&["deploy"]);
    assert_eq!(code, 6, "a crashing release is rolled back: {err}");
    assert_eq!(body(web).await, "cli-1");

    std::fs::write(&file, cli_compose(3, false)).expect("compose");
    let (code, _, err) = run(&["deploy", "--target", "swarm"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body(web).await, "cli-3");

    let (code, out, _) = run(&["releases", "web"]);
    assert_eq!(code, 0);
    for release in ["r1", "r2", "r3"] {
        assert!(out.contains(release), "{out}");
    }
    let (code, out, _) = run(&["status"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("wlswarm-cli/web") && out.contains("r3") && out.contains("on the Swarm"),
        "{out}"
    );
    assert!(
        out.contains("agent: not running (not needed: windlass's entry point on the Swarm"),
        "{out}"
    );

    let (code, out, err) = run(&["logs", "web", "--tail", "20"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("web@r3 | testapp: version cli-3 listening"),
        "the live release's tasks' output, from the manager: {out}"
    );

    let began = Instant::now();
    let (code, _, err) = run(&["rollback", "--target", "swarm"]);
    assert_eq!(code, 0, "{err}");
    eprintln!(
        "swarm: `windlass rollback --target swarm` took {:.2} s",
        began.elapsed().as_secs_f64()
    );
    assert_eq!(body(web).await, "cli-1");

    let began = Instant::now();
    let (code, _, err) = run(&["down", "--target", "swarm"]);
    eprintln!(
        "swarm: `windlass down --target swarm` took {:.1} s",
        began.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        body(web).await.starts_with("no answer"),
        "nothing serves after down"
    );
    let left = swarm.on(
        0,
        &[
            "service",
            "ls",
            "--filter",
            "label=windlass.app=wlswarm-cli",
            "-q",
        ],
    );
    assert!(left.is_empty(), "{left}");
}

/// A `windlass server` on 127.0.0.1 for state folder `state`, with rollback
/// from the page and no login, `DOCKER_HOST` as given; killed when dropped.
struct DashServer {
    child: std::process::Child,
    url: String,
    data: std::path::PathBuf,
}

impl DashServer {
    fn start(state: &Path, data: std::path::PathBuf, docker_host: &str) -> DashServer {
        use std::io::BufRead;
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).expect("data folder");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(["server", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .arg("--agent-state")
            .arg(state)
            .arg("--dashboard-rollback")
            .env("DOCKER_HOST", docker_host)
            .env_remove("WINDLASS_ACCESS_KEYS")
            .env_remove("DOCKER_CONTEXT")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("windlass server starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server prints its address");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{line:?}");
        DashServer { child, url, data }
    }

    /// One request to the dashboard's API: its status and JSON body.
    async fn call(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(hyper_util::client::legacy::connect::HttpConnector::new());
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .header("x-windlass-dashboard", "1")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_owned(),
            )))
            .expect("request");
        let response = client.request(request).await.expect("the server answers");
        let status = response.status().as_u16();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
        });
        (status, json)
    }

    /// The page's view of app `app`.
    async fn app(&self, app: &str) -> serde_json::Value {
        let (status, view) = self.call("GET", "/ui/api/services", "").await;
        assert_eq!(status, 200, "{view}");
        view["apps"]
            .as_array()
            .and_then(|apps| apps.iter().find(|a| a["app"] == app).cloned())
            .unwrap_or_else(|| panic!("no app {app} on the page: {view}"))
    }
}

impl Drop for DashServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swarm_app_is_rolled_back_from_the_dashboard_of_a_server_at_its_manager() {
    use windlass_store::releases::Releases;
    const DASH_APP: &str = "wlswarm-dash";
    let turn = SWARM.turn().await;
    let (swarm, entry) = (turn.swarm, turn.entry);
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wlswarm-dash");
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("folder");
    let state = folder.join("state");
    let file = folder.join("compose.yaml");
    let run = |args: &[&str]| {
        tokio::task::block_in_place(|| windlass(swarm, entry, &state, &folder, args))
    };
    // Taken down also when an assertion fails: the file's other tests
    // publish the same port.
    let _down = TakeDown(Box::new(|| {
        windlass(
            swarm,
            entry,
            &state,
            &folder,
            &["down", "--target", "swarm"],
        );
    }));
    let web = on(swarm.nodes[1].app_ports[0]);
    // web joins a network of the app's with the file's settings, and one
    // made outside it (external: used, never made or removed).
    let outside = "wlswarm-dash-outside";
    let _ = support::swarm::run(&["-H", swarm.docker_host(), "network", "rm", outside]);
    swarm.on(
        0,
        &[
            "network",
            "create",
            "--driver",
            "overlay",
            "--label",
            "made-by=test",
            outside,
        ],
    );
    let networks = format!("    networks: [default, back, outside]\nnetworks:\n  back:\n    internal: true\n    attachable: true\n    labels: {{tier: back}}\n    driver_opts: {{com.docker.network.driver.mtu: \"1400\"}}\n    ipam: {{config: [{{subnet: 10.231.7.0/24}}]}}\n  outside:\n    external: true\n    name: {outside}\n");
    for version in [1, 2] {
        let text = cli_compose(version, false).replace("wlswarm-cli", DASH_APP) + &networks;
        std::fs::write(&file, text).expect("compose");
        let (code, _, err) = run(&["deploy"]);
        assert_eq!(code, 0, "{err}");
    }
    assert_eq!(body(web).await, "cli-2");
    let back = swarm.on(
        0,
        &[
            "network",
            "inspect",
            &format!("{DASH_APP}_back"),
            "--format",
            "{{.Driver}} internal={{.Internal}} attachable={{.Attachable}} tier={{index .Labels \"tier\"}} app={{index .Labels \"windlass.app\"}} mtu={{index .Options \"com.docker.network.driver.mtu\"}} subnet={{range .IPAM.Config}}{{.Subnet}}{{end}}",
        ],
    );
    assert_eq!(
        back.trim(),
        format!("overlay internal=true attachable=true tier=back app={DASH_APP} mtu=1400 subnet=10.231.7.0/24"),
        "the app's network as the file says"
    );
    let default = swarm.on(
        0,
        &[
            "network",
            "inspect",
            &format!("{DASH_APP}_default"),
            "--format",
            "{{.Internal}} {{.Attachable}}",
        ],
    );
    assert_eq!(
        default.trim(),
        "false false",
        "Compose's defaults, as `docker stack deploy` makes them"
    );
    let joined = swarm.on(
        0,
        &[
            "service",
            "inspect",
            &format!("{DASH_APP}_web_r2_{}", installation(&state)),
            "--format",
            "{{range .Spec.TaskTemplate.Networks}}{{.Target}} {{end}}",
        ],
    );
    let outside_id = swarm.on(0, &["network", "inspect", outside, "--format", "{{.ID}}"]);
    assert!(
        joined.contains(outside_id.trim()),
        "web joins the external network: {joined}"
    );

    // A server that reaches another engine (this machine's, in no Swarm or
    // in another) or none keeps the button off, and says what to do.
    for (other, named) in [
        ("unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),
        ("tcp://127.0.0.1:1", "no manager"),
    ] {
        let server = DashServer::start(&state, folder.join("data-other"), other);
        let app = server.app(DASH_APP).await;
        assert_eq!(app["target"], "swarm", "{app}");
        let off = app["rollback_off"].as_str().unwrap_or_default().to_owned();
        assert!(
            off.contains("start windlass server with DOCKER_HOST"),
            "{named}: {app}"
        );
        let (status, refused) = server
            .call(
                "POST",
                "/ui/api/rollback",
                &format!("{{\"app\": \"{DASH_APP}\"}}"),
            )
            .await;
        assert_ne!(status, 200, "{named}: {refused}");
        assert!(
            refused
                .to_string()
                .contains("start windlass server with DOCKER_HOST"),
            "{named}: {refused}"
        );
        eprintln!("swarm: a dashboard at {other}: {off}");
    }
    assert_eq!(body(web).await, "cli-2", "nothing was rolled back");

    let server = DashServer::start(&state, folder.join("data"), swarm.docker_host());
    let app = server.app(DASH_APP).await;
    assert_eq!(app["rollback_off"], serde_json::Value::Null, "{app}");
    let began = Instant::now();
    let (status, started) = server
        .call(
            "POST",
            "/ui/api/rollback",
            &format!("{{\"app\": \"{DASH_APP}\"}}"),
        )
        .await;
    assert_eq!(status, 200, "{started}");
    let execution = started["execution"]
        .as_str()
        .expect("an execution")
        .to_owned();
    assert!(
        execution.contains(":execution:windlass-swarm-app-rollback:"),
        "the Swarm's rollback execution: {execution}"
    );
    // The page follows it through the server's API to its end.
    let path = format!("/ui/api/execution?arn={execution}");
    let (status, detail) = loop {
        let (code, detail) = server.call("GET", &path, "").await;
        assert_eq!(code, 200, "{detail}");
        let status = detail["execution"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status != "RUNNING" || began.elapsed() > Duration::from_secs(120) {
            break (status, detail);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status, "SUCCEEDED", "{}", detail["execution"]);
    eprintln!(
        "swarm: app rolled back from the dashboard in {:.2} s",
        began.elapsed().as_secs_f64()
    );
    assert_eq!(body(web).await, "cli-1");
    let app = server.app(DASH_APP).await;
    assert_eq!(app["live"], "a1", "the app release record: {app}");
    let releases = windlass_store::releases::SqliteReleases::open_read_only(
        &windlass_deploy::agent::database(&state),
    )
    .expect("the state folder's releases");
    let key = ServiceKey::new(DASH_APP, "web").expect("key");
    let live = releases.live(&key).expect("store").expect("live");
    assert_eq!(live.release, "r1", "the release record");
    let r2 = releases.get(&key, "r2").expect("store").expect("r2");
    assert_eq!(r2.outcome, windlass_store::releases::Outcome::RolledBack);

    drop(server);
    let (code, _, err) = run(&["down", "--target", "swarm"]);
    assert_eq!(code, 0, "{err}");
    let label = swarm.on(
        0,
        &[
            "network",
            "inspect",
            outside,
            "--format",
            "{{index .Labels \"made-by\"}}",
        ],
    );
    assert_eq!(
        label.trim(),
        "test",
        "down leaves an external network alone"
    );
    swarm.on(0, &["network", "rm", outside]);
}

/// Runs its closure when a test fails (drops while panicking).
struct TakeDown<'a>(Box<dyn Fn() + 'a>);

impl Drop for TakeDown<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            (self.0)();
        }
    }
}

/// The installation id of state folder `state` (in its Swarm services' names).
fn installation(state: &Path) -> String {
    use windlass_store::releases::Releases;
    windlass_store::releases::SqliteReleases::open_read_only(&windlass_deploy::agent::database(
        state,
    ))
    .expect("the state folder's releases")
    .installation()
    .expect("installation")
    .to_string()
}
