//! Durable storage of executions and their history.
//!
//! [`Store`] is the boundary; [`memory::MemoryStore`] keeps everything in
//! memory (tests, benchmarks) and [`sqlite::SqliteStore`] in a SQLite file
//! (WAL, `synchronous=FULL`). A [`Commit`] is the unit of durability: the
//! execution's new snapshot and the history events of one step, written
//! together or not at all. `commit` takes many commits at once so that the
//! runtime can group them into one transaction (group commit).

pub mod machines;
pub mod memory;
pub mod releases;
pub mod sqlite;

use serde::{Deserialize, Serialize};
use windlass_engine::HistoryEvent;

/// Everything stored about one execution, but its history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    pub arn: String,
    pub name: String,
    pub state_machine_arn: String,
    /// The definition the execution runs (pinned when it starts).
    pub definition: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`, `ABORTED`.
    pub status: String,
    pub input: String,
    pub start_millis: i64,
    pub stop_millis: Option<i64>,
    /// The serialized engine state (`windlass_engine::Execution`).
    pub snapshot: String,
}

/// One step made durable: a new snapshot of the execution and its new events.
#[derive(Clone, Debug)]
pub struct Commit {
    pub arn: String,
    /// Present when the execution is new: insert it.
    pub create: Option<ExecutionRecord>,
    pub status: String,
    pub stop_millis: Option<i64>,
    pub snapshot: String,
    pub history: Vec<HistoryEvent>,
}

/// Which executions to list.
#[derive(Clone, Debug, Default)]
pub struct ExecutionFilter {
    pub state_machine_arn: Option<String>,
    pub status: Option<String>,
    /// Continue after this execution ARN (pagination).
    pub after: Option<String>,
    pub limit: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store I/O failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("execution {0} already exists")]
    AlreadyExists(String),
    #[error("execution {0} does not exist")]
    NotFound(String),
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Where executions live. Implementations must make each call of `commit`
/// atomic and durable before it returns.
pub trait Store: Send + Sync + 'static {
    /// Writes all commits in one transaction.
    fn commit(&self, commits: &[Commit]) -> Result<()>;
    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>>;
    /// Executions still running (to resume after a restart).
    fn running(&self) -> Result<Vec<ExecutionRecord>>;
    fn list(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>>;
    /// History events with ids in `from..=to`, in order.
    fn history(&self, arn: &str, from: u64, to: u64) -> Result<Vec<HistoryEvent>>;
}
