//! Group commit: steps from many executions are written in one transaction,
//! so one fsync makes a whole batch durable.

use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::oneshot;
use windlass_store::{Commit, Store};

use crate::Error;

type Request = (Commit, oneshot::Sender<Result<(), Error>>);

/// Sends commits to a writer thread that batches them.
#[derive(Clone)]
pub struct Committer {
    sender: mpsc::Sender<Request>,
}

/// The most commits one transaction takes.
const MAX_BATCH: usize = 2048;

impl Committer {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let (sender, receiver) = mpsc::channel::<Request>();
        // If the thread cannot start, every commit fails with `Stopped`.
        let _ = std::thread::Builder::new()
            .name("windlass-committer".into())
            .spawn(move || writer(store, receiver));
        Committer { sender }
    }

    /// Returns once the commit is durable.
    pub async fn commit(&self, commit: Commit) -> Result<(), Error> {
        let (reply, done) = oneshot::channel();
        self.sender
            .send((commit, reply))
            .map_err(|_| Error::Stopped)?;
        done.await.map_err(|_| Error::Stopped)?
    }
}

fn writer(store: Arc<dyn Store>, receiver: mpsc::Receiver<Request>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
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
    }
}
