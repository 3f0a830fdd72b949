//! Durable storage of executions and their history.
//!
//! [`Store`] is the boundary; [`memory::MemoryStore`] keeps everything in
//! memory (tests, benchmarks) and [`sqlite::SqliteStore`] in a SQLite file
//! (WAL, `synchronous=FULL`). A [`Commit`] is the unit of durability: the
//! execution's new snapshot and the history events of one step, written
//! together or not at all. `commit` takes many commits at once so that the
//! runtime can group them into one transaction (group commit).
//!
//! [`postgres::PostgresStore`] lets several processes share one database.
//! Each running execution then has an owner, the one process that drives
//! it; the owner holds a lease that it renews, and a commit from a process
//! that is no longer the owner fails with [`Error::NotOwner`]. The methods
//! for this have defaults that suit a store only one process uses: it owns
//! everything and never needs to pass messages to another.

#[cfg(any(test, feature = "test-util"))]
pub mod failing;
pub mod machines;
pub mod memory;
pub mod postgres;
pub mod releases;
pub mod sqlite;

use std::time::Duration;

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
    /// The execution's tasks that wait for a token after this step, all of
    /// them, for a store that keeps them ([`Store::keeps_token_tasks`]);
    /// `None` when the committer did not list them. Which tasks wait is
    /// the engine's to say: the store never reads the snapshot for it.
    pub token_tasks: Option<Vec<WaitingTask>>,
}

/// Checks a batch before an in-memory store applies any of it, so that a
/// batch is all or nothing as a transaction is: each create names an
/// execution that `exists` does not know and the batch creates once, each
/// update one that exists or the batch creates first.
pub fn check_batch(commits: &[Commit], exists: impl Fn(&str) -> bool) -> Result<()> {
    let mut created = std::collections::BTreeSet::new();
    for commit in commits {
        if let Some(record) = &commit.create {
            if exists(&record.arn) || !created.insert(record.arn.as_str()) {
                return Err(Error::AlreadyExists(record.arn.clone()));
            }
        } else if !exists(&commit.arn) && !created.contains(commit.arn.as_str()) {
            return Err(Error::NotFound(commit.arn.clone()));
        }
    }
    Ok(())
}

/// A task of a committed execution that waits for its token to come back,
/// as the step left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingTask {
    pub token: String,
    /// The activity's ARN, when the task is an activity's.
    pub activity: Option<String>,
    /// The task's input, JSON text.
    pub input: String,
    /// Whether a worker has it already (its activity task was handed out).
    pub started: bool,
}

/// Which executions to list.
#[derive(Clone, Debug, Default)]
pub struct ExecutionFilter {
    pub state_machine_arn: Option<String>,
    pub status: Option<String>,
    /// Continue after this execution (pagination); executions are listed
    /// newest first, as ListExecutions does.
    pub after: Option<ListCursor>,
    pub limit: usize,
}

/// Where a list of executions stopped: the last one given, by start time
/// and ARN (the order is newest first, ARN descending within a millisecond).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListCursor {
    pub start_millis: i64,
    pub arn: String,
}

impl ListCursor {
    pub fn of(record: &ExecutionRecord) -> ListCursor {
        ListCursor {
            start_millis: record.start_millis,
            arn: record.arn.clone(),
        }
    }

    /// Whether `record` comes after the cursor in the listing order.
    pub fn precedes(&self, record: &ExecutionRecord) -> bool {
        (record.start_millis, record.arn.as_str()) < (self.start_millis, self.arn.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store I/O failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL store failed: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("execution {0} is driven by another process now: this one lost its lease")]
    NotOwner(String),
    #[error("this store does not support {0}")]
    Unsupported(&'static str),
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

/// A task that waits for its token to come back (an activity's, or a
/// `.waitForTaskToken` callback's), as a shared store keeps it so that any
/// process can hand it to a worker or find whose it is.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenTask {
    pub token: String,
    /// The execution that waits for it.
    pub arn: String,
    /// The activity's ARN, when the task is an activity's.
    pub activity: Option<String>,
    /// The task's input, JSON text.
    pub input: String,
}

/// A message posted for whichever process owns an execution.
#[derive(Clone, Debug, PartialEq)]
pub struct InboxMessage {
    pub id: i64,
    pub arn: String,
    pub body: String,
}

/// Where executions live. Implementations must make each call of `commit`
/// atomic and durable before it returns.
///
/// A store that several processes share also keeps who owns each running
/// execution: `commit` creates executions owned by this process and fails
/// with [`Error::NotOwner`] when another process has taken one over.
pub trait Store: Send + Sync + 'static {
    /// Writes all commits in one transaction.
    fn commit(&self, commits: &[Commit]) -> Result<()>;
    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>>;
    /// Executions still running (to resume after a restart).
    fn running(&self) -> Result<Vec<ExecutionRecord>>;
    fn list(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>>;
    /// History events with ids in `from..=to`, in order.
    fn history(&self, arn: &str, from: u64, to: u64) -> Result<Vec<HistoryEvent>>;

    /// How long this process's lease lasts when other processes share the
    /// store; `None` when it is the only one and owns every execution.
    fn lease(&self) -> Option<Duration> {
        None
    }
    /// Extends this process's lease by [`Store::lease`] from now.
    fn renew_lease(&self) -> Result<()> {
        Ok(())
    }
    /// Gives up this process's lease (it is shutting down): other processes
    /// take its executions over at once instead of when the lease runs out.
    fn release_lease(&self) -> Result<()> {
        Ok(())
    }
    /// Makes this process the owner of the running executions whose owner's
    /// lease has expired, and returns them to be resumed.
    fn claim_orphans(&self) -> Result<Vec<ExecutionRecord>> {
        Ok(Vec::new())
    }
    /// Makes this process the owner of an execution that has ended, before
    /// a redrive runs it again; false when it is running (another process
    /// redrove it first). A store one process uses owns everything.
    fn claim_ended(&self, _arn: &str) -> Result<bool> {
        Ok(true)
    }
    /// Leaves a message for the owner of execution `arn`; returns its id.
    fn post(&self, _arn: &str, _body: &str) -> Result<i64> {
        Err(Error::Unsupported("messages between processes"))
    }
    /// Whether a posted message still waits for the owner to deal with it.
    fn is_posted(&self, _id: i64) -> Result<bool> {
        Ok(false)
    }
    /// Messages for executions this process owns (or that ended), oldest first.
    fn inbox(&self, _limit: usize) -> Result<Vec<InboxMessage>> {
        Ok(Vec::new())
    }
    /// Deletes messages that were dealt with.
    fn ack(&self, _ids: &[i64]) -> Result<()> {
        Ok(())
    }
    /// Whether a commit blocks on an async runtime of the store's own (the
    /// synchronous PostgreSQL client does), which a thread that drives a
    /// tokio runtime must not do: the committer then writes outside the
    /// runtime's workers.
    fn blocks_on_own_runtime(&self) -> bool {
        false
    }
    /// Whether the store keeps the tasks that wait for a token (a store
    /// several processes share does): commits to it must list them in
    /// [`Commit::token_tasks`].
    fn keeps_token_tasks(&self) -> bool {
        false
    }
    /// The waiting task a token belongs to, whichever process owns it.
    fn token_task(&self, _token: &str) -> Result<Option<TokenTask>> {
        Ok(None)
    }
    /// Hands the oldest waiting task of an activity to a worker: no other
    /// call returns it again.
    fn take_activity_task(&self, _activity_arn: &str) -> Result<Option<TokenTask>> {
        Ok(None)
    }
}

/// Whether a task resource is an activity ARN
/// (`arn:aws:states:<region>:<account>:activity:<name>`).
pub fn is_activity(resource: &str) -> bool {
    resource.starts_with("arn:") && resource.split(':').nth(5) == Some("activity")
}
