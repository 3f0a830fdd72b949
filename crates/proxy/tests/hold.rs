//! Holding traffic during a gap (no release live, as between stopping the
//! old release and the new one being healthy in a stop-first deploy), for
//! both protocols, through real sockets on 127.0.0.1.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use support::tcp::{echo, Conn};
use support::{client, get, until, upstream};
use windlass_proxy::{Config, Protocol, Proxy, Release};

const HELD: usize = 6;
const GAP: Duration = Duration::from_millis(200);

async fn bind(protocol: Protocol, hold_timeout: Duration) -> Proxy {
    Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config {
            protocol,
            hold_timeout,
            ..Config::default()
        },
    )
    .await
    .expect("bind proxy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_wait_for_a_release_and_all_succeed() {
    let v1 = upstream("v1").await;
    let proxy = bind(Protocol::Http, Duration::from_secs(30)).await;
    let addr = proxy.local_addr();
    proxy
        .switch(Release::new("old", [v1.addr]))
        .expect("switch");
    assert_eq!(proxy.clear(), Some("old".into()));

    let requests: Vec<_> = (0..HELD)
        .map(|_| {
            tokio::spawn(async move {
                let started = Instant::now();
                let answer = get(&client(), addr, "/").await;
                (answer, started.elapsed())
            })
        })
        .collect();
    until("every request to be held", || {
        proxy.holds().waiting == HELD as u64
    })
    .await;
    tokio::time::sleep(GAP).await; // the gap the deploy takes
    proxy
        .switch(Release::new("new", [v1.addr]))
        .expect("switch in");

    for request in requests {
        let (answer, took) = request.await.expect("request task");
        assert_eq!(answer, (200, Some("new".into()), "v1".into()));
        assert!(took >= GAP, "held {took:?}, at least the gap");
    }
    let stats = proxy.stats("new").expect("stats");
    assert_eq!((stats.requests, stats.held), (HELD as u64, HELD as u64));
    assert!(
        stats.longest_hold >= GAP && stats.longest_hold < Duration::from_secs(10),
        "longest hold {:?}",
        stats.longest_hold
    );
    assert_eq!(proxy.holds().waiting, 0);
    assert_eq!(proxy.holds().timed_out, 0);
    println!("longest HTTP hold: {:?}", stats.longest_hold);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_wait_for_a_release_and_all_succeed() {
    let v1 = echo("v1").await;
    let proxy = bind(Protocol::Tcp, Duration::from_secs(30)).await;
    let addr = proxy.local_addr();

    let conns: Vec<_> = (0..HELD)
        .map(|i| {
            tokio::spawn(async move {
                let started = Instant::now();
                let mut conn = Conn::open(addr).await.expect("let through, not closed");
                let took = started.elapsed();
                let payload = format!("connection {i}");
                let back = conn.echo(payload.as_bytes()).await;
                (conn.version.clone(), back == payload.as_bytes(), took)
            })
        })
        .collect();
    until("every connection to be held", || {
        proxy.holds().waiting == HELD as u64
    })
    .await;
    tokio::time::sleep(GAP).await;
    proxy.switch(Release::new("new", [v1])).expect("switch in");

    for conn in conns {
        let (version, echoed, took) = conn.await.expect("connection task");
        assert_eq!((version.as_str(), echoed), ("v1", true));
        assert!(took >= GAP, "held {took:?}, at least the gap");
    }
    let stats = proxy.stats("new").expect("stats");
    assert_eq!((stats.connections, stats.held), (HELD as u64, HELD as u64));
    assert!(stats.longest_hold >= GAP, "{:?}", stats.longest_hold);
    println!("longest TCP hold: {:?}", stats.longest_hold);
}

#[tokio::test]
async fn past_the_hold_timeout_http_answers_503_and_tcp_closes() {
    let hold = Duration::from_millis(100);
    let http = bind(Protocol::Http, hold).await;
    let started = Instant::now();
    let (status, release, body) = get(&client(), http.local_addr(), "/").await;
    assert!(started.elapsed() >= hold);
    assert_eq!((status, release), (503, None));
    assert!(
        body.contains("no release of this service is live") && body.contains("hold timeout"),
        "{body}"
    );
    assert_eq!(http.holds().timed_out, 1);

    let tcp = bind(Protocol::Tcp, hold).await;
    let started = Instant::now();
    assert!(Conn::open(tcp.local_addr()).await.is_none(), "closed");
    assert!(started.elapsed() >= hold);
    assert_eq!(tcp.holds().timed_out, 1);
    assert_eq!(tcp.holds().waiting, 0);
}

/// A proxy's hold timeout changes while it runs (the deploy gives a service
/// the time its release may take to start): holds that begin after wait the
/// new time, on the same address.
#[tokio::test]
async fn a_changed_hold_timeout_applies_to_the_next_holds() {
    let proxy = bind(Protocol::Http, Duration::from_secs(30)).await;
    let addr = proxy.local_addr();
    let hold = Duration::from_millis(150);
    proxy.set_hold_timeout(hold);
    assert_eq!(proxy.hold_timeout(), hold);
    let started = Instant::now();
    let (status, _, _) = get(&client(), addr, "/").await;
    let waited = started.elapsed();
    assert_eq!(status, 503);
    assert!(
        waited >= hold && waited < Duration::from_secs(10),
        "{waited:?}"
    );

    // Longer again: a request held past the old time is let through.
    proxy.set_hold_timeout(Duration::from_secs(30));
    let v1 = upstream("v1").await;
    let held = tokio::spawn(async move { get(&client(), addr, "/").await });
    until("the request to be held", || proxy.holds().waiting == 1).await;
    tokio::time::sleep(hold * 2).await;
    proxy
        .switch(Release::new("r1", [v1.addr]))
        .expect("switch in");
    let (status, release, _) = held.await.expect("held request");
    assert_eq!((status, release.as_deref()), (200, Some("r1")));
}

#[tokio::test]
async fn a_held_tcp_client_that_hangs_up_stops_counting_as_held() {
    let proxy = bind(Protocol::Tcp, Duration::from_secs(30)).await;
    let gone = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .expect("connect");
    let mut talking = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .expect("connect");
    // A client that speaks first (as a Redis client does) is not taken for gone.
    tokio::io::AsyncWriteExt::write_all(&mut talking, b"PING\r\n")
        .await
        .expect("write");
    until("both clients to be held", || proxy.holds().waiting == 2).await;
    drop(gone);
    until("the one that hung up to be let go", || {
        proxy.holds().waiting == 1
    })
    .await;
    let v1 = echo("v1").await;
    proxy.switch(Release::new("r1", [v1])).expect("switch in");
    let mut reader = tokio::io::BufReader::new(talking);
    let mut greeting = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut greeting)
        .await
        .expect("greeting");
    let mut echoed = [0u8; 6];
    tokio::io::AsyncReadExt::read_exact(&mut reader, &mut echoed)
        .await
        .expect("echo");
    assert_eq!((greeting.as_str(), &echoed), ("v1\n", b"PING\r\n"));
    assert_eq!(
        proxy.holds(),
        windlass_proxy::Holds {
            waiting: 0,
            timed_out: 0
        }
    );
    assert_eq!(proxy.stats("r1").expect("stats").held, 1);
}
