//! The dashboard in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`) driven over WebDriver by Selenium
//! (`tests/dashboard/browser.py`), against the real `windlass server`
//! started with an access key, so every page is behind the login. The
//! screenshots it takes are the README's (`docs/screenshots/`). The
//! rollback test deploys a service of the test app (`FROM scratch` and the
//! static binary, the deploy tests' support) to the local Docker engine.

mod server;
#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use windlass_deploy::backend::docker::Docker;

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

/// The service the rollback test deploys.
const SERVICE: &str = "wldashweb";

/// The agent, its proxy and the service's containers, gone when the test
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
                    support::cleanup(&docker, SERVICE).await;
                }
            });
        }
    }
}

#[test]
fn a_service_rolled_back_from_the_page_serves_its_old_release() {
    require_browser();
    let state = temp_dir("dashboard-state");
    let project = support::project("dashboard");
    let port = support::free_port();
    let file = project.join("compose.yaml");
    let windlass = Path::new(env!("CARGO_BIN_EXE_windlass"));
    let _deployed = Deployed {
        agent: support::agent_process(windlass, &state),
        state: state.clone(),
    };
    for version in ["v1", "v2"] {
        let text = support::compose(SERVICE, port, &[("TESTAPP_VERSION", version)], "500ms");
        std::fs::write(&file, text).expect("compose file");
        let status = Command::new(windlass)
            .args(["deploy", "-f"])
            .arg(&file)
            .arg("--state")
            .arg(&state)
            .status()
            .expect("windlass deploy runs");
        assert!(status.success(), "the deploy of {version} failed");
    }
    let data = temp_dir("dashboard-deploys");
    let state_arg = state.to_string_lossy().to_string();
    let server = Server::start_with(
        &data,
        &["--agent-state", &state_arg, "--dashboard-rollback"],
    );
    let output = python_command(
        "../dashboard/browser.py",
        &[
            "rollback",
            &server.url,
            KEY_ID,
            SECRET,
            SERVICE,
            &port.to_string(),
        ],
    )
    .arg(screenshots())
    .output()
    .expect("python3 runs");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the rollback from the page failed");
    assert!(screenshots().join("services.png").exists());
    drop(server);
    let _ = std::fs::remove_dir_all(&data);
}
