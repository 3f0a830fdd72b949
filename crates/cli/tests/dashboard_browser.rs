//! The dashboard in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`) driven over WebDriver by Selenium
//! (`tests/dashboard/browser.py`), against the real `windlass server`
//! started with an access key, so every page is behind the login. The
//! screenshots it takes are the README's (`docs/screenshots/`).

mod server;

use std::path::PathBuf;
use std::process::Command;

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
