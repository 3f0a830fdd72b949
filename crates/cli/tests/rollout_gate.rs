//! A rollout on the real binary and engine, under load: `windlass deploy
//! --canary 20` holds the new release at 20 % through a `kill -9` of the
//! agent during the step's bake (the proxy daemon keeps the weight, the
//! restarted agent resumes the bake), waits at its approval gate, and goes
//! to 100 % when `windlass promote` answers it; a second deploy held the
//! same way is stopped by `windlass abort` (0 % at once, rolled back, the
//! deploy exits 6). No request fails throughout.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use windlass_proxy::daemon::Client;
use windlass_store::releases::{Releases, ServiceKey, SqliteReleases};

const APP: &str = "wlgate";
const WEB: &str = "wlgateweb";

fn compose(port: u16, version: &str) -> String {
    format!(
        "name: {APP}\nservices:\n  {WEB}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 1s\n      rollout:\n        step: 50\n        interval: 2s\n        analysis: {{min_requests: 10}}\n"
    )
}

fn windlass(state: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
    command
        .args(args)
        .arg("--state")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The agent and the proxy daemon it started, stopped when the test ends.
struct Processes {
    agent: Child,
    state: PathBuf,
}

impl Processes {
    fn start(state: &Path) -> Processes {
        Processes {
            agent: support::agent_process(Path::new(env!("CARGO_BIN_EXE_windlass")), state),
            state: state.to_owned(),
        }
    }

    fn kill_and_restart_agent(&mut self) {
        self.agent.kill().expect("kill -9 the agent");
        let _ = self.agent.wait();
        self.agent = support::agent_process(Path::new(env!("CARGO_BIN_EXE_windlass")), &self.state);
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        let _ = self.agent.kill();
        let _ = self.agent.wait();
        support::stop_proxy(&self.state);
    }
}

/// The canary's release and weight in the proxy daemon now.
async fn canary(state: &Path) -> Option<(String, u8)> {
    let client = Client::from_state_dir(&state.join("proxy")).ok()?;
    let services = client.services().await.ok()?;
    let view = services
        .into_iter()
        .find(|v| v.name.as_str() == format!("{APP}/{WEB}"))?;
    view.canary.map(|c| (c.canary.release, c.weight.percent()))
}

/// Waits until `condition` holds on the daemon's canary, at most 60 s.
async fn until_canary(state: &Path, what: &str, condition: impl Fn(&Option<(String, u8)>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = canary(state).await;
        if condition(&now) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited 60 s for {what}; canary {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Answers the gate with `command` (promote or abort) once the rollout
/// waits at it: refused (7) until then.
async fn answer_gate(state: &Path, command: &str) -> Duration {
    let asked = Instant::now();
    loop {
        let output = windlass(state, &[command, "--app", APP])
            .output()
            .expect("run windlass");
        match output.status.code() {
            Some(0) => return asked.elapsed(),
            Some(7) => {
                assert!(
                    asked.elapsed() < Duration::from_secs(60),
                    "{}",
                    said(&output)
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("windlass {command} exited {other:?}: {}", said(&output)),
        }
    }
}

fn live(state: &Path) -> Option<String> {
    let releases = SqliteReleases::open(&state.join("windlass.db")).expect("the store");
    let key = ServiceKey::new(APP, WEB).expect("a key");
    releases.live(&key).expect("live").map(|l| l.release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_canary_survives_a_kill_then_promote_and_abort_answer_it() {
    let docker = windlass_deploy::backend::docker::Docker::connect()
        .await
        .expect("Docker engine");
    let old = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("project-rollout-gate/state");
    support::stop_proxy(&old);
    support::cleanup(&docker, WEB).await;
    let dir = support::project("rollout-gate");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state");
    let file = dir.join("compose.yaml");
    let file_arg = file.display().to_string();
    let port = support::free_port();
    let mut processes = Processes::start(&state);

    std::fs::write(&file, compose(port, "v1")).expect("compose");
    let v1 = windlass(&state, &["deploy", "-f", &file_arg])
        .output()
        .expect("deploy v1");
    assert!(v1.status.success(), "{}", said(&v1));
    let load = support::Load::start(SocketAddr::from(([127, 0, 0, 1], port)), 2);

    // v2 held at 20 %.
    std::fs::write(&file, compose(port, "v2")).expect("compose");
    let held = windlass(&state, &["deploy", "-f", &file_arg, "--canary", "20"])
        .spawn()
        .expect("deploy v2");
    until_canary(&state, "v2 at 20 %", |c| c == &Some(("r2".into(), 20))).await;
    // SIGKILL of the agent during the step: the weight does not move.
    processes.kill_and_restart_agent();
    assert_eq!(canary(&state).await, Some(("r2".into(), 20)));
    let waited = answer_gate(&state, "promote").await;
    println!("promoted after {waited:?} of asking");
    // The rollout's own steps above 20 %: 50 %, then the switch.
    until_canary(&state, "v2 at 50 %", |c| c == &Some(("r2".into(), 50))).await;
    until_canary(&state, "the switch", |c| c.is_none()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while live(&state).as_deref() != Some("r2") {
        assert!(Instant::now() < deadline, "v2 never went live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The CLI that deployed v2 lost its agent to the kill; it may have
    // ended early, but never with a failure of the deploy.
    let held = held.wait_with_output().expect("deploy v2 ends");
    assert_ne!(held.status.code(), Some(6), "{}", said(&held));

    // v3 held at 20 %, then aborted: 0 % at once, rolled back.
    std::fs::write(&file, compose(port, "v3")).expect("compose");
    // v2's execution may still watch and retire: --wait follows it first.
    let aborted = windlass(
        &state,
        &["deploy", "-f", &file_arg, "--canary", "20", "--wait"],
    )
    .spawn()
    .expect("deploy v3");
    until_canary(&state, "v3 at 20 %", |c| c == &Some(("r3".into(), 20))).await;
    answer_gate(&state, "abort").await;
    assert_eq!(
        canary(&state).await,
        None,
        "abort takes the canary out at once"
    );
    let aborted = aborted.wait_with_output().expect("deploy v3 ends");
    assert_eq!(aborted.status.code(), Some(6), "{}", said(&aborted));
    assert!(
        said(&aborted).contains("Deploy.Aborted"),
        "{}",
        said(&aborted)
    );
    assert_eq!(live(&state).as_deref(), Some("r2"));

    let seen = load.stop().await;
    println!("{} requests: {:?}", seen.requests, seen.by_release);
    assert_eq!(seen.failed, 0, "{:?}", seen.failures);
    assert!(seen.by_release.get("r3").copied().unwrap_or(0) > 0);
    drop(processes);
    support::cleanup(&docker, WEB).await;
}
