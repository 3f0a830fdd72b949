//! A [`Store`] in memory: for tests and the in-memory benchmark.

use std::collections::BTreeMap;
use std::sync::Mutex;

use windlass_engine::HistoryEvent;

use crate::{Commit, Error, ExecutionFilter, ExecutionRecord, Result, Store};

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    resources: Mutex<crate::machines::MemoryResources>,
}

#[derive(Default)]
struct Inner {
    executions: BTreeMap<String, ExecutionRecord>,
    history: BTreeMap<String, Vec<HistoryEvent>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave `Inner` half-written: every change
        // below is a single insert or push.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn resources(&self) -> std::sync::MutexGuard<'_, crate::machines::MemoryResources> {
        self.resources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Store for MemoryStore {
    fn commit(&self, commits: &[Commit]) -> Result<()> {
        let mut inner = self.lock();
        crate::check_batch(commits, |arn| inner.executions.contains_key(arn))?;
        for commit in commits {
            if let Some(record) = &commit.create {
                inner.executions.insert(record.arn.clone(), record.clone());
            }
            let Some(record) = inner.executions.get_mut(&commit.arn) else {
                return Err(Error::NotFound(commit.arn.clone()));
            };
            record.status = commit.status.clone();
            record.stop_millis = commit.stop_millis;
            record.snapshot = commit.snapshot.clone();
            inner
                .history
                .entry(commit.arn.clone())
                .or_default()
                .extend(commit.history.iter().cloned());
        }
        Ok(())
    }

    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>> {
        Ok(self.lock().executions.get(arn).cloned())
    }

    fn running(&self) -> Result<Vec<ExecutionRecord>> {
        Ok(self
            .lock()
            .executions
            .values()
            .filter(|r| r.status == "RUNNING")
            .cloned()
            .collect())
    }

    fn list(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>> {
        let inner = self.lock();
        let limit = if filter.limit == 0 {
            usize::MAX
        } else {
            filter.limit
        };
        let mut found: Vec<&ExecutionRecord> = inner
            .executions
            .values()
            .filter(|r| {
                filter
                    .state_machine_arn
                    .as_ref()
                    .is_none_or(|m| *m == r.state_machine_arn)
            })
            .filter(|r| filter.status.as_ref().is_none_or(|s| *s == r.status))
            .filter(|r| filter.after.as_ref().is_none_or(|after| after.precedes(r)))
            .collect();
        // Newest first, as the other stores list.
        found.sort_by(|a, b| (b.start_millis, &b.arn).cmp(&(a.start_millis, &a.arn)));
        Ok(found.into_iter().take(limit).cloned().collect())
    }

    fn history(&self, arn: &str, from: u64, to: u64) -> Result<Vec<HistoryEvent>> {
        let inner = self.lock();
        Ok(inner
            .history
            .get(arn)
            .map(|events| {
                events
                    .iter()
                    .filter(|e| e.id >= from && e.id <= to)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}
