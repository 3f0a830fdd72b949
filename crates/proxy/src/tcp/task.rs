//! A TCP connection served in a tokio task of its own, the way every TCP
//! connection was served before the event loop (`event_loop.rs`): now only
//! one that arrives while no release is live, which waits (the hold) for a
//! release to be switched in. It is routed, connected and then copied byte
//! for byte both ways until either side closes, a drain cuts it, the idle
//! timeout passes, or the proxy stops.

use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::copy;
use crate::release::{InFlight, ReleaseState};
use crate::router::Router;
use crate::Config;

/// One client connection, from routing to close. Dropping the client stream
/// closes it, which is how a refused (held too long, no upstream) or cut
/// connection ends.
pub(super) async fn connection(
    client: mio::net::TcpStream,
    router: Arc<Router>,
    config: Arc<Config>,
    mut stop: watch::Receiver<bool>,
) {
    // TCP_NODELAY comes from the listening socket (`listen::tcp`).
    // The client's first bytes, read at once: a client that speaks first
    // has usually sent them by the time it is accepted, and they go
    // upstream as soon as the connection to it is made, in this same poll.
    let mut first = copy::First::none();
    first.buf = copy::small_buffer();
    match (&client).read(&mut first.buf) {
        Ok(0) => first.ended = true,
        Ok(n) => first.filled = n,
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
        Err(err) => {
            tracing::debug!(%err, "cannot read from a new client connection; closing it");
            return;
        }
    }
    let mut client = match TcpStream::from_std(client.into()) {
        Ok(client) => client,
        Err(err) => {
            tracing::warn!(%err, "a proxy worker cannot watch a client connection; closing it");
            return;
        }
    };
    // With a release live (nearly always) the connection is routed at once,
    // without arming the hold's watches (the peek at the client costs a
    // system call).
    let routed = router.route(None);
    let in_flight = if let Some(in_flight) = routed {
        in_flight
    } else {
        // A client that sent bytes is alive: not looked at again.
        let sent = first.filled > 0;
        tokio::select! {
            held = router.hold(None) => match held {
                Ok(in_flight) => in_flight,
                Err(waited) => {
                    tracing::debug!(?waited, "no release became live within the hold timeout; closing the connection");
                    return;
                }
            },
            () = hung_up(&client), if !sent && !first.ended => {
                tracing::debug!("the client closed its connection while it was held");
                return;
            }
            _ = stop.changed() => return,
        }
    };
    let state = Arc::clone(in_flight.state());
    state.record_connection();
    // The drain's cut and the proxy's stop, watched for the rest of the
    // connection's life. Polling a watch's future takes its lock, so they
    // are polled only when first registered, when the task's waker changes,
    // or when an atomic load says one has fired (see `Signals`).
    let probe = stop.clone();
    let cut = in_flight.cut();
    let stopped = stop.changed();
    tokio::pin!(cut, stopped);
    let mut signals = Signals {
        in_flight: &in_flight,
        stop: &probe,
        cut,
        stopped,
        registered: None,
    };
    let connecting = std::time::Instant::now();
    let upstream = {
        let connected = connect(&state, config.connect_timeout, &first.buf[..first.filled]);
        tokio::pin!(connected);
        // The connection is usually made in the first poll: the signals
        // are registered only when it waits.
        poll_fn(|cx| {
            if let Poll::Ready(found) = connected.as_mut().poll(cx) {
                return Poll::Ready(Ok(found));
            }
            signals.poll(cx).map(Err)
        })
        .await
    };
    // A connection is a request of its release: one no replica accepted
    // is a server error, the time to connect its latency.
    if let Ok(found) = &upstream {
        state.record_connect(found.is_some(), connecting.elapsed());
    }
    let upstream = match upstream {
        Ok(Some((upstream, sent))) => {
            first.written = sent;
            upstream
        }
        Ok(None) => {
            tracing::debug!(release = %state.release.id, "no upstream accepted the connection; closing it");
            return;
        }
        Err(signal) => {
            signal.log(&state);
            return;
        }
    };
    // The first bytes sent at the connect count as passed.
    let active = AtomicBool::new(first.written > 0);
    let mut upstream = Counted {
        inner: upstream,
        state: &state,
        active: &active,
    };
    let copied = copy::bidirectional(&mut client, &mut upstream, first);
    tokio::pin!(copied);
    // The idle timeout, tracked coarsely: a tick every 1/IDLE_TICKS of it
    // looks whether a byte passed since the last one; IDLE_TICKS quiet ticks
    // in a row close the connection, so one idle for the timeout is closed
    // within 1/IDLE_TICKS of it more, never before. Reads and writes only
    // set a flag (no clock read) and the timer is armed once per tick.
    let period = config.idle_timeout / IDLE_TICKS;
    let tick = tokio::time::sleep(period);
    tokio::pin!(tick);
    let mut quiet = 0;
    // Whether `tick` has been polled (and so registered) with this task's
    // waker.
    let mut armed = false;
    let ended = poll_fn(|cx| {
        // As with the signals, the timer needs polling only when first
        // armed, when the task's waker changes, or once it has fired.
        if !armed || signals.is_stale(cx) || tick.is_elapsed() {
            if let Poll::Ready(signal) = signals.poll(cx) {
                return Poll::Ready(Err(signal));
            }
            while tick.as_mut().poll(cx).is_ready() {
                if active.swap(false, Ordering::Relaxed) {
                    quiet = 0;
                } else {
                    quiet += 1;
                    if quiet >= IDLE_TICKS {
                        return Poll::Ready(Err(Signal::Idle));
                    }
                }
                tick.as_mut().reset(Instant::now() + period);
            }
            // As in `Signals::poll`: not armed if the budget refused it.
            armed = tokio::task::coop::has_budget_remaining();
        }
        copied.as_mut().poll(cx).map(Ok)
    })
    .await;
    match ended {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            tracing::debug!(release = %state.release.id, %err, "TCP connection ended with an error");
        }
        Err(Signal::Idle) => {
            tracing::debug!(release = %state.release.id, timeout = ?config.idle_timeout, "no byte passed either way within the idle timeout; closing the connection");
        }
        Err(signal) => signal.log(&state),
    }
}

/// How many ticks the idle timeout is tracked in.
const IDLE_TICKS: u32 = 16;

/// What ended a connection other than its own close.
enum Signal {
    Cut,
    Stopped,
    Idle,
}

impl Signal {
    fn log(&self, state: &ReleaseState) {
        if let Signal::Cut = self {
            tracing::debug!(release = %state.release.id, "drain timeout passed; closing the connection");
        }
    }
}

/// The drain's cut and the proxy's stop for one connection. Their futures
/// register the task's waker when polled; once registered, a wake-up only
/// needs them polled again if one fired, which `is_cut` and `has_changed`
/// (atomic loads) tell, or if the task's waker is another one.
struct Signals<'a, C, S> {
    in_flight: &'a InFlight,
    /// A receiver of the stop's channel, to look at its version while
    /// `stopped` borrows the connection's own.
    stop: &'a watch::Receiver<bool>,
    cut: Pin<&'a mut C>,
    stopped: Pin<&'a mut S>,
    /// The waker `cut` and `stopped` last registered.
    registered: Option<Waker>,
}

impl<C, S, E> Signals<'_, C, S>
where
    C: Future<Output = ()>,
    S: Future<Output = Result<(), E>>,
{
    /// Whether the futures need polling: never polled with this waker, or
    /// one may have fired.
    fn is_stale(&self, cx: &Context<'_>) -> bool {
        !self
            .registered
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
            || self.in_flight.is_cut()
            || !matches!(self.stop.has_changed(), Ok(false))
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Signal> {
        if !self.is_stale(cx) {
            return Poll::Pending;
        }
        if self.cut.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Signal::Cut);
        }
        if self.stopped.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Signal::Stopped);
        }
        // A future tokio's coop budget refused (it wakes the task instead)
        // registered nothing; the budget only falls during a task's poll,
        // so with some left now neither was refused.
        if tokio::task::coop::has_budget_remaining() {
            self.registered = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Resolves when the client has closed its side, looking without consuming
/// anything: a held client that gives up stops counting as held. A client
/// that already sent bytes is alive; that is not looked at again.
async fn hung_up(client: &TcpStream) {
    let mut byte = [0u8; 1];
    if let Ok(1..) = client.peek(&mut byte).await {
        std::future::pending::<()>().await;
    }
}

/// Connects to the release's upstreams in round-robin order; a refused or
/// timed-out attempt is counted and the next upstream tried. With the
/// connection, how many of the client's `first` bytes went out with the
/// connect (counted already).
async fn connect(
    state: &ReleaseState,
    timeout: Duration,
    first: &[u8],
) -> Option<(TcpStream, usize)> {
    for upstream in state.upstreams() {
        match begin(upstream, first) {
            Ok(Begun::Established { stream, sent }) => match TcpStream::from_std(stream.into()) {
                Ok(stream) => {
                    state
                        .bytes_to_upstream
                        .fetch_add(sent as u64, Ordering::Relaxed);
                    return Some((stream, sent));
                }
                Err(err) => {
                    tracing::warn!(release = %state.release.id, %upstream, %err, "a proxy worker cannot watch an upstream connection");
                }
            },
            Ok(Begun::Connecting(stream)) => match finish(stream, timeout).await {
                Ok(stream) => return Some((stream, 0)),
                Err(err) => {
                    tracing::debug!(release = %state.release.id, %upstream, %err, "upstream refused a connection");
                }
            },
            Err(err) => {
                tracing::debug!(release = %state.release.id, %upstream, %err, "upstream refused a connection");
            }
        }
        state.record_failed_connect();
    }
    None
}

/// A connection to an upstream, begun.
pub(super) enum Begun {
    /// Made at once (on loopback and the bridge, as a rule), `sent` bytes
    /// of the client's first ones written on it.
    Established {
        stream: mio::net::TcpStream,
        sent: usize,
    },
    /// Not made yet, or nothing to send on it to tell.
    Connecting(mio::net::TcpStream),
}

/// Starts a connection to `upstream` and writes `first` on it: a write
/// that succeeds says the connection is made, without waiting for the
/// event loop to report it and asking the socket for its error (tokio's
/// `TcpStream::connect`), one wake-up and one system call fewer. A write
/// the socket is not ready for (still connecting) leaves it to `finish`;
/// an error (refused) is the connect's.
pub(super) fn begin(upstream: SocketAddr, first: &[u8]) -> io::Result<Begun> {
    let stream = mio::net::TcpStream::connect(upstream)?;
    let _ = stream.set_nodelay(true);
    if first.is_empty() {
        return Ok(Begun::Connecting(stream));
    }
    match (&stream).write(first) {
        Ok(sent) => Ok(Begun::Established { stream, sent }),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(Begun::Connecting(stream)),
        Err(err) => Err(err),
    }
}

/// Waits (at most `timeout`) for a begun connection to be made, as tokio's
/// `TcpStream::connect` does.
async fn finish(stream: mio::net::TcpStream, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::from_std(stream.into())?;
    let made = async {
        stream.writable().await?;
        match stream.take_error()? {
            Some(err) => Err(err),
            None => Ok(()),
        }
    };
    match tokio::time::timeout(timeout, made).await {
        Ok(Ok(())) => Ok(stream),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no connection within {timeout:?}"),
        )),
    }
}

/// The upstream side of a connection, counting bytes as they pass so that
/// the release's stats are current while a long connection is open, and
/// noting that they passed, for the idle timeout.
struct Counted<'a> {
    inner: TcpStream,
    state: &'a ReleaseState,
    active: &'a AtomicBool,
}

impl AsyncRead for Counted<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        if read > 0 {
            self.active.store(true, Ordering::Relaxed);
            self.state
                .bytes_from_upstream
                .fetch_add(read as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Counted<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(written)) = polled {
            self.active.store(true, Ordering::Relaxed);
            self.state
                .bytes_to_upstream
                .fetch_add(written as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
