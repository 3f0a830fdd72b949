//! The store behind EXPRESS executions: in memory, no history, and only the
//! most recent finished executions kept, so that a server answering millions
//! of StartSyncExecution calls does not grow without bound.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use windlass_engine::HistoryEvent;
use windlass_store::{Commit, Error, ExecutionFilter, ExecutionRecord, Result, Store};

/// How many finished EXPRESS executions stay readable (DescribeExecution).
const KEEP_FINISHED: usize = 10_000;

#[derive(Default)]
pub(crate) struct ExpressStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    executions: HashMap<String, ExecutionRecord>,
    /// Finished executions, oldest first, to forget beyond [`KEEP_FINISHED`].
    finished: VecDeque<String>,
}

impl Store for ExpressStore {
    fn commit(&self, commits: &[Commit]) -> Result<()> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        windlass_store::check_batch(commits, |arn| inner.executions.contains_key(arn))?;
        for commit in commits {
            if let Some(record) = &commit.create {
                inner.executions.insert(record.arn.clone(), record.clone());
            }
            let Some(record) = inner.executions.get_mut(&commit.arn) else {
                return Err(Error::NotFound(commit.arn.clone()));
            };
            record.status.clone_from(&commit.status);
            record.stop_millis = commit.stop_millis;
            record.snapshot.clone_from(&commit.snapshot);
            if commit.status != "RUNNING" {
                inner.finished.push_back(commit.arn.clone());
                while inner.finished.len() > KEEP_FINISHED {
                    if let Some(old) = inner.finished.pop_front() {
                        inner.executions.remove(&old);
                    }
                }
            }
        }
        Ok(())
    }

    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>> {
        Ok(self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .executions
            .get(arn)
            .cloned())
    }

    fn running(&self) -> Result<Vec<ExecutionRecord>> {
        // Nothing survives a restart: EXPRESS executions are not resumed.
        Ok(Vec::new())
    }

    fn list(&self, _filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>> {
        Ok(Vec::new())
    }

    fn history(&self, _arn: &str, _from: u64, _to: u64) -> Result<Vec<HistoryEvent>> {
        Ok(Vec::new())
    }
}
