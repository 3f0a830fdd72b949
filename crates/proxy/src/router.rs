//! The routing table both protocols share: the live release (swapped
//! atomically), every release still known with its counters, holding new
//! traffic while no release is live, and draining a release.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::release::{InFlight, ReleaseState};
use crate::{Error, Release, Stats};

/// What the proxy did with traffic that arrived while no release was live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Holds {
    /// Requests or connections waiting for a release right now.
    pub waiting: u64,
    /// Those that waited the whole hold timeout and were refused (HTTP 503,
    /// TCP closed).
    pub timed_out: u64,
}

pub(crate) struct Router {
    live: ArcSwapOption<ReleaseState>,
    releases: Mutex<HashMap<String, Arc<ReleaseState>>>,
    /// Wakes held traffic when a release is switched in.
    switched: Notify,
    waiting: AtomicU64,
    timed_out: AtomicU64,
}

impl Router {
    pub(crate) fn new() -> Router {
        Router {
            live: ArcSwapOption::empty(),
            releases: Mutex::new(HashMap::new()),
            switched: Notify::new(),
            waiting: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        }
    }

    /// Counts a request in flight on the live release. The live release is
    /// read again after counting, so that a request is never counted on a
    /// release that a concurrent drain already saw idle.
    pub(crate) fn route(&self) -> Option<InFlight> {
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

    /// Routes like [`Router::route`], but when no release is live waits up to
    /// `timeout` for one to be switched in. The hold is recorded on the
    /// release that ends it; `Err` carries how long the caller waited.
    pub(crate) async fn hold(&self, timeout: Duration) -> Result<InFlight, Duration> {
        if let Some(in_flight) = self.route() {
            return Ok(in_flight);
        }
        let started = Instant::now();
        let _waiting = Waiting::begin(&self.waiting);
        loop {
            let switched = self.switched.notified();
            tokio::pin!(switched);
            // Register before looking, so a switch between the two is not missed.
            switched.as_mut().enable();
            if let Some(in_flight) = self.route() {
                in_flight.state().record_hold(started.elapsed());
                return Ok(in_flight);
            }
            if tokio::time::timeout_at(started + timeout, switched)
                .await
                .is_err()
            {
                self.timed_out.fetch_add(1, Ordering::Relaxed);
                return Err(started.elapsed());
            }
        }
    }

    pub(crate) fn switch(&self, release: Release) -> Result<Option<String>, Error> {
        if release.upstreams.is_empty() {
            return Err(Error::NoUpstreams {
                release: release.id,
            });
        }
        let state = {
            let mut known = self.known();
            match known.get(&release.id) {
                Some(state) if state.release == release => Arc::clone(state),
                _ => {
                    let state = Arc::new(ReleaseState::new(release.clone()));
                    known.insert(release.id, Arc::clone(&state));
                    state
                }
            }
        };
        let before = self.live.swap(Some(state));
        self.switched.notify_waiters();
        Ok(before.map(|state| state.release.id.clone()))
    }

    pub(crate) fn clear(&self) -> Option<String> {
        let before = self.live.swap(None);
        before.map(|state| state.release.id.clone())
    }

    pub(crate) fn live(&self) -> Option<Release> {
        self.live.load().as_ref().map(|s| s.release.clone())
    }

    pub(crate) fn stats(&self, release: &str) -> Option<Stats> {
        self.known().get(release).map(|state| state.stats())
    }

    /// Every known release's stats, by id.
    pub(crate) fn all_stats(&self) -> Vec<Stats> {
        let mut all: Vec<Stats> = self.known().values().map(|s| s.stats()).collect();
        all.sort_by(|a, b| a.release.cmp(&b.release));
        all
    }

    pub(crate) fn holds(&self) -> Holds {
        Holds {
            waiting: self.waiting.load(Ordering::Relaxed),
            timed_out: self.timed_out.load(Ordering::Relaxed),
        }
    }

    /// Waits until `release`, no longer live, has nothing in flight. With
    /// `cut`, what is still open when the timeout passes is closed (TCP);
    /// without, it is left to finish (HTTP requests).
    pub(crate) async fn drain(
        &self,
        release: &str,
        timeout: Duration,
        cut: bool,
    ) -> Result<(), Error> {
        let state = self
            .known()
            .get(release)
            .cloned()
            .ok_or_else(|| Error::UnknownRelease(release.to_owned()))?;
        if self
            .live
            .load()
            .as_ref()
            .is_some_and(|live| Arc::ptr_eq(live, &state))
        {
            return Err(Error::Live(release.to_owned()));
        }
        if tokio::time::timeout(timeout, state.idle()).await.is_ok() {
            return Ok(());
        }
        let in_flight = state.in_flight();
        if !cut {
            return Err(Error::DrainTimeout {
                release: release.to_owned(),
                in_flight,
                waited: timeout,
            });
        }
        state.cut();
        // Each connection ends as soon as its task sees the cut; waiting for
        // that makes the release's counters final when drain returns.
        state.idle().await;
        Err(Error::DrainCut {
            release: release.to_owned(),
            closed: in_flight,
            waited: timeout,
        })
    }

    pub(crate) fn forget(&self, release: &str) {
        let live = self.live().map(|r| r.id);
        if live.as_deref() != Some(release) {
            self.known().remove(release);
        }
    }

    fn known(&self) -> MutexGuard<'_, HashMap<String, Arc<ReleaseState>>> {
        self.releases.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Counts one caller as held until dropped.
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn begin(counter: &'a AtomicU64) -> Waiting<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
