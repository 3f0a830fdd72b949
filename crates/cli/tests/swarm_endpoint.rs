//! The Swarm's manager found as the `docker` CLI finds its engine: a
//! one-node Swarm whose engine serves its API only over TLS with client
//! certificates (a node of `support::swarm`'s image, certificates made
//! here with `openssl`), reached by the real binary through a Docker
//! context that `docker context create` wrote and `docker context use`
//! made current (no `DOCKER_HOST`): an app deployed, shown, taken down. A
//! context that does not exist is named in the error; the engine's port
//! without TLS (`DOCKER_HOST` alone) is refused by the engine. Then a new
//! version through `DOCKER_HOST=ssh://root@127.0.0.1:PORT`: an sshd of the
//! test's own on 127.0.0.1 (Debian's openssh-server) whose sessions' docker
//! reaches the node, the client's key in an ssh-agent of the test's. And
//! command hooks as one-off Swarm jobs: one passes, one fails and rolls
//! the app back with its exit code and output in the message.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::swarm::{docker, node_image, run, testapp_image, NODE_IMAGE};

/// Makes a CA, a server certificate for 127.0.0.1 and a client
/// certificate in `dir`, as Docker's "protect the daemon socket" guide does.
fn certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let subject = |cn: &str| format!("/CN={cn}");
    openssl(&["genrsa", "-out", "ca-key.pem", "2048"]);
    openssl(&[
        "req",
        "-new",
        "-x509",
        "-days",
        "2",
        "-key",
        "ca-key.pem",
        "-subj",
        &subject("windlass test CA"),
        "-out",
        "ca.pem",
    ]);
    for (name, usage) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        openssl(&["genrsa", "-out", &format!("{name}-key.pem"), "2048"]);
        openssl(&[
            "req",
            "-new",
            "-key",
            &format!("{name}-key.pem"),
            "-subj",
            &subject(name),
            "-out",
            &format!("{name}.csr"),
        ]);
        std::fs::write(dir.join(format!("{name}.ext")), usage).expect("extensions");
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            &format!("{name}-cert.pem"),
            "-extfile",
            &format!("{name}.ext"),
        ]);
    }
    // The engine reads them as another user may: readable.
    for file in std::fs::read_dir(dir).expect("certificates") {
        let path = file.expect("entry").path();
        let _ = Command::new("chmod").arg("0644").arg(&path).status();
    }
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

struct Node {
    container: String,
    /// `tcp://127.0.0.1:PORT`: its Engine API, TLS only.
    host: String,
    /// The registry on the node, as both this machine and the node name it.
    registry: String,
    certs: PathBuf,
}

impl Node {
    /// `docker` on this machine with the node's TLS client flags.
    fn docker(&self, args: &[&str]) -> Result<String, String> {
        let certs = |f: &str| self.certs.join(f).display().to_string();
        let mut all = vec![
            "--tlsverify".to_owned(),
            format!("--tlscacert={}", certs("ca.pem")),
            format!("--tlscert={}", certs("client-cert.pem")),
            format!("--tlskey={}", certs("client-key.pem")),
            "-H".to_owned(),
            self.host.clone(),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        run(&all)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = run(&["rm", "-f", "-v", &self.container]);
    }
}

/// One node with TLS on its API, a Swarm of its own, a registry on it.
fn start_node(certs: &Path) -> Node {
    node_image();
    let container = format!("wlswarm-{}-tls", std::process::id());
    let _ = run(&["rm", "-f", "-v", &container]);
    let registry_port = free_port();
    docker(&[
        "run",
        "-d",
        "--name",
        &container,
        "--label",
        "wlswarm=1",
        "--cap-add",
        "SYS_ADMIN",
        "--cap-add",
        "NET_ADMIN",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
        "-v",
        "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/var/run",
        "-v",
        &format!("{}:/certs:ro", certs.display()),
        "-p",
        "127.0.0.1::2375",
        "-p",
        &format!("127.0.0.1:{registry_port}:{registry_port}"),
        NODE_IMAGE,
        "--tlsverify",
        "--tlscacert=/certs/ca.pem",
        "--tlscert=/certs/server-cert.pem",
        "--tlskey=/certs/server-key.pem",
    ]);
    let port = docker(&["port", &container, "2375/tcp"]);
    let port = port
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .expect("port")
        .trim();
    let node = Node {
        container: container.clone(),
        host: format!("tcp://127.0.0.1:{port}"),
        registry: format!("127.0.0.1:{registry_port}"),
        certs: certs.to_owned(),
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    while node.docker(&["version"]).is_err() {
        assert!(Instant::now() < deadline, "the TLS node never answered");
        std::thread::sleep(Duration::from_millis(250));
    }
    node.docker(&["swarm", "init"]).expect("swarm init");
    // The registry on the node's own port, which this machine's 127.0.0.1
    // publishes at the same number: one image name for both.
    docker(&[
        "exec",
        "-d",
        "-e",
        &format!("REGISTRY_HTTP_ADDR=0.0.0.0:{registry_port}"),
        &container,
        "/usr/bin/docker-registry",
        "serve",
        "/certs/registry.yml",
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&node.registry).is_err() {
        assert!(
            Instant::now() < deadline,
            "the node's registry never listened"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    node
}

/// `windlass ARGS` with only `config` as Docker's config folder (no
/// `DOCKER_HOST`); exit code, stdout, stderr.
fn windlass(
    dir: &Path,
    config: &Path,
    extra: &[(&str, &str)],
    args: &[&str],
) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_CONFIG", config)
        .env("WINDLASS_STATE", dir.join("state"));
    for (k, v) in extra {
        command.env(k, v);
    }
    let out = command.output().expect("windlass");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An sshd on 127.0.0.1 (as root, this test's keys only) whose sessions
/// have `DOCKER_HOST` and the TLS settings of the node, so that `docker
/// system dial-stdio` there reaches the node; and an ssh-agent holding the
/// client's key. Both stop when dropped.
struct Ssh {
    sshd: std::process::Child,
    agent_pid: String,
    /// `SSH_AUTH_SOCK` for the client.
    auth_sock: PathBuf,
    port: u16,
}

impl Ssh {
    fn start(dir: &Path, node: &Node) -> Ssh {
        std::fs::create_dir_all(dir).expect("ssh folder");
        let keygen = |file: &str| {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(file))
                .output()
                .expect("ssh-keygen");
            assert!(out.status.success(), "ssh-keygen: {out:?}");
        };
        keygen("host_key");
        keygen("client_key");
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys"))
            .expect("authorized_keys");
        // The docker CLI reads ca.pem, cert.pem and key.pem from DOCKER_CERT_PATH.
        let client = dir.join("docker-certs");
        std::fs::create_dir_all(&client).expect("cert folder");
        for (from, to) in [
            ("ca.pem", "ca.pem"),
            ("client-cert.pem", "cert.pem"),
            ("client-key.pem", "key.pem"),
        ] {
            std::fs::copy(node.certs.join(from), client.join(to)).expect("client certificate");
        }
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nSetEnv DOCKER_HOST={} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH={}\n",
                dir.join("host_key").display(),
                dir.join("authorized_keys").display(),
                dir.join("sshd.pid").display(),
                node.host,
                client.display(),
            ),
        )
        .expect("sshd_config");
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let sshd = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stderr(std::fs::File::create(dir.join("sshd.log")).expect("sshd log"))
            .spawn()
            .expect("sshd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        let auth_sock = dir.join("agent.sock");
        let out = Command::new("ssh-agent")
            .arg("-a")
            .arg(&auth_sock)
            .output()
            .expect("ssh-agent");
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        let agent_pid = said
            .split("SSH_AGENT_PID=")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .expect("ssh-agent's pid")
            .to_owned();
        let added = Command::new("ssh-add")
            .arg(dir.join("client_key"))
            .env("SSH_AUTH_SOCK", &auth_sock)
            .output()
            .expect("ssh-add");
        assert!(added.status.success(), "ssh-add: {added:?}");
        // As a user does once: the host's key in known_hosts (root's: ssh
        // reads the home of the user it runs as), an earlier run's removed.
        forget_host(port);
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let ssh_dir = Path::new(&home).join(".ssh");
        std::fs::create_dir_all(&ssh_dir).expect("~/.ssh");
        let key = std::fs::read_to_string(dir.join("host_key.pub")).expect("host key");
        let key: Vec<&str> = key.split_whitespace().take(2).collect();
        let mut known = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(ssh_dir.join("known_hosts"))
            .expect("known_hosts");
        std::io::Write::write_all(
            &mut known,
            format!("[127.0.0.1]:{port} {}\n", key.join(" ")).as_bytes(),
        )
        .expect("known_hosts");
        Ssh {
            sshd,
            agent_pid,
            auth_sock,
            port,
        }
    }
}

fn forget_host(port: u16) {
    let _ = Command::new("ssh-keygen")
        .args(["-R", &format!("[127.0.0.1]:{port}")])
        .output();
}

impl Drop for Ssh {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        let _ = Command::new("kill").arg(&self.agent_pid).status();
        forget_host(self.port);
    }
}

#[test]
fn a_manager_by_tls_context_and_by_ssh_runs_hooks_as_jobs() {
    let work =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wl-endpoint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let certs = work.join("certs");
    let config = work.join("docker-config");
    let app = work.join("wlendpoint");
    for dir in [&certs, &config, &app] {
        std::fs::create_dir_all(dir).expect("folder");
    }
    certificates(&certs);
    std::fs::write(
        certs.join("registry.yml"),
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/docker-registry\nhttp:\n  addr: :5000\n",
    )
    .expect("registry config");
    let node = start_node(&certs);

    // The app's image in the node's registry.
    let local = format!("wlendpoint-testapp:{}", std::process::id());
    testapp_image(&local);
    let image = format!("{}/wlendpoint-testapp:1", node.registry);
    docker(&["tag", &local, &image]);
    docker(&["push", &image]);
    let _ = run(&["rmi", &local, &image]);

    // The context, as a user makes it.
    let cli = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .env("DOCKER_CONFIG", &config)
            .env_remove("DOCKER_HOST")
            .output()
            .expect("docker");
        assert!(out.status.success(), "docker {args:?}: {out:?}");
    };
    let c = |f: &str| certs.join(f).display().to_string();
    cli(&[
        "context",
        "create",
        "wl-tls",
        "--docker",
        &format!(
            "host={},ca={},cert={},key={}",
            node.host,
            c("ca.pem"),
            c("client-cert.pem"),
            c("client-key.pem")
        ),
    ]);
    cli(&["context", "use", "wl-tls"]);

    std::fs::write(
        app.join("compose.yaml"),
        format!("services:\n  worker:\n    image: {image}\n    environment:\n      TESTAPP_VERSION: v1\n"),
    )
    .expect("compose file");

    // No DOCKER_HOST: the current context's TLS endpoint.
    let (code, out, err) = windlass(&app, &config, &[], &["deploy", "--target", "swarm"]);
    assert_eq!(code, 0, "deploy through the context: {out}\n{err}");
    eprintln!("deploy through the context:\n{out}{err}");
    assert!(
        err.contains("app wlendpoint release a1 is live: worker r1"),
        "{err}"
    );
    let services = node
        .docker(&["service", "ls", "--format", "{{.Name}} {{.Replicas}}"])
        .expect("service ls");
    assert!(
        services.contains("wlendpoint_worker_r1_") && services.contains("1/1"),
        "the release runs on the TLS node: {services}"
    );
    let (code, out, err) = windlass(&app, &config, &[], &["status"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("wlendpoint/worker") && out.contains("on the Swarm"),
        "{out}"
    );

    // DOCKER_HOST=ssh://: the system's ssh runs `docker system dial-stdio`
    // on the far side, whose docker reaches the node.
    let ssh = Ssh::start(&work.join("ssh"), &node);
    std::fs::write(
        app.join("compose.yaml"),
        format!("services:\n  worker:\n    image: {image}\n    environment:\n      TESTAPP_VERSION: v2\n"),
    )
    .expect("compose file");
    let host = format!("ssh://root@127.0.0.1:{}", ssh.port);
    let sock = ssh.auth_sock.display().to_string();
    let (code, out, err) = windlass(
        &app,
        &config,
        &[
            ("DOCKER_HOST", host.as_str()),
            ("SSH_AUTH_SOCK", sock.as_str()),
        ],
        &["deploy", "--target", "swarm"],
    );
    let sshd_log = std::fs::read_to_string(work.join("ssh/sshd.log")).unwrap_or_default();
    assert_eq!(code, 0, "deploy over ssh: {out}\n{err}\nsshd: {sshd_log}");
    assert!(
        err.contains("app wlendpoint release a2 is live: worker r2"),
        "{err}"
    );
    drop(ssh);

    // Command hooks run as one-off Swarm jobs: one that passes, then one
    // that fails before the switch (the app stays on r2, the job's output
    // in the failure), and no job left behind.
    let with_hook = |version: &str, code: u8| {
        format!(
            "services:\n  worker:\n    image: {image}\n    environment:\n      TESTAPP_VERSION: {version}\n    x-windlass:\n      hooks:\n        before_switch:\n          - command: [\"exit\", \"{code}\"]\n"
        )
    };
    std::fs::write(app.join("compose.yaml"), with_hook("v3", 0)).expect("compose file");
    let (code, out, err) = windlass(&app, &config, &[], &["deploy", "--target", "swarm"]);
    assert_eq!(code, 0, "a passing hook: {out}\n{err}");
    assert!(err.contains("is live: worker r3"), "{err}");
    std::fs::write(app.join("compose.yaml"), with_hook("v4", 3)).expect("compose file");
    let (code, out, err) = windlass(&app, &config, &[], &["deploy", "--target", "swarm"]);
    eprintln!("a failing hook on the Swarm:\n{err}");
    assert_eq!(code, 6, "a failing hook rolls back: {out}\n{err}");
    assert!(
        err.contains("exited with code 3") && err.contains("testapp v4: hook ran, exiting with 3"),
        "the hook's exit code and output: {err}"
    );
    let services = node
        .docker(&["service", "ls", "--format", "{{.Name}}"])
        .expect("service ls");
    assert!(!services.contains("-hook-"), "no hook job left: {services}");
    let (code, out, _) = windlass(&app, &config, &[], &["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("r3"), "r3 still live: {out}");

    // A context that is not there is named, with what to do.
    let (code, out, err) = windlass(
        &app,
        &config,
        &[("DOCKER_CONTEXT", "nowhere")],
        &["deploy", "--target", "swarm"],
    );
    assert_eq!(code, 7, "refused, the user's to fix: {out}");
    assert!(
        err.contains("Docker context nowhere (DOCKER_CONTEXT) is not there")
            && err.contains("docker context ls"),
        "{err}"
    );

    // DOCKER_HOST comes first: the same port without TLS is refused.
    let (code, _, err) = windlass(
        &app,
        &config,
        &[("DOCKER_HOST", node.host.as_str())],
        &["down", "--target", "swarm"],
    );
    assert_ne!(code, 0, "plain HTTP to a TLS engine must fail: {err}");
    eprintln!("DOCKER_HOST without TLS to the TLS engine: {err}");

    let (code, out, err) = windlass(&app, &config, &[], &["down", "--target", "swarm"]);
    assert_eq!(code, 0, "down through the context: {out}\n{err}");
    let services = node.docker(&["service", "ls", "-q"]).expect("service ls");
    assert_eq!(services, "", "down removed the app's services");
    drop(node);
    let _ = std::fs::remove_dir_all(&work);
}
