//! One request's trip upstream on the fast path: an upstream connection
//! from the pool (or a new one), the request written, the answer's head read
//! and counted, its body passed on; upstreams tried in turn as
//! `crate::forward` tries them.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use hyper::http::uri::Authority;
use hyper::StatusCode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::chunked::Scanner;
use super::request::Outgoing;
use super::response::{self, Framing};
use super::{read_more, Connection, Next, MAX_HEAD};
use crate::http::Shared;
use crate::release::{InFlight, ReleaseState};

/// Headers an upstream's answer head may have (hyper's client takes 100).
const MAX_ANSWER_HEADERS: usize = 100;

/// Why an upstream gave no answer.
pub(super) struct Failed {
    pub(super) why: String,
    /// The request could not be written: the upstream never had it.
    pub(super) unsent: bool,
    /// Not a byte of an answer came back.
    pub(super) nothing_back: bool,
}

pub(super) async fn forward(
    connection: &mut Connection,
    shared: &Shared,
    outgoing: &Outgoing,
    body: &[u8],
    in_flight: InFlight,
    started: std::time::Instant,
) -> Next {
    let state = Arc::clone(in_flight.state());
    let mut failure = None;
    'targets: for (upstream, authority) in state.targets() {
        let mut pooled = shared.pool.take(upstream);
        loop {
            let reused = pooled.is_some();
            let mut stream = match pooled.take() {
                Some(stream) => stream,
                None => match connect(upstream, shared.config.connect_timeout).await {
                    Ok(stream) => stream,
                    Err(why) => {
                        tracing::debug!(release = %state.release.id, %upstream, %why, "upstream refused a connection");
                        state.record_failed_connect();
                        continue 'targets;
                    }
                },
            };
            request(outgoing, upstream, authority, body, &mut connection.out);
            let read = &mut connection.upstream_read;
            match head(&mut stream, &mut connection.out, read, outgoing, &state).await {
                Ok((answer, head_len)) => {
                    state.record(answer.status, started.elapsed());
                    connection.upstream_read.advance(head_len);
                    let answered = Answered {
                        upstream,
                        stream,
                        answer,
                    };
                    return answered
                        .pass(connection, shared, outgoing, &state, in_flight)
                        .await;
                }
                // An idle connection the upstream closed just as it was
                // taken: the request goes again on a new connection, when
                // the upstream cannot have acted on it or it may be sent
                // twice.
                Err(failed)
                    if reused && failed.nothing_back && (failed.unsent || outgoing.idempotent) =>
                {
                    tracing::debug!(release = %state.release.id, %upstream, why = %failed.why, "a kept-alive upstream connection was closed; sending again on a new one");
                }
                Err(failed) => {
                    tracing::debug!(release = %state.release.id, %upstream, why = %failed.why, "upstream failed a request");
                    failure = Some(format!(
                        "upstream {upstream} of release {} failed: {}\n",
                        state.release.id, failed.why
                    ));
                    // Sent, but no answer came back: an idempotent request
                    // may go to the next upstream; another goes nowhere else.
                    if !outgoing.idempotent {
                        break 'targets;
                    }
                    continue 'targets;
                }
            }
        }
    }
    bad_gateway(connection, outgoing, &state, in_flight, failure, started).await
}

/// An upstream's answer whose head is in `Connection::out`, its body's
/// first bytes in `Connection::upstream_read`.
pub(super) struct Answered {
    pub(super) upstream: SocketAddr,
    pub(super) stream: TcpStream,
    pub(super) answer: response::Answer,
}

impl Answered {
    /// Passes the answer on, keeps the upstream connection when it may take
    /// another request, and says what comes after it.
    pub(super) async fn pass(
        self,
        connection: &mut Connection,
        shared: &Shared,
        outgoing: &Outgoing,
        state: &ReleaseState,
        in_flight: InFlight,
    ) -> Next {
        let Answered {
            upstream,
            mut stream,
            answer,
        } = self;
        match pass(&mut stream, connection, answer.framing, in_flight).await {
            Ok(()) => {
                if answer.reusable && connection.upstream_read.is_empty() {
                    shared.pool.put(upstream, stream);
                }
                if outgoing.close {
                    let _ = connection.client.shutdown().await;
                    Next::Close
                } else {
                    Next::Request
                }
            }
            Err(why) => {
                tracing::debug!(release = %state.release.id, %upstream, %why, "an answer broke off; closing the client's connection");
                Next::Close
            }
        }
    }
}

/// The 502 of a request no upstream answered: `failure`, why the last one
/// that had it failed, or none accepted a connection.
pub(super) async fn bad_gateway(
    connection: &mut Connection,
    outgoing: &Outgoing,
    state: &ReleaseState,
    in_flight: InFlight,
    failure: Option<String>,
    started: std::time::Instant,
) -> Next {
    state.record(502, started.elapsed());
    let message = failure.unwrap_or_else(|| {
        format!(
            "no upstream of release {} accepted a connection\n",
            state.release.id
        )
    });
    drop(in_flight);
    connection
        .answer(StatusCode::BAD_GATEWAY, &message, outgoing.close)
        .await
}

/// Writes the request for `upstream` into `into`.
pub(super) fn request(
    outgoing: &Outgoing,
    upstream: SocketAddr,
    authority: Option<&Authority>,
    body: &[u8],
    into: &mut Vec<u8>,
) {
    into.clear();
    into.extend_from_slice(&outgoing.head);
    if outgoing.needs_host {
        let _ = match authority {
            Some(authority) => write!(into, "host: {authority}\r\n"),
            None => write!(into, "host: {upstream}\r\n"),
        };
    }
    into.extend_from_slice(b"\r\n");
    into.extend_from_slice(body);
}

pub(super) async fn connect(upstream: SocketAddr, timeout: Duration) -> Result<TcpStream, String> {
    match tokio::time::timeout(timeout, TcpStream::connect(upstream)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no connection within {timeout:?}")),
    }
}

/// Writes the request (in `out`) and reads the answer's head into `read`;
/// the client's head is left in `out`, with the answer's framing and the
/// head's length in `read`.
pub(super) async fn head(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    read: &mut BytesMut,
    outgoing: &Outgoing,
    state: &ReleaseState,
) -> Result<(response::Answer, usize), Failed> {
    if let Err(err) = stream.write_all(out).await {
        return Err(Failed {
            why: format!("cannot send the request: {err}"),
            unsent: true,
            nothing_back: true,
        });
    }
    read.clear();
    let mut interim = false;
    let failed = |why: String, nothing_back: bool| Failed {
        why,
        unsent: false,
        nothing_back,
    };
    loop {
        let mut skip = None;
        {
            let mut headers = [httparse::EMPTY_HEADER; MAX_ANSWER_HEADERS];
            let mut answer = httparse::Response::new(&mut headers);
            match answer.parse(read) {
                Ok(httparse::Status::Complete(len)) => match answer.code {
                    Some(101) => {
                        return Err(failed(
                            "it answered 101 Switching Protocols to a request that asked for no upgrade".into(),
                            false,
                        ))
                    }
                    // An interim answer (100 Continue, 103 Early Hints) is
                    // not passed on, as hyper's client does not.
                    Some(100..=199) => skip = Some(len),
                    _ => {
                        return response::answer(
                            &answer,
                            outgoing.is_head,
                            state.header.as_ref(),
                            outgoing.close,
                            out,
                        )
                        .map(|answer| (answer, len))
                        .map_err(|bad| failed(format!("a malformed answer: {}", bad.0), false));
                    }
                },
                Ok(httparse::Status::Partial) if read.len() < MAX_HEAD => {}
                Ok(httparse::Status::Partial) => {
                    return Err(failed(
                        format!("its answer's head is larger than {MAX_HEAD} bytes"),
                        false,
                    ))
                }
                Err(err) => return Err(failed(format!("a malformed answer head: {err}"), false)),
            }
        }
        if let Some(len) = skip {
            read.advance(len);
            interim = true;
            continue;
        }
        if !read_more(stream, read).await {
            let nothing_back = read.is_empty() && !interim;
            return Err(failed(
                "the connection closed before an answer came".into(),
                nothing_back,
            ));
        }
    }
}

/// Passes the answer's body on after its head (in `connection.out`). The
/// request stops counting as in flight on its release once the upstream's
/// answer has been read whole, before its last bytes are written to the
/// client: the release is no longer needed, and whoever has the answer can
/// see the count final.
async fn pass(
    stream: &mut TcpStream,
    connection: &mut Connection,
    framing: Framing,
    in_flight: InFlight,
) -> Result<(), String> {
    let mut in_flight = Some(in_flight);
    let Connection {
        client,
        upstream_read: read,
        out,
        ..
    } = connection;
    let mut left = match framing {
        Framing::Length(len) => len,
        _ => 0,
    };
    let mut chunks = Scanner::new();
    loop {
        let done = match framing {
            Framing::Empty => true,
            Framing::Length(_) => {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(read.len());
                out.extend_from_slice(&read[..take]);
                read.advance(take);
                left -= take as u64;
                left == 0
            }
            Framing::Chunked => {
                let end = chunks
                    .feed(read)
                    .map_err(|_| "the upstream's chunked body is malformed".to_owned())?;
                let take = end.unwrap_or(read.len());
                out.extend_from_slice(&read[..take]);
                read.advance(take);
                end.is_some()
            }
            Framing::Close => {
                if !read.is_empty() {
                    let _ = write!(out, "{:x}\r\n", read.len());
                    out.extend_from_slice(read);
                    out.extend_from_slice(b"\r\n");
                    read.clear();
                }
                false
            }
        };
        if done {
            in_flight.take();
        }
        if !out.is_empty() {
            client
                .write_all(out)
                .await
                .map_err(|err| format!("cannot write to the client: {err}"))?;
            out.clear();
        }
        if done {
            return Ok(());
        }
        if !read_more(stream, read).await {
            if framing == Framing::Close {
                in_flight.take();
                client
                    .write_all(b"0\r\n\r\n")
                    .await
                    .map_err(|err| format!("cannot write to the client: {err}"))?;
                return Ok(());
            }
            return Err("the upstream closed the connection before the body's end".into());
        }
    }
}
