//! The daemon as a process of its own: traffic through it survives a SIGKILL
//! of the process that drove it (the deploy process), and a daemon killed by
//! SIGKILL and started again routes as before from its state file.
//!
//! A harness-less test: this binary is the test and, run again with
//! `WINDLASS_PROXY_CHILD` set, the daemon or the deployer it spawns.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use support::{client, get, upstream};
use windlass_proxy::daemon::api::{LiveRelease, ServiceName, ServiceSpec};
use windlass_proxy::daemon::{self, Client, Daemon};
use windlass_proxy::Protocol;

const CHILD: &str = "WINDLASS_PROXY_CHILD";

#[tokio::main]
async fn main() {
    match std::env::var(CHILD).ok().as_deref() {
        Some("daemon") => run_daemon().await,
        Some("deployer") => run_deployer().await,
        _ => test().await,
    }
}

/// Child: a daemon on the state directory given in `WINDLASS_PROXY_STATE`.
async fn run_daemon() {
    let state_dir = PathBuf::from(std::env::var("WINDLASS_PROXY_STATE").expect("state dir"));
    let daemon = Daemon::start(daemon::Config { state_dir })
        .await
        .expect("daemon starts");
    println!("{}", daemon.control_socket().display());
    daemon.run_until_signal().await.expect("daemon runs");
}

/// Child: a deploy process that switches the service to r2, drains r1, says
/// so, and waits until it is killed.
async fn run_deployer() {
    let var = |name: &str| std::env::var(name).expect(name);
    let control = Client::new(PathBuf::from(var("WINDLASS_PROXY_CONTROL")));
    let web: ServiceName = "web".parse().expect("name");
    let upstream: SocketAddr = var("WINDLASS_PROXY_UPSTREAM").parse().expect("upstream");
    control
        .switch(&web, &LiveRelease::new("r2", vec![upstream]))
        .await
        .expect("switch");
    println!("switched");
    // r1 has nothing in flight but the load's last requests: a short drain.
    control
        .drain(&web, "r1", Duration::from_secs(10))
        .await
        .expect("drain r1");
    println!("drained");
    // Then it stays, as a deploy that goes on would, until it is killed.
    std::future::pending::<()>().await;
}

async fn spawn(
    role: &str,
    envs: &[(&str, String)],
) -> (
    Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) {
    let mut command = Command::new(std::env::current_exe().expect("this test binary"));
    command
        .env(CHILD, role)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn child");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    (child, lines)
}

async fn start_daemon(dir: &Path) -> (Child, Client) {
    let (child, mut lines) = spawn(
        "daemon",
        &[("WINDLASS_PROXY_STATE", dir.display().to_string())],
    )
    .await;
    let line = lines
        .next_line()
        .await
        .expect("daemon stdout")
        .expect("the daemon prints its control socket");
    (child, Client::new(PathBuf::from(line.trim())))
}

async fn test() {
    let dir = std::env::temp_dir().join(format!("windlass-proxy-process-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let v1 = upstream("v1").await;
    let v2 = upstream("v2").await;
    let web: ServiceName = "web".parse().expect("name");

    let (mut daemon, control) = start_daemon(&dir).await;
    let addr = control
        .ensure(
            &web,
            &ServiceSpec::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), Protocol::Http),
        )
        .await
        .expect("ensure")
        .spec
        .ports[0]
        .listen;
    control
        .switch(&web, &LiveRelease::new("r1", vec![v1.addr]))
        .await
        .expect("switch");

    // Load through the daemon's proxy while a deployer switches and is killed.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let client = client();
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                answers.push(get(&client, addr, "/").await);
            }
            answers
        })
    };
    let (mut deployer, mut said) = spawn(
        "deployer",
        &[
            (
                "WINDLASS_PROXY_CONTROL",
                control.control_socket().display().to_string(),
            ),
            ("WINDLASS_PROXY_UPSTREAM", v2.addr.to_string()),
        ],
    )
    .await;
    assert_eq!(
        said.next_line().await.expect("deployer").as_deref(),
        Some("switched")
    );
    assert_eq!(
        said.next_line().await.expect("deployer").as_deref(),
        Some("drained")
    );
    deployer.kill().await.expect("SIGKILL the deployer");
    let status = deployer.wait().await.expect("deployer status");
    assert!(!status.success(), "the deployer was killed: {status}");
    for _ in 0..200 {
        assert_eq!(
            get(&client(), addr, "/").await,
            (200, Some("r2".into()), "v2".into()),
            "the daemon keeps routing after the deployer died"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let answers = load.await.expect("load");
    assert!(!answers.is_empty());
    assert!(
        answers.iter().all(|(status, _, _)| *status == 200),
        "no request failed while the deployer switched and was killed"
    );

    // Now the daemon itself dies by SIGKILL and is started again.
    daemon.kill().await.expect("SIGKILL the daemon");
    let _ = daemon.wait().await;
    let restarted = Instant::now();
    let (mut daemon, control) = start_daemon(&dir).await;
    assert_eq!(
        get(&client(), addr, "/").await,
        (200, Some("r2".into()), "v2".into()),
        "the restarted daemon binds the same address and routes to the same release"
    );
    let took = restarted.elapsed();
    let views = control.services().await.expect("list");
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].spec.ports[0].listen, addr);
    daemon.kill().await.expect("stop the daemon");
    let _ = daemon.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "daemon_process: ok ({} requests under load with none failed; SIGKILLed daemon restarted and answering in {took:?})",
        answers.len()
    );
}
