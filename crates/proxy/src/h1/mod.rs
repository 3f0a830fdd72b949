//! windlass's own HTTP/1.1 path for the common request, in front of hyper.
//!
//! A client connection starts here: each request head is parsed with
//! `httparse` where it lies in the connection's buffer, routed (live
//! release, canary, stickiness: `crate::router`), and sent with its body
//! (`Content-Length`, read whole as `crate::forward` reads it, so that it
//! can be sent again) on an idle keep-alive connection to the upstream taken
//! from the worker's pool and driven in this same task, with no channel or
//! task per upstream connection between them. The answer's head is parsed,
//! counted on its release (status, latency to the head) and passed on, its
//! body after it by its framing (length, chunked, or until the upstream
//! closes), and both connections are kept for the next request. With
//! hedging (`Config::hedge_after`), an idempotent request without an
//! answer head by then goes to the next upstream too (`hedge`).
//!
//! What this path does not take goes to hyper (`crate::http`,
//! `crate::forward`) with the rest of the connection, the bytes already
//! read included: HTTP/1.0, upgrades (WebSocket) and HTTP/2's preface,
//! `Expect`, chunked request bodies, `CONNECT` and targets that are not a
//! path, and heads hyper must refuse.

mod chunked;
mod exchange;
mod hedge;
mod pool;
mod prefixed;
mod request;
mod response;

use tokio::time::Instant;

use bytes::{Buf, BytesMut};
use hyper::header::HeaderValue;
use hyper::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::canary::Headers;
use crate::forward;
use crate::http::Shared;

pub(crate) use pool::Pool;
pub(crate) use prefixed::Prefixed;

/// Headers a request head may have here (hyper's server takes 100).
const MAX_HEADERS: usize = 64;
/// A head larger than this (still incomplete) goes to hyper, which answers
/// 431 past its own limit.
const MAX_HEAD: usize = 64 * 1024;
/// What one read asks for.
const READ: usize = 16 * 1024;

/// One client connection's buffers, kept from request to request.
struct Connection {
    client: TcpStream,
    /// Read from the client and not yet handled (pipelined requests).
    read: BytesMut,
    /// Read from the upstream and not yet passed on.
    upstream_read: BytesMut,
    /// What is written next, to the client or the upstream.
    out: Vec<u8>,
}

/// What comes after one request.
enum Next {
    Request,
    Close,
    /// Hyper serves the rest of the connection.
    Hyper,
}

/// Serves `client`'s requests until it closes (`None`), or hands it back
/// with what was read of the request that hyper is to serve.
pub(crate) async fn serve(
    client: TcpStream,
    forwarded_for: &HeaderValue,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
) -> Option<Prefixed> {
    let mut connection = Connection {
        client,
        read: BytesMut::with_capacity(READ),
        upstream_read: BytesMut::new(),
        out: Vec::with_capacity(1024),
    };
    loop {
        match connection.one(shared, forwarded_for.as_bytes(), stop).await {
            Next::Request => {}
            Next::Close => return None,
            Next::Hyper => {
                return Some(Prefixed::new(connection.read.freeze(), connection.client));
            }
        }
        // A stopping proxy closes a connection once its answer is sent,
        // as hyper's graceful shutdown does.
        if stop.has_changed().unwrap_or(true) {
            return None;
        }
    }
}

impl Connection {
    /// Reads, forwards and answers one request.
    async fn one(
        &mut self,
        shared: &Shared,
        forwarded_for: &[u8],
        stop: &mut watch::Receiver<bool>,
    ) -> Next {
        let mut deadline = None;
        let (head_len, outgoing, routed, started) = loop {
            {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut request = httparse::Request::new(&mut headers);
                match request.parse(&self.read) {
                    Ok(httparse::Status::Complete(head_len)) => {
                        let Some(outgoing) = request::outgoing(&request, forwarded_for) else {
                            return Next::Hyper;
                        };
                        let started = std::time::Instant::now();
                        let parsed: &[httparse::Header<'_>] = request.headers;
                        let sticky = Some(&parsed as &dyn Headers);
                        let routed = match shared.router.route(sticky) {
                            Some(in_flight) => Ok(in_flight),
                            None => shared.router.hold(sticky).await,
                        };
                        break (head_len, outgoing, routed, started);
                    }
                    Ok(httparse::Status::Partial) if self.read.len() < MAX_HEAD => {}
                    // Hyper answers what it cannot parse (400, 431).
                    _ => return Next::Hyper,
                }
            }
            let deadline =
                *deadline.get_or_insert_with(|| Instant::now() + shared.config.header_timeout);
            let idle = self.read.is_empty();
            let read = tokio::select! {
                read = read_more(&mut self.client, &mut self.read) => read,
                () = tokio::time::sleep_until(deadline) => {
                    tracing::debug!(timeout = ?shared.config.header_timeout, "no request head came within the header timeout; closing the connection");
                    false
                }
                _ = stop.changed(), if idle => false,
            };
            if !read {
                return Next::Close;
            }
        };
        self.read.advance(head_len);
        let body = match self.body(shared, outgoing.body_len).await {
            Ok(body) => body,
            Err(next) => return next,
        };
        let in_flight = match routed {
            Ok(in_flight) => in_flight,
            Err(waited) => {
                let message = forward::no_live_release(waited);
                return self
                    .answer(StatusCode::SERVICE_UNAVAILABLE, &message, outgoing.close)
                    .await;
            }
        };
        // Hedging races upstreams: only for a request that may be sent
        // twice, and only when there is another upstream to send it to.
        match shared.config.hedge_after {
            Some(after) if outgoing.idempotent && in_flight.state().release.upstreams.len() > 1 => {
                hedge::forward(self, shared, &outgoing, &body, in_flight, started, after).await
            }
            _ => exchange::forward(self, shared, &outgoing, &body, in_flight, started).await,
        }
    }

    /// Reads the request's body whole (within the body timeout and the size
    /// limit); otherwise the answer the client got.
    async fn body(&mut self, shared: &Shared, len: u64) -> Result<BytesMut, Next> {
        if len == 0 {
            return Ok(BytesMut::new());
        }
        let limit = shared.config.max_body_bytes;
        let Some(len) = usize::try_from(len).ok().filter(|len| *len <= limit) else {
            let message = forward::body_too_large(len, limit);
            // The body is not read: the connection cannot go on.
            let _ = self
                .answer(StatusCode::PAYLOAD_TOO_LARGE, &message, true)
                .await;
            return Err(Next::Close);
        };
        if self.read.len() < len {
            self.read.reserve(len - self.read.len());
            let timeout = shared.config.body_timeout;
            let read = async {
                while self.read.len() < len {
                    if !read_more(&mut self.client, &mut self.read).await {
                        return false;
                    }
                }
                true
            };
            match tokio::time::timeout(timeout, read).await {
                Ok(true) => {}
                Ok(false) => return Err(Next::Close),
                Err(_) => {
                    let message = forward::body_timed_out(timeout);
                    let _ = self
                        .answer(StatusCode::REQUEST_TIMEOUT, &message, true)
                        .await;
                    return Err(Next::Close);
                }
            }
        }
        Ok(self.read.split_to(len))
    }

    /// Sends an answer of the proxy's own.
    async fn answer(&mut self, status: StatusCode, message: &str, close: bool) -> Next {
        response::plain(status, message, close, &mut self.out);
        match self.client.write_all(&self.out).await {
            Ok(()) if !close => Next::Request,
            _ => Next::Close,
        }
    }
}

/// Reads what the peer sent next into `into`; false once it closed or
/// failed.
async fn read_more(stream: &mut TcpStream, into: &mut BytesMut) -> bool {
    into.reserve(READ);
    // tokio forgets the socket's readiness after a read that did not fill
    // the room it had (the queue was drained), so the next read waits for
    // epoll without an EAGAIN read first.
    matches!(stream.read_buf(into).await, Ok(1..))
}
