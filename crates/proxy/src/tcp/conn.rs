//! One TCP connection on a worker's event loop (`event_loop.rs`), as a
//! small state machine: its client and upstream sockets, a buffer each way,
//! its release's in-flight count. It is routed before it gets here; it
//! reads the client's first bytes, connects to the release's upstreams in
//! round-robin order (a refused or timed-out connect is counted and the
//! next one tried), then copies both ways (`way.rs`) until both ends have
//! closed, an error, a drain's cut, the idle timeout or the proxy's stop.
//! Every figure the release keeps is recorded as the tokio path
//! (`task.rs`) records it.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::event_loop::Deadlines;
use super::task::{begin, Begun};
use super::way::{Moved, Side, Way};
use crate::copy::{self, First};
use crate::release::{InFlight, ReleaseState};

/// What the event loop lends a connection while it acts on it.
pub(super) struct Context<'a> {
    pub(super) registry: &'a Registry,
    /// The connection's key in the loop: its client's token is `2 * key`,
    /// its upstream's `2 * key + 1`.
    pub(super) key: usize,
    pub(super) connect_timeout: Duration,
    /// Where a connect that waits sets its deadline.
    pub(super) deadlines: &'a mut Deadlines,
}

/// Why a connection ended.
pub(super) enum Ended {
    /// Both ways closed.
    Done,
    Error(io::Error),
    /// No upstream of the release accepted it.
    NoUpstream,
    Cut,
    Idle(Duration),
    Stopped,
}

/// A connect that waits for the upstream to answer.
struct Connecting {
    /// The upstreams left to try after this one.
    rest: Vec<SocketAddr>,
    /// The attempt's name for its deadline.
    attempt: u64,
}

pub(super) struct Conn {
    /// The slot of the listener (and so the proxy) it came from.
    pub(super) listener: usize,
    client: Side,
    /// `None` only before the first connect is begun.
    upstream: Option<Side>,
    to_upstream: Way,
    to_client: Way,
    connecting: Option<Connecting>,
    /// When connecting began: the connection's latency ends when it is made.
    started: Instant,
    in_flight: InFlight,
    /// A byte passed since the idle timeout's last look.
    active: bool,
    /// When a look last found the connection active (or it was made).
    last_active: Instant,
}

impl Conn {
    /// Takes a routed connection: reads what the client sent already,
    /// connects, and registers both sockets. `Err`: it ended already.
    pub(super) fn open(
        client: TcpStream,
        in_flight: InFlight,
        listener: usize,
        cx: &mut Context<'_>,
    ) -> Result<Conn, Ended> {
        // TCP_NODELAY comes from the listening socket (`listen::tcp`). The
        // first bytes go out with the connect, as in `task.rs`.
        let mut first = First::none();
        first.buf = copy::small_buffer();
        let mut readable = false;
        match (&client).read(&mut first.buf) {
            Ok(0) => first.ended = true,
            Ok(n) => {
                first.filled = n;
                readable = n == first.buf.len();
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(Ended::Error(err)),
        }
        in_flight.state().record_connection();
        let started = Instant::now();
        let mut conn = Conn {
            listener,
            client: Side::new(client, readable, true),
            upstream: None,
            to_upstream: Way::primed(first),
            to_client: Way::new(),
            connecting: None,
            started,
            in_flight,
            active: false,
            last_active: started,
        };
        let token = Token(2 * cx.key);
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(err) = cx
            .registry
            .register(&mut conn.client.stream, token, interest)
        {
            tracing::warn!(%err, "a proxy worker cannot watch a client connection; closing it");
            return Err(Ended::Error(err));
        }
        let state = Arc::clone(conn.in_flight.state());
        conn.connect(state.upstreams(), cx)?;
        Ok(conn)
    }

    /// Tries `upstreams` in order until one is made or waits to be.
    fn connect(
        &mut self,
        mut upstreams: impl Iterator<Item = SocketAddr>,
        cx: &mut Context<'_>,
    ) -> Result<(), Ended> {
        let state = Arc::clone(self.in_flight.state());
        while let Some(upstream) = upstreams.next() {
            let begun = begin(upstream, self.to_upstream.pending());
            let (stream, sent) = match begun {
                Ok(Begun::Established { stream, sent }) => (stream, Some(sent)),
                Ok(Begun::Connecting(stream)) => (stream, None),
                Err(err) => {
                    tracing::debug!(release = %state.release.id, %upstream, %err, "upstream refused a connection");
                    state.record_failed_connect();
                    continue;
                }
            };
            let mut side = Side::new(stream, false, sent.is_some());
            let token = Token(2 * cx.key + 1);
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(err) = cx.registry.register(&mut side.stream, token, interest) {
                tracing::warn!(release = %state.release.id, %err, "a proxy worker cannot watch an upstream connection");
                state.record_failed_connect();
                continue;
            }
            self.upstream = Some(side);
            match sent {
                Some(sent) => {
                    self.to_upstream.sent(sent);
                    state
                        .bytes_to_upstream
                        .fetch_add(sent as u64, Ordering::Relaxed);
                    self.made(sent > 0);
                }
                None => {
                    let attempt = cx
                        .deadlines
                        .set(Instant::now() + cx.connect_timeout, cx.key);
                    self.connecting = Some(Connecting {
                        rest: upstreams.collect(),
                        attempt,
                    });
                }
            }
            return Ok(());
        }
        self.upstream = None;
        state.record_connect(false, self.started.elapsed());
        Err(Ended::NoUpstream)
    }

    /// The upstream connection is made: counted, and the copy may begin.
    /// `active`: bytes went out with the connect.
    fn made(&mut self, active: bool) {
        let now = Instant::now();
        self.in_flight
            .state()
            .record_connect(true, now.duration_since(self.started));
        self.active = active;
        self.last_active = now;
    }

    /// A connect that failed or timed out: the next upstream, if any.
    fn next(&mut self, err: &io::Error, cx: &mut Context<'_>) -> Result<(), Ended> {
        let state = Arc::clone(self.in_flight.state());
        tracing::debug!(release = %state.release.id, %err, "upstream refused a connection");
        state.record_failed_connect();
        // Dropping the socket closes it, which takes it off the event loop.
        self.upstream = None;
        let rest = self
            .connecting
            .take()
            .map(|connecting| connecting.rest)
            .unwrap_or_default();
        self.connect(rest.into_iter(), cx)
    }

    /// The event loop reported readiness on one of the sockets.
    pub(super) fn ready(
        &mut self,
        upstream: bool,
        event: &Event,
        cx: &mut Context<'_>,
    ) -> Result<(), Ended> {
        if !upstream {
            self.client.update(event);
        } else if let Some(side) = self.upstream.as_mut() {
            side.update(event);
            if self.connecting.is_some() && side.writable {
                // Writable (or failed): the connect has an answer. With no
                // error, the peer's address says it is made, as mio advises
                // (an event may come before; the connect's own follows).
                match side.stream.take_error() {
                    Ok(None) => match side.stream.peer_addr() {
                        Ok(_) => {
                            self.connecting = None;
                            self.made(false);
                        }
                        Err(err) if err.kind() == io::ErrorKind::NotConnected => {
                            side.writable = false;
                        }
                        Err(err) => self.next(&err, cx)?,
                    },
                    Ok(Some(err)) | Err(err) => self.next(&err, cx)?,
                }
            }
        }
        self.pump()
    }

    /// The deadline of connect `attempt` passed.
    pub(super) fn deadline(&mut self, attempt: u64, cx: &mut Context<'_>) -> Result<(), Ended> {
        if self.connecting.as_ref().map(|c| c.attempt) != Some(attempt) {
            return Ok(());
        }
        let err = io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no connection within {:?}", cx.connect_timeout),
        );
        self.next(&err, cx)?;
        self.pump()
    }

    /// Copies what the sockets' readiness allows, both ways.
    fn pump(&mut self) -> Result<(), Ended> {
        if self.connecting.is_some() {
            return Ok(());
        }
        let Some(upstream) = self.upstream.as_mut() else {
            return Ok(());
        };
        let mut there = Moved::default();
        let mut back = Moved::default();
        let done = self.to_client.done;
        let mut result = self
            .to_upstream
            .pump(&mut self.client, upstream, done, &mut there);
        if result.is_ok() {
            let done = self.to_upstream.done;
            result = self
                .to_client
                .pump(upstream, &mut self.client, done, &mut back);
        }
        let state = self.in_flight.state();
        if there.written > 0 {
            state
                .bytes_to_upstream
                .fetch_add(there.written as u64, Ordering::Relaxed);
        }
        if back.read > 0 {
            state
                .bytes_from_upstream
                .fetch_add(back.read as u64, Ordering::Relaxed);
        }
        if there.read + there.written + back.read + back.written > 0 {
            self.active = true;
        }
        result.map_err(Ended::Error)?;
        if self.to_upstream.done && self.to_client.done {
            return Err(Ended::Done);
        }
        Ok(())
    }

    /// The idle timeout's look, every sixteenth of it: a connection on
    /// which nothing passed for `timeout` since the last look that found
    /// it active ends (so never before the timeout, and at most a look
    /// after it).
    pub(super) fn is_idle(&mut self, now: Instant, timeout: Duration) -> bool {
        if self.connecting.is_some() || self.upstream.is_none() {
            return false;
        }
        if std::mem::take(&mut self.active) {
            self.last_active = now;
            return false;
        }
        now.saturating_duration_since(self.last_active) >= timeout
    }

    pub(super) fn is_cut(&self) -> bool {
        self.in_flight.is_cut()
    }

    pub(super) fn state(&self) -> &ReleaseState {
        self.in_flight.state()
    }
}

impl Ended {
    /// Logs why a connection ended, as the tokio path does.
    pub(super) fn log(&self, state: Option<&ReleaseState>) {
        let release = state.map(|s| s.release.id.as_str()).unwrap_or_default();
        match self {
            Ended::Done | Ended::Stopped => {}
            Ended::Error(err) => {
                tracing::debug!(release, %err, "TCP connection ended with an error");
            }
            Ended::NoUpstream => {
                tracing::debug!(release, "no upstream accepted the connection; closing it");
            }
            Ended::Cut => tracing::debug!(release, "drain timeout passed; closing the connection"),
            Ended::Idle(timeout) => {
                tracing::debug!(
                    release,
                    ?timeout,
                    "no byte passed either way within the idle timeout; closing the connection"
                );
            }
        }
    }
}
