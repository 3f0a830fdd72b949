//! windlass's proxy. One [`Proxy`] stands on a service's public address and
//! sends traffic to the live release's upstreams (the 127.0.0.1 ports its
//! containers publish). It speaks one of three [`Protocol`]s, chosen in
//! [`Config::protocol`]: HTTP (each request routed on its own, retried on
//! the next upstream when a connection is refused), TCP (each connection
//! routed when it opens and copied byte for byte, for Redis, PostgreSQL and
//! other ports that are not HTTP) or UDP (each client's flow of datagrams
//! routed when its first datagram arrives, see `udp`). `[::]` binds every
//! interface, IPv4 included. All are driven the same way:
//!
//! - [`Proxy::switch`] changes the live release atomically: the next request
//!   or connection is routed to the new release; what was routed before
//!   finishes where it is.
//! - [`Proxy::set_canary`] puts a second release beside the live one with
//!   a weight (0-100 %): that share of new requests (HTTP, sticky by a
//!   cookie or header when asked), connections (TCP) or flows (UDP) goes to
//!   it, the rest to the live release ([`canary`]). A switch to the canary's
//!   release promotes it; [`Proxy::clear_canary`] takes its share back at
//!   once.
//! - [`Proxy::clear`] leaves no release live (the gap of a stop-first
//!   deploy): new requests and connections are held up to
//!   [`Config::hold_timeout`] and let through the moment a release is
//!   switched in; past the timeout HTTP answers 503 and TCP closes.
//! - [`Proxy::drain`] waits until a release that is no longer live has
//!   nothing in flight, so its containers can be stopped without cutting a
//!   request. TCP connections and UDP flows still open when the timeout
//!   passes are closed.
//! - [`Proxy::stats`] tells, per release, requests, 5xx answers, failed
//!   upstream connections, latencies, connections, bytes each way and holds,
//!   which is what a watch after a switch judges to roll back.
//!
//! [`daemon`] runs proxies in a long-lived process of their own, driven over
//! a control API on a unix socket that only its owner reaches ([`owner`])
//! and restored from a state file, so that traffic survives the process
//! that runs deploys.

mod canary;
mod copy;
pub mod daemon;
mod forward;
mod h1;
mod histogram;
mod http;
mod listen;
pub mod owner;
mod protocol;
mod release;
mod router;
mod tcp;
mod udp;
mod workers;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use canary::{BadWeight, Canary, Sticky, Weight};
pub use forward::RELEASE_HEADER;
pub use histogram::Latencies;
pub use listen::probe as probe_listen;
pub use protocol::{Protocol, UnknownProtocol};
pub use release::{Release, Stats};
pub use router::Holds;

use router::Router;
use workers::Workers;

/// Errors of the proxy's operations; forwarding errors become 502/503 answers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}; is another process using it?")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("release {release} has no upstreams; give at least one 127.0.0.1:PORT")]
    NoUpstreams { release: String },
    #[error("release {0} is unknown to this proxy; it was never switched to")]
    UnknownRelease(String),
    #[error("release {0} is live (or the canary); switch to another release, or end the canary, before draining it")]
    Live(String),
    #[error("release {0} cannot be a canary: no release is live beside which it could take a share; switch one in first")]
    NoLiveRelease(String),
    #[error("release {0} is the live release already; a canary is another release")]
    CanaryIsLive(String),
    #[error("release {release} still had {in_flight} request(s) in flight after {waited:?}")]
    DrainTimeout {
        release: String,
        in_flight: u64,
        waited: Duration,
    },
    #[error("release {release} still had {closed} connection(s) open after {waited:?}; the proxy closed them")]
    DrainCut {
        release: String,
        closed: u64,
        waited: Duration,
    },
}

/// How the proxy treats upstreams, requests and connections.
#[derive(Debug, Clone)]
pub struct Config {
    /// HTTP (the default), TCP or UDP.
    pub protocol: Protocol,
    /// How long to wait for an upstream to accept a connection before trying
    /// the next one.
    pub connect_timeout: Duration,
    /// HTTP request bodies are read whole (so they can be retried on another
    /// upstream); larger ones get 413.
    pub max_body_bytes: usize,
    /// How long a request or connection that arrives while no release is
    /// live waits for one; zero refuses it at once.
    pub hold_timeout: Duration,
    /// How long a UDP flow may go without a datagram either way before it
    /// ends (the client's next datagram begins a new one).
    pub udp_idle_timeout: Duration,
    /// HTTP: how long a client may take to send a request's head, and how
    /// long a kept-alive connection may wait idle for the next one, before
    /// the proxy closes it (nginx's `client_header_timeout`): idle or slow
    /// clients cannot hold the proxy's connections (slowloris).
    pub header_timeout: Duration,
    /// HTTP: how long reading a request's body may take, whole; past it the
    /// answer is 408.
    pub body_timeout: Duration,
    /// TCP: a connection on which no byte passed either way for this long
    /// is closed (nginx's `proxy_timeout`).
    pub idle_timeout: Duration,
    /// HTTP: an idempotent request (GET, HEAD, OPTIONS, TRACE, PUT,
    /// DELETE) without an answer from its upstream after this long is sent
    /// to the next upstream too, and the first answer wins. An upstream on
    /// a machine that died keeps its connections open without answering
    /// (no reset comes back): this bounds what it costs a client. `None`
    /// (the default): never; an upstream on this machine that stops closes
    /// its connections, which the proxy sees at once.
    pub hedge_after: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            protocol: Protocol::Http,
            connect_timeout: Duration::from_secs(1),
            max_body_bytes: 8 * 1024 * 1024,
            hold_timeout: Duration::from_secs(30),
            udp_idle_timeout: udp::DEFAULT_IDLE_TIMEOUT,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
            hedge_after: None,
        }
    }
}

/// A running proxy; dropping it stops accepting, closes HTTP connections
/// gracefully and TCP connections at once.
pub struct Proxy {
    router: Arc<Router>,
    config: Config,
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    /// The tasks accepting connections (one a worker) or serving datagrams.
    accepting: Mutex<Vec<JoinHandle<()>>>,
}

impl Proxy {
    /// Listens on `addr` (port 0 picks a free one) with no live release:
    /// traffic is held until the first [`Proxy::switch`].
    pub async fn bind(addr: SocketAddr, config: Config) -> Result<Proxy, Error> {
        let router = Arc::new(Router::new(config.hold_timeout));
        let (stop, stopped) = watch::channel(false);
        let bind_failed = |source| Error::Bind { addr, source };
        let (local_addr, accepting) = match config.protocol {
            Protocol::Http | Protocol::Tcp => {
                let workers = Workers::get().map_err(bind_failed)?;
                let loops = match config.protocol {
                    Protocol::Tcp => Some(tcp::Loops::get(&workers).map_err(bind_failed)?),
                    _ => None,
                };
                let mut listeners = Vec::new();
                if config.protocol == Protocol::Tcp {
                    // A listening socket of its own for each worker.
                    let group = listen::tcp_group(addr, workers.count()).map_err(bind_failed)?;
                    listeners.extend(group.into_iter().map(Some));
                } else {
                    // Every worker accepts from its own handle on the one socket.
                    let listener = listen::tcp(addr).map_err(bind_failed)?;
                    for _ in 0..workers.count() {
                        listeners.push(Some(listener.try_clone().map_err(bind_failed)?));
                    }
                }
                let local_addr = listeners[0]
                    .as_ref()
                    .map_or(Ok(addr), std::net::TcpListener::local_addr)
                    .map_err(bind_failed)?;
                let accepting = workers.on_each(|i| {
                    let listener = listeners[i].take();
                    let router = Arc::clone(&router);
                    let config = config.clone();
                    let stopped = stopped.clone();
                    let loops = loops.clone();
                    async move {
                        let Some(listener) = listener else { return };
                        if let Some(loops) = loops {
                            tcp::serve(loops, i, listener, router, config, stopped).await;
                            return;
                        }
                        let listener = match tokio::net::TcpListener::from_std(listener) {
                            Ok(listener) => listener,
                            Err(err) => {
                                tracing::error!(%local_addr, %err, "a proxy worker cannot watch the listening socket");
                                return;
                            }
                        };
                        let shared = Arc::new(http::Shared::new(config, router));
                        http::accept(listener, shared, stopped).await;
                    }
                });
                (local_addr, accepting)
            }
            Protocol::Udp => {
                let socket = listen::udp(addr).map_err(bind_failed)?;
                let local_addr = socket.local_addr().map_err(bind_failed)?;
                let serving = tokio::spawn(udp::serve(
                    socket,
                    Arc::clone(&router),
                    config.clone(),
                    stopped,
                ));
                (local_addr, vec![serving])
            }
        };
        Ok(Proxy {
            router,
            config,
            local_addr,
            stop,
            accepting: Mutex::new(accepting),
        })
    }

    /// Stops the proxy as dropping it does, and returns once its address is
    /// free to bind again.
    pub async fn stop(&self) {
        self.stop.send_replace(true);
        let accepting = std::mem::take(
            &mut *self
                .accepting
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for task in accepting {
            // The task only returns (or was aborted by a runtime shutting down).
            let _ = task.await;
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn protocol(&self) -> Protocol {
        self.config.protocol
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Makes `release` live for everything routed from now on, lets held
    /// traffic through, and returns the id of the release that was live
    /// before. Switching back to a known release with the same upstreams
    /// keeps its counters. A switch to another release ends the canary (a
    /// switch to the canary's release promotes it); the same live release
    /// again keeps it.
    pub fn switch(&self, release: Release) -> Result<Option<String>, Error> {
        self.router.switch(release)
    }

    /// How long traffic that comes while no release is live waits for one:
    /// [`Config::hold_timeout`] until [`Proxy::set_hold_timeout`].
    pub fn hold_timeout(&self) -> Duration {
        self.router.hold_timeout()
    }

    /// Changes the hold timeout, for the holds that begin from now on,
    /// without binding the address again.
    pub fn set_hold_timeout(&self, timeout: Duration) {
        self.router.set_hold_timeout(timeout);
    }

    /// Takes every release out of service: new traffic is held (see
    /// [`Proxy::hold_timeout`]). Returns the release that was live.
    pub fn clear(&self) -> Option<String> {
        self.router.clear()
    }

    /// Routes `canary.weight` of new traffic to `canary.release`, the rest
    /// to the live release, from the next request or connection on; setting
    /// the same release again changes its weight and keeps its counters.
    pub fn set_canary(&self, canary: Canary) -> Result<(), Error> {
        self.router.set_canary(canary)
    }

    /// Ends the canary: all new traffic goes to the live release. Returns
    /// the canary's release, if there was one.
    pub fn clear_canary(&self) -> Option<String> {
        self.router.clear_canary()
    }

    /// The canary beside the live release, if any.
    pub fn canary(&self) -> Option<Canary> {
        self.router.canary()
    }

    /// The live release, if any.
    pub fn live(&self) -> Option<Release> {
        self.router.live()
    }

    /// What `release` has served so far.
    pub fn stats(&self, release: &str) -> Option<Stats> {
        self.router.stats(release)
    }

    /// The stats of every release the proxy still knows, by id.
    pub fn all_stats(&self) -> Vec<Stats> {
        self.router.all_stats()
    }

    /// Traffic held now and refused after holding, while no release was live.
    pub fn holds(&self) -> Holds {
        self.router.holds()
    }

    /// Waits until `release`, no longer live, has nothing in flight. HTTP
    /// requests still in flight after `timeout` are left to finish
    /// ([`Error::DrainTimeout`]); TCP connections still open are closed
    /// ([`Error::DrainCut`], returned once they are), as are UDP flows.
    pub async fn drain(&self, release: &str, timeout: Duration) -> Result<(), Error> {
        let cut = self.config.protocol != Protocol::Http;
        self.router.drain(release, timeout, cut).await
    }

    /// Drops the counters of a retired release (not the live one).
    pub fn forget(&self, release: &str) {
        self.router.forget(release);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}
