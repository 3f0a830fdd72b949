//! The TCP proxy through real sockets on 127.0.0.1, with in-process echo
//! upstreams that greet each connection with their version.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use support::dead_addr;
use support::tcp::{echo, Conn};
use windlass_proxy::{Config, Error, Protocol, Proxy, Release};

async fn tcp_proxy() -> Proxy {
    Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config {
            protocol: Protocol::Tcp,
            ..Config::default()
        },
    )
    .await
    .expect("bind TCP proxy")
}

async fn open(proxy: &Proxy) -> Conn {
    Conn::open(proxy.local_addr())
        .await
        .expect("the proxy connects to an upstream")
}

#[tokio::test]
async fn copies_bytes_both_ways_round_robin_and_counts_them() {
    let a = echo("a").await;
    let b = echo("b").await;
    let proxy = tcp_proxy().await;
    assert_eq!(proxy.protocol(), Protocol::Tcp);
    proxy.switch(Release::new("r1", [a, b])).expect("switch");

    let mut seen = Vec::new();
    let mut conns = Vec::new();
    for _ in 0..4 {
        let mut conn = open(&proxy).await;
        let payload: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        assert_eq!(conn.echo(&payload).await, payload, "byte for byte");
        seen.push(conn.version.clone());
        conns.push(conn);
    }
    seen.sort();
    assert_eq!(seen, ["a", "a", "b", "b"], "round robin across upstreams");
    let stats = proxy.stats("r1").expect("stats");
    assert_eq!((stats.connections, stats.in_flight), (4, 4));
    assert_eq!(stats.bytes_to_upstream, 400_000);
    // Each greeting is two bytes ("a\n").
    assert_eq!(stats.bytes_from_upstream, 400_008);
    assert_eq!(stats.failed_connects, 0);

    drop(conns);
    proxy.clear();
    proxy
        .drain("r1", Duration::from_secs(5))
        .await
        .expect("closed connections drain");
    assert_eq!(proxy.stats("r1").expect("stats").in_flight, 0);
}

#[tokio::test]
async fn a_switch_routes_new_connections_and_leaves_open_ones_where_they_are() {
    let v1 = echo("v1").await;
    let v2 = echo("v2").await;
    let proxy = Arc::new(tcp_proxy().await);
    proxy.switch(Release::new("r1", [v1])).expect("switch");
    let mut old = open(&proxy).await;
    assert_eq!(old.version, "v1");

    assert_eq!(
        proxy.switch(Release::new("r2", [v2])).expect("switch"),
        Some("r1".into())
    );
    let mut new = open(&proxy).await;
    assert_eq!(new.version, "v2");
    assert_eq!(old.echo(b"still here").await, b"still here");
    assert_eq!(new.echo(b"hello").await, b"hello");
    assert!(matches!(
        proxy.drain("r2", Duration::from_secs(1)).await,
        Err(Error::Live(_))
    ));

    // Drain waits for the old connection to close.
    let draining = {
        let proxy = Arc::clone(&proxy);
        tokio::spawn(async move { proxy.drain("r1", Duration::from_secs(10)).await })
    };
    assert_eq!(old.echo(b"during the drain").await, b"during the drain");
    assert!(!draining.is_finished());
    drop(old);
    draining
        .await
        .expect("drain task")
        .expect("r1 drains once its connection closes");
    let r1 = proxy.stats("r1").expect("stats");
    assert_eq!((r1.connections, r1.in_flight), (1, 0));
    assert_eq!(proxy.stats("r2").expect("stats").in_flight, 1);
}

#[tokio::test]
async fn a_drain_timeout_closes_the_connections_still_open() {
    let v1 = echo("v1").await;
    let v2 = echo("v2").await;
    let proxy = tcp_proxy().await;
    proxy.switch(Release::new("r1", [v1])).expect("switch");
    let mut stuck = [open(&proxy).await, open(&proxy).await];
    proxy.switch(Release::new("r2", [v2])).expect("switch");

    match proxy.drain("r1", Duration::from_millis(50)).await {
        Err(Error::DrainCut { closed: 2, .. }) => {}
        other => panic!("expected two connections cut, got {other:?}"),
    }
    assert_eq!(proxy.stats("r1").expect("stats").in_flight, 0);
    for conn in &mut stuck {
        assert!(conn.closed_by_peer().await, "the proxy closed it");
    }
    // Switching back to r1 later is not hit by the old cut.
    proxy.switch(Release::new("r1", [v1])).expect("switch back");
    let mut again = open(&proxy).await;
    assert_eq!(again.echo(b"new connection").await, b"new connection");
}

#[tokio::test]
async fn an_upstream_that_refuses_is_counted_and_skipped() {
    let v1 = echo("v1").await;
    let proxy = tcp_proxy().await;
    proxy
        .switch(Release::new("r1", [dead_addr(), v1]))
        .expect("switch");
    for _ in 0..4 {
        assert_eq!(open(&proxy).await.version, "v1");
    }
    let stats = proxy.stats("r1").expect("stats");
    assert_eq!(stats.connections, 4);
    assert!(stats.failed_connects >= 2, "{stats:?}");

    proxy
        .switch(Release::new("dead", [dead_addr()]))
        .expect("switch");
    assert!(
        Conn::open(proxy.local_addr()).await.is_none(),
        "with no upstream accepting, the proxy closes the connection"
    );
    let stats = proxy.stats("dead").expect("stats");
    assert_eq!((stats.connections, stats.failed_connects), (1, 1));
}

/// A client that speaks first and half-closes at once: its bytes (read as
/// the proxy accepts it and sent with the connect) reach the upstream,
/// also when the first upstream refused them, are counted once, and its
/// end of stream follows them; one that sends nothing and half-closes
/// still gets the upstream's greeting.
#[tokio::test]
async fn a_client_s_first_bytes_and_half_close_reach_the_upstream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let v1 = echo("v1").await;
    let proxy = tcp_proxy().await;
    proxy
        .switch(Release::new("r1", [dead_addr(), v1]))
        .expect("switch");
    for sent in [&b"hello"[..], b"", b"again"] {
        let mut stream = tokio::net::TcpStream::connect(proxy.local_addr())
            .await
            .expect("connect to the proxy");
        stream.write_all(sent).await.expect("write");
        stream.shutdown().await.expect("half-close");
        let mut back = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut back))
            .await
            .expect("the upstream ends the connection after the client's end")
            .expect("read");
        assert_eq!(back, [b"v1\n", sent].concat());
    }
    let stats = proxy.stats("r1").expect("stats");
    assert_eq!(stats.connections, 3);
    assert_eq!(stats.bytes_to_upstream, 10, "each byte counted once");
    assert!(stats.failed_connects >= 1, "{stats:?}");
}

#[tokio::test]
async fn dropping_the_proxy_frees_its_address_and_closes_its_connections() {
    let v1 = echo("v1").await;
    let proxy = tcp_proxy().await;
    let addr = proxy.local_addr();
    proxy.switch(Release::new("r1", [v1])).expect("switch");
    let mut conn = open(&proxy).await;
    proxy.stop().await;
    assert!(conn.closed_by_peer().await);
    let again = Proxy::bind(
        addr,
        Config {
            protocol: Protocol::Tcp,
            ..Config::default()
        },
    )
    .await
    .expect("the address is free once stop returns");
    assert_eq!(again.local_addr(), addr);
}

/// An upstream whose listening queue is full drops the proxy's SYNs and so
/// never answers its connect: after the connect timeout it is counted as
/// failed and the next upstream takes the connection, for a client that
/// speaks first (its bytes wait for the connect) and for one that waits
/// for the upstream's greeting.
#[tokio::test]
async fn an_upstream_that_never_answers_is_left_after_the_connect_timeout() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let v1 = echo("v1").await;
    let (silent, _listener, _queued) = silent_upstream().await;
    let proxy = Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config {
            protocol: Protocol::Tcp,
            connect_timeout: Duration::from_millis(200),
            ..Config::default()
        },
    )
    .await
    .expect("bind TCP proxy");
    proxy
        .switch(Release::new("r1", [silent, v1]))
        .expect("switch");
    // Round robin: of two connections, one tries the silent upstream first.
    for _ in 0..2 {
        assert_eq!(open(&proxy).await.version, "v1");
        let stream = tokio::net::TcpStream::connect(proxy.local_addr())
            .await
            .expect("connect to the proxy");
        let mut stream = BufReader::new(stream);
        stream.get_mut().write_all(b"first").await.expect("write");
        let mut greeting = String::new();
        stream.read_line(&mut greeting).await.expect("read");
        assert_eq!(greeting, "v1\n");
        let mut back = [0; 5];
        stream.read_exact(&mut back).await.expect("read");
        assert_eq!(&back, b"first");
    }
    let stats = proxy.stats("r1").expect("stats");
    assert_eq!((stats.connections, stats.server_errors), (4, 0));
    assert!(stats.failed_connects >= 2, "{stats:?}");
}

/// An address that accepts no connection and refuses none: a listener with
/// the shortest queue, filled by connections it never accepts (a connect
/// that does not finish within 100 ms says it is full).
async fn silent_upstream() -> (
    SocketAddr,
    tokio::net::TcpListener,
    Vec<tokio::net::TcpStream>,
) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .expect("bind");
    let addr = socket.local_addr().expect("address");
    let listener = socket.listen(0).expect("listen");
    let mut queued = Vec::new();
    for _ in 0..16 {
        match tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(stream)) => queued.push(stream),
            Ok(Err(err)) => panic!("connect to the silent upstream: {err}"),
            Err(_) => return (addr, listener, queued),
        }
    }
    panic!("the listener on {addr} kept accepting connections into its queue");
}
