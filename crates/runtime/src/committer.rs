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
