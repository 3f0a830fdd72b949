//! A [`Store`] wrapper for tests that fails chosen commits, as a disk that
//! fills up or a database that goes away would: the commits of one
//! execution picked by their number, or every commit while the store is
//! switched "full". A failed call writes nothing (the inner store is not
//! called), as a transaction that fails is rolled back.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use windlass_engine::HistoryEvent;

use crate::{Commit, Error, ExecutionFilter, ExecutionRecord, Result, Store};

/// Wraps a store; see the module's documentation.
pub struct FailingStore {
    inner: Arc<dyn Store>,
    /// Per execution: the numbers (from 1) of its commit attempts that fail.
    chosen: Mutex<HashMap<String, BTreeSet<u64>>>,
    /// Per execution: how many commits of it were attempted.
    attempts: Mutex<HashMap<String, u64>>,
    full: AtomicBool,
    failures: AtomicU64,
    failed: signal::Signal,
}

impl FailingStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        FailingStore {
            inner,
            chosen: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
            full: AtomicBool::new(false),
            failures: AtomicU64::new(0),
            failed: signal::Signal::default(),
        }
    }

    /// Fails the attempts numbered `numbers` (the first commit of an
    /// execution, its create, is 1) to commit execution `arn`, and every
    /// call that includes them.
    pub fn fail_commits(&self, arn: &str, numbers: impl IntoIterator<Item = u64>) {
        lock(&self.chosen)
            .entry(arn.to_string())
            .or_default()
            .extend(numbers);
    }

    /// While `full`, every commit fails with SQLite's "database or disk is
    /// full".
    pub fn set_full(&self, full: bool) {
        self.full.store(full, Ordering::SeqCst);
    }

    /// How many calls of `commit` failed so far, of those this wrapper
    /// failed and those the inner store failed.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::SeqCst)
    }

    /// Blocks until `count` calls of `commit` have failed.
    pub fn wait_for_failures(&self, count: u64) {
        self.failed.wait_until(|| self.failures() >= count);
    }

    /// Whether this call is one the test chose to fail; counts the attempts.
    fn chosen_to_fail(&self, commits: &[Commit]) -> bool {
        let chosen = lock(&self.chosen);
        let mut attempts = lock(&self.attempts);
        let mut fail = self.full.load(Ordering::SeqCst);
        for commit in commits {
            let attempt = attempts.entry(commit.arn.clone()).or_default();
            *attempt += 1;
            fail |= chosen
                .get(&commit.arn)
                .is_some_and(|numbers| numbers.contains(attempt));
        }
        fail
    }

    fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::SeqCst);
        self.failed.notify();
    }
}

/// The error SQLite gives when its disk is full (`SQLITE_FULL`).
pub fn disk_full() -> Error {
    Error::Sqlite(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        Some("database or disk is full".into()),
    ))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store for FailingStore {
    fn commit(&self, commits: &[Commit]) -> Result<()> {
        if self.chosen_to_fail(commits) {
            self.count_failure();
            return Err(disk_full());
        }
        let result = self.inner.commit(commits);
        if result.is_err() {
            self.count_failure();
        }
        result
    }
    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>> {
        self.inner.execution(arn)
    }
    fn running(&self) -> Result<Vec<ExecutionRecord>> {
        self.inner.running()
    }
    fn list(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>> {
        self.inner.list(filter)
    }
    fn history(&self, arn: &str, from: u64, to: u64) -> Result<Vec<HistoryEvent>> {
        self.inner.history(arn, from, to)
    }
    fn blocks_on_own_runtime(&self) -> bool {
        self.inner.blocks_on_own_runtime()
    }
    fn keeps_token_tasks(&self) -> bool {
        self.inner.keeps_token_tasks()
    }
}

/// A condition variable with its flag, for a test thread to wait on.
mod signal {
    use std::sync::{Condvar, Mutex};

    #[derive(Default)]
    pub struct Signal {
        generation: Mutex<u64>,
        changed: Condvar,
    }

    impl Signal {
        pub fn notify(&self) {
            *super::lock(&self.generation) += 1;
            self.changed.notify_all();
        }

        pub fn wait_until(&self, done: impl Fn() -> bool) {
            let mut generation = super::lock(&self.generation);
            while !done() {
                generation = self
                    .changed
                    .wait(generation)
                    .unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    fn commit(arn: &str, create: bool) -> Commit {
        Commit {
            arn: arn.into(),
            create: create.then(|| ExecutionRecord {
                arn: arn.into(),
                name: arn.into(),
                state_machine_arn: "m".into(),
                definition: "{}".into(),
                status: "RUNNING".into(),
                input: "{}".into(),
                start_millis: 0,
                stop_millis: None,
                snapshot: String::new(),
            }),
            status: "RUNNING".into(),
            stop_millis: None,
            snapshot: "{}".into(),
            history: Vec::new(),
            token_tasks: None,
        }
    }

    #[test]
    fn the_chosen_attempts_fail_and_write_nothing() {
        let store = FailingStore::new(Arc::new(MemoryStore::new()));
        store.fail_commits("a", [1, 3]);
        assert!(store.commit(&[commit("a", true)]).is_err());
        assert!(store.execution("a").expect("read").is_none());
        store.commit(&[commit("a", true)]).expect("2nd attempt");
        assert!(store.commit(&[commit("a", false)]).is_err());
        store.commit(&[commit("a", false)]).expect("4th attempt");
        assert_eq!(store.failures(), 2);
    }

    #[test]
    fn a_full_store_fails_every_commit_until_space_comes_back() {
        let store = FailingStore::new(Arc::new(MemoryStore::new()));
        store.set_full(true);
        let error = store.commit(&[commit("b", true)]).expect_err("full");
        assert!(error.to_string().contains("full"), "{error}");
        store.set_full(false);
        store.commit(&[commit("b", true)]).expect("space again");
        store.wait_for_failures(1);
    }
}
