//! Prints what the TCP proxy costs against a direct connection (connection
//! setup, a small round trip, bulk throughput), and how long a switch made
//! through the daemon's client takes to reach the first answer from the new
//! release. Run: `cargo bench -p windlass-proxy --bench tcp_daemon`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use support::tcp::{echo, Conn};
use support::{client, get, upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use windlass_proxy::daemon::api::{LiveRelease, ServiceName, ServiceSpec};
use windlass_proxy::daemon::{self, Daemon};
use windlass_proxy::{Config, Protocol, Proxy, Release};

const ROUNDS: usize = 2000;
const SWITCHES: usize = 500;
const BULK: usize = 256 * 1024 * 1024;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    println!(
        "{name:<52} n={:<5} p50={:>9.1?} p99={:>9.1?} max={:>9.1?}",
        samples.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

/// An upstream that reads until EOF and answers how many bytes it read.
async fn sink() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind sink");
    let addr = listener.local_addr().expect("sink address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0; 256 * 1024];
                let mut total = 0u64;
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    total += n as u64;
                }
                let _ = stream.write_all(&total.to_be_bytes()).await;
            });
        }
    });
    addr
}

/// Sends `BULK` bytes to `addr` and waits for the count: MiB/s.
async fn bulk(addr: SocketAddr) -> f64 {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let chunk = vec![7u8; 256 * 1024];
    let started = Instant::now();
    for _ in 0..BULK / chunk.len() {
        stream.write_all(&chunk).await.expect("write");
    }
    stream.shutdown().await.expect("shutdown");
    let mut count = [0u8; 8];
    stream.read_exact(&mut count).await.expect("count");
    assert_eq!(u64::from_be_bytes(count), BULK as u64);
    BULK as f64 / (1024.0 * 1024.0) / started.elapsed().as_secs_f64()
}

async fn connects(addr: SocketAddr) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(ROUNDS / 4);
    for _ in 0..ROUNDS / 4 {
        let started = Instant::now();
        let conn = Conn::open(addr).await.expect("greeting");
        samples.push(started.elapsed());
        drop(conn);
    }
    samples
}

async fn round_trips(addr: SocketAddr) -> Vec<Duration> {
    let mut conn = Conn::open(addr).await.expect("greeting");
    let message = [42u8; 64];
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        conn.echo(&message).await;
        samples.push(started.elapsed());
    }
    samples
}

async fn tcp() {
    let echo_addr = echo("v1").await;
    let sink_addr = sink().await;
    let bind = || {
        Proxy::bind(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            Config {
                protocol: Protocol::Tcp,
                ..Config::default()
            },
        )
    };
    let echo_proxy = bind().await.expect("bind");
    echo_proxy
        .switch(Release::new("r1", [echo_addr]))
        .expect("switch");
    let sink_proxy = bind().await.expect("bind");
    sink_proxy
        .switch(Release::new("r1", [sink_addr]))
        .expect("switch");

    summary("TCP connect + greeting, direct", connects(echo_addr).await);
    summary(
        "TCP connect + greeting, through the proxy",
        connects(echo_proxy.local_addr()).await,
    );
    summary(
        "TCP 64-byte round trip, direct",
        round_trips(echo_addr).await,
    );
    summary(
        "TCP 64-byte round trip, through the proxy",
        round_trips(echo_proxy.local_addr()).await,
    );
    let direct = bulk(sink_addr).await;
    let through = bulk(sink_proxy.local_addr()).await;
    println!(
        "{:<52} direct={direct:>8.0} MiB/s  through the proxy={through:>8.0} MiB/s ({:.0}%)",
        format!("TCP bulk, one connection, {} MiB", BULK >> 20),
        through / direct * 100.0
    );
}

async fn daemon_switch() {
    let dir = std::env::temp_dir().join(format!("windlass-proxy-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let daemon = Daemon::start(daemon::Config {
        state_dir: dir.clone(),
    })
    .await
    .expect("daemon");
    let control = daemon.client();
    let web: ServiceName = "web".parse().expect("name");
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
    let v1 = upstream("v1").await;
    let v2 = upstream("v2").await;
    let releases = [
        LiveRelease::new("r1", vec![v1.addr]),
        LiveRelease::new("r2", vec![v2.addr]),
    ];
    control.switch(&web, &releases[0]).await.expect("switch");
    let client = client();
    for _ in 0..100 {
        get(&client, addr, "/").await; // warm the connections
    }
    let (mut calls, mut to_first_answer) = (Vec::new(), Vec::new());
    for i in 0..SWITCHES {
        let next = &releases[(i + 1) % 2];
        let started = Instant::now();
        control.switch(&web, next).await.expect("switch");
        calls.push(started.elapsed());
        let (status, release, _) = get(&client, addr, "/").await;
        to_first_answer.push(started.elapsed());
        assert_eq!(
            (status, release.as_deref()),
            (200, Some(next.release.as_str()))
        );
    }
    // The daemon swaps the route before it writes the state file, so traffic
    // that keeps coming sees the new release before the call is answered.
    let mut while_pending = Vec::new();
    for i in 0..SWITCHES {
        let next = &releases[(i + 1) % 2];
        let started = Instant::now();
        let poll = async {
            loop {
                let (status, release, _) = get(&client, addr, "/").await;
                assert_eq!(status, 200);
                if release.as_deref() == Some(next.release.as_str()) {
                    return started.elapsed();
                }
            }
        };
        let (switched, first) = tokio::join!(control.switch(&web, next), poll);
        switched.expect("switch");
        while_pending.push(first);
    }
    summary("daemon: Client::switch call (state file fsynced)", calls);
    summary(
        "daemon: switch call -> first answer from new release",
        to_first_answer,
    );
    summary(
        "daemon: switch call -> new release, polling meanwhile",
        while_pending,
    );
    daemon.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::main]
async fn main() {
    println!(
        "windlass-proxy TCP and daemon benchmark (127.0.0.1, debug={})",
        cfg!(debug_assertions)
    );
    tcp().await;
    daemon_switch().await;
}
