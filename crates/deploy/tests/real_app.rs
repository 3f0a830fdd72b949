//! The sample app of `examples/shop` made of real server software nobody
//! here wrote, packaged by the test into `FROM scratch` images: busybox
//! httpd (Debian's `busybox-static`) behind windlass's HTTP proxy, and
//! Debian's `redis-server` with the libraries `ldd` lists, on a named
//! volume, behind windlass's TCP proxy and so deployed stop-first. Through
//! deploy, roll forward, a failing release rolled back as a whole, an app
//! rollback and `down`: no HTTP request fails, no Redis client is refused
//! or reset (they wait through the stop-first gap), and what was written to
//! Redis before each step is read back after it.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use windlass_deploy::agent::{Agent, DownRequest, RollbackRequest};
use windlass_deploy::backend::docker::Docker;
use windlass_engine::Status;

const WEB: &str = "web";
const CACHE: &str = "cache";

/// `examples/shop`'s web and cache contexts with their binaries copied
/// from this machine, as scripts/demo stages them.
fn stage(dir: &Path) {
    let shop = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop");
    let copy = |from: &Path, to: &Path| {
        let status = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .expect("cp");
        assert!(status.success(), "cp {} {}", from.display(), to.display());
    };
    copy(&shop.join("web"), &dir.join("web"));
    copy(&shop.join("cache"), &dir.join("cache"));
    std::fs::copy("/bin/busybox", dir.join("web/busybox"))
        .expect("Debian's busybox-static (scripts/setup installs it)");
    let rootfs = dir.join("cache/rootfs");
    let mut files: Vec<PathBuf> = vec!["/usr/bin/redis-server".into(), "/usr/bin/redis-cli".into()];
    for binary in ["/usr/bin/redis-server", "/usr/bin/redis-cli"] {
        let out = Command::new("ldd")
            .arg(binary)
            .output()
            .expect("Debian's redis-server (scripts/setup installs it)");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let path = line
                .split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(PathBuf::from);
            files.extend(path);
        }
    }
    for file in files {
        let to = rootfs.join(file.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &to).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
    for empty in ["data", "tmp"] {
        std::fs::create_dir_all(rootfs.join(empty)).expect("mkdir");
    }
}

fn compose(ports: (u16, u16), version: &str, healthy: bool) -> String {
    let healthy = if healthy { "yes" } else { "no" };
    format!(
        "name: wlreal\nservices:\n  {WEB}:\n    build:\n      context: ./web\n      args: {{VERSION: {version}, HEALTHY: \"{healthy}\"}}\n    ports: [\"127.0.0.1:{}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    depends_on: [{CACHE}]\n    x-windlass:\n      health: {{http: /health, interval: 100ms, start_timeout: 4s}}\n      watch: 1s\n  {CACHE}:\n    build: ./cache\n    ports: [\"127.0.0.1:{}:6379\"]\n    init: true\n    stop_grace_period: 2s\n    environment: {{SHOP_VERSION: {version}}}\n    volumes: [\"wlreal-data:/data\"]\n    x-windlass:\n      health: {{tcp: true, interval: 100ms, start_timeout: 10s}}\n      watch: 1s\nvolumes:\n  wlreal-data: {{}}\n",
        ports.0, ports.1
    )
}

/// One Redis command (inline form) on a new connection; the first line of
/// the answer. The proxy may hold the connection through a gap.
async fn redis(address: SocketAddr, command: &str) -> Result<String, String> {
    let work = async {
        let mut stream = TcpStream::connect(address)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\r\n") {
            let n = stream
                .read(&mut byte)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "closed after {:?}",
                    String::from_utf8_lossy(&answer)
                ));
            }
            answer.push(byte[0]);
        }
        Ok(String::from_utf8_lossy(&answer).trim_end().to_owned())
    };
    tokio::time::timeout(Duration::from_secs(40), work)
        .await
        .unwrap_or_else(|_| Err("no answer within 40 s".into()))
}

/// Redis clients in a loop, a new connection each, counting answers,
/// failures and the slowest answer (the stop-first gap).
struct Clients {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    failed: Arc<std::sync::Mutex<Vec<String>>>,
    slowest: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Clients {
    fn start(address: SocketAddr, count: usize) -> Clients {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let slowest = Arc::new(AtomicU64::new(0));
        let tasks = (0..count)
            .map(|_| {
                let (stop, answered, failed, slowest) = (
                    Arc::clone(&stop),
                    Arc::clone(&answered),
                    Arc::clone(&failed),
                    Arc::clone(&slowest),
                );
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let began = Instant::now();
                        match redis(address, "PING").await {
                            Ok(answer) if answer == "+PONG" => {
                                answered.fetch_add(1, Ordering::Relaxed);
                                let ms =
                                    u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX);
                                slowest.fetch_max(ms, Ordering::Relaxed);
                            }
                            Ok(other) => failed.lock().expect("failed").push(other),
                            Err(e) => failed.lock().expect("failed").push(e),
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            })
            .collect();
        Clients {
            stop,
            answered,
            failed,
            slowest,
            tasks,
        }
    }

    async fn stop(self) -> (u64, Vec<String>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let failed = self.failed.lock().expect("failed").clone();
        (
            self.answered.load(Ordering::Relaxed),
            failed,
            self.slowest.load(Ordering::Relaxed),
        )
    }
}

async fn deploy(agent: &Agent, file: &Path, text: String) -> Status {
    support::deploy_app(agent, file, text, &[WEB, CACHE])
        .await
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_servers_deploy_roll_back_and_keep_their_data() {
    let docker = Docker::connect().await.expect("Docker engine");
    for s in [WEB, CACHE] {
        support::cleanup(&docker, s).await;
    }
    let _ = Command::new("docker")
        .args(["volume", "rm", "-f", "wlreal_wlreal-data"])
        .status();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("project-real");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    stage(&dir);
    let file = dir.join("compose.yaml");
    let ports = (support::free_port(), support::free_port());
    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
    let (agent, _store) = support::agent(&docker).await;

    assert_eq!(
        deploy(&agent, &file, compose(ports, "v1", true)).await,
        Status::Succeeded
    );
    assert_eq!(
        redis(at(ports.1), "SET step v1").await.as_deref(),
        Ok("+OK")
    );
    let web_load = support::Load::start(at(ports.0), 2);
    let clients = Clients::start(at(ports.1), 2);

    // v2: web blue/green, the cache stop-first (its volume is read-write).
    assert_eq!(
        deploy(&agent, &file, compose(ports, "v2", true)).await,
        Status::Succeeded
    );
    assert_eq!(
        redis(at(ports.1), "GET step").await.as_deref(),
        Ok("$2"),
        "v1's key survives"
    );
    assert_eq!(
        redis(at(ports.1), "SET step v2").await.as_deref(),
        Ok("+OK")
    );

    // v3: web never healthy: the whole app goes back to v2, cache included.
    assert_eq!(
        deploy(&agent, &file, compose(ports, "v3", false)).await,
        Status::Failed
    );
    let live = |s: &str| {
        agent
            .releases()
            .live(&agent.resolve(None, s).expect("one app has it"))
            .expect("live")
            .map(|l| l.release)
    };
    assert_eq!(
        (live(WEB), live(CACHE)),
        (Some("r2".into()), Some("r2".into()))
    );
    assert_eq!(redis(at(ports.1), "GET step").await.as_deref(), Ok("$2"));

    // The whole app back to v1.
    let back = agent
        .rollback(RollbackRequest {
            service: None,
            app: None,
            here: None,
            release: None,
            by: "test@real".into(),
        })
        .await
        .expect("rollback starts");
    let finished = agent
        .runtime()
        .wait(&back[0].execution)
        .await
        .expect("ends");
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(
        (live(WEB), live(CACHE)),
        (Some("r1".into()), Some("r1".into()))
    );
    assert_eq!(
        redis(at(ports.1), "EXISTS step").await.as_deref(),
        Ok(":1"),
        "the data is the volume's"
    );

    let web = web_load.stop().await;
    let (answered, failed, slowest) = clients.stop().await;
    println!("web: {} requests, {} failed; redis: {answered} answered, {} failed, slowest {slowest} ms (the stop-first gaps)", web.requests, web.failed, failed.len());
    assert_eq!(web.failed, 0, "{:?}", web.failures);
    assert!(web.requests > 50, "{web:?}");
    assert!(failed.is_empty(), "redis clients failed: {failed:?}");
    assert!(answered > 50, "{answered}");

    let report = agent
        .down(DownRequest {
            compose_file: file.display().to_string(),
            compose_text: std::fs::read_to_string(&file).expect("compose"),
            services: Vec::new(),
            volumes: true,
        })
        .await
        .expect("down");
    assert_eq!(report.volumes, ["wlreal_wlreal-data"], "{report:?}");
    for s in [WEB, CACHE] {
        support::cleanup(&docker, s).await;
    }
}
