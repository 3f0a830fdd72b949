//! A [`crate::Store`] in PostgreSQL, which several `windlass server`
//! processes share.
//!
//! The tables mirror SQLite's (history is one row per commit, a JSON array of
//! the step's events) plus what sharing needs: an `owner` on every
//! execution, a `leases` table where each process renews its lease, a
//! `token_tasks` table of the tasks waiting for a token (kept in step with
//! each commit, so any process can hand an activity task to a worker or find
//! whose a token is), and an `inbox` of messages for an execution's owner.
//!
//! The `postgres` crate is synchronous and runs a small tokio runtime of its
//! own inside each call, which panics when called from a thread that is
//! already inside a tokio runtime (the API server's handlers, the runtime's
//! tasks). So each connection lives on a thread of its own ([`pool`]) and
//! callers hand it a closure and block until it returns, the way they block
//! on a SQLite call. A broken connection is opened again on the next call.

mod executions;
mod pool;
mod resources;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::{Error, Result};
use pool::Pool;

/// How a [`PostgresStore`] is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// `postgres://user:password@host:port/database` (or libpq's key=value form).
    pub url: String,
    /// How long a process keeps its executions after its last renewal: once
    /// it is over, another process takes them over.
    pub lease: Duration,
    /// How many connections (and threads) the store keeps.
    pub connections: usize,
}

impl Config {
    pub fn new(url: impl Into<String>) -> Self {
        Config {
            url: url.into(),
            lease: Duration::from_secs(10),
            connections: 4,
        }
    }
}

pub struct PostgresStore {
    pool: Pool,
    /// This process's owner id: unique per open, so a restarted process
    /// never mistakes a dead predecessor's executions for its own.
    owner: String,
    lease: Duration,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS definitions (
    hash TEXT COLLATE "C" PRIMARY KEY,
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    state_machine_arn TEXT COLLATE "C" NOT NULL,
    definition_hash TEXT COLLATE "C" NOT NULL REFERENCES definitions(hash),
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    start_millis BIGINT NOT NULL,
    stop_millis BIGINT,
    snapshot TEXT NOT NULL,
    -- The process that drives the execution (see `leases`).
    owner TEXT
);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions(status, arn);
CREATE INDEX IF NOT EXISTS executions_by_machine ON executions(state_machine_arn, arn);
CREATE INDEX IF NOT EXISTS executions_running ON executions(owner) WHERE status = 'RUNNING';
-- One row per commit: the events of one step, ids first_id..=last_id, as a
-- JSON array, as in SQLite.
CREATE TABLE IF NOT EXISTS history (
    arn TEXT COLLATE "C" NOT NULL,
    first_id BIGINT NOT NULL,
    last_id BIGINT NOT NULL,
    events TEXT NOT NULL,
    PRIMARY KEY (arn, first_id)
);
-- Each process's lease, renewed while it lives; its executions are taken
-- over once `expires` has passed (by the database's clock, so the servers'
-- clocks need not agree).
CREATE TABLE IF NOT EXISTS leases (
    owner TEXT PRIMARY KEY,
    expires TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS token_tasks (
    token TEXT PRIMARY KEY,
    arn TEXT COLLATE "C" NOT NULL,
    activity TEXT,
    input TEXT NOT NULL,
    handed_out BOOLEAN NOT NULL,
    seq BIGSERIAL
);
CREATE INDEX IF NOT EXISTS token_tasks_by_arn ON token_tasks(arn);
CREATE INDEX IF NOT EXISTS token_tasks_waiting ON token_tasks(activity, seq) WHERE NOT handed_out;
CREATE TABLE IF NOT EXISTS inbox (
    id BIGSERIAL PRIMARY KEY,
    arn TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_by_arn ON inbox(arn);
CREATE TABLE IF NOT EXISTS resources (
    arn TEXT COLLATE "C" PRIMARY KEY,
    kind TEXT NOT NULL,
    parent TEXT COLLATE "C",
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_kind ON resources(kind, parent, arn);
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
"#;

/// Serializes schema creation between processes that start together
/// (`CREATE TABLE IF NOT EXISTS` races otherwise).
const SCHEMA_LOCK: i64 = 0x5749_4e44_4c41_5353;

impl PostgresStore {
    /// Connects, creates the tables when they are missing, and takes a lease.
    pub fn open(config: &Config) -> Result<Self> {
        let pool = Pool::start(&config.url, config.connections.max(1))?;
        pool.run(|client| {
            let mut tx = client.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
            tx.batch_execute(SCHEMA)?;
            tx.commit()?;
            Ok(())
        })
        .map_err(|e| Error::Open {
            path: pool::redact(&config.url),
            reason: e.to_string(),
        })?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let store = PostgresStore {
            pool,
            owner: format!("{}-{}", std::process::id(), &id[..12]),
            lease: config.lease,
        };
        crate::Store::renew_lease(&store)?;
        Ok(store)
    }

    /// This process's owner id, as the `executions.owner` column holds it.
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

fn limit_of(limit: usize) -> i64 {
    if limit == 0 {
        i64::MAX
    } else {
        i64::try_from(limit).unwrap_or(i64::MAX)
    }
}
