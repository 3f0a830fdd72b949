//! The proxy's own HTTP/1.1 path (and what it leaves to hyper), through
//! real sockets on 127.0.0.1: a raw client and a raw upstream, which write
//! and read the bytes themselves.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;

use support::raw::{raw_upstream, RawClient};
use windlass_proxy::{Canary, Config, Proxy, Release, Sticky, Weight};

async fn proxy_to(upstreams: &[SocketAddr]) -> Proxy {
    let proxy = Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config::default(),
    )
    .await
    .expect("bind proxy");
    proxy
        .switch(Release::new("r1", upstreams.iter().copied()))
        .expect("switch");
    proxy
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nhost: app.test\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let upstream = raw_upstream("v1").await;
    let proxy = proxy_to(&[upstream.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    let mut three = get("/a");
    three.extend(get("/b"));
    three.extend(b"POST /echo HTTP/1.1\r\nhost: app.test\r\ncontent-length: 5\r\n\r\nhello");
    client.send(&three).await;
    assert_eq!(client.answer(false).await.body, b"v1:/a");
    assert_eq!(client.answer(false).await.body, b"v1:/b");
    let echoed = client.answer(false).await;
    assert_eq!(
        (echoed.status, echoed.body.as_slice()),
        (200, &b"hello"[..])
    );
    // One upstream connection carried all three, kept alive.
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn chunked_answers_and_answers_ended_by_a_close_keep_the_client_connection() {
    let upstream = raw_upstream("v1").await;
    let proxy = proxy_to(&[upstream.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    client.send(&get("/chunked")).await;
    let chunked = client.answer(false).await;
    assert_eq!(chunked.body, b"hello, world!");
    assert_eq!(chunked.header("transfer-encoding"), Some("chunked"));
    assert_eq!(chunked.header("x-windlass-release"), Some("r1"));
    // A transfer coding besides chunked is passed on, named.
    client.send(&get("/coded")).await;
    let coded = client.answer(false).await;
    assert_eq!(coded.body, b"zzzz");
    assert_eq!(coded.header("transfer-encoding"), Some("gzip, chunked"));
    // No length: the upstream's close ends the body, which the client gets
    // chunked on a connection that stays open.
    client.send(&get("/until-close")).await;
    let closed = client.answer(false).await;
    assert_eq!(closed.body, b"streamed to the end");
    assert_eq!(closed.header("transfer-encoding"), Some("chunked"));
    client.send(&get("/after")).await;
    assert_eq!(client.answer(false).await.body, b"v1:/after");
}

#[tokio::test]
async fn a_chunked_request_body_goes_through_hyper() {
    let upstream = raw_upstream("v1").await;
    let proxy = proxy_to(&[upstream.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    client
        .send(b"POST /echo HTTP/1.1\r\nhost: app.test\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
        .await;
    let echoed = client.answer(false).await;
    assert_eq!(
        (echoed.status, echoed.body.as_slice()),
        (200, &b"abcdefg"[..])
    );
    // Hyper serves the rest of the connection.
    client.send(&get("/next")).await;
    assert_eq!(client.answer(false).await.body, b"v1:/next");
}

#[tokio::test]
async fn head_204_and_304_answers_have_no_body() {
    let upstream = raw_upstream("v1").await;
    let proxy = proxy_to(&[upstream.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    client
        .send(b"HEAD /large/100 HTTP/1.1\r\nhost: app.test\r\n\r\n")
        .await;
    let head = client.answer(true).await;
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("100"));
    for status in [204, 304] {
        client.send(&get(&format!("/status/{status}"))).await;
        let answer = client.answer(false).await;
        assert_eq!(answer.status, status);
        assert_eq!(answer.header("etag"), Some("\"e1\""));
        assert_eq!(answer.header("transfer-encoding"), None);
    }
    // Had any of them carried a body, this answer would be read wrong.
    client.send(&get("/last")).await;
    assert_eq!(client.answer(false).await.body, b"v1:/last");
}

#[tokio::test]
async fn large_bodies_pass_both_ways() {
    let upstream = raw_upstream("v1").await;
    let proxy = proxy_to(&[upstream.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    let sent: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let mut request = format!(
        "PUT /echo HTTP/1.1\r\nhost: app.test\r\ncontent-length: {}\r\n\r\n",
        sent.len()
    )
    .into_bytes();
    request.extend_from_slice(&sent);
    client.send(&request).await;
    assert!(client.answer(false).await.body == sent, "the echo differs");
    client.send(&get("/large/5000000")).await;
    let large = client.answer(false).await;
    assert_eq!(large.body.len(), 5_000_000);
    assert!(large
        .body
        .iter()
        .enumerate()
        .all(|(i, b)| *b == (i % 251) as u8));
}

#[tokio::test]
async fn a_request_is_not_failed_when_the_upstream_closed_its_kept_connection() {
    let upstream = raw_upstream("v1").await;
    let proxy = proxy_to(&[upstream.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    client.send(&get("/close-after")).await;
    assert_eq!(client.answer(false).await.body, b"v1");
    // The upstream closed the connection the proxy kept; a POST, which is
    // never sent twice, still goes through on a new one.
    for _ in 0..3 {
        client
            .send(b"POST /echo HTTP/1.1\r\nhost: app.test\r\ncontent-length: 2\r\n\r\nok")
            .await;
        let answer = client.answer(false).await;
        assert_eq!((answer.status, answer.body.as_slice()), (200, &b"ok"[..]));
        client.send(&get("/close-after")).await;
        assert_eq!(client.answer(false).await.status, 200);
    }
    let stats = proxy.stats("r1").expect("stats");
    assert_eq!(
        (stats.requests, stats.server_errors, stats.failed_connects),
        (7, 0, 0)
    );
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_and_the_proxy_adds_its_own() {
    let upstream = raw_upstream("v1").await;
    let proxy = proxy_to(&[upstream.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    client
        .send(b"GET /head?q=1 HTTP/1.1\r\nHost: app.test\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Custom: kept\r\n\r\n")
        .await;
    let received = String::from_utf8(client.answer(false).await.body).expect("text");
    let lower = received.to_ascii_lowercase();
    assert!(
        received.starts_with("GET /head?q=1 HTTP/1.1\r\n"),
        "{received}"
    );
    for kept in [
        "host: app.test",
        "x-custom: kept",
        "x-forwarded-for: 127.0.0.1",
    ] {
        assert!(lower.contains(kept), "{kept} missing from {received}");
    }
    for dropped in ["connection:", "keep-alive:", "te:", "proxy-connection:"] {
        assert!(
            !lower.contains(&format!("\n{dropped}")),
            "{dropped} in {received}"
        );
    }
    // Without Host, the upstream's address is sent, as hyper's client does.
    client.send(b"GET /head HTTP/1.1\r\n\r\n").await;
    let received = String::from_utf8(client.answer(false).await.body).expect("text");
    assert!(
        received.contains(&format!("host: {}", upstream.addr)),
        "{received}"
    );
    client.send(&get("/hop")).await;
    let hop = client.answer(false).await;
    for dropped in ["connection", "keep-alive", "x-private"] {
        assert_eq!(hop.header(dropped), None, "{dropped} in {:?}", hop.headers);
    }
    assert_eq!(hop.header("x-kept"), Some("yes"));
    assert_eq!(hop.header("x-windlass-release"), Some("r1"));
    assert!(hop.header("date").is_some());
    // Connection: close is honoured: answered with it, then closed.
    client
        .send(b"GET /bye HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n")
        .await;
    let bye = client.answer(false).await;
    assert_eq!(bye.header("connection"), Some("close"));
    assert!(client.closed().await);
}

#[tokio::test]
async fn canary_weights_sticky_routing_and_counters_through_the_fast_path() {
    let live = raw_upstream("v1").await;
    let canary = raw_upstream("v2").await;
    let proxy = proxy_to(&[live.addr]).await;
    proxy
        .set_canary(Canary {
            release: Release::new("r2", [canary.addr]),
            weight: Weight::try_from(30).expect("weight"),
            sticky: None,
        })
        .expect("canary");
    let mut client = RawClient::connect(proxy.local_addr()).await;
    let mut on_canary = 0;
    for _ in 0..100 {
        client.send(&get("/status/503")).await;
        let answer = client.answer(false).await;
        assert_eq!(answer.status, 503);
        if answer.header("x-windlass-release") == Some("r2") {
            on_canary += 1;
        }
    }
    assert_eq!(on_canary, 30);
    let (r1, r2) = (
        proxy.stats("r1").expect("r1"),
        proxy.stats("r2").expect("r2"),
    );
    assert_eq!((r1.requests, r1.server_errors), (70, 70));
    assert_eq!((r2.requests, r2.server_errors), (30, 30));
    assert_eq!((r1.latencies.count(), r2.latencies.count()), (70, 30));
    assert_eq!((r1.in_flight, r2.in_flight), (0, 0));

    proxy
        .set_canary(Canary {
            release: Release::new("r2", [canary.addr]),
            weight: Weight::try_from(50).expect("weight"),
            sticky: Some(Sticky::Cookie("session".into())),
        })
        .expect("canary");
    for user in 0..20 {
        let request = format!(
            "GET /who HTTP/1.1\r\nhost: app.test\r\ncookie: theme=dark; session=user-{user}\r\n\r\n"
        );
        client.send(request.as_bytes()).await;
        let first = client.answer(false).await.body;
        for _ in 0..3 {
            client.send(request.as_bytes()).await;
            assert_eq!(client.answer(false).await.body, first, "user {user} moved");
        }
    }
}

#[tokio::test]
async fn an_upgrade_goes_to_hyper_as_before() {
    let upstream = raw_upstream("v1").await;
    let proxy = proxy_to(&[upstream.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    // The proxy has never passed upgrades on (Upgrade is hop-by-hop): the
    // upstream gets a plain request, through hyper.
    client
        .send(b"GET /head HTTP/1.1\r\nhost: app.test\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n")
        .await;
    let answer = client.answer(false).await;
    assert_eq!(answer.status, 200);
    let received = String::from_utf8(answer.body)
        .expect("text")
        .to_ascii_lowercase();
    assert!(!received.contains("upgrade"), "{received}");
    client.send(&get("/next")).await;
    assert_eq!(client.answer(false).await.body, b"v1:/next");
    // HTTP/1.0 goes to hyper too.
    let mut old = RawClient::connect(proxy.local_addr()).await;
    old.send(b"GET /old HTTP/1.0\r\nhost: app.test\r\n\r\n")
        .await;
    assert_eq!(old.answer(false).await.body, b"v1:/old");
}
