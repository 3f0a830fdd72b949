//! Who reaches the agent's and the proxy daemon's control APIs, checked with
//! a real agent, a real proxy daemon and another local user (`nobody`, by
//! `setpriv`, as CI runs these tests as root): the state folders are 0700
//! and the database and sockets 0600, so nobody cannot connect; with the
//! folders opened by hand the servers still answer another user 403 (peer
//! credentials); nobody cannot take a dead agent's socket path; and the
//! CLI refuses a socket served by a user who is neither it nor root.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NOBODY: &str = "65534";

/// A scratch folder under /tmp that `nobody` can traverse, with a copy of
/// the windlass binary it can run (the build folder may be closed to it).
fn scratch(test: &str) -> (PathBuf, PathBuf) {
    assert_eq!(
        windlass_proxy::owner::own_uid(),
        0,
        "these tests play another user with setpriv: run them as root (CI does)"
    );
    let dir = PathBuf::from(format!("/tmp/windlass-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch");
    chmod(&dir, 0o755);
    let exe = dir.join("windlass");
    std::fs::copy(env!("CARGO_BIN_EXE_windlass"), &exe).expect("copy the binary");
    chmod(&exe, 0o755);
    (dir, exe)
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn as_nobody(program: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(program)
        .args(args);
    command
}

/// `curl` to a control socket, as nobody or as this user: (HTTP status, or
/// 000 when it could not connect; body).
fn curl(nobody: bool, socket: &Path, method: &str, path: &str, body: &str) -> (String, String) {
    let curl = Path::new("/usr/bin/curl");
    let socket = socket.display().to_string();
    let url = format!("http://localhost{path}");
    let args = [
        "-s",
        "-w",
        "\n%{http_code}",
        "--unix-socket",
        &socket,
        "-X",
        method,
        "-H",
        "content-type: application/json",
        "--data-binary",
        body,
        &url,
    ];
    let out: Output = match nobody {
        true => as_nobody(curl, &args).output(),
        false => Command::new(curl).args(args).output(),
    }
    .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.to_owned(), body.to_owned())
}

fn wait_for(path: &Path, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while path.symlink_metadata().is_err() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared: {}",
            path.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A process this test started, stopped when the test ends however it
/// ends, with the proxy daemon an agent started (its pid file) if any.
struct Running {
    child: Child,
    proxy_pid: Option<PathBuf>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(pid) = self
            .proxy_pid
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
        {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

fn spawn(mut command: Command, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log");
    command
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start")
}

const DEPLOY: &str = r#"{"compose_file":"/tmp/compose.yaml","compose_text":"services:\n  web:\n    image: busybox\n    volumes: ['/root:/host']\n","by":"root@here"}"#;
const LIVE: &str = r#"{"release":"evil","upstreams":["127.0.0.1:9"]}"#;

#[test]
fn only_the_owner_reaches_the_agent_and_the_proxy_daemon() {
    let (dir, _) = scratch("access");
    let state = dir.join("state");
    let log = dir.join("agent.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
    command.args(["agent", "--state"]).arg(&state);
    let mut agent = Running {
        child: spawn(command, &log),
        proxy_pid: Some(state.join("proxy.pid")),
    };
    let agent_socket = state.join("agent.sock");
    let proxy_socket = state.join("proxy/proxy.sock");
    wait_for(&agent_socket, &log);
    wait_for(&proxy_socket, &log);

    // At rest: the owner's only.
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("proxy")), 0o700);
    assert_eq!(mode(&state.join("windlass.db")), 0o600);
    assert_eq!(mode(&agent_socket), 0o600);
    assert_eq!(mode(&proxy_socket), 0o600);

    // nobody cannot connect at all.
    let (status, _) = curl(true, &agent_socket, "POST", "/v1/deploy", DEPLOY);
    assert_eq!(status, "000", "nobody connected to the agent");
    let (status, _) = curl(true, &proxy_socket, "PUT", "/v1/services/web/live", LIVE);
    assert_eq!(status, "000", "nobody connected to the proxy daemon");
    let cli = as_nobody(&dir.join("windlass"), &["status", "--state"])
        .arg(&state)
        .output()
        .expect("windlass status as nobody");
    let said = String::from_utf8_lossy(&cli.stderr);
    assert!(!cli.status.success(), "windlass status worked for nobody");
    assert!(said.contains("belongs to uid 0"), "{said}");

    // Folders and sockets opened by hand: the servers still refuse nobody.
    for path in [&state, &state.join("proxy")] {
        chmod(path, 0o755);
    }
    for socket in [&agent_socket, &proxy_socket] {
        chmod(socket, 0o666);
    }
    let (status, body) = curl(true, &agent_socket, "POST", "/v1/deploy", DEPLOY);
    assert_eq!(status, "403", "{body}");
    assert!(body.contains("uid 65534 may not use"), "{body}");
    let (status, body) = curl(true, &proxy_socket, "PUT", "/v1/services/web/live", LIVE);
    assert_eq!(status, "403", "{body}");
    let (status, body) = curl(
        true,
        &proxy_socket,
        "PUT",
        "/v1/services/web",
        r#"{"listen":"0.0.0.0:0"}"#,
    );
    assert_eq!(status, "403", "{body}");
    // The owner sees that nothing changed.
    let (status, body) = curl(false, &proxy_socket, "GET", "/v1/services", "");
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("200", r#"{"services":[]}"#)
    );
    let (status, body) = curl(false, &agent_socket, "GET", "/v1/status", "");
    assert_eq!(status, "200", "{body}");

    // A dead agent's socket path cannot be taken by another user.
    let _ = agent.child.kill();
    let _ = agent.child.wait();
    let taken = as_nobody(Path::new("/bin/rm"), &["-f"])
        .arg(&agent_socket)
        .output()
        .expect("rm as nobody");
    assert!(!taken.status.success());
    assert!(
        agent_socket.symlink_metadata().is_ok(),
        "nobody removed the agent's socket"
    );

    drop(agent);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cli_refuses_a_socket_served_by_another_user() {
    let (dir, exe) = scratch("impostor");
    chmod(&dir, 0o777);
    // nobody serves a control socket of its own (a proxy daemon)...
    let theirs = dir.join("nobody");
    let log = dir.join("nobody.log");
    let impostor = Running {
        proxy_pid: None,
        child: spawn(
            {
                let mut command = as_nobody(&exe, &["proxy", "--state"]);
                command.arg(&theirs);
                command
            },
            &log,
        ),
    };
    let socket = theirs.join("proxy/proxy.sock");
    wait_for(&socket, &log);
    // ...and the place where root's CLI looks for its agent leads there.
    let mine = dir.join("root");
    std::fs::create_dir_all(&mine).expect("state");
    chmod(&mine, 0o700);
    std::os::unix::fs::symlink(&socket, mine.join("agent.sock")).expect("symlink");
    let out = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(["rollback", "web", "--state"])
        .arg(&mine)
        .output()
        .expect("windlass rollback");
    let said = String::from_utf8_lossy(&out.stderr);
    drop(impostor);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("served by uid 65534"), "{said}");
    assert!(said.contains("refusing to send it anything"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
