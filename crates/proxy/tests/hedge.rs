//! Hedging (`Config::hedge_after`) on the proxy's own HTTP/1.1 path,
//! through real sockets on 127.0.0.1: a raw client, and upstreams that
//! answer late or never and count what they were sent.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use support::raw::RawClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use windlass_proxy::{Config, Proxy, Release};

const HEDGE_AFTER: Duration = Duration::from_millis(200);
/// How long past `HEDGE_AFTER` an answer may take on a loaded machine.
const LEEWAY: Duration = Duration::from_secs(3);

/// An upstream that answers each request on a connection after `delay`
/// (never, without one) with its name and the request's head, and counts
/// the requests it got, the connections it accepted and those the proxy
/// closed.
struct Counted {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    closing: Arc<Notify>,
}

impl Counted {
    async fn start(name: &'static str, delay: Option<Duration>) -> Counted {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind");
        let counted = Counted {
            addr: listener.local_addr().expect("address"),
            requests: Arc::default(),
            connections: Arc::default(),
            closed: Arc::default(),
            closing: Arc::default(),
        };
        let (requests, connections) = (
            Arc::clone(&counted.requests),
            Arc::clone(&counted.connections),
        );
        let (closed, closing) = (Arc::clone(&counted.closed), Arc::clone(&counted.closing));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connections.fetch_add(1, Ordering::SeqCst);
                let (requests, closed, closing) = (
                    Arc::clone(&requests),
                    Arc::clone(&closed),
                    Arc::clone(&closing),
                );
                tokio::spawn(async move {
                    serve(stream, name, delay, &requests).await;
                    closed.fetch_add(1, Ordering::SeqCst);
                    closing.notify_waiters();
                });
            }
        });
        counted
    }

    /// Waits until the proxy has closed `n` of this upstream's connections.
    async fn closed(&self, n: usize) {
        let wait = async {
            loop {
                let notified = self.closing.notified();
                if self.closed.load(Ordering::SeqCst) >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(LEEWAY, wait)
            .await
            .expect("the proxy closed the upstream's connections");
    }
}

/// Serves one connection until the proxy closes it.
async fn serve(mut stream: TcpStream, name: &str, delay: Option<Duration>, requests: &AtomicUsize) {
    let mut buf = Vec::new();
    loop {
        let Some(head) = request(&mut stream, &mut buf).await else {
            return;
        };
        requests.fetch_add(1, Ordering::SeqCst);
        let Some(delay) = delay else {
            // Never answers: waits for the proxy to close the connection.
            let _ = stream.read_to_end(&mut buf).await;
            return;
        };
        tokio::time::sleep(delay).await;
        let body = format!("{name}\n{head}");
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            // The proxy closed it first: read on to see the end.
            let _ = stream.read_to_end(&mut buf).await;
            return;
        }
    }
}

/// One request's head (its body, by `Content-Length`, read and dropped).
async fn request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(len)) = request.parse(buf) {
            let body = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                .unwrap_or(0);
            while buf.len() < len + body {
                read(stream, buf).await?;
            }
            let head = String::from_utf8_lossy(&buf[..len]).into_owned();
            buf.drain(..len + body);
            return Some(head);
        }
        read(stream, buf).await?;
    }
}

async fn read(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

/// An upstream that reads each request and closes the connection `after`
/// that, without an answer.
async fn closes_unanswered(after: Duration) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = request(&mut stream, &mut buf).await;
                tokio::time::sleep(after).await;
            });
        }
    });
    addr
}

/// A proxy hedging after `HEDGE_AFTER`, its live release `upstreams`
/// (tried in turn from one request to the next).
async fn hedging(upstreams: &[SocketAddr]) -> Proxy {
    hedging_after(HEDGE_AFTER, upstreams).await
}

async fn hedging_after(after: Duration, upstreams: &[SocketAddr]) -> Proxy {
    let proxy = Proxy::bind(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        Config {
            hedge_after: Some(after),
            ..Config::default()
        },
    )
    .await
    .expect("bind proxy");
    proxy
        .switch(Release::new("r1", upstreams.iter().copied()))
        .expect("switch");
    proxy
}

/// Sends `request` and reads its answer within `HEDGE_AFTER` and a little.
async fn ask(client: &mut RawClient, request: &str) -> support::raw::Answer {
    client.send(request.as_bytes()).await;
    tokio::time::timeout(HEDGE_AFTER + LEEWAY, client.answer(false))
        .await
        .expect("an answer within the hedge delay and a little")
}

#[tokio::test]
async fn a_get_the_first_upstream_never_answers_is_answered_by_the_next_on_the_fast_path() {
    let mute = Counted::start("mute", None).await;
    let healthy = Counted::start("v1", Some(Duration::ZERO)).await;
    let proxy = hedging(&[mute.addr, healthy.addr]).await;
    // Every request on one client connection, kept alive after the hedged
    // ones too.
    let mut client = RawClient::connect(proxy.local_addr()).await;
    for i in 0..4 {
        let answer = ask(
            &mut client,
            &format!("GET /{i} HTTP/1.1\r\nHost: app.test\r\nX-Custom: Kept\r\n\r\n"),
        )
        .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-windlass-release"), Some("r1"));
        let body = String::from_utf8(answer.body).expect("text");
        assert!(
            body.starts_with(&format!("v1\nGET /{i} HTTP/1.1\r\n")),
            "{body}"
        );
        // The fast path passes a header's name as the client wrote it
        // (hyper's client would have sent it in lower case).
        assert!(body.contains("\r\nX-Custom: Kept\r\n"), "{body}");
    }
    // Every other request went to the mute upstream first, then to the
    // healthy one too; the mute one's connections were closed, not kept.
    assert_eq!(mute.requests.load(Ordering::SeqCst), 2);
    mute.closed(2).await;
    assert_eq!(mute.connections.load(Ordering::SeqCst), 2);
    // The winner's connection was kept and served them all.
    assert_eq!(healthy.requests.load(Ordering::SeqCst), 4);
    assert_eq!(healthy.connections.load(Ordering::SeqCst), 1);
    let stats = proxy.stats("r1").expect("stats");
    assert_eq!(
        (stats.requests, stats.server_errors, stats.in_flight),
        (4, 0, 0)
    );
}

#[tokio::test]
async fn a_late_answer_to_a_hedged_request_is_never_taken_for_the_next_one() {
    let late = Counted::start("late", Some(HEDGE_AFTER * 3)).await;
    let healthy = Counted::start("v1", Some(Duration::ZERO)).await;
    let proxy = hedging(&[late.addr, healthy.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    for i in 0..6 {
        let answer = ask(
            &mut client,
            &format!("GET /{i} HTTP/1.1\r\nhost: app.test\r\n\r\n"),
        )
        .await;
        let body = String::from_utf8(answer.body).expect("text");
        assert!(body.starts_with(&format!("v1\nGET /{i} ")), "{body}");
    }
    // The late upstream's connections, its answers unread, were closed
    // rather than pooled (a pooled one would hold a stale answer).
    assert_eq!(late.requests.load(Ordering::SeqCst), 3);
    late.closed(3).await;
    assert_eq!(late.connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_post_is_never_sent_twice() {
    let late = Counted::start("late", Some(HEDGE_AFTER * 2)).await;
    let healthy = Counted::start("v1", Some(Duration::ZERO)).await;
    let proxy = hedging(&[late.addr, healthy.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    let mut from = Vec::new();
    for i in 0..4 {
        let answer = ask(
            &mut client,
            &format!("POST /{i} HTTP/1.1\r\nhost: app.test\r\ncontent-length: 2\r\n\r\nok"),
        )
        .await;
        assert_eq!(answer.status, 200);
        let body = String::from_utf8(answer.body).expect("text");
        let (name, head) = body.split_once('\n').expect("a name");
        assert!(head.starts_with(&format!("POST /{i} ")), "{body}");
        from.push(name.to_owned());
    }
    // Those that went to the late upstream waited for its answer.
    assert_eq!(from, ["late", "v1", "late", "v1"]);
    assert_eq!(late.requests.load(Ordering::SeqCst), 2);
    assert_eq!(healthy.requests.load(Ordering::SeqCst), 2);
    // The late upstream's answers were read whole: its connection was kept.
    assert_eq!(late.connections.load(Ordering::SeqCst), 1);
    assert_eq!(late.closed.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_post_the_upstream_does_not_answer_is_answered_502_and_not_sent_elsewhere() {
    let closing = closes_unanswered(HEDGE_AFTER * 2).await;
    let healthy = Counted::start("v1", Some(Duration::ZERO)).await;
    let proxy = hedging(&[closing, healthy.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    let post = "POST /once HTTP/1.1\r\nhost: app.test\r\ncontent-length: 2\r\n\r\nok";
    let mut statuses = Vec::new();
    for _ in 0..2 {
        statuses.push(ask(&mut client, post).await.status);
    }
    assert_eq!(statuses, [502, 200]);
    assert_eq!(healthy.requests.load(Ordering::SeqCst), 1);
    // The client's connection goes on after a 502.
    let answer = ask(&mut client, "GET /after HTTP/1.1\r\nhost: app.test\r\n\r\n").await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn a_request_hyper_serves_is_hedged_too() {
    let mute = Counted::start("mute", None).await;
    let healthy = Counted::start("v1", Some(Duration::ZERO)).await;
    let proxy = hedging(&[mute.addr, healthy.addr]).await;
    // HTTP/1.0 is not the fast path's: hyper serves it, hedging as well.
    for i in 0..2 {
        let mut client = RawClient::connect(proxy.local_addr()).await;
        let answer = ask(
            &mut client,
            &format!("GET /{i} HTTP/1.0\r\nHost: app.test\r\nX-Custom: Kept\r\n\r\n"),
        )
        .await;
        let body = String::from_utf8(answer.body).expect("text");
        assert!(
            body.starts_with(&format!("v1\nGET /{i} HTTP/1.1\r\n")),
            "{body}"
        );
        assert!(body.contains("\r\nx-custom: Kept\r\n"), "{body}");
    }
    assert_eq!(mute.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn hedges_go_on_to_every_upstream_and_failures_start_the_next_at_once() {
    let first = Counted::start("mute", None).await;
    let second = Counted::start("mute", None).await;
    let healthy = Counted::start("v1", Some(Duration::ZERO)).await;
    let proxy = hedging(&[first.addr, second.addr, healthy.addr]).await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    // The first request waits two hedge delays, for the third upstream.
    for i in 0..3 {
        let answer = ask(
            &mut client,
            &format!("GET /{i} HTTP/1.1\r\nhost: a\r\n\r\n"),
        )
        .await;
        assert_eq!(answer.status, 200);
    }
    assert_eq!(first.requests.load(Ordering::SeqCst), 1);
    assert_eq!(second.requests.load(Ordering::SeqCst), 2);
    assert_eq!(healthy.requests.load(Ordering::SeqCst), 3);
    second.closed(2).await;

    // A refused connection, or a request the upstream closed on without
    // an answer, goes to the next upstream at once, not after the hedge
    // delay (a minute here).
    let proxy = hedging_after(
        Duration::from_secs(60),
        &[
            support::dead_addr(),
            closes_unanswered(Duration::ZERO).await,
            healthy.addr,
        ],
    )
    .await;
    let mut client = RawClient::connect(proxy.local_addr()).await;
    for i in 0..3 {
        let answer = ask(
            &mut client,
            &format!("GET /{i} HTTP/1.1\r\nhost: a\r\n\r\n"),
        )
        .await;
        assert_eq!(answer.status, 200);
    }
    let stats = proxy.stats("r1").expect("stats");
    assert_eq!(
        (stats.requests, stats.server_errors, stats.failed_connects),
        (3, 0, 1)
    );
}
