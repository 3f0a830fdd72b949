//! The dashboard in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`) driven over WebDriver by Selenium
//! (`tests/dashboard/browser.py`), against the real `windlass server`
//! started with an access key, so every page is behind the login. The
//! screenshots it takes are the README's (`docs/screenshots/`). The
//! rollback test deploys an app of two services of the test app (`FROM
//! scratch` and the static binary, the deploy tests' support) to the local
//! Docker engine with a real agent.

mod server;
#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use windlass_deploy::backend::docker::Docker;
use windlass_deploy::backend::Backend;

use server::{python_command, temp_dir, Server, KEY_ID, SECRET};

/// Fails (never skips) when the browser or its driver is missing.
pub fn require_browser() {
    for (program, package) in [
        ("chromium", "chromium"),
        ("chromedriver", "chromium-driver"),
    ] {
        let found = Command::new(program).arg("--version").output();
        assert!(
            found.as_ref().is_ok_and(|o| o.status.success()),
            "{program} is required: apt-get install {package} (scripts/setup does) ({found:?})"
        );
    }
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .output();
    assert!(
        selenium.as_ref().is_ok_and(|o| o.status.success()),
        "python3 with selenium is required: pip install -r requirements-test.txt"
    );
}

pub fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

#[test]
fn an_execution_is_drawn_live_and_every_state_takes_its_final_colour() {
    require_browser();
    let dir = temp_dir("dashboard");
    let server = Server::start(&dir);
    let shots = screenshots();
    let output = python_command(
        "../dashboard/browser.py",
        &["execution", &server.url, KEY_ID, SECRET],
    )
    .arg(&shots)
    .output()
    .expect("python3 runs");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser scenario failed");
    assert!(shots.join("execution.png").exists());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The app the rollback test deploys, and its two services.
const APP: &str = "wldash";
const WEB: &str = "wldashweb";
const API: &str = "wldashapi";

/// The agent, its proxy and the services' containers, gone when the test
/// ends, also when an assertion fails.
struct Deployed {
    agent: Child,
    state: PathBuf,
}

impl Drop for Deployed {
    fn drop(&mut self) {
        let _ = self.agent.kill();
        let _ = self.agent.wait();
        support::stop_proxy(&self.state);
        if let Ok(tokio) = tokio::runtime::Runtime::new() {
            tokio.block_on(async {
                if let Ok(docker) = Docker::connect().await {
                    for service in [WEB, API] {
                        support::cleanup(&docker, service).await;
                    }
                }
            });
        }
    }
}

/// App `APP`: both services are the test app, each answering its own
/// version on its proxy's port.
fn app_compose(ports: (u16, u16), web: &str, api: &str) -> String {
    let one = |service, port, version| {
        support::compose(service, port, &[("TESTAPP_VERSION", version)], "500ms")
    };
    let api = one(API, ports.1, api);
    let api = api.strip_prefix("services:\n").expect("a services map");
    format!("name: {APP}\n{}{api}", one(WEB, ports.0, web))
}

/// Runs `windlass deploy -f FILE` of `text` on `state`.
fn deploy(windlass: &Path, file: &Path, state: &Path, text: &str) {
    std::fs::write(file, text).expect("compose file");
    let status = Command::new(windlass)
        .args(["deploy", "-f"])
        .arg(file)
        .arg("--state")
        .arg(state)
        .status()
        .expect("windlass deploy runs");
    assert!(status.success(), "the deploy of {text} failed");
}

/// Runs scenario `args` of `browser.py`, echoing its output.
fn browser(args: &[&str]) {
    let output = python_command("../dashboard/browser.py", args)
        .arg(screenshots())
        .output()
        .expect("python3 runs");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "browser.py {} failed", args[0]);
}

/// An app of two services deployed v1 then v2 is rolled back from the page
/// as a whole (both serve v1 again, one execution followed live); then web
/// alone, deployed again as v3, is rolled back from the page to r1. Neither
/// rollback fails a request.
#[test]
fn an_app_and_a_service_rolled_back_from_the_page_serve_their_old_release() {
    require_browser();
    let state = temp_dir("dashboard-state");
    let project = support::project("dashboard");
    let ports = (support::free_port(), support::free_port());
    let file = project.join("compose.yaml");
    let windlass = Path::new(env!("CARGO_BIN_EXE_windlass"));
    let _deployed = Deployed {
        agent: support::agent_process(windlass, &state),
        state: state.clone(),
    };
    for version in ["v1", "v2"] {
        deploy(
            windlass,
            &file,
            &state,
            &app_compose(ports, version, version),
        );
    }
    let data = temp_dir("dashboard-deploys");
    let state_arg = state.to_string_lossy().to_string();
    let server = Server::start_with(
        &data,
        &["--agent-state", &state_arg, "--dashboard-rollback"],
    );
    let (web_port, api_port) = (ports.0.to_string(), ports.1.to_string());
    // The page names a service by its key, APP/SERVICE.
    let (web, api) = (format!("{APP}/{WEB}"), format!("{APP}/{API}"));
    browser(&[
        "app-rollback",
        &server.url,
        KEY_ID,
        SECRET,
        APP,
        &web,
        &web_port,
        &api,
        &api_port,
    ]);
    // web alone moves on to v3 (api is unchanged: it stays on r1).
    deploy(windlass, &file, &state, &app_compose(ports, "v3", "v1"));
    browser(&[
        "rollback",
        &server.url,
        KEY_ID,
        SECRET,
        &web,
        &web_port,
        "r3",
        // r2 went live once (the app rollback left it): it is the newest
        // earlier release that went live, so the rollback goes to it.
        "r2",
        "v2",
    ]);
    assert!(screenshots().join("services.png").exists());
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

/// The app the gate test deploys, with approval gates.
const GATED_APP: &str = "wldashgate";
const GATED: &str = "wldashgateweb";

/// A rollout with approval gates drawn and answered from the page: v2 of
/// `GATED` held at 20 % (its weight and both releases' charts drawn, the
/// gate named), Approve moves it to 50 %; while that step bakes (20 s)
/// Approve is off and Promote ends the bake (the step's gate passed too:
/// 80 %), as `windlass promote` does; Abort takes the canary out and the
/// deploy rolls back (exit 6) to r1. No request fails.
#[test]
fn a_rollout_is_drawn_and_its_gates_answered_from_the_page() {
    require_browser();
    let state = temp_dir("dashboard-gate-state");
    let project = support::project("dashboard-gate");
    let port = support::free_port();
    let file = project.join("compose.yaml");
    let windlass = Path::new(env!("CARGO_BIN_EXE_windlass"));
    let agent = support::agent_process(windlass, &state);
    let _deployed = Gated {
        agent,
        state: state.clone(),
    };
    let compose = |version: &str| {
        let text = support::compose(GATED, port, &[("TESTAPP_VERSION", version)], "500ms");
        format!(
            "name: {GATED_APP}\n{text}      rollout: {{steps: [20, 50, 80], interval: 20s, approve: true, analysis: {{min_requests: 5, max_p99_ratio: 100}}}}\n"
        )
    };
    deploy(windlass, &file, &state, &compose("v1"));
    std::fs::write(&file, compose("v2")).expect("compose file");
    let rollout = Command::new(windlass)
        .args(["deploy", "-f"])
        .arg(&file)
        .arg("--state")
        .arg(&state)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("windlass deploy runs");
    let data = temp_dir("dashboard-gate-deploys");
    let state_arg = state.to_string_lossy().to_string();
    let server = Server::start_with(
        &data,
        &["--agent-state", &state_arg, "--dashboard-rollback"],
    );
    browser(&[
        "gate",
        &server.url,
        KEY_ID,
        SECRET,
        GATED_APP,
        &format!("{GATED_APP}/{GATED}"),
        &port.to_string(),
        "r2",
    ]);
    let ended = rollout.wait_with_output().expect("the deploy ends");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ended.stdout),
        String::from_utf8_lossy(&ended.stderr)
    );
    assert_eq!(ended.status.code(), Some(6), "{said}");
    assert!(said.contains("Deploy.Aborted"), "{said}");
    assert!(screenshots().join("rollout.png").exists());
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}

/// The gate test's agent, proxy and containers, gone when it ends.
struct Gated {
    agent: Child,
    state: PathBuf,
}

impl Drop for Gated {
    fn drop(&mut self) {
        let _ = self.agent.kill();
        let _ = self.agent.wait();
        support::stop_proxy(&self.state);
        if let Ok(tokio) = tokio::runtime::Runtime::new() {
            tokio.block_on(async {
                if let Ok(docker) = Docker::connect().await {
                    support::cleanup(&docker, GATED).await;
                    let _ = docker.remove_network(&format!("{GATED_APP}_default")).await;
                }
            });
        }
    }
}
