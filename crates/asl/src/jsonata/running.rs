//! The JSONata evaluations running now, so that the process hosting them
//! can stop them. An expression is bounded in time (5 s) and in the length
//! of the sequences it builds, but not in the memory it takes: a string
//! doubled twenty times inside one `$reduce` grows past a gigabyte well
//! within 5 s. jsonata-core has no memory hook; it has a cancel token that
//! it checks as it evaluates. This crate does no I/O, so it only keeps the
//! tokens: the runtime watches the process's memory and calls [`stop_all`]
//! when the evaluations running grew it past its bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use jsonata_core::evaluator::CancelToken;

struct Entry {
    id: u64,
    token: CancelToken,
    reason: Arc<OnceLock<String>>,
}

static RUNNING: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// One evaluation, registered while it runs (until dropped).
pub(crate) struct Running {
    id: u64,
    token: CancelToken,
    reason: Arc<OnceLock<String>>,
}

impl Running {
    pub(crate) fn start() -> Running {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let token = CancelToken::new();
        let reason = Arc::new(OnceLock::new());
        lock().push(Entry {
            id,
            token: token.clone(),
            reason: Arc::clone(&reason),
        });
        Running { id, token, reason }
    }

    pub(crate) fn token(&self) -> CancelToken {
        self.token.clone()
    }

    /// Why the evaluation was stopped, when [`stop_all`] stopped it.
    pub(crate) fn stopped_for(&self) -> Option<&str> {
        self.reason.get().map(String::as_str)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        lock().retain(|e| e.id != self.id);
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    RUNNING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The evaluations running now, by id (ids are never reused).
pub fn running() -> Vec<u64> {
    lock().iter().map(|e| e.id).collect()
}

/// Stops the evaluations running now whose id is in `ids`; each fails with
/// `States.QueryEvaluationError` and `reason` as its message. Returns how
/// many were stopped.
pub fn stop(ids: &[u64], reason: &str) -> usize {
    let running = lock();
    let mut stopped = 0;
    for entry in running.iter().filter(|e| ids.contains(&e.id)) {
        let _ = entry.reason.set(reason.to_owned());
        entry.token.cancel();
        stopped += 1;
    }
    stopped
}

/// Stops every evaluation running now (see [`stop`]).
pub fn stop_all(reason: &str) -> usize {
    stop(&running(), reason)
}
