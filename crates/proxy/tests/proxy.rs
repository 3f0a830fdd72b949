//! The proxy through real sockets on 127.0.0.1, with in-process upstreams.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use support::{client, dead_addr, get, send, upstream};
use windlass_proxy::{Config, Error, Proxy, Release};

async fn proxy() -> Proxy {
    Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config::default(),
    )
    .await
    .expect("bind proxy")
}

#[tokio::test]
async fn answers_503_until_a_release_is_live_then_switches_per_request() {
    let v1 = upstream("v1").await;
    let v2 = upstream("v2").await;
    // No hold: a request with no live release is refused at once.
    let proxy = Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config {
            hold_timeout: Duration::ZERO,
            ..Config::default()
        },
    )
    .await
    .expect("bind proxy");
    let client = client();
    let addr = proxy.local_addr();

    assert_eq!(get(&client, addr, "/").await.0, 503);
    assert_eq!(
        proxy.switch(Release::new("r1", [v1.addr])).expect("switch"),
        None
    );
    assert_eq!(
        get(&client, addr, "/").await,
        (200, Some("r1".into()), "v1".into())
    );
    // The same keep-alive connection is routed anew on its next request.
    assert_eq!(
        proxy.switch(Release::new("r2", [v2.addr])).expect("switch"),
        Some("r1".into())
    );
    assert_eq!(
        get(&client, addr, "/").await,
        (200, Some("r2".into()), "v2".into())
    );
    assert_eq!(proxy.live().map(|r| r.id), Some("r2".into()));
    assert_eq!(proxy.clear(), Some("r2".into()));
    assert_eq!(get(&client, addr, "/").await.0, 503);
}

#[tokio::test]
async fn requests_in_flight_finish_on_the_old_release_and_drain_waits_for_them() {
    let mut v1 = upstream("v1").await;
    let v2 = upstream("v2").await;
    let proxy = Arc::new(proxy().await);
    let addr = proxy.local_addr();
    proxy.switch(Release::new("r1", [v1.addr])).expect("switch");

    let slow = tokio::spawn(async move { get(&client(), addr, "/gate").await });
    v1.arrivals
        .recv()
        .await
        .expect("the slow request reached v1");
    assert_eq!(proxy.stats("r1").expect("stats").in_flight, 1);

    proxy.switch(Release::new("r2", [v2.addr])).expect("switch");
    assert!(matches!(
        proxy.drain("r2", Duration::from_secs(1)).await,
        Err(Error::Live(_))
    ));
    match proxy.drain("r1", Duration::from_millis(20)).await {
        Err(Error::DrainTimeout { in_flight: 1, .. }) => {}
        other => panic!("expected a drain timeout with one request in flight, got {other:?}"),
    }
    assert_eq!(
        get(&client(), addr, "/").await.2,
        "v2",
        "new requests go to r2"
    );

    v1.gate.add_permits(1);
    proxy
        .drain("r1", Duration::from_secs(5))
        .await
        .expect("r1 drains");
    assert_eq!(
        slow.await.expect("slow request"),
        (200, Some("r1".into()), "v1".into())
    );
    assert_eq!(proxy.stats("r1").expect("stats").in_flight, 0);
    assert!(matches!(
        proxy.drain("nope", Duration::from_secs(1)).await,
        Err(Error::UnknownRelease(_))
    ));
}

#[tokio::test]
async fn a_refused_connection_is_retried_on_the_next_upstream_and_counted() {
    let v1 = upstream("v1").await;
    let proxy = proxy().await;
    let client = client();
    let addr = proxy.local_addr();
    proxy
        .switch(Release::new("r1", [dead_addr(), v1.addr]))
        .expect("switch");
    for _ in 0..4 {
        assert_eq!(get(&client, addr, "/").await.2, "v1");
    }
    let stats = proxy.stats("r1").expect("stats");
    assert_eq!((stats.requests, stats.server_errors), (4, 0));
    assert!(stats.failed_connects >= 2, "{stats:?}");

    proxy
        .switch(Release::new("dead", [dead_addr()]))
        .expect("switch");
    let (status, release, _) = get(&client, addr, "/").await;
    assert_eq!((status, release), (502, None));
    let stats = proxy.stats("dead").expect("stats");
    assert_eq!(
        (stats.requests, stats.server_errors, stats.failed_connects),
        (1, 1, 1)
    );
}

/// An upstream that takes connections and reads a request, then closes
/// the connection without an answer (`close`) or holds it open and never
/// answers: a task on a machine that died.
async fn mute(close: bool) -> SocketAddr {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            if !close {
                held.push(stream);
            }
        }
    });
    addr
}

#[tokio::test]
async fn an_idempotent_request_goes_to_the_next_upstream_when_one_fails_it() {
    let v1 = upstream("v1").await;
    let proxy = proxy().await;
    let client = client();
    let addr = proxy.local_addr();
    proxy
        .switch(Release::new("r1", [mute(true).await, v1.addr]))
        .expect("switch");
    for _ in 0..4 {
        assert_eq!(
            get(&client, addr, "/").await,
            (200, Some("r1".into()), "v1".into())
        );
    }
    // A POST may not be sent twice: the one sent first to the upstream
    // that failed it is answered 502.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            send(&client, "POST", format!("http://{addr}/echo"), b"x")
                .await
                .0,
        );
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 502, 502]);
}

#[tokio::test]
async fn with_hedge_after_an_idempotent_request_without_an_answer_goes_to_the_next_upstream_too() {
    let v1 = upstream("v1").await;
    let proxy = Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config {
            hedge_after: Some(Duration::from_millis(100)),
            ..Config::default()
        },
    )
    .await
    .expect("bind proxy");
    let client = client();
    let addr = proxy.local_addr();
    proxy
        .switch(Release::new("r1", [mute(false).await, v1.addr]))
        .expect("switch");
    for _ in 0..4 {
        let answer = tokio::time::timeout(Duration::from_secs(5), get(&client, addr, "/"))
            .await
            .expect("answered although one upstream never answers");
        assert_eq!(answer, (200, Some("r1".into()), "v1".into()));
    }
}

#[tokio::test]
async fn counts_server_errors_and_latencies_per_release_and_window() {
    let v1 = upstream("v1").await;
    let proxy = proxy().await;
    let client = client();
    let addr = proxy.local_addr();
    proxy.switch(Release::new("r1", [v1.addr])).expect("switch");
    for _ in 0..9 {
        get(&client, addr, "/").await;
    }
    let before = proxy.stats("r1").expect("stats");
    assert_eq!(get(&client, addr, "/fail").await.0, 500);
    let after = proxy.stats("r1").expect("stats");
    assert_eq!((after.requests, after.server_errors), (10, 1));
    assert!((after.server_error_ratio() - 0.1).abs() < 1e-9);
    assert!(after.p99().is_some_and(|p99| p99 < Duration::from_secs(1)));
    let window = after.since(&before);
    assert_eq!(
        (
            window.requests,
            window.server_errors,
            window.latencies.count()
        ),
        (1, 1, 1)
    );
    assert!(proxy.switch(Release::new("empty", [])).is_err());
}

#[tokio::test]
async fn forwards_methods_and_bodies() {
    let v1 = upstream("v1").await;
    let proxy = proxy().await;
    proxy.switch(Release::new("r1", [v1.addr])).expect("switch");
    let url = format!("http://{}/echo", proxy.local_addr());
    let (status, _, body) = send(&client(), "POST", url, b"hello proxy").await;
    assert_eq!((status, body.as_str()), (200, "hello proxy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_while_releases_switch_back_and_forth_under_load() {
    let v1 = upstream("v1").await;
    let v2 = upstream("v2").await;
    let proxy = Arc::new(proxy().await);
    let addr = proxy.local_addr();
    let one = Release::new("r1", [v1.addr]);
    let two = Release::new("r2", [v2.addr]);
    proxy.switch(one.clone()).expect("switch");

    let workers: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(async move {
                let client = client();
                let mut answers = Vec::new();
                for _ in 0..250 {
                    answers.push(get(&client, addr, "/").await);
                }
                answers
            })
        })
        .collect();
    for i in 0..200 {
        let next = if i % 2 == 0 { two.clone() } else { one.clone() };
        proxy.switch(next).expect("switch");
        tokio::task::yield_now().await;
    }
    let mut served = 0;
    for worker in workers {
        for (status, release, body) in worker.await.expect("worker") {
            assert_eq!(status, 200);
            let expected = if body == "v1" { "r1" } else { "r2" };
            assert_eq!(
                release.as_deref(),
                Some(expected),
                "the header names the release that answered"
            );
            served += 1;
        }
    }
    assert_eq!(served, 2000);
    let total: u64 = ["r1", "r2"]
        .iter()
        .filter_map(|r| proxy.stats(r))
        .map(|s| s.requests)
        .sum();
    assert_eq!(total, 2000);
}

#[tokio::test]
async fn forwards_the_target_and_end_to_end_headers_adding_the_client_address() {
    let v1 = upstream("v1").await;
    let proxy = proxy().await;
    proxy.switch(Release::new("r1", [v1.addr])).expect("switch");
    let request = hyper::Request::builder()
        .uri(format!("http://{}/headers?q=1&r=two", proxy.local_addr()))
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "dropped: named in Connection")
        .header("keep-alive", "timeout=5")
        .header("x-kept", "yes")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    let answer = client().request(request).await.expect("proxy answers");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer
            .headers()
            .get(windlass_proxy::RELEASE_HEADER)
            .map(|v| v.as_bytes()),
        Some(&b"r1"[..])
    );
    let body = http_body_util::BodyExt::collect(answer.into_body())
        .await
        .expect("body")
        .to_bytes();
    let seen = String::from_utf8_lossy(&body);
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines[0], "target /headers?q=1&r=two");
    assert!(lines.contains(&"x-forwarded-for: 127.0.0.1"), "{seen}");
    assert!(lines.contains(&"x-kept: yes"), "{seen}");
    for hop in ["x-hop", "keep-alive:", "connection:"] {
        assert!(!seen.contains(hop), "{hop} was forwarded: {seen}");
    }
}
