//! Every published port of a service has its own proxy, and all of them
//! switch together: a service of the test app publishing two TCP ports (one
//! HTTP, one carried byte for byte) and one UDP port, deployed v1, then v2,
//! then rolled back to v1, with loads on all three ports that see no failed
//! request and end on v1. Every port is published on 127.0.0.1, written.

mod support;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use windlass_deploy::agent::Agent;
use windlass_deploy::backend::docker::Docker;
use windlass_engine::Status;

const SERVICE: &str = "wlports";

/// Ports on 127.0.0.1: HTTP (the routed one), TCP, UDP.
#[derive(Clone, Copy)]
struct Ports {
    http: u16,
    tcp: u16,
    udp: u16,
}

fn compose(ports: Ports, version: &str) -> String {
    format!(
        "name: wlports\nservices:\n  {SERVICE}:\n    build: ./app\n    ports:\n      - \"127.0.0.1:{}:8080\"\n      - \"127.0.0.1:{}:8081\"\n      - target: 5353\n        published: {}\n        host_ip: 127.0.0.1\n        protocol: udp\n        name: echo\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n      TESTAPP_EXTRA_PORTS: \"8081\"\n      TESTAPP_UDP_PORT: \"5353\"\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 0s\n",
        ports.http, ports.tcp, ports.udp
    )
}

/// A free UDP port on 127.0.0.1.
fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("address").port()
}

type Ask =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<String, String>> + Send>> + Send + Sync>;

/// What a load on one port saw: answers per version, and failures.
#[derive(Debug, Default, Clone)]
struct Seen {
    versions: std::collections::BTreeMap<String, u64>,
    last: Option<String>,
    failures: Vec<String>,
}

/// Requests sent to one port by `workers` tasks until stopped.
struct PortLoad {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl PortLoad {
    fn start(ask: Ask, workers: usize) -> PortLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let tasks = (0..workers)
            .map(|_| {
                let (stop, seen, ask) = (Arc::clone(&stop), Arc::clone(&seen), Arc::clone(&ask));
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let answer = ask().await;
                        let mut seen = seen.lock().expect("seen");
                        match answer {
                            Ok(version) => {
                                *seen.versions.entry(version.clone()).or_default() += 1;
                                seen.last = Some(version);
                            }
                            Err(e) => seen.failures.push(e),
                        }
                    }
                })
            })
            .collect();
        PortLoad { stop, seen, tasks }
    }

    async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("load task");
        }
        let seen = self.seen.lock().expect("seen").clone();
        seen
    }
}

/// `GET /version` on `port` (the HTTP proxy or the TCP one): the version.
/// Each request on a connection of its own: a TCP proxy keeps a connection
/// on the release it was opened on, so kept-alive ones would never move.
fn http_ask(port: u16) -> Ask {
    let client: support::LoadClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let uri: hyper::Uri = format!("http://127.0.0.1:{port}/version")
        .parse()
        .expect("uri");
    Arc::new(move || {
        let (client, uri) = (client.clone(), uri.clone());
        Box::pin(async move {
            let answer = support::answer(&client, &uri).await?;
            if answer.status == 200 {
                Ok(answer.body)
            } else {
                Err(format!("status {}", answer.status))
            }
        })
    })
}

/// A datagram to the UDP proxy on `port` from a socket of its own (a new
/// flow each time, as a DNS client asks): the version that answered.
fn udp_ask(port: u16) -> Ask {
    Arc::new(move || {
        Box::pin(async move {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("bind: {e}"))?;
            socket
                .send_to(b"ping", SocketAddr::from(([127, 0, 0, 1], port)))
                .await
                .map_err(|e| format!("send: {e}"))?;
            let mut buffer = [0u8; 512];
            let length = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buffer))
                .await
                .map_err(|_| "no answer within 2 s".to_owned())?
                .map_err(|e| format!("receive: {e}"))?;
            let text = String::from_utf8_lossy(&buffer[..length]).into_owned();
            text.strip_suffix(":ping")
                .map(str::to_owned)
                .ok_or_else(|| format!("unexpected answer {text:?}"))
        })
    })
}

/// What each port answers now: HTTP, TCP, UDP.
async fn versions(ports: Ports) -> [String; 3] {
    let ask = |a: Ask| async move { a().await.expect("the port answers") };
    [
        ask(http_ask(ports.http)).await,
        ask(http_ask(ports.tcp)).await,
        ask(udp_ask(ports.udp)).await,
    ]
}

fn live_release(agent: &Agent) -> windlass_store::releases::Live {
    let key = agent.resolve(None, SERVICE).expect("the app has it");
    agent
        .releases()
        .live(&key)
        .expect("read")
        .expect("a live release")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tcp_ports_and_a_udp_port_switch_together_through_deploy_and_rollback() {
    let docker = Docker::connect().await.expect("Docker engine");
    support::cleanup(&docker, SERVICE).await;
    let dir = support::project("ports");
    let file = dir.join("compose.yaml");
    let ports = Ports {
        http: support::free_port(),
        tcp: support::free_port(),
        udp: free_udp_port(),
    };
    let (agent, _store) = support::agent(&docker).await;

    let (_, finished) = support::deploy(&agent, &file, SERVICE, compose(ports, "v1")).await;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(versions(ports).await, ["v1", "v1", "v1"]);
    let live = live_release(&agent);
    let stored: Vec<(String, String, String)> = live
        .ports
        .iter()
        .map(|p| (p.address.clone(), p.protocol.clone(), p.target.clone()))
        .collect();
    assert_eq!(
        stored,
        [
            (
                format!("127.0.0.1:{}", ports.http),
                "http".into(),
                "8080/tcp".into()
            ),
            (
                format!("127.0.0.1:{}", ports.tcp),
                "tcp".into(),
                "8081/tcp".into()
            ),
            (
                format!("127.0.0.1:{}", ports.udp),
                "udp".into(),
                "5353/udp".into()
            ),
        ],
        "the live pointer records every port"
    );
    assert!(
        live.ports.iter().all(|p| p.upstreams.len() == 1),
        "{live:?}"
    );

    let loads = [
        PortLoad::start(http_ask(ports.http), 2),
        PortLoad::start(http_ask(ports.tcp), 2),
        PortLoad::start(udp_ask(ports.udp), 2),
    ];
    let (_, finished) = support::deploy(&agent, &file, SERVICE, compose(ports, "v2")).await;
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(
        versions(ports).await,
        ["v2", "v2", "v2"],
        "every port moved"
    );
    assert_eq!(live_release(&agent).release, "r2");

    let (_, finished) = support::rollback(&agent, SERVICE, "r1")
        .await
        .expect("rollback");
    assert_eq!(finished.status, Status::Succeeded, "{:?}", finished.outcome);
    assert_eq!(
        versions(ports).await,
        ["v1", "v1", "v1"],
        "every port went back"
    );
    assert_eq!(live_release(&agent).release, "r1");

    for (port, load) in ["HTTP", "TCP", "UDP"].into_iter().zip(loads) {
        let seen = load.stop().await;
        eprintln!(
            "{port}: answers per release {:?}, failed {}",
            seen.versions,
            seen.failures.len()
        );
        assert!(seen.failures.is_empty(), "{port}: {:?}", seen.failures);
        assert!(
            seen.versions.contains_key("v1") && seen.versions.contains_key("v2"),
            "{port} saw both releases: {:?}",
            seen.versions
        );
        assert_eq!(seen.last.as_deref(), Some("v1"), "{port}");
    }
    support::cleanup(&docker, SERVICE).await;
}
