//! One idempotent request's trip upstream on the fast path of a proxy with
//! hedging (`Config::hedge_after`): when no answer head has come from an
//! upstream after that long, the request goes to the next upstream too, on
//! a connection, request copy and read buffer of its own, and the first
//! answer head to come whole wins. The others' connections are closed
//! (their answers are unread, so they are never pooled). A refused
//! connection or a failed request starts the next upstream at once, as
//! `super::exchange` does, and a kept-alive connection found closed before
//! any answer byte is tried again once on a new one.

use std::mem;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::future::OptionFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use hyper::http::uri::Authority;
use tokio::time::Instant;

use super::exchange::{self, Answered};
use super::request::Outgoing;
use super::{Connection, Next};
use crate::http::Shared;
use crate::release::{InFlight, ReleaseState};

/// One attempt's own buffers: the request, then the client's head
/// (`Connection::out`), and what it read of the answer
/// (`Connection::upstream_read`).
#[derive(Default)]
struct Buffers {
    out: Vec<u8>,
    read: BytesMut,
}

/// Why an attempt gave no answer.
enum Lost {
    /// No connection to the upstream: it never had the request.
    Refused(String),
    /// It had the request and gave no answer.
    Failed(String),
}

/// An attempt's end: the answer, with its buffers, or why there is none
/// (with the buffers, for the next attempt).
type Ended = (SocketAddr, Result<(Answered, Buffers), (Lost, Buffers)>);

/// Forwards an idempotent request, hedged after `after`.
pub(super) async fn forward(
    connection: &mut Connection,
    shared: &Shared,
    outgoing: &Outgoing,
    body: &[u8],
    in_flight: InFlight,
    started: std::time::Instant,
    after: Duration,
) -> Next {
    let state = Arc::clone(in_flight.state());
    let mut targets = state.targets();
    let Some((upstream, authority)) = targets.next() else {
        return exchange::bad_gateway(connection, outgoing, &state, in_flight, None, started).await;
    };
    // The first attempt takes the connection's buffers, in a slot of its
    // own: most requests are answered before any hedge, and need neither
    // the set of hedges nor its allocations. An attempt started when none
    // is left (after a failure) takes the slot again.
    let buffers = Buffers {
        out: mem::take(&mut connection.out),
        read: mem::take(&mut connection.upstream_read),
    };
    let attempt_on = |(upstream, authority), buffers| {
        attempt(shared, upstream, authority, outgoing, body, &state, buffers)
    };
    let mut slot = pin!(Some(attempt_on((upstream, authority), buffers)));
    let mut hedges = None;
    let mut spare = None;
    let mut failure = None;
    let hedge = tokio::time::sleep(after);
    tokio::pin!(hedge);
    let won = loop {
        if slot.is_none() && hedges.as_ref().is_none_or(FuturesUnordered::is_empty) {
            let Some(target) = targets.next() else {
                break None;
            };
            slot.set(Some(attempt_on(target, spare.take().unwrap_or_default())));
            hedge.as_mut().reset(Instant::now() + after);
        }
        let armed = targets.len() > 0;
        let (upstream, ended) = tokio::select! {
            biased;
            Some(ended) = OptionFuture::from(slot.as_mut().as_pin_mut()) => {
                slot.set(None);
                ended
            }
            Some(ended) = next(&mut hedges) => ended,
            () = hedge.as_mut(), if armed => {
                if let Some(target) = targets.next() {
                    tracing::debug!(release = %state.release.id, upstream = %target.0, ?after, "no answer yet: the request goes to the next upstream too");
                    hedges
                        .get_or_insert_with(FuturesUnordered::new)
                        .push(attempt_on(target, Buffers::default()));
                    hedge.as_mut().reset(Instant::now() + after);
                }
                continue;
            }
        };
        match ended {
            Ok(won) => break Some(won),
            Err((lost, buffers)) => {
                spare = Some(buffers);
                if let Some(failed) = counted(&state, upstream, lost) {
                    failure = Some(failed);
                }
            }
        }
    };
    // The other attempts' connections close here, their answers unread.
    slot.set(None);
    drop(hedges);
    match won {
        Some((answered, buffers)) => {
            connection.out = buffers.out;
            connection.upstream_read = buffers.read;
            state.record(answered.answer.status, started.elapsed());
            answered
                .pass(connection, shared, outgoing, &state, in_flight)
                .await
        }
        None => {
            if let Some(buffers) = spare {
                connection.out = buffers.out;
                connection.upstream_read = buffers.read;
            }
            exchange::bad_gateway(connection, outgoing, &state, in_flight, failure, started).await
        }
    }
}

/// Counts and logs an attempt without an answer; for one the upstream
/// failed after it had the request, what the 502 says if none answers.
fn counted(state: &ReleaseState, upstream: SocketAddr, lost: Lost) -> Option<String> {
    match lost {
        Lost::Refused(why) => {
            tracing::debug!(release = %state.release.id, %upstream, %why, "upstream refused a connection");
            state.record_failed_connect();
            None
        }
        Lost::Failed(why) => {
            tracing::debug!(release = %state.release.id, %upstream, %why, "upstream failed a request");
            Some(format!(
                "upstream {upstream} of release {} failed: {why}\n",
                state.release.id
            ))
        }
    }
}

/// The next hedge to end, once there are any.
async fn next<F: std::future::Future<Output = Ended>>(
    hedges: &mut Option<FuturesUnordered<F>>,
) -> Option<Ended> {
    match hedges {
        Some(hedges) => hedges.next().await,
        None => std::future::pending().await,
    }
}

/// Sends the request to `upstream` (on a pooled connection, or a new one)
/// and reads its answer's head.
async fn attempt(
    shared: &Shared,
    upstream: SocketAddr,
    authority: Option<&Authority>,
    outgoing: &Outgoing,
    body: &[u8],
    state: &ReleaseState,
    mut buffers: Buffers,
) -> Ended {
    let mut pooled = shared.pool.take(upstream);
    loop {
        let reused = pooled.is_some();
        let mut stream = match pooled.take() {
            Some(stream) => stream,
            None => match exchange::connect(upstream, shared.config.connect_timeout).await {
                Ok(stream) => stream,
                Err(why) => return (upstream, Err((Lost::Refused(why), buffers))),
            },
        };
        exchange::request(outgoing, upstream, authority, body, &mut buffers.out);
        let Buffers { out, read } = &mut buffers;
        match exchange::head(&mut stream, out, read, outgoing, state).await {
            Ok((answer, head_len)) => {
                buffers.read.advance(head_len);
                let answered = Answered {
                    upstream,
                    stream,
                    answer,
                };
                return (upstream, Ok((answered, buffers)));
            }
            // The request is idempotent: it goes again on a new connection
            // when a kept-alive one turns out closed.
            Err(failed) if reused && failed.nothing_back => {
                tracing::debug!(release = %state.release.id, %upstream, why = %failed.why, "a kept-alive upstream connection was closed; sending again on a new one");
            }
            Err(failed) => return (upstream, Err((Lost::Failed(failed.why), buffers))),
        }
    }
}
