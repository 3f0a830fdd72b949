//! Group commit: steps from many executions are written in one transaction,
//! so one fsync makes a whole batch durable.
//!
//! There is no writer thread of its own. The first caller to find no batch
//! being written leads: it writes the queue (its own commit first) on its
//! own thread. On a multi-threaded runtime of two workers or more it writes
//! on its worker, the other workers serving the runtime's other tasks
//! meanwhile; on one of a single worker, or for a store that blocks on a
//! runtime of its own (PostgreSQL's client), inside `block_in_place`, so
//! those tasks move to another thread. A lone caller
//! therefore commits with no hand-off to another thread and back, which
//! under load cost a scheduler wake-up each way. Callers that arrive while
//! a batch is written queue up; when the leader's batch is done it hands
//! what queued to a blocking thread and returns, so no caller leads for
//! longer than its own batch.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::oneshot;
use windlass_store::{Commit, Store};

use crate::Error;

type Request = (Commit, oneshot::Sender<Result<(), Error>>);

/// Batches commits from every caller into transactions.
#[derive(Clone)]
pub struct Committer {
    shared: Arc<Shared>,
}

struct Shared {
    store: Arc<dyn Store>,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    pending: Vec<Request>,
    /// A batch is being written: its writer takes what queues after it.
    writing: bool,
}

impl Queue {
    /// The oldest commits, at most a transaction's worth.
    fn batch(&mut self) -> Vec<Request> {
        let rest = if self.pending.len() > MAX_BATCH {
            self.pending.split_off(MAX_BATCH)
        } else {
            Vec::new()
        };
        std::mem::replace(&mut self.pending, rest)
    }
}

/// The most commits one transaction takes.
const MAX_BATCH: usize = 2048;

impl Committer {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Committer {
            shared: Arc::new(Shared {
                store,
                queue: Mutex::new(Queue::default()),
            }),
        }
    }

    /// Returns once the commit is durable.
    pub async fn commit(&self, commit: Commit) -> Result<(), Error> {
        let (reply, done) = oneshot::channel();
        let lead = {
            let mut queue = self.shared.lock();
            queue.pending.push((commit, reply));
            !std::mem::replace(&mut queue.writing, true)
        };
        if lead {
            let shared = self.shared.clone();
            match Handle::try_current() {
                Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                    // With other workers to serve the runtime's other tasks,
                    // the leader writes on its own worker: handing the worker
                    // over (`block_in_place`) cost 2-3 context switches a commit.
                    if handle.metrics().num_workers() > 1 && !shared.store.blocks_on_own_runtime() {
                        shared.write_one_batch();
                    } else {
                        tokio::task::block_in_place(|| shared.write_one_batch());
                    }
                    self.shared.hand_off_rest();
                }
                // A single-threaded runtime must not block its only thread.
                Ok(_) => {
                    tokio::task::spawn_blocking(move || shared.write_all());
                }
                Err(_) => shared.write_all(),
            }
        }
        done.await.map_err(|_| Error::Stopped)?
    }
}

/// Clears `writing` if the writer unwinds, so a panic in a store does not
/// leave every later commit waiting for a writer that is gone.
struct Writing<'a>(&'a Shared, bool);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if !self.1 {
            self.0.lock().writing = false;
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes up to a batch from the queue; `None` (and no writer any more)
    /// when it is empty.
    fn take(&self) -> Option<Vec<Request>> {
        let mut queue = self.lock();
        if queue.pending.is_empty() {
            queue.writing = false;
            return None;
        }
        Some(queue.batch())
    }

    /// Writes the queue as it is now, staying the writer.
    fn write_one_batch(&self) {
        let mut guard = Writing(self, false);
        let batch = self.lock().batch();
        write(self.store.as_ref(), batch);
        guard.1 = true;
    }

    /// After the leader's batch: what queued meanwhile goes to a blocking
    /// thread, or there is no writer any more.
    fn hand_off_rest(self: &Arc<Self>) {
        let more = {
            let mut queue = self.lock();
            if queue.pending.is_empty() {
                queue.writing = false;
            }
            queue.writing
        };
        if more {
            let shared = self.clone();
            tokio::task::spawn_blocking(move || shared.write_all());
        }
    }

    /// Writes batches until the queue is empty.
    fn write_all(&self) {
        let mut guard = Writing(self, false);
        while let Some(batch) = self.take() {
            write(self.store.as_ref(), batch);
        }
        // `take` cleared `writing` when it found the queue empty.
        guard.1 = true;
    }
}

fn write(store: &dyn Store, batch: Vec<Request>) {
    let (commits, replies): (Vec<Commit>, Vec<_>) = batch.into_iter().unzip();
    match store.commit(&commits) {
        Ok(()) => {
            for reply in replies {
                let _ = reply.send(Ok(()));
            }
        }
        // One bad commit must not fail the others: write them one by one.
        Err(_) if commits.len() > 1 => {
            for (commit, reply) in commits.iter().zip(replies) {
                let result = store
                    .commit(std::slice::from_ref(commit))
                    .map_err(Error::from);
                let _ = reply.send(result);
            }
        }
        // A batch of one: its error as it is (`NotOwner` matters to the runtime).
        Err(error) => {
            let mut error = Some(Error::from(error));
            for reply in replies {
                let _ = reply.send(Err(error.take().unwrap_or(Error::Stopped)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use windlass_store::memory::MemoryStore;
    use windlass_store::ExecutionRecord;

    fn create(arn: &str) -> Commit {
        Commit {
            arn: arn.to_string(),
            create: Some(ExecutionRecord {
                arn: arn.to_string(),
                name: arn.to_string(),
                state_machine_arn: "machine".into(),
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

    /// Panics in the commit of an execution named `boom`.
    struct Panicky(MemoryStore);

    impl Store for Panicky {
        fn commit(&self, commits: &[Commit]) -> windlass_store::Result<()> {
            assert!(commits.iter().all(|c| c.arn != "boom"), "the store failed");
            self.0.commit(commits)
        }
        fn execution(&self, arn: &str) -> windlass_store::Result<Option<ExecutionRecord>> {
            self.0.execution(arn)
        }
        fn running(&self) -> windlass_store::Result<Vec<ExecutionRecord>> {
            self.0.running()
        }
        fn list(
            &self,
            filter: &windlass_store::ExecutionFilter,
        ) -> windlass_store::Result<Vec<ExecutionRecord>> {
            self.0.list(filter)
        }
        fn history(
            &self,
            arn: &str,
            from: u64,
            to: u64,
        ) -> windlass_store::Result<Vec<windlass_engine::HistoryEvent>> {
            self.0.history(arn, from, to)
        }
    }

    /// A store that panics fails that commit, and the next ones still commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_that_panics_leaves_no_commit_waiting() {
        let store = Arc::new(Panicky(MemoryStore::new()));
        let committer = Committer::new(store.clone());
        let boom = committer.clone();
        let failed = tokio::spawn(async move { boom.commit(create("boom")).await }).await;
        // The panic unwinds through the leader's task.
        assert!(failed.is_err() || matches!(failed, Ok(Err(Error::Stopped))));
        committer.commit(create("after")).await.expect("committed");
        assert!(store.execution("after").expect("read").is_some());
    }

    /// On a single-threaded runtime the batch is written on a blocking thread.
    #[tokio::test(flavor = "current_thread")]
    async fn a_single_threaded_runtime_commits_too() {
        let store = Arc::new(MemoryStore::new());
        let committer = Committer::new(store.clone());
        let calls: Vec<_> = (0..50)
            .map(|i| {
                let committer = committer.clone();
                tokio::spawn(async move { committer.commit(create(&format!("c{i}"))).await })
            })
            .collect();
        for call in calls {
            call.await.expect("joined").expect("committed");
        }
        assert_eq!(store.running().expect("running").len(), 50);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_callers_at_once_all_commit_and_a_bad_one_fails_alone() {
        let store = Arc::new(MemoryStore::new());
        let committer = Committer::new(store.clone());
        let mut calls = Vec::new();
        for i in 0..200 {
            let committer = committer.clone();
            calls.push(tokio::spawn(async move {
                committer.commit(create(&format!("e{i}"))).await
            }));
        }
        // The same execution created twice: one of the two fails.
        let twice = [committer.clone(), committer.clone()]
            .map(|c| tokio::spawn(async move { c.commit(create("twice")).await }));
        for call in calls {
            call.await.expect("joined").expect("committed");
        }
        let mut failed = 0;
        for call in twice {
            if call.await.expect("joined").is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 1);
        for i in 0..200 {
            assert!(store.execution(&format!("e{i}")).expect("read").is_some());
        }
    }
}
