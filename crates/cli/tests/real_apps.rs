//! Real apps deployed for real: unmodified Compose files of open-source
//! projects from the corpus (`crates/deploy/tests/compose-corpus`), with
//! stand-in images built from Debian's packages and tagged with the names
//! the files use (`real_apps/standins.rs`), through the real binary and its
//! agents. Each app is customised only as a user would, with an override
//! file (`-f FILE -f test-override.yaml`) that publishes its port on
//! 127.0.0.1 and names the version to run. Two apps are deployed side by
//! side from one state folder (one installation, both with a `db`), two more
//! from another; their steps run side by side: deploy, a new version, a
//! broken version rolled back as a whole, `windlass rollback --app`,
//! `down` and a deploy again on the kept volumes. Every published port is
//! under load through the steps and no request fails; what was written to
//! each app's database through its web service before a step is read back
//! after it.

#[path = "real_apps/standins.rs"]
mod standins;
#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An app of the corpus: its folder there, its files, the service that
/// publishes its web port (and that port in the container), the name its
/// stand-in's page gives, and its database service.
struct App {
    corpus: &'static str,
    file: &'static str,
    web: &'static str,
    page: &'static str,
    container_port: u16,
    db: &'static str,
    /// The database's port in its container when the file publishes it
    /// (a TCP port, not HTTP).
    db_port: Option<u16>,
    /// The image the user names for a web service the file builds from a
    /// Dockerfile that cannot be built here (its `# syntax=` frontend comes
    /// from Docker Hub): the stand-in, found on the engine, so not built.
    web_image: Option<&'static str>,
    /// Whether the database keeps its data in a volume across releases.
    keeps_data: bool,
}

const GITEA: App = App {
    corpus: "awesome-compose/gitea-postgres",
    file: "compose.yaml",
    web: "gitea",
    page: "gitea",
    container_port: 3000,
    db: "db",
    db_port: None,
    web_image: None,
    keeps_data: true,
};
const WORDPRESS: App = App {
    corpus: "awesome-compose/wordpress-mysql",
    file: "compose.yaml",
    web: "wordpress",
    page: "wordpress",
    container_port: 80,
    db: "db",
    db_port: None,
    web_image: None,
    keeps_data: true,
};
const NEXTCLOUD: App = App {
    corpus: "awesome-compose/nextcloud-postgres",
    file: "compose.yaml",
    web: "nc",
    page: "nextcloud",
    container_port: 80,
    db: "db",
    db_port: None,
    web_image: None,
    keeps_data: true,
};
const UMAMI: App = App {
    corpus: "umami",
    file: "docker-compose.yml",
    web: "umami",
    page: "umami",
    container_port: 3000,
    db: "db",
    db_port: None,
    web_image: None,
    keeps_data: true,
};
/// Its Redis publishes 6379 (TCP): under load through every step, each
/// switch moving new connections while open ones finish. The file gives
/// Redis no volume, so each release of it starts empty (blue/green, as a
/// service without data folders deploys): its data is not read back.
const FLASK_REDIS: App = App {
    corpus: "awesome-compose/flask-redis",
    file: "compose.yaml",
    web: "web",
    page: "flask-redis",
    container_port: 8000,
    db: "redis",
    db_port: Some(6379),
    web_image: Some("flask-redis-web:local"),
    keeps_data: false,
};

/// The agent of a state folder and the proxy it started, stopped when the
/// test ends, also when an assertion fails.
struct Agent {
    child: Child,
    state: PathBuf,
}

impl Agent {
    fn start(state: &Path) -> Agent {
        std::fs::create_dir_all(state).expect("state folder");
        Agent {
            child: support::agent_process(Path::new(env!("CARGO_BIN_EXE_windlass")), state),
            state: state.to_owned(),
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        support::stop_proxy(&self.state);
    }
}

/// One app deployed from its own copy of the corpus folder.
struct Deployed {
    app: &'static App,
    /// The copy: the project folder, named as in the corpus (the app's name).
    dir: PathBuf,
    state: PathBuf,
    port: u16,
    /// Where the database's published TCP port is, if it has one.
    db_port: Option<u16>,
}

impl Deployed {
    fn name(&self) -> String {
        self.dir
            .file_name()
            .expect("folder")
            .to_string_lossy()
            .into_owned()
    }

    /// The user's override: the web port on 127.0.0.1, a release given up
    /// when not up within 15 s, the version every service runs, and for
    /// `broken` a web service that exits at start.
    fn customise(&self, version: &str, broken: bool) {
        let web = self.app.web;
        let broken = if broken {
            "\n      STANDIN_HEALTHY: \"no\""
        } else {
            ""
        };
        let db = self.app.db;
        let image = self
            .app
            .web_image
            .map(|i| format!("\n    image: {i}"))
            .unwrap_or_default();
        let db_ports = match (self.db_port, self.app.db_port) {
            (Some(port), Some(inside)) => {
                format!("\n    ports: !override [\"127.0.0.1:{port}:{inside}\"]")
            }
            _ => String::new(),
        };
        let text = format!(
            "services:\n  {web}:{image}\n    ports: !override [\"127.0.0.1:{}:{}\"]\n    x-windlass: {{health: {{start_timeout: 15s}}}}\n    environment:\n      STANDIN_VERSION: {version}{broken}\n  {db}:{db_ports}\n    environment:\n      STANDIN_VERSION: {version}\n",
            self.port, self.app.container_port
        );
        std::fs::write(self.dir.join("test-override.yaml"), text).expect("override");
    }

    /// `windlass ARGS -f FILE -f test-override.yaml --state STATE` in the
    /// app's folder: whether it succeeded, and what it printed.
    async fn windlass(&self, args: &[&str]) -> (bool, String) {
        let mut all = args.to_vec();
        all.extend(["-f", self.app.file, "-f", "test-override.yaml"]);
        self.run(&all).await
    }

    /// `windlass ARGS --state STATE`, in the app's folder.
    async fn run(&self, args: &[&str]) -> (bool, String) {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
            .args(args)
            .arg("--state")
            .arg(&self.state)
            .current_dir(&self.dir)
            .output()
            .await
            .expect("run windlass");
        let text = format!(
            "windlass {args:?} of {}: {}\n{}{}",
            self.name(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    async fn deploy(&self, version: &str, broken: bool) -> (bool, String) {
        self.customise(version, broken);
        self.windlass(&["deploy"]).await
    }

    /// `windlass rollback --app APP` (no `-f`: the app is named).
    async fn rollback(&self) -> (bool, String) {
        let name = self.name();
        self.run(&["rollback", "--app", &name]).await
    }

    /// GET `path` on the app's published port: status and body.
    async fn get(&self, path: &str) -> Result<(u16, String), String> {
        get(self.port, path, Duration::from_secs(10)).await
    }

    /// The web service's version and the database's (`standin-version`).
    async fn versions(&self) -> (String, String) {
        let web = self.get("/version").await.map(|(_, b)| b);
        let db = self.get("/cgi-bin/kv?get=standin-version").await;
        (
            web.unwrap_or_else(|e| e).trim().to_owned(),
            db.map(|(_, b)| b).unwrap_or_else(|e| e).trim().to_owned(),
        )
    }

    /// Writes `key` = `value` to the app's database through its web service.
    async fn write(&self, key: &str, value: &str) {
        let answer = self.get(&format!("/cgi-bin/kv?set={key}={value}")).await;
        assert!(
            matches!(&answer, Ok((200, body)) if body.starts_with("+OK")),
            "{}: writing {key}: {answer:?}",
            self.name()
        );
    }

    /// Reads back every key written so far.
    async fn read_back(&self, written: &[(String, String)], after: &str) {
        for (key, value) in written {
            let answer = self.get(&format!("/cgi-bin/kv?get={key}")).await;
            assert!(
                matches!(&answer, Ok((200, body)) if body.split_whitespace().any(|w| w == value)),
                "{} after {after}: {key} should read {value}: {answer:?}",
                self.name()
            );
        }
    }
}

/// Time since the test began, to tell which step a failure fell in.
fn since_start() -> String {
    static BEGAN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    format!("{:.1?}", BEGAN.get_or_init(Instant::now).elapsed())
}

/// One HTTP/1.1 GET on 127.0.0.1:`port`, `within` at most.
async fn get(port: u16, path: &str, within: Duration) -> Result<(u16, String), String> {
    let text = tokio::time::timeout(within, async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut text = String::new();
        stream
            .read_to_string(&mut text)
            .await
            .map_err(|e| format!("read: {e}"))?;
        Ok::<_, String>(text)
    })
    .await
    .map_err(|_| format!("no answer within {within:?}"))??;
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not HTTP: {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_owned()))
}

/// What the load on one port saw.
#[derive(Debug, Default, Clone)]
struct Seen {
    sent: u64,
    failed: u64,
    failures: Vec<String>,
}

/// Two clients sending GET /version to a port until stopped; an answer
/// that is not a 200 naming the app is a failure.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(port: u16, app: &'static str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let tasks = (0..2)
            .map(|_| {
                let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        // Longer than the proxy holds a request while no
                        // release is live (a stop-first gap; 30 s more than
                        // the stop's grace and the start timeout, 15 s
                        // here): it answers.
                        let answer = get(port, "/version", Duration::from_secs(90)).await;
                        {
                            let mut seen = seen.lock().expect("seen");
                            seen.sent += 1;
                            match answer {
                                Ok((200, body)) if body.starts_with(app) => {}
                                other => {
                                    seen.failed += 1;
                                    if seen.failures.len() < 5 {
                                        seen.failures
                                            .push(format!("{other:?} at {}", since_start()));
                                    }
                                }
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
            })
            .collect();
        Load { stop, seen, tasks }
    }

    async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let seen = self.seen.lock().expect("seen").clone();
        seen
    }
}

/// Two clients sending a Redis command (`GET standin-version`) on a
/// connection of its own to a published TCP port until stopped; an answer
/// that is not a bulk string naming a version is a failure.
struct TcpLoad {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl TcpLoad {
    fn start(port: u16) -> TcpLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let tasks = (0..2)
            .map(|_| {
                let (stop, seen) = (Arc::clone(&stop), Arc::clone(&seen));
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let answer = redis_get(port, "standin-version").await;
                        {
                            let mut seen = seen.lock().expect("seen");
                            seen.sent += 1;
                            match answer {
                                Ok(reply) if reply.starts_with("$2\r\nv") => {}
                                other => {
                                    seen.failed += 1;
                                    if seen.failures.len() < 5 {
                                        seen.failures
                                            .push(format!("TCP: {other:?} at {}", since_start()));
                                    }
                                }
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
            })
            .collect();
        TcpLoad { stop, seen, tasks }
    }

    async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let seen = self.seen.lock().expect("seen").clone();
        seen
    }
}

/// `GET key` in Redis's protocol on a connection of its own to
/// 127.0.0.1:`port`: the reply as sent (40 s at most: longer than the proxy
/// holds a connection while no release is live).
async fn redis_get(port: u16, key: &str) -> Result<String, String> {
    tokio::time::timeout(Duration::from_secs(40), async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let command = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
        stream
            .write_all(command.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        // `$2\r\nvN\r\n`: read until the value's line ends.
        let mut reply = Vec::new();
        let mut buffer = [0u8; 64];
        while reply.iter().filter(|b| **b == b'\n').count() < 2 {
            let n = stream
                .read(&mut buffer)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buffer[..n]);
        }
        Ok(String::from_utf8_lossy(&reply).into_owned())
    })
    .await
    .map_err(|_| "no answer within 40 s".to_owned())?
}

/// Every step of one app, its port under load from the first deploy to
/// `down`; returns what the load saw.
async fn lifecycle(app: Deployed) -> Seen {
    let name = app.name();
    let mut written: Vec<(String, String)> = Vec::new();
    let expect = |ok: bool, text: &str, want: bool| assert_eq!(ok, want, "{text}");

    let (ok, text) = app.deploy("v1", false).await;
    expect(ok, &text, true);
    assert_eq!(
        app.versions().await,
        (format!("{} v1", app.app.page), "$2 v1 +OK".into()),
        "{text}"
    );
    let load = Load::start(app.port, app.app.page);
    let tcp = app.db_port.map(TcpLoad::start);

    let steps: [(&str, &str, bool, bool); 3] = [
        ("v2", "a new version", false, true),
        ("v3", "a broken version", true, false),
        ("", "rollback", false, true),
    ];
    // After each step: the web and database versions that should run.
    let after = ["v2", "v2", "v1"];
    for (i, (version, step, broken, succeeds)) in steps.into_iter().enumerate() {
        let key = format!("before-{i}");
        let value = format!("{name}-{i}");
        app.write(&key, &value).await;
        written.push((key, value));
        println!("{name}: {step} from {}", since_start());
        let (ok, text) = if version.is_empty() {
            app.rollback().await
        } else {
            app.deploy(version, broken).await
        };
        expect(ok, &text, succeeds);
        println!("{name}: {step} done at {}", since_start());
        let want = after[i];
        assert_eq!(
            app.versions().await,
            (format!("{} {want}", app.app.page), format!("$2 {want} +OK")),
            "{name} after {step}: the whole app runs {want}\n{text}"
        );
        if app.app.keeps_data {
            app.read_back(&written, step).await;
        }
    }
    let mut seen = load.stop().await;
    if let Some(tcp) = tcp {
        let tcp = tcp.stop().await;
        println!(
            "{name}: {} Redis commands on its TCP port, {} failed",
            tcp.sent, tcp.failed
        );
        assert!(tcp.sent > 100, "{name}'s TCP port: {tcp:?}");
        seen.sent += tcp.sent;
        seen.failed += tcp.failed;
        seen.failures.extend(tcp.failures);
    }

    // `down` keeps the named volumes: a deploy again finds the data.
    let (ok, text) = app.windlass(&["down"]).await;
    expect(ok, &text, true);
    let answer = app.get("/version").await;
    assert!(
        !matches!(answer, Ok((200, _))),
        "{name} is down: {answer:?}"
    );
    let (ok, text) = app.deploy("v1", false).await;
    expect(ok, &text, true);
    if app.app.keeps_data {
        app.read_back(&written, "down and a deploy again").await;
    }
    let (ok, text) = app.windlass(&["down", "--volumes"]).await;
    expect(ok, &text, true);
    println!("{name}: {} requests, {} failed", seen.sent, seen.failed);
    seen
}

/// Removes what an earlier run of the test may have left: containers of
/// the test's apps (of any installation) and their volumes and networks.
fn clean_engine(apps: &[&str]) {
    for app in apps {
        let ids = Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=windlass.app={app}"),
            ])
            .output()
            .expect("docker ps");
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
        let volumes = Command::new("docker")
            .args(["volume", "ls", "-q", "--filter", &format!("name=^{app}_")])
            .output()
            .expect("docker volume ls");
        for volume in String::from_utf8_lossy(&volumes.stdout).split_whitespace() {
            let _ = Command::new("docker")
                .args(["volume", "rm", volume])
                .output();
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &format!("{app}_default")])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_apps_deploy_roll_back_and_keep_their_data_side_by_side() {
    let began = Instant::now();
    since_start();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("real-apps");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("standins")).expect("dir");
    standins::stage(&root.join("standins"));
    standins::build_all(&root.join("standins"));
    println!("stand-ins built in {:?}", began.elapsed());

    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/tests/compose-corpus");
    let (one, two) = (root.join("state-one"), root.join("state-two"));
    let apps: Vec<Deployed> = [
        (&GITEA, &one),
        (&WORDPRESS, &one),
        (&UMAMI, &two),
        (&NEXTCLOUD, &two),
        (&FLASK_REDIS, &two),
    ]
    .into_iter()
    .map(|(app, state)| {
        let from = corpus.join(app.corpus);
        let dir = root.join(from.file_name().expect("folder"));
        let status = Command::new("cp")
            .arg("-a")
            .arg(&from)
            .arg(&dir)
            .status()
            .expect("cp");
        assert!(status.success());
        Deployed {
            app,
            dir,
            state: state.clone(),
            port: support::free_port(),
            db_port: app.db_port.map(|_| support::free_port()),
        }
    })
    .collect();
    let names: Vec<String> = apps.iter().map(Deployed::name).collect();
    clean_engine(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let _agents = (Agent::start(&one), Agent::start(&two));

    let runs: Vec<_> = apps
        .into_iter()
        .map(|app| tokio::spawn(lifecycle(app)))
        .collect();
    let mut outcomes = Vec::new();
    for (name, run) in names.iter().zip(runs) {
        outcomes.push((name, run.await));
    }
    let mut seens = Vec::new();
    for (name, outcome) in outcomes {
        let seen = outcome.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        if seen.failed > 0 {
            println!("{name}: failed {:?}", seen.failures);
        }
        seens.push((name, seen));
    }
    for (name, seen) in seens {
        assert_eq!(seen.failed, 0, "{name}: {:?}", seen.failures);
        assert!(seen.sent > 100, "{name}: {seen:?}");
    }
    println!(
        "{} real apps through every step in {:?}",
        names.len(),
        began.elapsed()
    );
}
