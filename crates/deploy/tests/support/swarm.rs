//! A Docker Swarm for the Swarm tests: each node a Docker engine (Debian's
//! `docker.io`) in a container of the host's engine, three managers (and
//! workers when asked, [`Swarm::start_with`]), joined on a test network of
//! their own, with a registry
//! (Debian's `docker-registry`) on the same network. The node image is made
//! once by `scripts/swarm-node-image` and kept (cached by its name and tag);
//! everything else is named `wlswarm-PID-...` and removed when the [`Swarm`]
//! is dropped. Only ports published on 127.0.0.1 of this machine are used:
//! each node's Engine API and its [`APP_PORTS`], and the registry's.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The cached node image (a Debian bookworm rootfs with the engine).
pub const NODE_IMAGE: &str = "wlswarm-node:bookworm-1";
/// The ports every node publishes on 127.0.0.1 for the apps' entry points.
pub const APP_PORTS: [u16; 3] = [8000, 8001, 8002];
/// The registry's name on the test network, as nodes pull from it.
pub const REGISTRY: &str = "registry:5000";

const MANAGERS: usize = 3;

/// One node: its container and its ports on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct Node {
    pub container: String,
    /// `tcp://127.0.0.1:PORT`, its Engine API.
    pub docker_host: String,
    /// Each of [`APP_PORTS`] as published on 127.0.0.1.
    pub app_ports: Vec<u16>,
    /// Its address on the test network.
    pub ip: String,
    /// A manager (runs the entry point); else a worker.
    pub manager: bool,
}

/// A running three-node Swarm; dropping it removes its containers and
/// network (never the node image).
pub struct Swarm {
    pub prefix: String,
    pub network: String,
    pub nodes: Vec<Node>,
    registry: String,
    /// The registry as this machine pushes to it: `127.0.0.1:PORT`.
    pub registry_here: String,
    /// How long the set-up took, and its parts.
    pub timings: Vec<(&'static str, Duration)>,
}

impl Swarm {
    /// Builds (or reuses) the node image, starts the registry and three
    /// nodes, and joins them as managers of one Swarm.
    pub fn start() -> Swarm {
        Swarm::start_with(0)
    }

    /// As [`Swarm::start`], with `workers` worker nodes besides the three
    /// managers (after them in [`Swarm::nodes`]).
    pub fn start_with(workers: usize) -> Swarm {
        let prefix = format!("wlswarm-{}", std::process::id());
        remove_leftovers();
        let mut timings = Vec::new();
        let began = Instant::now();
        node_image();
        timings.push(("node image", began.elapsed()));
        let network = prefix.clone();
        docker(&["network", "create", "--label", "wlswarm=1", &network]);
        let mut swarm = Swarm {
            registry: format!("{prefix}-registry"),
            prefix,
            network,
            nodes: Vec::new(),
            registry_here: String::new(),
            timings,
        };
        let step = Instant::now();
        swarm.start_registry();
        for index in 1..=MANAGERS + workers {
            swarm.start_node(index, index <= MANAGERS);
        }
        for node in &mut swarm.nodes {
            wait_for_engine(node);
            node.ip = docker(&[
                "inspect",
                "-f",
                &format!(
                    "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
                    swarm.network
                ),
                &node.container,
            ]);
        }
        swarm.timings.push(("nodes up", step.elapsed()));
        let step = Instant::now();
        swarm.join();
        swarm.timings.push(("swarm joined", step.elapsed()));
        swarm.timings.push(("total", began.elapsed()));
        swarm
    }

    fn start_registry(&mut self) {
        let config = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wlswarm-registry.yml");
        std::fs::write(
            &config,
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/docker-registry\n  delete:\n    enabled: true\nhttp:\n  addr: :5000\n",
        )
        .expect("registry config");
        docker(&[
            "run",
            "-d",
            "--name",
            &self.registry,
            "--label",
            "wlswarm=1",
            "--network",
            &self.network,
            "--network-alias",
            "registry",
            "-p",
            "127.0.0.1::5000",
            "-v",
            &format!("{}:/etc/wlswarm-registry.yml:ro", config.display()),
            "--entrypoint",
            "/usr/bin/docker-registry",
            NODE_IMAGE,
            "serve",
            "/etc/wlswarm-registry.yml",
        ]);
        self.registry_here = format!("127.0.0.1:{}", published(&self.registry, 5000));
    }

    fn start_node(&mut self, index: usize, manager: bool) {
        let container = format!("{}-node{index}", self.prefix);
        let mut args = vec![
            "run".to_owned(),
            "-d".into(),
            "--name".into(),
            container.clone(),
            "--hostname".into(),
            format!("node{index}"),
            "--label".into(),
            "wlswarm=1".into(),
            "--cap-add".into(),
            "SYS_ADMIN".into(),
            "--cap-add".into(),
            "NET_ADMIN".into(),
            "--security-opt".into(),
            "seccomp=unconfined".into(),
            "--security-opt".into(),
            "apparmor=unconfined".into(),
            "-v".into(),
            "/sys/fs/cgroup:/sys/fs/cgroup:rw".into(),
            "--tmpfs".into(),
            "/run".into(),
            "--tmpfs".into(),
            "/var/run".into(),
            "--network".into(),
            self.network.clone(),
            "-p".into(),
            "127.0.0.1::2375".into(),
        ];
        for port in APP_PORTS {
            args.push("-p".into());
            args.push(format!("127.0.0.1::{port}"));
        }
        args.push(NODE_IMAGE.into());
        args.push(format!("--insecure-registry={REGISTRY}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        docker(&args);
        self.nodes.push(Node {
            docker_host: format!("tcp://127.0.0.1:{}", published(&container, 2375)),
            app_ports: APP_PORTS
                .iter()
                .map(|p| published(&container, *p))
                .collect(),
            container,
            ip: String::new(),
            manager,
        });
    }

    fn join(&self) {
        let first = &self.nodes[0];
        // A node's heartbeat every 20 s rather than 5: on a loaded machine
        // a node whose agent is starved would be judged down, and its tasks
        // (the entry's too) moved.
        on(
            first,
            &[
                "swarm",
                "init",
                "--advertise-addr",
                &first.ip,
                "--dispatcher-heartbeat",
                "20s",
            ],
        );
        let manager_token = on(first, &["swarm", "join-token", "-q", "manager"]);
        let worker_token = on(first, &["swarm", "join-token", "-q", "worker"]);
        for node in &self.nodes[1..] {
            let token = if node.manager {
                &manager_token
            } else {
                &worker_token
            };
            on(
                node,
                &[
                    "swarm",
                    "join",
                    "--advertise-addr",
                    &node.ip,
                    "--token",
                    token,
                    &format!("{}:2377", first.ip),
                ],
            );
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = on(first, &["node", "ls", "--format", "{{.Status}}"]);
            if ready.lines().filter(|s| *s == "Ready").count() == self.nodes.len() {
                return;
            }
            assert!(Instant::now() < deadline, "nodes not ready: {ready}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The first manager's Engine API, as `DOCKER_HOST` names it.
    pub fn docker_host(&self) -> &str {
        &self.nodes[0].docker_host
    }

    /// The managers: the nodes whose entry tasks serve the apps' ports.
    pub fn managers(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.manager)
    }

    /// Runs the host's `docker` client against node `index` (0-based).
    pub fn on(&self, index: usize, args: &[&str]) -> String {
        on(&self.nodes[index], args)
    }

    /// Builds `windlass-swarm-entry` and the test app into images, pushes
    /// both to the registry and removes them here; returns their names as
    /// the nodes pull them (`registry:5000/wlswarm-entry:1`,
    /// `registry:5000/wlswarm-testapp:1`).
    pub fn test_images(&self) -> (String, String) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let status = Command::new(&cargo)
            .args(["build", "-p", "windlass-swarm-entry"])
            .current_dir(&root)
            .status()
            .expect("cargo build");
        assert!(status.success(), "building windlass-swarm-entry failed");
        image_of_binary(
            &root.join("target/debug/windlass-swarm-entry"),
            "wlswarm-entry:1",
            &[],
        );
        let entry = self.push("wlswarm-entry:1", "wlswarm-entry:1");
        testapp_image("wlswarm-testapp:1");
        let app = self.push("wlswarm-testapp:1", "wlswarm-testapp:1");
        let _ = run(&["rmi", "wlswarm-entry:1", "wlswarm-testapp:1"]);
        (entry, app)
    }

    /// Tags a local image into the registry and pushes it; returns its name
    /// as the nodes pull it (`registry:5000/NAME:TAG`).
    pub fn push(&self, local: &str, name: &str) -> String {
        let here = format!("{}/{name}", self.registry_here);
        docker(&["tag", local, &here]);
        docker(&["push", &here]);
        docker(&["rmi", &here]);
        format!("{REGISTRY}/{name}")
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        self.remove();
    }
}

impl Swarm {
    /// Removes the nodes, the registry and the network (also done on drop;
    /// a `Swarm` shared in a static is never dropped).
    pub fn remove(&self) {
        let mut names: Vec<String> = self.nodes.iter().map(|n| n.container.clone()).collect();
        names.push(self.registry.clone());
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(names.iter().map(String::as_str));
        let _ = run(&args);
        let _ = run(&["network", "rm", &self.network]);
    }
}

/// Removes the containers and networks of an earlier run that was killed
/// before it could clean up (its process is gone).
fn remove_leftovers() {
    let Ok(names) = run(&[
        "ps",
        "-a",
        "--filter",
        "label=wlswarm=1",
        "--format",
        "{{.Names}}",
    ]) else {
        return;
    };
    for name in names.lines() {
        if owner_gone(name) {
            let _ = run(&["rm", "-f", "-v", name]);
        }
    }
    if let Ok(networks) = run(&[
        "network",
        "ls",
        "--filter",
        "label=wlswarm=1",
        "--format",
        "{{.Name}}",
    ]) {
        for name in networks.lines() {
            if owner_gone(name) {
                let _ = run(&["network", "rm", name]);
            }
        }
    }
}

fn owner_gone(name: &str) -> bool {
    let pid = name
        .strip_prefix("wlswarm-")
        .and_then(|rest| rest.split('-').next())
        .and_then(|pid| pid.parse::<u32>().ok());
    pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}

/// The test app (`windlass-testapp`) built with a static C runtime (so it
/// runs `FROM scratch`) in a target folder of its own; its path.
pub fn static_testapp() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("static-testapp");
    let status = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "-p",
            "windlass-testapp",
            "--target",
            "x86_64-unknown-linux-gnu",
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&root)
        .status()
        .expect("cargo build");
    assert!(status.success(), "building the static testapp failed");
    target.join("x86_64-unknown-linux-gnu/release/windlass-testapp")
}

/// The test app ([`static_testapp`]) as image `tag` in this machine's engine.
pub fn testapp_image(tag: &str) {
    let binary = static_testapp();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "wlswarm-testapp-{}-{}",
        tag.replace([':', '/'], "-"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("testapp folder");
    std::fs::copy(&binary, dir.join("testapp")).expect("copy testapp");
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY testapp /app\nEXPOSE 8080\nENTRYPOINT [\"/app\"]\n",
    )
    .expect("Dockerfile");
    let status = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(&dir)
        .env("DOCKER_BUILDKIT", "0")
        .stdout(Stdio::null())
        .status()
        .expect("docker build");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "docker build {tag} failed");
}

/// Makes the node image unless it is there (`scripts/swarm-node-image`).
pub fn node_image() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/swarm-node-image");
    let status = Command::new(script)
        .arg(NODE_IMAGE)
        .status()
        .expect("run scripts/swarm-node-image");
    assert!(status.success(), "scripts/swarm-node-image failed");
}

fn wait_for_engine(node: &Node) {
    let address = node.docker_host.trim_start_matches("tcp://").to_owned();
    // The engine waits 15 s before it serves an unauthenticated TCP socket.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if TcpStream::connect(&address).is_ok()
            && run(&["-H", &node.docker_host, "version"]).is_ok()
        {
            return;
        }
        if Instant::now() > deadline {
            let logs = run(&["logs", "--tail", "30", &node.container]).unwrap_or_default();
            panic!("node {} never answered: {logs}", node.container);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn published(container: &str, port: u16) -> u16 {
    let out = docker(&["port", container, &format!("{port}/tcp")]);
    out.lines()
        .next()
        .and_then(|line| line.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{container} publishes no {port}: {out}"))
}

fn on(node: &Node, args: &[&str]) -> String {
    let mut all = vec!["-H", node.docker_host.as_str()];
    all.extend_from_slice(args);
    docker(&all)
}

/// Runs `docker ARGS` on this machine's engine; panics with its error.
pub fn docker(args: &[&str]) -> String {
    run(args).unwrap_or_else(|e| panic!("docker {}: {e}", args.join(" ")))
}

/// Runs `docker ARGS`; its trimmed stdout, or its stderr.
pub fn run(args: &[&str]) -> Result<String, String> {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(String::from_utf8_lossy(&stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&stderr).trim().to_owned())
    }
}

/// A `FROM scratch` image of a binary built here and the libraries `ldd`
/// lists for it, tagged `tag` in this machine's engine.
pub fn image_of_binary(binary: &Path, tag: &str, entrypoint_args: &[&str]) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("wlswarm-image-{}", tag.replace([':', '/'], "-")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("image folder");
    let mut files: Vec<PathBuf> = vec![binary.to_owned()];
    let ldd = Command::new("ldd").arg(binary).output().expect("ldd");
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|word| word.starts_with('/'))
            .map(PathBuf::from);
        files.extend(path);
    }
    let mut dockerfile = String::from("FROM scratch\n");
    for (i, file) in files.iter().enumerate() {
        let local = format!("f{i}");
        // Debug information is most of a debug build's size: strip it.
        let stripped = Command::new("strip")
            .arg("--strip-debug")
            .arg("-o")
            .arg(dir.join(&local))
            .arg(file)
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            std::fs::copy(file, dir.join(&local)).expect("copy into image");
        }
        let inside = if i == 0 {
            "/entry".to_owned()
        } else {
            file.display().to_string()
        };
        dockerfile.push_str(&format!("COPY {local} {inside}\n"));
    }
    let mut entry = vec!["\"/entry\"".to_owned()];
    entry.extend(entrypoint_args.iter().map(|a| format!("\"{a}\"")));
    dockerfile.push_str(&format!("ENTRYPOINT [{}]\n", entry.join(",")));
    std::fs::write(dir.join("Dockerfile"), dockerfile).expect("Dockerfile");
    let status = Command::new("docker")
        .args(["build", "-q", "-t", tag])
        .arg(&dir)
        .env("DOCKER_BUILDKIT", "0")
        .stdout(Stdio::null())
        .status()
        .expect("docker build");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "docker build {tag} failed");
}

/// A Swarm and the entry image's name, shared by the tests of one file
/// (`static SWARM: Shared = Shared::new(TESTS, WORKERS)`): made by the
/// first test that takes its [`Turn`], removed when the last of the
/// file's tests ends (also when one panics); the tests take turns, since
/// they publish the same ports.
pub struct Shared {
    made: std::sync::OnceLock<(Swarm, String)>,
    left: std::sync::Mutex<usize>,
    turns: tokio::sync::Mutex<()>,
    workers: usize,
}

impl Shared {
    /// For `tests` tests, on a Swarm of three managers and `workers` workers.
    pub const fn new(tests: usize, workers: usize) -> Shared {
        Shared {
            made: std::sync::OnceLock::new(),
            left: std::sync::Mutex::new(tests),
            turns: tokio::sync::Mutex::const_new(()),
            workers,
        }
    }

    /// Waits for this test's turn, making the Swarm (and pushing the test
    /// images) the first time.
    pub async fn turn(&'static self) -> Turn {
        let leaving = Leaving(self);
        let alone = self.turns.lock().await;
        let (swarm, entry) = tokio::task::block_in_place(|| {
            self.made.get_or_init(|| {
                let swarm = Swarm::start_with(self.workers);
                for (what, took) in &swarm.timings {
                    println!("swarm: {what} {:.1} s", took.as_secs_f64());
                }
                let began = Instant::now();
                let (entry, _app) = swarm.test_images();
                println!(
                    "swarm: images built and pushed in {:.1} s",
                    began.elapsed().as_secs_f64()
                );
                (swarm, entry)
            })
        });
        Turn {
            swarm,
            entry,
            _alone: alone,
            _leaving: leaving,
        }
    }
}

/// A test's turn on a [`Shared`] Swarm.
pub struct Turn {
    pub swarm: &'static Swarm,
    /// The entry image as the nodes pull it.
    pub entry: &'static str,
    _alone: tokio::sync::MutexGuard<'static, ()>,
    _leaving: Leaving,
}

/// Counts a test out when its turn ends; the last one removes the Swarm.
struct Leaving(&'static Shared);

impl Drop for Leaving {
    fn drop(&mut self) {
        let mut left = self
            .0
            .left
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *left = left.saturating_sub(1);
        if *left == 0 {
            if let Some((swarm, _)) = self.0.made.get() {
                swarm.remove();
            }
        }
    }
}

/// What a test drives a Swarm deploy with in its own process: an agent
/// whose target is `swarm` (entry image `entry`), its release store, and
/// the manager's client.
pub struct InProcess {
    pub agent: windlass_deploy::agent::Agent,
    pub releases: std::sync::Arc<dyn windlass_store::releases::Releases>,
    pub client: bollard::Docker,
}

impl Swarm {
    /// An agent of this test's process deploying to the Swarm (an
    /// in-memory store; nothing resumed yet).
    pub async fn in_process(&self, entry: &str) -> InProcess {
        use std::sync::Arc;
        let client = bollard::Docker::connect_with_http(
            self.docker_host(),
            120,
            bollard::API_DEFAULT_VERSION,
        )
        .expect("client")
        .negotiate_version()
        .await
        .expect("manager");
        let releases: Arc<dyn windlass_store::releases::Releases> =
            Arc::new(windlass_store::releases::SqliteReleases::in_memory().expect("releases"));
        let target = windlass_deploy::target::swarm::SwarmTarget::new(
            client.clone(),
            Arc::clone(&releases),
            Arc::new(windlass_runtime::SystemClock),
            windlass_deploy::target::swarm::Config {
                entry_image: Some(entry.to_owned()),
                ..windlass_deploy::target::swarm::Config::default()
            },
        );
        let agent = windlass_deploy::agent::Agent::with_target(
            Arc::new(windlass_store::memory::MemoryStore::new()),
            Arc::clone(&releases),
            Arc::new(windlass_deploy::backend::docker::Docker::from_client(
                client.clone(),
            )),
            Arc::new(target),
            windlass_deploy::workflow::Proxies::local(),
            windlass_deploy::progress::Notes::default(),
        );
        InProcess {
            agent,
            releases,
            client,
        }
    }
}
