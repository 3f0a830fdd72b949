//! windlass on a Docker Swarm beside `docker stack deploy`, side by side in
//! one run, on the test Swarm of the Swarm tests (`support::swarm`: three
//! managers, Debian's engine in containers, a registry on their network).
//! The same service, the workspace's static test app with a health check,
//! is updated from v1 to v2 and rolled back by each:
//!
//! - windlass: `windlass deploy --target swarm` (a release as a service of
//!   its own, two replicas, beside the live one; one write of the entry's
//!   routes once it is healthy) and `windlass rollback --target swarm` (a
//!   flip back to the warm v1);
//! - Docker: `docker stack deploy` of the same service and `docker service
//!   rollback`. This kernel has no `ip_vs`, so the stack cannot use the
//!   routing mesh: its service is `endpoint_mode: dnsrr`, `mode: global`,
//!   its port published in `host` mode on every node, updated one node at a
//!   time stop-first (start-first cannot bind the node's port twice).
//!
//! Figures: time from starting the command until every manager's port
//! answers the new version (and, for the rollback, until the first port
//! answers the old one), the command's own time, and failed requests
//! (no connection, no answer within 2 s, or not 200) of a load generator on
//! the first manager's port during the update and the rollback.
//!
//! Run: `cargo bench -p windlass --bench swarm` (makes the Swarm, about
//! 30 s, and builds and pushes the images).

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::swarm::Swarm;

const PORT_INDEX: usize = 0;

/// One GET of `/version`: the body when the answer is 200.
fn version(port: u16) -> Result<String, String> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /version HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| format!("read: {e}"))?;
    let status = text.split(' ').nth(1).unwrap_or_default();
    if status != "200" {
        return Err(format!("status {status}"));
    }
    Ok(text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_owned())
}

/// Requests one after another on a port until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Load {
    fn start(port: u16) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let (s, n, f) = (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&failed));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                n.fetch_add(1, Ordering::Relaxed);
                if version(port).is_err() {
                    f.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Load {
            stop,
            sent,
            failed,
            thread,
        }
    }

    /// Requests sent and failed.
    fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// Runs `program args` to its end; panics with its stderr when it fails.
fn run(mut command: Command) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .expect("run a command");
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What [`timed`] saw, in seconds from starting the command.
#[derive(Default, Clone, Copy)]
struct Timed {
    /// Until the first port answered the wanted version.
    first: f64,
    /// Until every port answered it.
    every: f64,
    /// Until the command ended.
    command: f64,
}

/// Starts `command`, and times it (see [`Timed`]) against `ports`
/// answering `wanted`.
fn timed(command: Command, ports: &[u16], wanted: &str) -> Timed {
    let began = Instant::now();
    let mut child = {
        let mut command = command;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the command")
    };
    let mut first = None;
    let mut answered = None;
    let mut ended = None;
    let deadline = began + Duration::from_secs(300);
    while answered.is_none() || ended.is_none() {
        if answered.is_none() {
            let seen: Vec<bool> = ports
                .iter()
                .map(|p| version(*p).as_deref() == Ok(wanted))
                .collect();
            let at = began.elapsed().as_secs_f64();
            if first.is_none() && seen.iter().any(|s| *s) {
                first = Some(at);
            }
            if seen.iter().all(|s| *s) {
                answered = Some(at);
            }
        }
        if ended.is_none() {
            if let Some(status) = child.try_wait().expect("wait") {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                assert!(status.success(), "{err}");
                ended = Some(began.elapsed().as_secs_f64());
            }
        }
        assert!(
            Instant::now() < deadline,
            "{wanted} never answered everywhere"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Timed {
        first: first.unwrap_or_default(),
        every: answered.unwrap_or_default(),
        command: ended.unwrap_or_default(),
    }
}

/// What one tool did.
#[derive(Default)]
struct Figures {
    update: Timed,
    update_load: (u64, u64),
    rollback: Timed,
    rollback_load: (u64, u64),
}

fn windlass_compose(version: u32) -> String {
    format!(
        "name: wlbench\nservices:\n  web:\n    image: registry:5000/wlswarm-testapp:1\n    ports: [{{target: 8080, published: 8000, app_protocol: http}}]\n    environment:\n      TESTAPP_VERSION: \"windlass-{version}\"\n    healthcheck: {{test: [\"CMD\", \"/app\", \"probe\"], interval: 500ms, timeout: 2s, retries: 2}}\n    init: true\n    stop_grace_period: 2s\n    deploy: {{replicas: 2}}\n    x-windlass: {{target: swarm, watch: 1s}}\n"
    )
}

fn stack_compose(version: u32) -> String {
    format!(
        "version: \"3.8\"\nservices:\n  web:\n    image: registry:5000/wlswarm-testapp:1\n    environment:\n      TESTAPP_VERSION: \"stack-{version}\"\n    healthcheck: {{test: [\"CMD\", \"/app\", \"probe\"], interval: 500ms, timeout: 2s, retries: 2}}\n    init: true\n    stop_grace_period: 2s\n    ports: [{{target: 8080, published: 8000, mode: host}}]\n    deploy:\n      mode: global\n      endpoint_mode: dnsrr\n      update_config: {{parallelism: 1, order: stop-first, failure_action: rollback}}\n"
    )
}

fn windlass_side(swarm: &Swarm, entry: &str, folder: &Path, ports: &[u16]) -> Figures {
    let file = folder.join("compose.yaml");
    let command = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
        command
            .args(args)
            .current_dir(folder)
            .env("DOCKER_HOST", swarm.docker_host())
            .env("WINDLASS_SWARM_ENTRY_IMAGE", entry)
            .env("WINDLASS_STATE", folder.join("state"));
        command
    };
    std::fs::write(&file, windlass_compose(1)).expect("compose");
    run(command(&["deploy"]));
    let mut figures = Figures::default();
    let load = Load::start(ports[0]);
    std::fs::write(&file, windlass_compose(2)).expect("compose");
    figures.update = timed(command(&["deploy"]), ports, "windlass-2");
    figures.update_load = load.stop();
    let load = Load::start(ports[0]);
    figures.rollback = timed(
        command(&["rollback", "--target", "swarm"]),
        ports,
        "windlass-1",
    );
    figures.rollback_load = load.stop();
    run(command(&["down", "--target", "swarm"]));
    figures
}

fn stack_side(swarm: &Swarm, folder: &Path, ports: &[u16]) -> Figures {
    let file = folder.join("stack.yaml");
    let docker = |args: &[&str]| {
        let mut command = Command::new("docker");
        command.args(["-H", swarm.docker_host()]).args(args);
        command
    };
    let deploy = || {
        docker(&[
            "stack",
            "deploy",
            "--detach=true",
            "-c",
            &file.display().to_string(),
            "wlstack",
        ])
    };
    std::fs::write(&file, stack_compose(1)).expect("stack file");
    let first = timed(deploy(), ports, "stack-1").every;
    println!("docker stack deploy: v1 answered everywhere after {first:.1} s");
    let mut figures = Figures::default();
    let load = Load::start(ports[0]);
    std::fs::write(&file, stack_compose(2)).expect("stack file");
    figures.update = timed(deploy(), ports, "stack-2");
    figures.update_load = load.stop();
    let load = Load::start(ports[0]);
    figures.rollback = timed(
        docker(&["service", "rollback", "--detach", "wlstack_web"]),
        ports,
        "stack-1",
    );
    figures.rollback_load = load.stop();
    run(docker(&["stack", "rm", "wlstack"]));
    figures
}

fn main() {
    let swarm = Swarm::start();
    for (what, took) in &swarm.timings {
        println!("swarm: {what} {:.1} s", took.as_secs_f64());
    }
    let (entry, _) = swarm.test_images();
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wlswarm-bench");
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("folder");
    let ports: Vec<u16> = swarm.managers().map(|n| n.app_ports[PORT_INDEX]).collect();
    let windlass = windlass_side(&swarm, &entry, &folder, &ports);
    let stack = stack_side(&swarm, &folder, &ports);
    swarm.remove();

    println!();
    println!(
        "{:<44} {:>18} {:>22}",
        "", "windlass (swarm)", "docker stack deploy"
    );
    let row = |what: &str, a: String, b: String| println!("{what:<44} {a:>18} {b:>22}");
    let seconds = |s: f64| format!("{s:.1} s");
    let share = |(sent, failed): (u64, u64)| format!("{failed} / {sent}");
    row(
        "update: every manager answers v2 after",
        seconds(windlass.update.every),
        seconds(stack.update.every),
    );
    row(
        "update: the command took",
        seconds(windlass.update.command),
        seconds(stack.update.command),
    );
    row(
        "update: failed requests / sent",
        share(windlass.update_load),
        share(stack.update_load),
    );
    row(
        "rollback: first answer of v1 after",
        seconds(windlass.rollback.first),
        seconds(stack.rollback.first),
    );
    row(
        "rollback: every manager answers v1 after",
        seconds(windlass.rollback.every),
        seconds(stack.rollback.every),
    );
    row(
        "rollback: the command took",
        seconds(windlass.rollback.command),
        seconds(stack.rollback.command),
    );
    row(
        "rollback: failed requests / sent",
        share(windlass.rollback_load),
        share(stack.rollback_load),
    );
}
