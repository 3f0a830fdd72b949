//! Idle and slow clients cannot hold the proxy or the control API
//! (slowloris): connections that send no complete request head within the
//! header timeout, or on which no byte passes for the TCP idle timeout, are
//! closed, and a real request still gets through while hundreds of them
//! are open.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hyper::Method;
use support::tcp::{echo, Conn};
use support::{client, get, upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use windlass_proxy::{owner, Config, Protocol, Proxy, Release};

/// Idle connections each test opens.
const IDLE: usize = 300;

/// Whether the other side closed `stream` within 10 s.
async fn closed<S: AsyncReadExt + Unpin>(stream: &mut S) -> bool {
    let mut rest = Vec::new();
    matches!(
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await,
        Ok(Ok(_)) | Ok(Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_http_clients_are_cut_and_real_requests_pass() {
    let v1 = upstream("v1").await;
    let proxy = Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config {
            header_timeout: Duration::from_millis(500),
            ..Config::default()
        },
    )
    .await
    .expect("bind proxy");
    proxy.switch(Release::new("r1", [v1.addr])).expect("switch");
    let addr = proxy.local_addr();
    let mut idle = Vec::new();
    for n in 0..IDLE {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        // Half of them send half a head (slowloris), half nothing at all.
        if n % 2 == 0 {
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: slow\r\n")
                .await
                .expect("half a head");
        }
        idle.push(stream);
    }
    assert_eq!(
        get(&client(), addr, "/").await,
        (200, Some("r1".into()), "v1".into()),
        "a real request gets through {IDLE} idle connections"
    );
    for stream in &mut idle {
        assert!(closed(stream).await, "an idle connection was left open");
    }
    assert_eq!(get(&client(), addr, "/").await.0, 200);
}

#[tokio::test]
async fn a_tcp_connection_on_which_nothing_passes_is_closed() {
    let v1 = echo("v1").await;
    let proxy = Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config {
            protocol: Protocol::Tcp,
            idle_timeout: Duration::from_millis(300),
            ..Config::default()
        },
    )
    .await
    .expect("bind proxy");
    proxy.switch(Release::new("r1", [v1])).expect("switch");
    let mut conn = Conn::open(proxy.local_addr()).await.expect("routed");
    assert_eq!(conn.echo(b"ping").await, b"ping");
    assert!(
        conn.closed_by_peer().await,
        "the idle connection stays open"
    );
    let mut fresh = Conn::open(proxy.local_addr()).await.expect("routed");
    assert_eq!(fresh.echo(b"again").await, b"again");
}

/// Bytes passing keep a TCP connection open well past the idle timeout, and
/// once they stop it is closed no sooner than the timeout after the last.
#[tokio::test]
async fn traffic_keeps_a_tcp_connection_open_and_idling_closes_it_no_sooner() {
    let timeout = Duration::from_millis(400);
    let v1 = echo("v1").await;
    let proxy = Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config {
            protocol: Protocol::Tcp,
            idle_timeout: timeout,
            ..Config::default()
        },
    )
    .await
    .expect("bind proxy");
    proxy.switch(Release::new("r1", [v1])).expect("switch");
    let mut conn = Conn::open(proxy.local_addr()).await.expect("routed");
    // 1.2 s of traffic, a byte every 100 ms: three idle timeouts long.
    for n in 0..12u8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(conn.echo(&[n]).await, [n], "echo {n} while busy");
    }
    let last = std::time::Instant::now();
    assert!(
        conn.closed_by_peer().await,
        "the idle connection stays open"
    );
    let idled = last.elapsed();
    assert!(
        idled >= timeout && idled < timeout * 3,
        "closed {idled:?} after the last byte, with an idle timeout of {timeout:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_socket_cuts_idle_clients_and_still_answers() {
    let dir = std::env::temp_dir().join(format!("windlass-control-idle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    owner::private_dir(&dir).expect("folder");
    let socket = dir.join("control.sock");
    let listener = owner::bind(&socket).await.expect("bind");
    let router = axum::Router::new().route("/v1/ping", axum::routing::get(|| async { "pong" }));
    tokio::spawn(owner::serve(
        listener,
        router,
        Duration::from_millis(500),
        std::future::pending(),
    ));
    let mut idle = Vec::new();
    for n in 0..IDLE {
        let mut stream = UnixStream::connect(&socket).await.expect("connect");
        if n % 2 == 0 {
            stream
                .write_all(b"GET /v1/ping HTTP/1.1\r\n")
                .await
                .expect("half a head");
        }
        idle.push(stream);
    }
    let (status, body) = owner::Client::new(&socket)
        .send(Method::GET, "/v1/ping", Vec::new())
        .await
        .expect("answer");
    assert_eq!((status.as_u16(), &body[..]), (200, &b"pong"[..]));
    for stream in &mut idle {
        assert!(
            closed(stream).await,
            "an idle control connection was left open"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
