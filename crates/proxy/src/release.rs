//! A release as the proxy sees it: where its upstreams are, and what it has
//! served (counters, latencies, requests or connections still open).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderValue;
use hyper::http::uri::Authority;
use tokio::sync::{watch, Notify};

use crate::histogram::{Histogram, Latencies};

/// What a switch routes to: a release id and the addresses of its
/// containers' published ports (127.0.0.1:PORT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: String,
    pub upstreams: Vec<SocketAddr>,
}

impl Release {
    pub fn new(id: impl Into<String>, upstreams: impl IntoIterator<Item = SocketAddr>) -> Release {
        Release {
            id: id.into(),
            upstreams: upstreams.into_iter().collect(),
        }
    }
}

/// What a release has served so far. Take two and call [`Stats::since`] to
/// judge a window, such as the watch after a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    pub release: String,
    /// Requests answered (by an upstream or by the proxy with a 502). TCP:
    /// connections routed to the release, each one request.
    pub requests: u64,
    /// Answers with a status of 500 or more, the proxy's own 502s included.
    /// TCP: connections that no upstream of the release accepted.
    pub server_errors: u64,
    /// Attempts to connect to an upstream that failed; the request was then
    /// tried on the release's next upstream.
    pub failed_connects: u64,
    /// HTTP: requests routed to the release whose answer has not finished.
    /// TCP: connections routed to the release that are still open.
    pub in_flight: u64,
    /// HTTP: each answer's time. TCP: each connection's time to connect to
    /// an upstream.
    pub latencies: Latencies,
    /// TCP connections routed to the release (opened), whether or not an
    /// upstream then accepted them.
    pub connections: u64,
    /// TCP bytes copied from clients to the release's upstreams.
    pub bytes_to_upstream: u64,
    /// TCP bytes copied from the release's upstreams back to clients.
    pub bytes_from_upstream: u64,
    /// Requests or connections that arrived while no release was live and
    /// were held until this release was switched in.
    pub held: u64,
    /// The longest of those holds.
    pub longest_hold: Duration,
}

impl Stats {
    /// The activity between `earlier` and `self`; `in_flight` and
    /// `longest_hold` (a maximum, which cannot be split) stay current.
    pub fn since(&self, earlier: &Stats) -> Stats {
        Stats {
            release: self.release.clone(),
            requests: self.requests.saturating_sub(earlier.requests),
            server_errors: self.server_errors.saturating_sub(earlier.server_errors),
            failed_connects: self.failed_connects.saturating_sub(earlier.failed_connects),
            in_flight: self.in_flight,
            latencies: self.latencies.since(&earlier.latencies),
            connections: self.connections.saturating_sub(earlier.connections),
            bytes_to_upstream: self
                .bytes_to_upstream
                .saturating_sub(earlier.bytes_to_upstream),
            bytes_from_upstream: self
                .bytes_from_upstream
                .saturating_sub(earlier.bytes_from_upstream),
            held: self.held.saturating_sub(earlier.held),
            longest_hold: self.longest_hold,
        }
    }

    /// Share of answers that were 5xx; 0 when there were none.
    pub fn server_error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.server_errors as f64 / self.requests as f64
        }
    }

    /// The 99th percentile latency (to response headers).
    pub fn p99(&self) -> Option<Duration> {
        self.latencies.quantile(0.99)
    }
}

/// The proxy's live record of one release; shared by the routing table and
/// every request routed to it.
pub(crate) struct ReleaseState {
    pub(crate) release: Release,
    /// Each upstream's `host:port` as an HTTP request target's authority,
    /// made once rather than formatted and parsed for every request.
    authorities: Vec<Option<Authority>>,
    /// The release's id as the value of [`crate::RELEASE_HEADER`] (`None`
    /// when the id is no valid header value).
    pub(crate) header: Option<HeaderValue>,
    next: AtomicUsize,
    requests: AtomicU64,
    server_errors: AtomicU64,
    failed_connects: AtomicU64,
    in_flight: AtomicU64,
    idle: Notify,
    latencies: Histogram,
    connections: AtomicU64,
    pub(crate) bytes_to_upstream: AtomicU64,
    pub(crate) bytes_from_upstream: AtomicU64,
    held: AtomicU64,
    longest_hold_micros: AtomicU64,
    /// Bumped to close the release's open TCP connections (a drain whose
    /// timeout passed). A generation rather than a flag, so that switching
    /// back to the release later does not close its new connections.
    cut: watch::Sender<u64>,
    /// The generation `cut` holds, read by every request and connection as
    /// it begins without taking the watch's lock.
    generation: AtomicU64,
}

impl ReleaseState {
    pub(crate) fn new(release: Release) -> ReleaseState {
        let authorities = release
            .upstreams
            .iter()
            .map(|upstream| Authority::try_from(upstream.to_string()).ok())
            .collect();
        let header = HeaderValue::from_str(&release.id).ok();
        ReleaseState {
            release,
            authorities,
            header,
            next: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            failed_connects: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            idle: Notify::new(),
            latencies: Histogram::new(),
            connections: AtomicU64::new(0),
            bytes_to_upstream: AtomicU64::new(0),
            bytes_from_upstream: AtomicU64::new(0),
            held: AtomicU64::new(0),
            longest_hold_micros: AtomicU64::new(0),
            cut: watch::Sender::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// The upstreams in the order to try them for one request: round robin.
    pub(crate) fn upstreams(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.targets().map(|(upstream, _)| upstream)
    }

    /// [`ReleaseState::upstreams`] with each one's authority for HTTP.
    pub(crate) fn targets(
        &self,
    ) -> impl ExactSizeIterator<Item = (SocketAddr, Option<&Authority>)> + '_ {
        let upstreams = &self.release.upstreams;
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..upstreams.len()).map(move |i| {
            let i = (start + i) % upstreams.len();
            (upstreams[i], self.authorities[i].as_ref())
        })
    }

    pub(crate) fn record(&self, status: u16, latency: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latencies.record(latency);
    }

    /// A TCP connection's upstream side: a connection counts as one
    /// request (the unit a rollout's analysis judges), one that no upstream
    /// accepted as a server error, and the time to connect as its latency.
    pub(crate) fn record_connect(&self, accepted: bool, took: Duration) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !accepted {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        self.latencies.record(took);
    }

    pub(crate) fn record_failed_connect(&self) {
        self.failed_connects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_hold(&self, held: Duration) {
        self.held.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(held.as_micros()).unwrap_or(u64::MAX);
        self.longest_hold_micros
            .fetch_max(micros, Ordering::Relaxed);
    }

    /// Closes every TCP connection open on the release.
    pub(crate) fn cut(&self) {
        self.cut.send_modify(|generation| {
            *generation += 1;
            self.generation.store(*generation, Ordering::SeqCst);
        });
    }

    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until no request is in flight.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Register before checking, so a wake-up between the two is not lost.
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            release: self.release.id.clone(),
            requests: self.requests.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            failed_connects: self.failed_connects.load(Ordering::Relaxed),
            in_flight: self.in_flight(),
            latencies: self.latencies.snapshot(),
            connections: self.connections.load(Ordering::Relaxed),
            bytes_to_upstream: self.bytes_to_upstream.load(Ordering::Relaxed),
            bytes_from_upstream: self.bytes_from_upstream.load(Ordering::Relaxed),
            held: self.held.load(Ordering::Relaxed),
            longest_hold: Duration::from_micros(self.longest_hold_micros.load(Ordering::Relaxed)),
        }
    }
}

/// Counts one request (or TCP connection) as in flight on a release until
/// dropped, which happens when its answer's body has been sent or the client
/// went away (or the connection closed).
pub(crate) struct InFlight {
    state: Arc<ReleaseState>,
    /// The release's cut generation when this began: a cut after it (a
    /// higher generation) closes this connection.
    generation: u64,
}

impl InFlight {
    pub(crate) fn begin(state: Arc<ReleaseState>) -> InFlight {
        let generation = state.generation.load(Ordering::SeqCst);
        state.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight { state, generation }
    }

    pub(crate) fn state(&self) -> &Arc<ReleaseState> {
        &self.state
    }

    /// Whether a drain has cut the release's connections since this began:
    /// one atomic load, for a connection to look at on every wake-up once
    /// `cut` has registered its waker.
    pub(crate) fn is_cut(&self) -> bool {
        self.state.generation.load(Ordering::SeqCst) != self.generation
    }

    /// Resolves when a drain cuts the release's connections, including a cut
    /// that came between counting this one and calling this.
    pub(crate) async fn cut(&self) {
        let generation = self.generation;
        let mut cuts = self.state.cut.subscribe();
        if cuts.wait_for(|now| *now != generation).await.is_err() {
            // The sender lives as long as the release state, which this holds.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.state.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.state.idle.notify_waiters();
        }
    }
}
