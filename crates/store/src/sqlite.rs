//! A [`Store`] in a SQLite file: WAL journal, `synchronous=FULL`, so a
//! commit that returned survives a crash of the process or the machine.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use windlass_engine::HistoryEvent;

use crate::{Commit, Error, ExecutionFilter, ExecutionRecord, Result, Store};

pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// A second connection for the execution and history reads: in WAL mode
    /// readers do not wait for the writer, so a lookup (e.g. a start's
    /// check for an existing execution) never queues behind a commit's fsync.
    reader: Mutex<Connection>,
}

/// The schema's version, in `PRAGMA user_version`: 0 is the first layout
/// (history keyed by ARN, overflowing its pages), migrated on open.
const SCHEMA_VERSION: i64 = 2;

/// Each commit touches as few pages as it can, since every page it touches
/// is written to the WAL and synced: an execution created and finished in
/// one step writes its row, its ARN's index entry, its machine's index
/// entry and one history row (4 pages, against 11 in the first layout,
/// whose history rows of a few KiB overflowed a WITHOUT ROWID tree and
/// whose status index took every execution).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS definitions (
    hash TEXT PRIMARY KEY,
    text TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS executions (
    -- An alias of the rowid, so VACUUM keeps it: history keys are built on it.
    id INTEGER PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    state_machine_arn TEXT NOT NULL,
    definition_hash TEXT NOT NULL REFERENCES definitions(hash),
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    start_millis INTEGER NOT NULL,
    stop_millis INTEGER,
    snapshot TEXT NOT NULL
);
-- Only running executions: recovery reads them, and an execution that
-- ends in the step that starts it never enters this index.
CREATE INDEX IF NOT EXISTS executions_running ON executions(id) WHERE status = 'RUNNING';
-- ListExecutions' order (newest first), so a page reads only its rows.
CREATE INDEX IF NOT EXISTS executions_by_machine ON executions(state_machine_arn, start_millis, arn);
-- One row per commit: the events of one step, ids first_id..=last_id, as a
-- JSON array. The key is the execution's id times 2^32 plus first_id, so an
-- execution's rows are one range of a rowid tree, appended to, where rows
-- of a few KiB stay on their page.
CREATE TABLE IF NOT EXISTS history (
    key INTEGER PRIMARY KEY,
    last_id INTEGER NOT NULL,
    events TEXT NOT NULL
);
";

/// The first layout's tables, moved into the current one in one transaction.
const MIGRATE_FROM_0: &str = "
ALTER TABLE executions RENAME TO executions_v0;
ALTER TABLE history RENAME TO history_v0;
DROP INDEX IF EXISTS executions_by_status;
DROP INDEX IF EXISTS executions_by_machine;
";

const COPY_FROM_0: &str = "
INSERT INTO executions (arn, name, state_machine_arn, definition_hash, status, input, start_millis, stop_millis, snapshot)
    SELECT arn, name, state_machine_arn, definition_hash, status, input, start_millis, stop_millis, snapshot
    FROM executions_v0 ORDER BY start_millis, arn;
INSERT INTO history (key, last_id, events)
    SELECT e.id * 4294967296 + h.first_id, h.last_id, h.events
    FROM history_v0 h JOIN executions e ON e.arn = h.arn;
DROP TABLE history_v0;
DROP TABLE executions_v0;
";

/// 2^32: a history key is `execution id * SPAN + first event id`.
const SPAN: i64 = 1 << 32;

/// Creates the tables, or moves an older layout's rows into them.
fn prepare_schema(conn: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let old_layout: bool = tx.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('history') WHERE name = 'arn'",
        [],
        |row| row.get(0),
    )?;
    if old_layout {
        tx.execute_batch(MIGRATE_FROM_0)?;
        tx.execute_batch(SCHEMA)?;
        tx.execute_batch(COPY_FROM_0)?;
    } else {
        tx.execute_batch(SCHEMA)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};"))?;
    tx.commit()
}

/// How hard each commit is pushed to disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: fsync on every commit (the default).
    Full,
    /// `synchronous=NORMAL`: survives a process crash, not a power loss.
    Normal,
}

impl SqliteStore {
    pub fn open(path: &Path, durability: Durability) -> Result<Self> {
        let open_error = |e: rusqlite::Error| Error::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut conn = Connection::open(path).map_err(open_error)?;
        let synchronous = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous={synchronous}; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;"
        ))
        .map_err(open_error)?;
        prepare_schema(&mut conn).map_err(open_error)?;
        conn.execute_batch(crate::machines::SQLITE_SCHEMA)
            .map_err(open_error)?;
        let reader = Connection::open(path).map_err(open_error)?;
        // The query planner's stability guarantee: a cached statement keeps
        // its plan whatever is bound. Without it SQLite re-prepared the
        // execution lookup on every run (sqlite3Reprepare was 12% of the
        // server's CPU under StartExecution + DescribeExecution).
        for connection in [&conn, &reader] {
            connection
                .set_db_config(
                    rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                    true,
                )
                .map_err(open_error)?;
        }
        reader
            .execute_batch("PRAGMA busy_timeout=5000; PRAGMA query_only=ON;")
            .map_err(open_error)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
        })
    }

    fn read(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.reader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // rusqlite rolls back an open transaction when it is dropped, so a
        // panic while holding the lock leaves the database consistent.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(crate) fn definition_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionRecord> {
    Ok(ExecutionRecord {
        arn: row.get(0)?,
        name: row.get(1)?,
        state_machine_arn: row.get(2)?,
        definition: row.get(3)?,
        status: row.get(4)?,
        input: row.get(5)?,
        start_millis: row.get(6)?,
        stop_millis: row.get(7)?,
        snapshot: row.get(8)?,
    })
}

const SELECT_RECORD: &str =
    "SELECT e.arn, e.name, e.state_machine_arn, d.text, e.status, e.input, e.start_millis, \
     e.stop_millis, e.snapshot FROM executions e JOIN definitions d ON d.hash = e.definition_hash";

impl Store for SqliteStore {
    fn commit(&self, commits: &[Commit]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut insert_definition = tx
                .prepare_cached("INSERT OR IGNORE INTO definitions (hash, text) VALUES (?1, ?2)")?;
            let mut insert_execution = tx.prepare_cached(
                "INSERT INTO executions (arn, name, state_machine_arn, definition_hash, status, input, start_millis, stop_millis, snapshot) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE executions SET status = ?2, stop_millis = ?3, snapshot = ?4 WHERE arn = ?1 RETURNING id",
            )?;
            let mut insert_events = tx
                .prepare_cached("INSERT INTO history (key, last_id, events) VALUES (?1, ?2, ?3)")?;
            for commit in commits {
                // The execution's id, which its history keys are built on.
                let id = if let Some(record) = &commit.create {
                    let hash = definition_hash(&record.definition);
                    insert_definition.execute(params![hash, record.definition])?;
                    let inserted = insert_execution.execute(params![
                        record.arn,
                        record.name,
                        record.state_machine_arn,
                        hash,
                        commit.status,
                        record.input,
                        record.start_millis,
                        commit.stop_millis,
                        commit.snapshot
                    ]);
                    match inserted {
                        Err(rusqlite::Error::SqliteFailure(e, _))
                            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                        {
                            return Err(Error::AlreadyExists(record.arn.clone()));
                        }
                        other => {
                            other?;
                        }
                    }
                    tx.last_insert_rowid()
                } else {
                    update
                        .query_row(
                            params![
                                commit.arn,
                                commit.status,
                                commit.stop_millis,
                                commit.snapshot
                            ],
                            |row| row.get::<_, i64>(0),
                        )
                        .optional()?
                        .ok_or_else(|| Error::NotFound(commit.arn.clone()))?
                };
                if let (Some(first), Some(last)) = (commit.history.first(), commit.history.last()) {
                    let text = serde_json::to_string(&commit.history)
                        .map_err(|e| Error::Corrupt(e.to_string()))?;
                    insert_events.execute(params![
                        id * SPAN + first.id as i64,
                        last.id as i64,
                        text
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(&format!("{SELECT_RECORD} WHERE e.arn = ?1"))?;
        Ok(statement
            .query_row(params![arn], record_from_row)
            .optional()?)
    }

    fn running(&self) -> Result<Vec<ExecutionRecord>> {
        let conn = self.read();
        let mut statement =
            conn.prepare_cached(&format!("{SELECT_RECORD} WHERE e.status = 'RUNNING'"))?;
        let rows = statement.query_map([], record_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn list(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>> {
        let conn = self.read();
        // One statement per filter shape, so each has the plan its filter
        // needs (a machine's executions come from its index in list order;
        // `?1 IS NULL OR ...` would make every list scan the table).
        let mut wheres = Vec::new();
        if filter.state_machine_arn.is_some() {
            wheres.push("e.state_machine_arn = ?1");
        }
        if filter.status.is_some() {
            wheres.push("e.status = ?2");
        }
        if filter.after.is_some() {
            wheres.push("(e.start_millis < ?3 OR (e.start_millis = ?3 AND e.arn < ?4))");
        }
        let clause = if wheres.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", wheres.join(" AND "))
        };
        let mut statement = conn.prepare_cached(&format!(
            "{SELECT_RECORD}{clause} ORDER BY e.start_millis DESC, e.arn DESC LIMIT ?5"
        ))?;
        let limit = if filter.limit == 0 {
            i64::MAX
        } else {
            filter.limit as i64
        };
        let (machine, status) = (&filter.state_machine_arn, &filter.status);
        let after = filter.after.as_ref();
        let mut bound: Vec<(&str, &dyn rusqlite::ToSql)> = vec![("?5", &limit)];
        if machine.is_some() {
            bound.push(("?1", machine));
        }
        if status.is_some() {
            bound.push(("?2", status));
        }
        let (after_millis, after_arn) =
            (after.map(|c| c.start_millis), after.map(|c| c.arn.as_str()));
        if after.is_some() {
            bound.push(("?3", &after_millis));
            bound.push(("?4", &after_arn));
        }
        let rows = statement.query_map(bound.as_slice(), record_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn history(&self, arn: &str, from: u64, to: u64) -> Result<Vec<HistoryEvent>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT h.events FROM executions e JOIN history h \
             ON h.key BETWEEN e.id * 4294967296 AND e.id * 4294967296 + ?3 \
             WHERE e.arn = ?1 AND h.last_id >= ?2 ORDER BY h.key",
        )?;
        let to = i64::try_from(to).unwrap_or(i64::MAX).min(SPAN - 1);
        let rows =
            statement.query_map(params![arn, from as i64, to], |row| row.get::<_, String>(0))?;
        let mut events = Vec::new();
        for text in rows {
            let chunk: Vec<HistoryEvent> =
                serde_json::from_str(&text?).map_err(|e| Error::Corrupt(e.to_string()))?;
            events.extend(
                chunk
                    .into_iter()
                    .filter(|e| e.id >= from && e.id <= to as u64),
            );
        }
        Ok(events)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    pub(crate) fn record(arn: &str) -> ExecutionRecord {
        ExecutionRecord {
            arn: arn.into(),
            name: "n".into(),
            state_machine_arn: "m".into(),
            definition: "{}".into(),
            status: "RUNNING".into(),
            input: "{}".into(),
            start_millis: 1,
            stop_millis: None,
            snapshot: "s0".into(),
        }
    }

    fn event(id: u64) -> HistoryEvent {
        HistoryEvent {
            id,
            previous_event_id: id.saturating_sub(1),
            timestamp_millis: 5,
            kind: "PassStateEntered".into(),
            details: serde_json::Value::Null,
        }
    }

    /// The same sequence of commits gives the same observable state in every store.
    pub(crate) fn exercise(store: &dyn Store) {
        let create = Commit {
            arn: "a".into(),
            create: Some(record("a")),
            status: "RUNNING".into(),
            stop_millis: None,
            snapshot: "s1".into(),
            history: vec![event(1), event(2)],
            token_tasks: Some(Vec::new()),
        };
        store
            .commit(std::slice::from_ref(&create))
            .expect("first create");
        assert!(matches!(
            store.commit(&[create]),
            Err(Error::AlreadyExists(_))
        ));
        let finish = Commit {
            arn: "a".into(),
            create: None,
            status: "SUCCEEDED".into(),
            stop_millis: Some(9),
            snapshot: "s2".into(),
            history: vec![event(3)],
            token_tasks: Some(Vec::new()),
        };
        store.commit(&[finish]).expect("update");
        let got = store.execution("a").expect("read").expect("exists");
        assert_eq!(
            (got.status.as_str(), got.stop_millis, got.snapshot.as_str()),
            ("SUCCEEDED", Some(9), "s2")
        );
        assert!(store.running().expect("running").is_empty());
        let ids: Vec<u64> = store
            .history("a", 2, 10)
            .expect("history")
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, vec![2, 3]);
        let missing = Commit {
            arn: "zz".into(),
            create: None,
            status: "RUNNING".into(),
            stop_millis: None,
            snapshot: String::new(),
            history: vec![],
            token_tasks: Some(Vec::new()),
        };
        assert!(matches!(store.commit(&[missing]), Err(Error::NotFound(_))));

        // Listing: newest first (ARN descending within a millisecond), in
        // pages that continue after the last one given.
        for (arn, start) in [("b", 5), ("c", 3), ("d", 5)] {
            let mut created = record(arn);
            created.start_millis = start;
            store
                .commit(&[Commit {
                    arn: arn.into(),
                    create: Some(created),
                    status: "RUNNING".into(),
                    stop_millis: None,
                    snapshot: "s".into(),
                    history: vec![event(1)],
                    token_tasks: Some(Vec::new()),
                }])
                .expect("create");
        }
        let mut order = Vec::new();
        let mut filter = ExecutionFilter {
            state_machine_arn: Some("m".into()),
            limit: 2,
            ..ExecutionFilter::default()
        };
        loop {
            let page = store.list(&filter).expect("list");
            order.extend(page.iter().map(|r| r.arn.clone()));
            match page.last() {
                Some(last) if page.len() == 2 => filter.after = Some(crate::ListCursor::of(last)),
                _ => break,
            }
        }
        assert_eq!(order, ["d", "b", "c", "a"]);
        let running = ExecutionFilter {
            status: Some("RUNNING".into()),
            ..ExecutionFilter::default()
        };
        let arns: Vec<String> = store
            .list(&running)
            .expect("list")
            .into_iter()
            .map(|r| r.arn)
            .collect();
        assert_eq!(arns, ["d", "b", "c"]);
    }

    /// A store written by the first layout opens with its executions,
    /// history, running set and list order intact.
    #[test]
    fn the_first_layout_is_migrated() {
        let dir = std::env::temp_dir().join(format!("windlass-store-v0-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("store.db");
        let _ = std::fs::remove_file(&path);
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(
                "CREATE TABLE definitions (hash TEXT PRIMARY KEY, text TEXT NOT NULL) WITHOUT ROWID;
                 CREATE TABLE executions (arn TEXT PRIMARY KEY, name TEXT NOT NULL, state_machine_arn TEXT NOT NULL,
                     definition_hash TEXT NOT NULL REFERENCES definitions(hash), status TEXT NOT NULL, input TEXT NOT NULL,
                     start_millis INTEGER NOT NULL, stop_millis INTEGER, snapshot TEXT NOT NULL);
                 CREATE INDEX executions_by_status ON executions(status);
                 CREATE INDEX executions_by_machine ON executions(state_machine_arn, arn);
                 CREATE TABLE history (arn TEXT NOT NULL, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL,
                     events TEXT NOT NULL, PRIMARY KEY (arn, first_id)) WITHOUT ROWID;
                 INSERT INTO definitions VALUES ('h', '{}');
                 INSERT INTO executions VALUES ('old', 'old', 'm', 'h', 'SUCCEEDED', '{}', 1, 2, 's-old');
                 INSERT INTO executions VALUES ('run', 'run', 'm', 'h', 'RUNNING', '{}', 3, NULL, 's-run');",
            )
            .expect("first layout");
            for (arn, first, last) in [("old", 1u64, 2u64), ("old", 3, 3), ("run", 1, 1)] {
                let events: Vec<HistoryEvent> = (first..=last).map(event).collect();
                conn.execute(
                    "INSERT INTO history VALUES (?1, ?2, ?3, ?4)",
                    params![
                        arn,
                        first as i64,
                        last as i64,
                        serde_json::to_string(&events).expect("json")
                    ],
                )
                .expect("history row");
            }
        }
        let store = SqliteStore::open(&path, Durability::Full).expect("migrated");
        let ids = |arn: &str| -> Vec<u64> {
            store
                .history(arn, 1, 99)
                .expect("history")
                .iter()
                .map(|e| e.id)
                .collect()
        };
        assert_eq!(ids("old"), vec![1, 2, 3]);
        assert_eq!(ids("run"), vec![1]);
        let running: Vec<String> = store
            .running()
            .expect("running")
            .into_iter()
            .map(|r| r.arn)
            .collect();
        assert_eq!(running, ["run"]);
        let listed: Vec<String> = store
            .list(&ExecutionFilter {
                state_machine_arn: Some("m".into()),
                ..ExecutionFilter::default()
            })
            .expect("list")
            .into_iter()
            .map(|r| r.arn)
            .collect();
        assert_eq!(listed, ["run", "old"]);
        // Commits go on where the old rows stopped.
        store
            .commit(&[Commit {
                arn: "run".into(),
                create: None,
                status: "SUCCEEDED".into(),
                stop_millis: Some(4),
                snapshot: "s-done".into(),
                history: vec![event(2)],
                token_tasks: Some(Vec::new()),
            }])
            .expect("commit");
        assert_eq!(ids("run"), vec![1, 2]);
        assert!(store.running().expect("running").is_empty());
        drop(store);
        // Opening again finds the current layout and changes nothing.
        let reopened = SqliteStore::open(&path, Durability::Full).expect("reopen");
        assert_eq!(reopened.history("old", 2, 3).expect("history").len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn sqlite_and_memory_agree() {
        let dir = std::env::temp_dir().join(format!("windlass-store-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("store.db");
        let _ = std::fs::remove_file(&path);
        exercise(&SqliteStore::open(&path, Durability::Full).expect("open"));
        exercise(&MemoryStore::new());
        // Reopening finds what was committed.
        let reopened = SqliteStore::open(&path, Durability::Full).expect("reopen");
        assert_eq!(reopened.history("a", 1, 3).expect("history").len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
