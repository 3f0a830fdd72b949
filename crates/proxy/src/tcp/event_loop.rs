//! The TCP proxies' event loops: one thread a worker, each a plain `mio`
//! poll (edge-triggered epoll) over its listening sockets (one of each TCP
//! proxy's group, `listen::tcp_group`) and its connections, each
//! connection a state machine (`conn.rs`) read and written directly when
//! epoll reports it ready: no task, no waker, no scheduler, as HAProxy's
//! threads and nginx's workers carry connections.
//!
//! A connection that arrives while no release is live is handed to the
//! worker's tokio runtime (`task.rs`), which holds it until one is; the
//! proxies' stops, drains' cuts and new listeners come as commands through
//! a channel and a `mio::Waker`. The idle timeout is looked at every
//! sixteenth of the shortest one; a connect that waits has a deadline.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};

use super::conn::{Conn, Context, Ended};
use super::slab::Slab;
use crate::router::Router;
use crate::workers::Workers;
use crate::Config;

/// The waker's token; listeners' are `LISTENERS + slot`, connections' below.
const WAKER: Token = Token(usize::MAX);
const LISTENERS: usize = usize::MAX / 2;
/// How many looks the idle timeout is tracked in.
const IDLE_LOOKS: u32 = 16;

/// Connects that wait: (deadline, connection key, attempt), soonest first.
/// An entry whose connection ended or moved on is dropped when due.
#[derive(Default)]
pub(super) struct Deadlines {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    attempts: u64,
}

impl Deadlines {
    /// Sets a deadline for a new connect attempt of connection `key`, and
    /// names the attempt.
    pub(super) fn set(&mut self, at: Instant, key: usize) -> u64 {
        self.attempts += 1;
        self.heap.push(Reverse((at, key, self.attempts)));
        self.attempts
    }

    fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(d)| d.0)
    }

    /// The next attempt whose deadline passed by `now`.
    fn due(&mut self, now: Instant) -> Option<(usize, u64)> {
        let Reverse((at, key, attempt)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        Some((key, attempt))
    }
}

/// What a loop is asked from other threads.
pub(super) enum Command {
    /// Serve a proxy's listening socket.
    Listen(Box<Listening>),
    /// Close proxy `id`'s listening socket and connections, then answer.
    Stop { id: u64, done: oneshot::Sender<()> },
    /// A drain cut a release's connections: look which are.
    Cut,
}

/// A listening socket, and the proxy whose it is.
pub(super) struct Listening {
    pub(super) id: u64,
    pub(super) listener: TcpListener,
    pub(super) router: Arc<Router>,
    pub(super) config: Arc<Config>,
    pub(super) stop: watch::Receiver<bool>,
}

/// The process's loops, started with the first TCP proxy and kept.
static LOOPS: Mutex<Option<Arc<Loops>>> = Mutex::new(None);

pub(crate) struct Loops {
    loops: Vec<(Mutex<Sender<Command>>, Waker)>,
}

impl Loops {
    /// The loops, one a worker, started on first use.
    pub(crate) fn get(workers: &Workers) -> io::Result<Arc<Loops>> {
        let mut started = LOOPS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(loops) = started.as_ref() {
            return Ok(Arc::clone(loops));
        }
        let mut loops = Vec::with_capacity(workers.count());
        for i in 0..workers.count() {
            let poll = Poll::new()?;
            let waker = Waker::new(poll.registry(), WAKER)?;
            let (send, commands) = channel();
            let event_loop = EventLoop::new(poll, commands, workers.handle(i).clone());
            std::thread::Builder::new()
                .name(format!("windlass-tcp-{i}"))
                .spawn(move || event_loop.run())?;
            loops.push((Mutex::new(send), waker));
        }
        let loops = Arc::new(Loops { loops });
        *started = Some(Arc::clone(&loops));
        Ok(loops)
    }

    pub(super) fn send(&self, i: usize, command: Command) {
        let (send, waker) = &self.loops[i];
        let sent = send
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(command);
        if sent.is_ok() {
            if let Err(err) = waker.wake() {
                tracing::error!(%err, "cannot wake a TCP proxy's event loop");
            }
        }
    }

    /// Tells every loop, if any runs, that a drain cut connections.
    pub(crate) fn cut() {
        let loops = LOOPS.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(loops) = loops {
            for i in 0..loops.loops.len() {
                loops.send(i, Command::Cut);
            }
        }
    }
}

struct EventLoop {
    poll: Poll,
    commands: Receiver<Command>,
    /// The worker's runtime, for held connections.
    runtime: Handle,
    listeners: Vec<Option<Listening>>,
    conns: Slab<Conn>,
    deadlines: Deadlines,
    /// The idle timeout's looks: the period, the next one.
    looks: Option<(Duration, Instant)>,
}

impl EventLoop {
    fn new(poll: Poll, commands: Receiver<Command>, runtime: Handle) -> EventLoop {
        EventLoop {
            poll,
            commands,
            runtime,
            listeners: Vec::new(),
            conns: Slab::new(),
            deadlines: Deadlines::default(),
            looks: None,
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.timeout();
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(%err, "a TCP proxy's event loop cannot wait for events");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            for event in &events {
                match event.token() {
                    WAKER => self.commands(),
                    Token(t) if t >= LISTENERS => self.accept(t - LISTENERS),
                    Token(t) => {
                        let (key, upstream) = (t / 2, t % 2 == 1);
                        self.with_conn(key, |conn, cx| conn.ready(upstream, event, cx));
                    }
                }
            }
            self.timers();
            // Keys of connections closed in this round are reused only now,
            // so an event of this round never reaches another connection.
            self.conns.release();
        }
    }

    /// Until the next idle look or connect deadline, if any.
    fn timeout(&self) -> Option<Duration> {
        let look = self.looks.filter(|_| !self.conns.is_empty()).map(|l| l.1);
        let deadline = self.deadlines.next();
        let next = match (look, deadline) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(next.saturating_duration_since(Instant::now()))
    }

    /// Acts on connection `key` (if it is still open) and closes it if
    /// that ended it.
    fn with_conn(
        &mut self,
        key: usize,
        act: impl FnOnce(&mut Conn, &mut Context<'_>) -> Result<(), Ended>,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let Some(listening) = self.listeners.get(conn.listener).and_then(Option::as_ref) else {
            return;
        };
        let mut cx = Context {
            registry: self.poll.registry(),
            key,
            connect_timeout: listening.config.connect_timeout,
            deadlines: &mut self.deadlines,
        };
        if let Err(ended) = act(conn, &mut cx) {
            ended.log(Some(conn.state()));
            self.conns.remove(key);
        }
    }

    /// Accepts every connection waiting on listener `slot`.
    fn accept(&mut self, slot: usize) {
        loop {
            let Some(listening) = self.listeners.get(slot).and_then(Option::as_ref) else {
                return;
            };
            let client = match listening.listener.accept() {
                Ok((client, _)) => client,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    // Out of file descriptors, say: the connection waits in
                    // the queue; looked at again with the next one.
                    tracing::warn!(%err, "proxy cannot accept a connection");
                    return;
                }
            };
            let Some(in_flight) = listening.router.route(None) else {
                // No release is live: the worker's runtime holds it.
                self.runtime.spawn(super::task::connection(
                    client,
                    Arc::clone(&listening.router),
                    Arc::clone(&listening.config),
                    listening.stop.clone(),
                ));
                continue;
            };
            let key = self.conns.vacant_key();
            let mut cx = Context {
                registry: self.poll.registry(),
                key,
                connect_timeout: listening.config.connect_timeout,
                deadlines: &mut self.deadlines,
            };
            match Conn::open(client, in_flight, slot, &mut cx) {
                Ok(conn) => {
                    self.conns.insert(conn);
                    if self.looks.is_none() {
                        self.look_every();
                    }
                }
                Err(ended) => ended.log(None),
            }
        }
    }

    /// Idle looks and connect deadlines that are due.
    fn timers(&mut self) {
        let now = Instant::now();
        while let Some((key, attempt)) = self.deadlines.due(now) {
            self.with_conn(key, |conn, cx| conn.deadline(attempt, cx));
        }
        let Some((period, next)) = self.looks else {
            return;
        };
        if next > now {
            return;
        }
        self.looks = Some((period, now + period));
        let listeners = &self.listeners;
        self.conns.retain(|conn| {
            let Some(listening) = listeners.get(conn.listener).and_then(Option::as_ref) else {
                return false;
            };
            let timeout = listening.config.idle_timeout;
            if conn.is_idle(now, timeout) {
                Ended::Idle(timeout).log(Some(conn.state()));
                return false;
            }
            true
        });
    }

    /// Sets the idle looks' period from the listeners' shortest timeout.
    fn look_every(&mut self) {
        let shortest = self
            .listeners
            .iter()
            .flatten()
            .map(|l| l.config.idle_timeout)
            .min();
        self.looks = shortest.map(|timeout| {
            let period = (timeout / IDLE_LOOKS).max(Duration::from_millis(1));
            (period, Instant::now() + period)
        });
    }

    fn commands(&mut self) {
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Listen(listening) => self.listen(*listening),
                Command::Stop { id, done } => {
                    self.stop(id);
                    let _ = done.send(());
                }
                Command::Cut => self.conns.retain(|conn| {
                    if conn.is_cut() {
                        Ended::Cut.log(Some(conn.state()));
                        return false;
                    }
                    true
                }),
            }
        }
    }

    fn listen(&mut self, mut listening: Listening) {
        let slot = match self.listeners.iter().position(Option::is_none) {
            Some(slot) => slot,
            None => {
                self.listeners.push(None);
                self.listeners.len() - 1
            }
        };
        let registered = self.poll.registry().register(
            &mut listening.listener,
            Token(LISTENERS + slot),
            Interest::READABLE,
        );
        if let Err(err) = registered {
            tracing::error!(%err, "a proxy worker cannot watch the listening socket");
            return;
        }
        self.listeners[slot] = Some(listening);
        self.look_every();
        // Connections may have queued before it was registered.
        self.accept(slot);
    }

    /// Closes a proxy's listening socket (its address is free once the
    /// group's are) and its connections at once.
    fn stop(&mut self, id: u64) {
        let Some(slot) = self
            .listeners
            .iter()
            .position(|l| l.as_ref().is_some_and(|l| l.id == id))
        else {
            return;
        };
        self.listeners[slot] = None;
        self.conns.retain(|conn| {
            if conn.listener == slot {
                Ended::Stopped.log(Some(conn.state()));
                return false;
            }
            true
        });
        self.look_every();
    }
}
