//! windlass's reverse proxy. One [`Proxy`] stands on a service's public
//! address and sends each request to the live release's upstreams (the
//! 127.0.0.1 ports its containers publish).
//!
//! - [`Proxy::switch`] changes the live release atomically: the next request
//!   is routed to the new release; requests already routed finish where they are.
//! - [`Proxy::drain`] waits until a release that is no longer live has no
//!   request in flight, so its containers can be stopped without cutting one.
//! - [`Proxy::stats`] tells, per release, requests, 5xx answers, failed
//!   upstream connections and latencies, which is what a watch after a switch
//!   judges to roll back.

mod forward;
mod histogram;
mod release;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use forward::RELEASE_HEADER;
pub use histogram::Latencies;
pub use release::{Release, Stats};

use release::{InFlight, ReleaseState};

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
    #[error("release {0} is live; switch to another release before draining it")]
    Live(String),
    #[error("release {release} still had {in_flight} request(s) in flight after {waited:?}")]
    DrainTimeout {
        release: String,
        in_flight: u64,
        waited: Duration,
    },
}

/// How the proxy treats upstreams and requests.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long to wait for an upstream to accept a connection before trying
    /// the next one.
    pub connect_timeout: Duration,
    /// Request bodies are read whole (so they can be retried on another
    /// upstream); larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            connect_timeout: Duration::from_secs(1),
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// State shared by the proxy handle and every connection.
pub(crate) struct Shared {
    config: Config,
    live: ArcSwapOption<ReleaseState>,
    releases: Mutex<HashMap<String, Arc<ReleaseState>>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Shared {
    /// Counts a request in flight on the live release. The live release is
    /// read again after counting, so that a request is never counted on a
    /// release that a concurrent [`Proxy::drain`] already saw idle.
    fn route(&self) -> Option<InFlight> {
        loop {
            let live = self.live.load_full()?;
            let in_flight = InFlight::begin(Arc::clone(&live));
            if self
                .live
                .load()
                .as_ref()
                .is_some_and(|now| Arc::ptr_eq(now, &live))
            {
                return Some(in_flight);
            }
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ReleaseState>>> {
        self.releases.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running proxy; dropping it stops accepting and closes connections
/// gracefully.
pub struct Proxy {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
}

impl Proxy {
    /// Listens on `addr` (port 0 picks a free one) with no live release:
    /// requests get 503 until the first [`Proxy::switch`].
    pub async fn bind(addr: SocketAddr, config: Config) -> Result<Proxy, Error> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let shared = Arc::new(Shared {
            config,
            live: ArcSwapOption::empty(),
            releases: Mutex::new(HashMap::new()),
            client,
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept(listener, Arc::clone(&shared), stopped));
        Ok(Proxy {
            shared,
            local_addr,
            stop,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Makes `release` live for every request routed from now on and returns
    /// the id of the release that was live before. Switching back to a known
    /// release with the same upstreams keeps its counters.
    pub fn switch(&self, release: Release) -> Result<Option<String>, Error> {
        if release.upstreams.is_empty() {
            return Err(Error::NoUpstreams {
                release: release.id,
            });
        }
        let state = {
            let mut known = self.shared.known();
            match known.get(&release.id) {
                Some(state) if state.release == release => Arc::clone(state),
                _ => {
                    let state = Arc::new(ReleaseState::new(release.clone()));
                    known.insert(release.id, Arc::clone(&state));
                    state
                }
            }
        };
        let before = self.shared.live.swap(Some(state));
        Ok(before.map(|state| state.release.id.clone()))
    }

    /// Takes every release out of service: requests get 503.
    pub fn clear(&self) -> Option<String> {
        let before = self.shared.live.swap(None);
        before.map(|state| state.release.id.clone())
    }

    /// The live release, if any.
    pub fn live(&self) -> Option<Release> {
        self.shared.live.load().as_ref().map(|s| s.release.clone())
    }

    /// What `release` has served so far.
    pub fn stats(&self, release: &str) -> Option<Stats> {
        self.shared.known().get(release).map(|state| state.stats())
    }

    /// Waits until `release`, no longer live, has no request in flight.
    pub async fn drain(&self, release: &str, timeout: Duration) -> Result<(), Error> {
        let state = self
            .shared
            .known()
            .get(release)
            .cloned()
            .ok_or_else(|| Error::UnknownRelease(release.to_owned()))?;
        if self
            .shared
            .live
            .load()
            .as_ref()
            .is_some_and(|live| Arc::ptr_eq(live, &state))
        {
            return Err(Error::Live(release.to_owned()));
        }
        tokio::time::timeout(timeout, state.idle())
            .await
            .map_err(|_| Error::DrainTimeout {
                release: release.to_owned(),
                in_flight: state.in_flight(),
                waited: timeout,
            })
    }

    /// Drops the counters of a retired release (not the live one).
    pub fn forget(&self, release: &str) {
        let live = self.live().map(|r| r.id);
        if live.as_deref() != Some(release) {
            self.shared.known().remove(release);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, client)) => {
                tokio::spawn(serve(stream, client, Arc::clone(&shared), stop.clone()));
            }
            Err(err) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::warn!(%err, "proxy cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve(
    stream: TcpStream,
    client: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| forward::handle(Arc::clone(&shared), client, request));
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stop.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%client, %err, "proxy connection ended with an error");
    }
}
