//! Stop-first on a real three-node Swarm (`support::swarm`, issue 25): an
//! app of three services, `web` (HTTP, two replicas), `worker` (no port)
//! and `db` (the test app proxied as TCP, on a named volume, placed on one
//! node by a constraint), deployed across the nodes; a new version; a
//! version whose `web` crashes, rolled back as a whole; an app rollback to
//! the first version. `db` cannot run twice at once: each release of it
//! starts only once the one before has no task left (watched through the
//! manager all along), the entry holding its connections in the gap. What
//! was written into the volume under v1 is read back by v2, by v2 again
//! after the failed v3, and by v1 once rolled back to. Load generators on
//! every published port, through different nodes, see no failure.

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::query_parameters::{ListServicesOptions, ListTasksOptions};
use support::swarm::{InProcess, Swarm};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use windlass_deploy::agent::{Agent, DeployRequest, DownRequest, RollbackRequest};
use windlass_engine::Status;
use windlass_store::releases::ServiceKey;

const APP: &str = "wlswarm-vol";
const NOTE: &str = "written-under-v1";

fn compose(version: u32, crash_web: bool) -> String {
    let crash = if crash_web {
        "      TESTAPP_CRASH_AT_START: \"3\"\n"
    } else {
        ""
    };
    let health = "    healthcheck: {test: [\"CMD\", \"/app\", \"probe\"], interval: 500ms, timeout: 2s, retries: 2}\n    init: true\n    stop_grace_period: 2s\n";
    format!(
        "name: {APP}
services:
  web:
    image: registry:5000/wlswarm-testapp:1
    ports: [{{target: 8080, published: 8000, app_protocol: http}}]
    environment:
      TESTAPP_VERSION: \"web-{version}\"
{crash}{health}    deploy: {{replicas: 2}}
    x-windlass: {{target: swarm, watch: 2s}}
  worker:
    image: registry:5000/wlswarm-testapp:1
    environment:
      TESTAPP_VERSION: \"worker-{version}\"
{health}    x-windlass: {{target: swarm, watch: 2s}}
  db:
    image: registry:5000/wlswarm-testapp:1
    ports: [{{target: 8080, published: 8002}}]
    environment:
      TESTAPP_VERSION_FROM: /data/note,/etc/release
{health}    volumes: [data:/data]
    configs:
      - {{source: release, target: /etc/release}}
    deploy:
      placement:
        constraints: [node.labels.wlvol==db]
    x-windlass: {{target: swarm, watch: 2s}}
configs:
  release: {{content: db-{version}}}
volumes:
  data: {{}}
"
    )
}

fn on(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One HTTP/1.1 GET of `/version` on a connection of its own (the entry
/// proxies `db` as TCP: each connection goes to one release), closed after
/// the answer; its body, or what went wrong.
async fn tcp_get(address: SocketAddr) -> Result<String, String> {
    let asked = async {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .write_all(b"GET /version HTTP/1.1\r\nHost: db\r\nConnection: close\r\n\r\n")
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let answer = String::from_utf8_lossy(&answer).into_owned();
        match answer.split_once("\r\n\r\n") {
            Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.trim().to_owned()),
            _ => Err(format!("answer: {answer:?}")),
        }
    };
    // A hold lasts a stop-first gap: seconds, never this long.
    tokio::time::timeout(Duration::from_secs(60), asked)
        .await
        .unwrap_or_else(|_| Err("no answer within 60 s".into()))
}

/// Connections to a TCP port from `workers` tasks until stopped.
struct TcpLoad {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<TcpSeen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, Default, Clone)]
struct TcpSeen {
    requests: u64,
    failures: Vec<String>,
    by_body: BTreeMap<String, u64>,
    /// The longest a request took (a held one waits for the switch).
    slowest: Duration,
}

impl TcpLoad {
    fn start(address: SocketAddr, workers: usize) -> TcpLoad {
        assert!(address.ip().is_loopback(), "load only on loopback");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(TcpSeen::default()));
        let tasks = (0..workers)
            .map(|_| {
                let stop = Arc::clone(&stop);
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let began = Instant::now();
                        let outcome = tcp_get(address).await;
                        let mut seen = seen.lock().expect("seen");
                        seen.requests += 1;
                        seen.slowest = seen.slowest.max(began.elapsed());
                        match outcome {
                            Ok(body) => *seen.by_body.entry(body).or_default() += 1,
                            Err(e) => seen.failures.push(e),
                        }
                    }
                })
            })
            .collect();
        TcpLoad { stop, seen, tasks }
    }

    async fn stop(self) -> TcpSeen {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let seen = self.seen.lock().expect("seen").clone();
        seen
    }
}

/// Watches, through the manager, which releases of `db` have a running
/// task, every 100 ms until stopped: every set seen.
struct Overlap {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<BTreeSet<String>>>,
}

impl Overlap {
    fn start(client: bollard::Docker) -> Overlap {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                if let Some(running) = running_releases(&client).await {
                    if seen.last() != Some(&running) {
                        seen.push(running);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            seen
        });
        Overlap { stop, task }
    }

    async fn stop(self) -> Vec<BTreeSet<String>> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("watcher")
    }
}

/// The releases of `db` with a task running now (`None` when the manager
/// did not answer).
async fn running_releases(client: &bollard::Docker) -> Option<BTreeSet<String>> {
    let services = client
        .list_services(Some(ListServicesOptions {
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![
                    format!("windlass.app={APP}"),
                    "windlass.service=db".to_owned(),
                ],
            )])),
            ..Default::default()
        }))
        .await
        .ok()?;
    let mut running = BTreeSet::new();
    for service in services {
        let (Some(id), Some(release)) = (
            service.id.clone(),
            service
                .spec
                .as_ref()
                .and_then(|s| s.labels.as_ref())
                .and_then(|l| l.get("windlass.release").cloned()),
        ) else {
            continue;
        };
        let tasks = client
            .list_tasks(Some(ListTasksOptions {
                filters: Some(HashMap::from([("service".to_owned(), vec![id])])),
            }))
            .await
            .ok()?;
        let runs = tasks.iter().any(|t| {
            t.status.as_ref().and_then(|s| s.state) == Some(bollard::models::TaskState::RUNNING)
        });
        if runs {
            running.insert(release);
        }
    }
    Some(running)
}

/// Deploys `text`: how it ended, how long it took, and its failure (when
/// it failed), for the assertion's message.
async fn deploy(agent: &Agent, file: &Path, text: String) -> (Status, Duration, String) {
    let began = Instant::now();
    let (started, status) = support::deploy_app(agent, file, text, &["web", "worker", "db"]).await;
    let took = began.elapsed();
    let mut why = String::new();
    if status != Status::Succeeded {
        for one in &started {
            if let Ok(finished) = agent.runtime().wait(&one.execution).await {
                why = format!("{:?}", finished.outcome);
            }
        }
    }
    (status, took, why)
}

/// What `db` answers through every node's entry.
async fn db_everywhere(swarm: &Swarm) -> Vec<String> {
    let mut seen = Vec::new();
    for node in &swarm.nodes {
        seen.push(tcp_get(on(node.app_ports[2])).await.unwrap_or_else(|e| e));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_on_a_volume_never_runs_twice_and_its_connections_wait() {
    let swarm = tokio::task::block_in_place(Swarm::start);
    for (what, took) in &swarm.timings {
        eprintln!("swarm: {what} {:.1} s", took.as_secs_f64());
    }
    let (entry, _) = tokio::task::block_in_place(|| swarm.test_images());
    // db runs on node 2 only (a label and a constraint): its volume is
    // that node's.
    let db_node = swarm
        .on(2, &["info", "--format", "{{.Swarm.NodeID}}"])
        .trim()
        .to_owned();
    swarm.on(0, &["node", "update", "--label-add", "wlvol=db", &db_node]);

    let InProcess {
        agent,
        releases,
        client,
    } = swarm.in_process(&entry).await;
    let agent = agent.on_swarm();
    agent.resume().await.expect("resume");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(APP);
    std::fs::create_dir_all(&dir).expect("app folder");
    let file = dir.join("compose.yaml");

    // The plan says how db goes.
    let plan = agent
        .plan(DeployRequest {
            compose_file: file.display().to_string(),
            compose_text: compose(1, false),
            ..Default::default()
        })
        .await
        .expect("plan");
    let db_plan = plan
        .services
        .iter()
        .find(|s| s.service == "db")
        .expect("db planned");
    assert_eq!(db_plan.strategy, "stop-first", "{db_plan:?}");
    assert!(db_plan.why.contains("scaled to 0"), "{db_plan:?}");

    let (status, took, why) = deploy(&agent, &file, compose(1, false)).await;
    assert_eq!(status, Status::Succeeded, "{why}");
    eprintln!("swarm: v1 deployed in {:.1} s", took.as_secs_f64());
    // Written into db's volume on its node, under v1: the node that runs
    // db's task, the volume its container mounts at /data.
    let r1 = format!(
        "{APP}_db_r1_{}",
        releases.installation().expect("installation")
    );
    let (node, container) = (0..swarm.nodes.len())
        .find_map(|i| {
            let ps = swarm.on(
                i,
                &[
                    "ps",
                    "-q",
                    "--filter",
                    &format!("label=com.docker.swarm.service.name={r1}"),
                ],
            );
            ps.lines().next().map(|c| (i, c.to_owned()))
        })
        .expect("db's task on a node");
    let labels = swarm.on(
        node,
        &[
            "node",
            "inspect",
            "self",
            "--format",
            "{{json .Spec.Labels}}",
        ],
    );
    assert!(
        labels.contains("\"wlvol\":\"db\""),
        "db runs on the node its constraint names, not node {node}: {labels}"
    );
    // Load through the other nodes: their entries reach db across the
    // overlay network.
    let others: Vec<usize> = (0..swarm.nodes.len()).filter(|i| *i != node).collect();
    let volume = swarm
        .on(
            node,
            &[
                "inspect",
                &container,
                "--format",
                "{{range .Mounts}}{{if eq .Destination \"/data\"}}{{.Name}}{{end}}{{end}}",
            ],
        )
        .trim()
        .to_owned();
    assert_eq!(volume, format!("{APP}_data"), "db's volume");
    support::swarm::docker(&[
        "exec",
        &swarm.nodes[node].container,
        "sh",
        "-c",
        &format!("printf {NOTE} > /var/lib/docker/volumes/{volume}/_data/note"),
    ]);

    let overlap = Overlap::start(client.clone());
    let web_load = support::Load::start(on(swarm.nodes[node].app_ports[0]), 3);
    let db_loads = [
        TcpLoad::start(on(swarm.nodes[others[0]].app_ports[2]), 2),
        TcpLoad::start(on(swarm.nodes[others[1]].app_ports[2]), 2),
    ];

    let (status, took, why) = deploy(&agent, &file, compose(2, false)).await;
    assert_eq!(status, Status::Succeeded, "{why}");
    eprintln!("swarm: v2 deployed in {:.1} s", took.as_secs_f64());
    assert_eq!(
        db_everywhere(&swarm).await,
        vec![format!("{NOTE}|db-2"); 3],
        "v2 reads what was written under v1, through every node"
    );

    let (status, took, _) = deploy(&agent, &file, compose(3, true)).await;
    assert_eq!(status, Status::Failed, "web crashes: the app rolls back");
    eprintln!(
        "swarm: v3 (web crashing) rolled back in {:.1} s",
        took.as_secs_f64()
    );
    for service in ["web", "worker", "db"] {
        let key = ServiceKey::new(APP, service).expect("key");
        let live = releases.live(&key).expect("store").expect("live");
        assert_eq!(live.release, "r2", "{service}");
    }
    assert_eq!(db_everywhere(&swarm).await, vec![format!("{NOTE}|db-2"); 3]);

    let began = Instant::now();
    let started = agent
        .rollback(RollbackRequest {
            service: None,
            app: Some(APP.into()),
            here: None,
            release: None,
            by: "test".into(),
        })
        .await
        .expect("rollback starts");
    for one in &started {
        let finished = agent.runtime().wait(&one.execution).await.expect("ends");
        assert_eq!(finished.status, Status::Succeeded, "{}", one.service);
    }
    eprintln!(
        "swarm: app rolled back to v1 in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    assert_eq!(
        db_everywhere(&swarm).await,
        vec![format!("{NOTE}|db-1"); 3],
        "v1 again, on the same data"
    );

    let web = web_load.stop().await;
    let mut db = Vec::new();
    for load in db_loads {
        db.push(load.stop().await);
    }
    let seen = overlap.stop().await;
    eprintln!(
        "swarm: load on web {} requests ({} failed, by release {:?})",
        web.requests, web.failed, web.by_release
    );
    for (node, one) in db.iter().enumerate() {
        eprintln!(
            "swarm: load on db through node {node}: {} connections ({} failed, slowest {:.2} s, by answer {:?})",
            one.requests,
            one.failures.len(),
            one.slowest.as_secs_f64(),
            one.by_body
        );
    }
    eprintln!("swarm: db's releases running, in turn: {seen:?}");
    assert_eq!(
        web.failed,
        0,
        "{:?}",
        web.failures.iter().take(5).collect::<Vec<_>>()
    );
    assert_eq!(web.app_errors, 0);
    for one in &db {
        assert!(
            one.failures.is_empty(),
            "{:?}",
            one.failures.iter().take(5).collect::<Vec<_>>()
        );
        for answer in [format!("{NOTE}|db-2"), format!("{NOTE}|db-1")] {
            assert!(one.by_body.contains_key(&answer), "{:?}", one.by_body);
        }
    }
    assert!(
        seen.iter().all(|running| running.len() <= 1),
        "two releases of db ran at once on its volume: {seen:?}"
    );
    // r3 of db may or may not have started before web's crash failed the
    // app; r1 and r2 ran in turn for sure.
    for release in ["r1", "r2"] {
        assert!(
            seen.iter().any(|running| running.contains(release)),
            "the watcher saw {release} run: {seen:?}"
        );
    }

    let report = agent
        .down(DownRequest {
            compose_file: file.display().to_string(),
            compose_text: compose(1, false),
            services: Vec::new(),
            volumes: false,
        })
        .await
        .expect("down");
    eprintln!("swarm: down {report:?}");
    drop(swarm);
}
