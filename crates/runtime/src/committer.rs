//! Group commit: steps from many executions are written in one transaction,
//! so one fsync makes a whole batch durable.
//!
//! There is no writer thread. The caller that finds no write in progress
//! becomes the leader: it writes the queue (its own commit and whatever
//! others queued meanwhile) on its own thread, then the commits queued
//! while it wrote, until the queue is empty. The others wait for their
//! reply. A lone commit so costs no hand-off between threads (two wake-ups
//! of another thread per commit, each a scheduling delay on a busy
//! machine), and under load the batches form as before, while the leader's
//! fsync runs. The stores' calls are synchronous: SQLite's on the caller's
//! thread, PostgreSQL's on the pool's own threads.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use windlass_store::{Commit, Store};

use crate::Error;

type Reply = oneshot::Sender<Result<(), Error>>;

/// Writes commits in batches; cheap to clone.
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
    waiting: Vec<(Commit, Reply)>,
    /// Whether a leader is writing; it takes what `waiting` holds next.
    writing: bool,
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
            queue.waiting.push((commit, reply));
            !std::mem::replace(&mut queue.writing, true)
        };
        if lead {
            self.shared.write_queue();
        }
        done.await.map_err(|_| Error::Stopped)?
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The leader's loop: writes batches until nobody waits.
    fn write_queue(&self) {
        let _resign = Resign(self);
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    // In the same lock as the check: a commit queued after
                    // it finds no leader and leads.
                    queue.writing = false;
                    return;
                }
                let take = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..take).collect::<Vec<_>>()
            };
            self.write(batch);
        }
    }

    fn write(&self, batch: Vec<(Commit, Reply)>) {
        let (commits, replies): (Vec<Commit>, Vec<_>) = batch.into_iter().unzip();
        match self.store.commit(&commits) {
            Ok(()) => {
                for reply in replies {
                    let _ = reply.send(Ok(()));
                }
            }
            // One bad commit must not fail the others: write them one by one.
            Err(_) if commits.len() > 1 => {
                for (commit, reply) in commits.iter().zip(replies) {
                    let result = self
                        .store
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
}

/// Ends a leader's turn when a store call panicked: the next caller leads,
/// and the commits still queued fail with `Stopped` rather than wait for a
/// leader that is gone.
struct Resign<'a>(&'a Shared);

impl Drop for Resign<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queue = self.0.lock();
            queue.writing = false;
            queue.waiting.clear();
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
        // Nothing is left queued and no leader is left writing.
        let queue = committer.shared.lock();
        assert!(queue.waiting.is_empty() && !queue.writing);
    }
}
