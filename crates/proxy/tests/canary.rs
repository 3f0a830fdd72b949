//! Weighted routing through real sockets on 127.0.0.1: a canary's share of
//! HTTP requests and TCP connections measured by the client, stickiness,
//! per-release counters, promotion and abort, and the daemon keeping a
//! canary's weight across a restart.

mod support;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use support::tcp::{echo, Conn};
use support::{client, get, upstream, TestClient};
use windlass_proxy::daemon::api::{CanaryRelease, LiveRelease, ServiceName, ServiceSpec};
use windlass_proxy::daemon::{self, Daemon};
use windlass_proxy::{Canary, Config, Error, Protocol, Proxy, Release, Sticky, Weight};

fn any_port() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

async fn proxy(protocol: Protocol) -> Proxy {
    let config = Config {
        protocol,
        ..Config::default()
    };
    Proxy::bind(any_port(), config).await.expect("bind proxy")
}

fn weight(percent: u32) -> Weight {
    Weight::try_from(percent).expect("weight")
}

fn canary(release: Release, percent: u32, sticky: Option<Sticky>) -> Canary {
    Canary {
        release,
        weight: weight(percent),
        sticky,
    }
}

/// Sends `n` requests from 4 clients side by side and counts the answers by
/// release; a failed request counts under its status.
async fn shares(addr: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let senders: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                let client = client();
                let mut seen = Vec::new();
                for _ in 0..n / 4 {
                    let (status, release, _) = get(&client, addr, "/").await;
                    seen.push(match (status, release) {
                        (200, Some(release)) => release,
                        (status, _) => format!("status {status}"),
                    });
                }
                seen
            })
        })
        .collect();
    let mut counted = BTreeMap::new();
    for sender in senders {
        for release in sender.await.expect("sender") {
            *counted.entry(release).or_default() += 1;
        }
    }
    counted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_split_by_weight_and_each_release_counts_its_own() {
    let v1 = upstream("v1").await;
    let v2 = upstream("v2").await;
    let proxy = proxy(Protocol::Http).await;
    let addr = proxy.local_addr();
    let r2 = Release::new("r2", [v2.addr]);
    assert!(matches!(
        proxy.set_canary(canary(r2.clone(), 10, None)),
        Err(Error::NoLiveRelease(_))
    ));
    proxy.switch(Release::new("r1", [v1.addr])).expect("switch");
    assert!(matches!(
        proxy.set_canary(canary(Release::new("r1", [v1.addr]), 10, None)),
        Err(Error::CanaryIsLive(_))
    ));

    for percent in [10, 50] {
        let before = (proxy.stats("r1"), proxy.stats("r2"));
        proxy
            .set_canary(canary(r2.clone(), percent, None))
            .expect("canary");
        let counted = shares(addr, 1000).await;
        let on_canary = counted.get("r2").copied().unwrap_or(0);
        let on_live = counted.get("r1").copied().unwrap_or(0);
        assert_eq!(on_canary + on_live, 1000, "no request failed: {counted:?}");
        // The spread is exact: of every 100 picks, `percent`.
        assert_eq!(on_canary, percent as usize * 10, "{counted:?}");
        let r2_window = proxy
            .stats("r2")
            .expect("r2 counted")
            .since(&before.1.unwrap_or_else(|| proxy.stats("r2").expect("r2")));
        if percent == 50 {
            // The canary's counters were kept when its weight changed.
            assert_eq!(r2_window.requests, 500);
        }
        let r1_window = proxy
            .stats("r1")
            .expect("r1 counted")
            .since(&before.0.expect("r1 counted"));
        assert_eq!(r1_window.requests, on_live as u64);
        assert_eq!(r1_window.server_errors, 0);
        assert!(r1_window.p99().is_some());
    }
    assert_eq!(proxy.stats("r2").expect("r2").requests, 100 + 500);

    // Abort: the canary's share goes back to the live release at once.
    assert_eq!(proxy.clear_canary(), Some("r2".into()));
    assert_eq!(proxy.canary(), None);
    assert_eq!(shares(addr, 100).await.get("r1"), Some(&100));
    // Promotion: a switch to the canary's release ends the canary.
    proxy
        .set_canary(canary(r2.clone(), 50, None))
        .expect("canary");
    assert!(matches!(
        proxy.drain("r2", std::time::Duration::ZERO).await,
        Err(Error::Live(_))
    ));
    proxy.switch(r2).expect("promote");
    assert_eq!(proxy.canary(), None);
    assert_eq!(shares(addr, 100).await.get("r2"), Some(&100));
}

async fn with_cookie(client: &TestClient, addr: SocketAddr, cookie: &str) -> String {
    let request = Request::get(format!("http://{addr}/"))
        .header("cookie", cookie)
        .body(Full::new(Bytes::new()))
        .expect("request");
    let answer = client.request(request).await.expect("proxy answers");
    answer
        .headers()
        .get(windlass_proxy::RELEASE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("release header")
}

#[tokio::test]
async fn a_sticky_cookie_keeps_each_user_on_one_release() {
    let v1 = upstream("v1").await;
    let v2 = upstream("v2").await;
    let proxy = proxy(Protocol::Http).await;
    let addr = proxy.local_addr();
    proxy.switch(Release::new("r1", [v1.addr])).expect("switch");
    let sticky = Some(Sticky::Cookie("session".into()));
    proxy
        .set_canary(canary(Release::new("r2", [v2.addr]), 20, sticky.clone()))
        .expect("canary");
    assert_eq!(proxy.canary().and_then(|c| c.sticky), sticky);
    let client = client();
    let mut on_canary = 0;
    for user in 0..200 {
        let cookie = format!("session=u{user}");
        let first = with_cookie(&client, addr, &cookie).await;
        for _ in 0..3 {
            assert_eq!(with_cookie(&client, addr, &cookie).await, first);
        }
        on_canary += usize::from(first == "r2");
    }
    // 200 users hashed into 100 buckets, 20 of them the canary's.
    assert!((15..=70).contains(&on_canary), "{on_canary} of 200 users");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_split_by_weight() {
    let v1 = echo("v1").await;
    let v2 = echo("v2").await;
    let proxy = proxy(Protocol::Tcp).await;
    let addr = proxy.local_addr();
    proxy.switch(Release::new("r1", [v1])).expect("switch");
    proxy
        .set_canary(canary(Release::new("r2", [v2]), 30, None))
        .expect("canary");
    let mut v2_connections = 0;
    for _ in 0..200 {
        let mut conn = Conn::open(addr).await.expect("a greeting");
        assert_eq!(conn.echo(b"ping").await, b"ping");
        v2_connections += usize::from(conn.version == "v2");
    }
    assert_eq!(v2_connections, 60);
    let r2 = proxy.stats("r2").expect("r2 counted");
    assert_eq!(r2.connections, 60);
    // A connection is the request a rollout's analysis counts; its time to
    // connect upstream the latency.
    assert_eq!((r2.requests, r2.server_errors), (60, 0));
    assert_eq!(r2.latencies.count(), 60);
    // A connection no upstream accepts is the release's server error.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("its address")
    };
    proxy
        .set_canary(canary(Release::new("r3", [dead]), 50, None))
        .expect("canary r3");
    let mut refused = 0u64;
    for _ in 0..40 {
        if Conn::open(addr).await.is_none() {
            refused += 1;
        }
    }
    let r3 = proxy.stats("r3").expect("r3 counted");
    assert!(refused > 0, "the canary took none of 40 connections");
    assert_eq!((r3.requests, r3.server_errors), (refused, refused));
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "windlass-proxy-canary-{test}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_keeps_a_canary_and_its_weight_across_a_restart() {
    let dir = scratch("restart");
    let config = daemon::Config {
        state_dir: dir.clone(),
    };
    let v1 = upstream("v1").await;
    let v2 = upstream("v2").await;
    let web: ServiceName = "shop/web".parse().expect("name");
    let one = LiveRelease::new("r1", vec![v1.addr]);
    let two = CanaryRelease {
        canary: LiveRelease::new("r2", vec![v2.addr]),
        weight: weight(25),
        sticky: None,
    };
    let addr = {
        let daemon = Daemon::start(config.clone()).await.expect("daemon");
        let control = daemon.client();
        let view = control
            .ensure(&web, &ServiceSpec::new(any_port(), Protocol::Http))
            .await
            .expect("ensure");
        let refused = control.set_canary(&web, &two).await;
        assert!(refused.is_err(), "a canary needs a live release");
        control.switch(&web, &one).await.expect("switch");
        let view_after = control.set_canary(&web, &two).await.expect("canary");
        assert_eq!(view_after.canary.as_ref(), Some(&two));
        daemon.shutdown().await.expect("shutdown");
        view.spec.ports[0].listen
    };
    let daemon = Daemon::start(config).await.expect("daemon again");
    let control = daemon.client();
    let listed = control.services().await.expect("list");
    assert_eq!(listed[0].canary.as_ref(), Some(&two));
    let counted = shares(addr, 400).await;
    assert_eq!(counted.get("r2"), Some(&100), "{counted:?}");
    // The agent pushing the live release again keeps the canary.
    control.switch(&web, &one).await.expect("same live");
    assert_eq!(shares(addr, 400).await.get("r2"), Some(&100));
    let ended = control.end_canary(&web).await.expect("abort");
    assert_eq!(ended.canary.as_deref(), Some("r2"));
    assert_eq!(shares(addr, 100).await.get("r1"), Some(&100));
    daemon.shutdown().await.expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
