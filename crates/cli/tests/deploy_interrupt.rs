//! Ctrl-C while `windlass deploy` follows its deploy, on the real binary
//! and engine: the command says it stopped following and that the agent
//! carries the deploy on, and exits 130; the deploy then goes live (it
//! printed nothing and died with the signal before, which read as if the
//! deploy had been stopped).

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use windlass_deploy::backend::docker::Docker;

const SERVICE: &str = "wlinterrupt";

struct Agent {
    child: std::process::Child,
    state: std::path::PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        support::stop_proxy(&self.state);
    }
}

fn windlass(dir: &Path, state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .arg("--state")
        .arg(state)
        .current_dir(dir)
        .output()
        .expect("windlass runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_following_and_the_agent_carries_the_deploy_on() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("interrupt");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state");
    let port = support::free_port();
    std::fs::write(
        dir.join("compose.yaml"),
        support::compose(SERVICE, port, &[("TESTAPP_START_DELAY_MS", "2500")], "1s"),
    )
    .expect("compose.yaml");
    let agent = Agent {
        child: support::agent_process(Path::new(env!("CARGO_BIN_EXE_windlass")), &state),
        state: state.clone(),
    };

    let mut deploy = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["deploy", "--state"])
        .arg(&state)
        .current_dir(&dir)
        .stderr(Stdio::piped())
        .spawn()
        .expect("windlass deploy");
    let (lines, seen) = mpsc::channel();
    let stderr = deploy.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !printed.iter().any(|l: &String| l.contains("WaitHealthy")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) => printed.push(line),
            Err(e) => panic!("no WaitHealthy step ({e}):\n{}", printed.join("\n")),
        }
    }
    let pid =
        rustix::process::Pid::from_raw(i32::try_from(deploy.id()).expect("pid")).expect("a pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let status = deploy.wait().expect("exits");
    printed.extend(seen.iter());
    let text = printed.join("\n");
    assert_eq!(status.code(), Some(130), "{text}");
    assert!(
        text.contains("interrupted: stopped following execution arn:aws:states:")
            && text.contains("which goes on in the agent"),
        "{text}"
    );

    // The agent carries it on: live, and the lock let go.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = windlass(&dir, &state, &["status", "--json"]);
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let service = status["services"]
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|s| s["service"].as_str().is_some_and(|n| n.ends_with(SERVICE)))
            })
            .cloned()
            .unwrap_or_default();
        if service["live"] == "r1" && service["lock"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "not live: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let down = windlass(&dir, &state, &["down"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    drop(agent);
    support::cleanup(&docker, SERVICE).await;
}
