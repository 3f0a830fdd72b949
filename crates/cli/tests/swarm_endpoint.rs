//! The Swarm's manager found as the `docker` CLI finds its engine: a
//! one-node Swarm whose engine serves its API only over TLS with client
//! certificates (a node of `support::swarm`'s image, certificates made
//! here with `openssl`), reached by the real binary through a Docker
//! context that `docker context create` wrote and `docker context use`
//! made current (no `DOCKER_HOST`): an app deployed, shown, taken down. A
//! context that does not exist is named in the error; the engine's port
//! without TLS (`DOCKER_HOST` alone) is refused by the engine.

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

#[test]
fn a_docker_context_with_tls_names_the_manager() {
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

    // A context that is not there is named, with what to do.
    let (code, out, err) = windlass(
        &app,
        &config,
        &[("DOCKER_CONTEXT", "nowhere")],
        &["deploy", "--target", "swarm"],
    );
    assert_ne!(code, 0, "{out}");
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
