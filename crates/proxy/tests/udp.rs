//! The UDP proxy through real sockets on 127.0.0.1, with in-process echo
//! upstreams that prefix each answer with their version: flows that stick
//! to the release they began on, new flows switched atomically, held while
//! no release is live, ended by idleness or a drain.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use support::udp::{echo, Flow};
use support::until;
use windlass_proxy::{Config, Error, Protocol, Proxy, Release};

const WAIT: Duration = Duration::from_secs(5);

async fn udp_proxy(config: Config) -> Proxy {
    Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config {
            protocol: Protocol::Udp,
            ..config
        },
    )
    .await
    .expect("bind UDP proxy")
}

#[tokio::test]
async fn a_flow_stays_on_its_release_and_new_flows_go_to_the_new_one() {
    let (a, b) = (echo("a").await, echo("b").await);
    let proxy = udp_proxy(Config::default()).await;
    assert_eq!(proxy.protocol(), Protocol::Udp);
    proxy.switch(Release::new("r1", [a])).expect("switch");
    let first = Flow::open(proxy.local_addr()).await;
    assert_eq!(first.ask("one", WAIT).await.as_deref(), Some("a:one"));

    proxy.switch(Release::new("r2", [b])).expect("switch");
    let second = Flow::open(proxy.local_addr()).await;
    assert_eq!(second.ask("two", WAIT).await.as_deref(), Some("b:two"));
    assert_eq!(
        first.ask("three", WAIT).await.as_deref(),
        Some("a:three"),
        "an open flow stays on the release it began on"
    );
    let (r1, r2) = (
        proxy.stats("r1").expect("r1"),
        proxy.stats("r2").expect("r2"),
    );
    assert_eq!((r1.connections, r1.in_flight), (1, 1), "one flow on r1");
    assert_eq!((r2.connections, r2.in_flight), (1, 1), "one flow on r2");
    assert_eq!(
        r1.bytes_to_upstream,
        "one".len() as u64 + "three".len() as u64
    );
    assert_eq!(
        r1.bytes_from_upstream,
        "a:one".len() as u64 + "a:three".len() as u64
    );
}

#[tokio::test]
async fn a_drain_ends_the_old_releases_flows_and_their_clients_move_on() {
    let (a, b) = (echo("a").await, echo("b").await);
    let proxy = udp_proxy(Config::default()).await;
    proxy.switch(Release::new("r1", [a])).expect("switch");
    let flow = Flow::open(proxy.local_addr()).await;
    assert_eq!(flow.ask("x", WAIT).await.as_deref(), Some("a:x"));
    proxy.switch(Release::new("r2", [b])).expect("switch");
    match proxy.drain("r1", Duration::from_millis(50)).await {
        Err(Error::DrainCut { closed, .. }) => assert_eq!(closed, 1),
        other => panic!("expected the open flow cut, got {other:?}"),
    }
    assert_eq!(proxy.stats("r1").expect("r1").in_flight, 0);
    assert_eq!(
        flow.ask("y", WAIT).await.as_deref(),
        Some("b:y"),
        "the client's next datagram begins a flow on the live release"
    );
}

#[tokio::test]
async fn an_idle_flow_ends_and_the_next_datagram_begins_another() {
    let (a, b) = (echo("a").await, echo("b").await);
    let proxy = udp_proxy(Config {
        udp_idle_timeout: Duration::from_millis(100),
        ..Config::default()
    })
    .await;
    proxy.switch(Release::new("r1", [a])).expect("switch");
    let flow = Flow::open(proxy.local_addr()).await;
    assert_eq!(flow.ask("x", WAIT).await.as_deref(), Some("a:x"));
    proxy.switch(Release::new("r2", [b])).expect("switch");
    until("the idle flow to end", || {
        proxy.stats("r1").is_some_and(|s| s.in_flight == 0)
    })
    .await;
    proxy
        .drain("r1", Duration::from_secs(1))
        .await
        .expect("nothing left to drain");
    assert_eq!(flow.ask("y", WAIT).await.as_deref(), Some("b:y"));
}

#[tokio::test]
async fn datagrams_are_held_until_a_release_is_live() {
    let a = echo("a").await;
    let proxy = udp_proxy(Config::default()).await;
    let flow = Flow::open(proxy.local_addr()).await;
    let asked = tokio::spawn(async move { flow.ask("held", WAIT).await });
    until("the datagram to be held", || proxy.holds().waiting == 1).await;
    proxy.switch(Release::new("r1", [a])).expect("switch");
    assert_eq!(
        asked.await.expect("client").as_deref(),
        Some("a:held"),
        "the held datagram goes out once a release is live"
    );
    let stats = proxy.stats("r1").expect("r1");
    assert_eq!(stats.held, 1);
}

#[tokio::test]
async fn a_flow_to_an_upstream_that_is_gone_ends_and_is_counted() {
    // A UDP port nothing listens on: the kernel answers port unreachable.
    let gone = {
        let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        socket.local_addr().expect("addr")
    };
    let proxy = udp_proxy(Config::default()).await;
    proxy.switch(Release::new("r1", [gone])).expect("switch");
    let flow = Flow::open(proxy.local_addr()).await;
    assert_eq!(flow.ask("x", Duration::from_millis(300)).await, None);
    until("the flow to fail", || {
        proxy
            .stats("r1")
            .is_some_and(|s| s.in_flight == 0 && s.failed_connects == 1)
    })
    .await;
}
