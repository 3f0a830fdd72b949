//! The routing table both protocols share: the live release and an
//! optional canary beside it (swapped together, atomically), every release
//! still known with its counters, holding new traffic while no release is
//! live, and draining a release.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::canary::{Canary, CanaryState, Headers};
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

/// What new traffic is routed to: the live release, and the canary that
/// takes its share of it.
struct Routes {
    live: Arc<ReleaseState>,
    canary: Option<CanaryState>,
}

impl Routes {
    fn serves(&self, state: &Arc<ReleaseState>) -> bool {
        Arc::ptr_eq(&self.live, state)
            || self
                .canary
                .as_ref()
                .is_some_and(|c| Arc::ptr_eq(&c.state, state))
    }
}

pub(crate) struct Router {
    routes: ArcSwapOption<Routes>,
    releases: Mutex<HashMap<String, Arc<ReleaseState>>>,
    /// Held while the routes change.
    changes: Mutex<()>,
    /// Wakes held traffic when a release is switched in.
    switched: Notify,
    waiting: AtomicU64,
    timed_out: AtomicU64,
    /// How long traffic that comes while no release is live waits for one,
    /// in milliseconds ([`crate::Config::hold_timeout`]); it can change
    /// while the proxy runs, for holds that begin after.
    hold_millis: AtomicU64,
}

impl Router {
    pub(crate) fn new(hold_timeout: Duration) -> Router {
        Router {
            routes: ArcSwapOption::empty(),
            releases: Mutex::new(HashMap::new()),
            changes: Mutex::new(()),
            switched: Notify::new(),
            waiting: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            hold_millis: AtomicU64::new(millis(hold_timeout)),
        }
    }

    pub(crate) fn hold_timeout(&self) -> Duration {
        Duration::from_millis(self.hold_millis.load(Ordering::Relaxed))
    }

    pub(crate) fn set_hold_timeout(&self, timeout: Duration) {
        self.hold_millis.store(millis(timeout), Ordering::Relaxed);
    }

    /// Counts a request in flight on the live release, or on the canary
    /// when it takes this one (`headers`: an HTTP request's, for
    /// stickiness). The routes are read again after counting, so that a
    /// request is never counted on a release that a concurrent drain
    /// already saw idle.
    pub(crate) fn route(&self, headers: Option<&dyn Headers>) -> Option<InFlight> {
        loop {
            let routes = self.routes.load();
            let now = routes.as_ref()?;
            let state = match &now.canary {
                Some(canary) if canary.takes(headers) => &canary.state,
                _ => &now.live,
            };
            let in_flight = InFlight::begin(Arc::clone(state));
            if self
                .routes
                .load()
                .as_ref()
                .is_some_and(|again| Arc::ptr_eq(again, now))
            {
                return Some(in_flight);
            }
        }
    }

    /// Routes like [`Router::route`], but when no release is live waits up to
    /// the hold timeout for one to be switched in. The hold is recorded on
    /// the release that ends it; `Err` carries how long the caller waited.
    pub(crate) async fn hold(&self, headers: Option<&dyn Headers>) -> Result<InFlight, Duration> {
        if let Some(in_flight) = self.route(headers) {
            return Ok(in_flight);
        }
        let timeout = self.hold_timeout();
        let started = Instant::now();
        let _waiting = Waiting::begin(&self.waiting);
        loop {
            let switched = self.switched.notified();
            tokio::pin!(switched);
            // Register before looking, so a switch between the two is not missed.
            switched.as_mut().enable();
            if let Some(in_flight) = self.route(headers) {
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

    /// Makes `release` live. Switching to the release already live keeps
    /// its canary (an agent restarting pushes the live releases again);
    /// any other switch, the canary's own promotion included, ends it.
    pub(crate) fn switch(&self, release: Release) -> Result<Option<String>, Error> {
        let state = self.state_of(release)?;
        let _changing = self.lock_changes();
        let before = self.routes.load_full();
        let canary = before
            .as_ref()
            .filter(|b| Arc::ptr_eq(&b.live, &state))
            .and_then(|b| b.canary.as_ref())
            .map(|c| CanaryState::new(Arc::clone(&c.state), c.weight, c.sticky.clone()));
        self.routes.store(Some(Arc::new(Routes {
            live: state,
            canary,
        })));
        self.switched.notify_waiters();
        Ok(before.map(|routes| routes.live.release.id.clone()))
    }

    /// Gives `canary` its share of new traffic beside the live release (a
    /// weight of 0 keeps it known but routes nothing to it).
    pub(crate) fn set_canary(&self, canary: Canary) -> Result<(), Error> {
        let state = self.state_of(canary.release)?;
        let _changing = self.lock_changes();
        let before = self.routes.load_full();
        let Some(before) = before else {
            return Err(Error::NoLiveRelease(state.release.id.clone()));
        };
        if Arc::ptr_eq(&before.live, &state) || before.live.release.id == state.release.id {
            return Err(Error::CanaryIsLive(state.release.id.clone()));
        }
        self.routes.store(Some(Arc::new(Routes {
            live: Arc::clone(&before.live),
            canary: Some(CanaryState::new(state, canary.weight, canary.sticky)),
        })));
        Ok(())
    }

    /// Ends the canary: all new traffic goes to the live release again.
    /// Returns the canary's release.
    pub(crate) fn clear_canary(&self) -> Option<String> {
        let _changing = self.lock_changes();
        let before = self.routes.load_full()?;
        let canary = before.canary.as_ref()?.state.release.id.clone();
        self.routes.store(Some(Arc::new(Routes {
            live: Arc::clone(&before.live),
            canary: None,
        })));
        Some(canary)
    }

    pub(crate) fn canary(&self) -> Option<Canary> {
        let routes = self.routes.load();
        routes.as_ref()?.canary.as_ref().map(CanaryState::canary)
    }

    pub(crate) fn clear(&self) -> Option<String> {
        let _changing = self.lock_changes();
        let before = self.routes.swap(None);
        before.map(|routes| routes.live.release.id.clone())
    }

    pub(crate) fn live(&self) -> Option<Release> {
        self.routes.load().as_ref().map(|r| r.live.release.clone())
    }

    /// The known state of `release`, made (with new counters) when it is
    /// new or its upstreams changed.
    fn state_of(&self, release: Release) -> Result<Arc<ReleaseState>, Error> {
        if release.upstreams.is_empty() {
            return Err(Error::NoUpstreams {
                release: release.id,
            });
        }
        let mut known = self.known();
        Ok(match known.get(&release.id) {
            Some(state) if state.release == release => Arc::clone(state),
            _ => {
                let state = Arc::new(ReleaseState::new(release.clone()));
                known.insert(release.id, Arc::clone(&state));
                state
            }
        })
    }

    /// Changes of the routes read them first; one at a time, so that a
    /// switch and a canary change made together do not lose either.
    fn lock_changes(&self) -> MutexGuard<'_, ()> {
        self.changes.lock().unwrap_or_else(PoisonError::into_inner)
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

    /// Waits until `release`, no longer live nor the canary, has nothing in
    /// flight. With
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
            .routes
            .load()
            .as_ref()
            .is_some_and(|routes| routes.serves(&state))
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
        // The TCP event loops look at their connections' cut generations.
        crate::tcp::Loops::cut();
        // Each connection ends as soon as its task sees the cut; waiting for
        // that makes the release's counters final when drain returns.
        state.idle().await;
        Err(Error::DrainCut {
            release: release.to_owned(),
            closed: in_flight,
            waited: timeout,
        })
    }

    /// Drops a release's counters, unless it is live or the canary.
    pub(crate) fn forget(&self, release: &str) {
        let routes = self.routes.load();
        let serves = routes.as_ref().is_some_and(|r| {
            r.live.release.id == release
                || r.canary
                    .as_ref()
                    .is_some_and(|c| c.state.release.id == release)
        });
        if !serves {
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

/// A duration in whole milliseconds, as the hold timeout is kept.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
