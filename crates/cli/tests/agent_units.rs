//! `windlass agent --install`: the systemd units it writes name this binary
//! and the state folder, and their commands run as systemd would run them:
//! the proxy unit's first, then the agent unit's, which waits for that
//! proxy (`--external-proxy`) instead of starting one of its own. (No
//! systemd runs here, so `--install` reports systemctl's failure after
//! writing the units, with the failed-step exit code.)

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn exec_start(unit: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(unit).expect("unit");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("no ExecStart in {text}"));
    line.split_whitespace().map(str::to_owned).collect()
}

fn spawn(command: &[String], log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log");
    Command::new(&command[0])
        .args(&command[1..])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start")
}

#[test]
fn the_installed_units_run_the_proxy_then_an_agent_that_waits_for_it() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agent-units");
    let _ = std::fs::remove_dir_all(&dir);
    let units = dir.join("units");
    let state = dir.join("state");
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["agent", "--install", "--unit-dir"])
        .arg(&units)
        .arg("--state")
        .arg(&state)
        .output()
        .expect("windlass agent --install");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("wrote"), "{said}");
    assert_eq!(
        out.status.code(),
        Some(3),
        "systemctl cannot run here: {said}"
    );
    assert!(said.contains("systemctl"), "{said}");

    for unit in ["windlass-proxy.service", "windlass-agent.service"] {
        let text = std::fs::read_to_string(units.join(unit)).expect("unit");
        assert!(text.contains("\nLimitNOFILE=65536\n"), "{text}");
    }
    let proxy_command = exec_start(&units.join("windlass-proxy.service"));
    let agent_command = exec_start(&units.join("windlass-agent.service"));
    assert_eq!(proxy_command[0], env!("CARGO_BIN_EXE_windlass"));
    assert!(agent_command.contains(&"--external-proxy".to_owned()));
    assert!(agent_command.contains(&state.display().to_string()));

    std::fs::create_dir_all(&state).expect("state");
    // The agent first, as systemd may start it before the proxy is up: it
    // waits rather than starting a proxy in its own unit's process group.
    let mut agent = spawn(&agent_command, &dir.join("agent.log"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !state.join("agent.sock").exists(),
        "the agent waits for the proxy"
    );
    assert!(!state.join("proxy.pid").exists(), "and starts none itself");
    let mut proxy = spawn(&proxy_command, &dir.join("proxy.log"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !state.join("agent.sock").exists() {
        assert!(
            Instant::now() < deadline,
            "the agent never served: {}",
            std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["status", "--state"])
        .arg(&state)
        .output()
        .expect("windlass status");
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = proxy.kill();
    let _ = proxy.wait();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
}
