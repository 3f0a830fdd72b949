//! [`Store`] for [`PostgresStore`]: executions, history, ownership, and the
//! tables through which processes reach each other's executions.

use std::time::Duration;

use postgres::{Row, Transaction};
use windlass_engine::HistoryEvent;

use super::{limit_of, PostgresStore};
use crate::{
    Commit, Error, ExecutionFilter, ExecutionRecord, InboxMessage, Result, Store, TokenTask,
};

const SELECT_RECORD: &str =
    "SELECT e.arn, e.name, e.state_machine_arn, d.text, e.status, e.input, e.start_millis, \
     e.stop_millis, e.snapshot FROM executions e JOIN definitions d ON d.hash = e.definition_hash";

fn record_from_row(row: &Row) -> Result<ExecutionRecord> {
    Ok(ExecutionRecord {
        arn: row.try_get(0)?,
        name: row.try_get(1)?,
        state_machine_arn: row.try_get(2)?,
        definition: row.try_get(3)?,
        status: row.try_get(4)?,
        input: row.try_get(5)?,
        start_millis: row.try_get(6)?,
        stop_millis: row.try_get(7)?,
        snapshot: row.try_get(8)?,
    })
}

fn token_task_from_row(row: &Row) -> Result<TokenTask> {
    Ok(TokenTask {
        token: row.try_get(0)?,
        arn: row.try_get(1)?,
        activity: row.try_get(2)?,
        input: row.try_get(3)?,
    })
}

/// Writes one commit inside the batch's transaction.
fn write(tx: &mut Transaction<'_>, owner: &str, commit: &Commit) -> Result<()> {
    if let Some(record) = &commit.create {
        let hash = crate::sqlite::definition_hash(&record.definition);
        tx.execute(
            "INSERT INTO definitions (hash, text) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&hash, &record.definition],
        )?;
        let inserted = tx.execute(
            "INSERT INTO executions (arn, name, state_machine_arn, definition_hash, status, input, start_millis, \
             stop_millis, snapshot, owner) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            &[
                &record.arn,
                &record.name,
                &record.state_machine_arn,
                &hash,
                &commit.status,
                &record.input,
                &record.start_millis,
                &commit.stop_millis,
                &commit.snapshot,
                &owner,
            ],
        )?;
        if inserted == 0 {
            return Err(Error::AlreadyExists(record.arn.clone()));
        }
    } else {
        // The ownership check: only the owner's update matches. A process
        // that took the execution over changed `owner` first (row locks
        // order the two), so a process that lost it can no longer write.
        let updated = tx.execute(
            "UPDATE executions SET status = $2, stop_millis = $3, snapshot = $4 WHERE arn = $1 AND owner = $5",
            &[&commit.arn, &commit.status, &commit.stop_millis, &commit.snapshot, &owner],
        )?;
        if updated == 0 {
            let exists = tx
                .query_opt("SELECT 1 FROM executions WHERE arn = $1", &[&commit.arn])?
                .is_some();
            return Err(if exists {
                Error::NotOwner(commit.arn.clone())
            } else {
                Error::NotFound(commit.arn.clone())
            });
        }
    }
    if let (Some(first), Some(last)) = (commit.history.first(), commit.history.last()) {
        let text =
            serde_json::to_string(&commit.history).map_err(|e| Error::Corrupt(e.to_string()))?;
        tx.execute(
            "INSERT INTO history (arn, first_id, last_id, events) VALUES ($1, $2, $3, $4)",
            &[&commit.arn, &(first.id as i64), &(last.id as i64), &text],
        )?;
    }
    sync_token_tasks(tx, commit)
}

/// Makes `token_tasks` hold exactly the execution's tasks that wait for a
/// token, as the commit lists them, in the same transaction as the step
/// that changed them.
fn sync_token_tasks(tx: &mut Transaction<'_>, commit: &Commit) -> Result<()> {
    let waiting = commit.token_tasks.as_ref().ok_or(Error::Unsupported(
        "commits that do not list their token tasks",
    ))?;
    if waiting.is_empty() && commit.create.is_some() {
        return Ok(());
    }
    let tokens: Vec<&str> = waiting.iter().map(|t| t.token.as_str()).collect();
    let activities: Vec<Option<&str>> = waiting.iter().map(|t| t.activity.as_deref()).collect();
    let inputs: Vec<&str> = waiting.iter().map(|t| t.input.as_str()).collect();
    let started: Vec<bool> = waiting.iter().map(|t| t.started).collect();
    tx.execute(
        "WITH gone AS (DELETE FROM token_tasks WHERE arn = $1 AND NOT (token = ANY($2))) \
         INSERT INTO token_tasks (token, arn, activity, input, handed_out) \
         SELECT t, $1, a, i, s FROM unnest($2::text[], $3::text[], $4::text[], $5::bool[]) AS u(t, a, i, s) \
         ON CONFLICT (token) DO NOTHING",
        &[&commit.arn, &tokens, &activities, &inputs, &started],
    )?;
    Ok(())
}

impl Store for PostgresStore {
    fn blocks_on_own_runtime(&self) -> bool {
        true
    }
    fn keeps_token_tasks(&self) -> bool {
        true
    }

    fn commit(&self, commits: &[Commit]) -> Result<()> {
        let commits = commits.to_vec();
        let owner = self.owner.clone();
        self.pool.run(move |client| {
            let mut tx = client.transaction()?;
            for commit in &commits {
                write(&mut tx, &owner, commit)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn execution(&self, arn: &str) -> Result<Option<ExecutionRecord>> {
        let arn = arn.to_string();
        self.pool.run(move |client| {
            client
                .query_opt(&format!("{SELECT_RECORD} WHERE e.arn = $1"), &[&arn])?
                .as_ref()
                .map(record_from_row)
                .transpose()
        })
    }

    fn running(&self) -> Result<Vec<ExecutionRecord>> {
        self.pool.run(|client| {
            client
                .query(&format!("{SELECT_RECORD} WHERE e.status = 'RUNNING'"), &[])?
                .iter()
                .map(record_from_row)
                .collect()
        })
    }

    fn list(&self, filter: &ExecutionFilter) -> Result<Vec<ExecutionRecord>> {
        let filter = filter.clone();
        self.pool.run(move |client| {
            let sql = format!(
                "{SELECT_RECORD} WHERE ($1::text IS NULL OR e.state_machine_arn = $1) AND ($2::text IS NULL OR e.status = $2) \
                 AND ($3::bigint IS NULL OR e.start_millis < $3 OR (e.start_millis = $3 AND e.arn < $4)) \
                 ORDER BY e.start_millis DESC, e.arn DESC LIMIT $5"
            );
            let (millis, arn) = match &filter.after {
                Some(c) => (Some(c.start_millis), Some(c.arn.clone())),
                None => (None, None),
            };
            let rows = client.query(
                &sql,
                &[&filter.state_machine_arn, &filter.status, &millis, &arn, &limit_of(filter.limit)],
            )?;
            rows.iter().map(record_from_row).collect()
        })
    }

    fn history(&self, arn: &str, from: u64, to: u64) -> Result<Vec<HistoryEvent>> {
        let arn = arn.to_string();
        let to = i64::try_from(to).unwrap_or(i64::MAX);
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        self.pool.run(move |client| {
            let rows = client.query(
                "SELECT events FROM history WHERE arn = $1 AND last_id >= $2 AND first_id <= $3 ORDER BY first_id",
                &[&arn, &from, &to],
            )?;
            let mut events = Vec::new();
            for row in rows {
                let text: String = row.try_get(0)?;
                let chunk: Vec<HistoryEvent> =
                    serde_json::from_str(&text).map_err(|e| Error::Corrupt(e.to_string()))?;
                events.extend(chunk.into_iter().filter(|e| e.id as i64 >= from && e.id as i64 <= to));
            }
            Ok(events)
        })
    }

    fn lease(&self) -> Option<Duration> {
        Some(self.lease)
    }

    fn renew_lease(&self) -> Result<()> {
        let owner = self.owner.clone();
        let millis = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
        self.pool.run(move |client| {
            client.execute(
                "INSERT INTO leases (owner, expires) VALUES ($1, now() + $2 * interval '1 millisecond') \
                 ON CONFLICT (owner) DO UPDATE SET expires = EXCLUDED.expires",
                &[&owner, &(millis as f64)],
            )?;
            // Leases long dead are of no more use: their executions were taken over.
            client.execute("DELETE FROM leases WHERE expires < now() - interval '1 hour'", &[])?;
            Ok(())
        })
    }

    fn release_lease(&self) -> Result<()> {
        let owner = self.owner.clone();
        self.pool.run(move |client| {
            client.execute("DELETE FROM leases WHERE owner = $1", &[&owner])?;
            Ok(())
        })
    }

    fn claim_orphans(&self) -> Result<Vec<ExecutionRecord>> {
        let owner = self.owner.clone();
        self.pool.run(move |client| {
            // One statement: when two processes claim at once, row locks make
            // the second see the first's new owner, whose lease is live, and
            // leave the row alone.
            let sql = "WITH claimed AS (\
                   UPDATE executions SET owner = $1 \
                   WHERE status = 'RUNNING' AND owner IS DISTINCT FROM $1 \
                   AND (owner IS NULL OR owner NOT IN (SELECT owner FROM leases WHERE expires > now())) \
                   RETURNING arn, name, state_machine_arn, definition_hash, status, input, start_millis, stop_millis, snapshot) \
                 SELECT e.arn, e.name, e.state_machine_arn, d.text, e.status, e.input, e.start_millis, e.stop_millis, \
                   e.snapshot FROM claimed e JOIN definitions d ON d.hash = e.definition_hash ORDER BY e.arn";
            client.query(sql, &[&owner])?.iter().map(record_from_row).collect()
        })
    }

    fn claim_ended(&self, arn: &str) -> Result<bool> {
        let (owner, arn) = (self.owner.clone(), arn.to_string());
        self.pool.run(move |client| {
            let claimed = client.execute(
                "UPDATE executions SET owner = $1 WHERE arn = $2 AND status <> 'RUNNING'",
                &[&owner, &arn],
            )?;
            Ok(claimed == 1)
        })
    }

    fn post(&self, arn: &str, body: &str) -> Result<i64> {
        let (arn, body) = (arn.to_string(), body.to_string());
        self.pool.run(move |client| {
            let row = client.query_one(
                "INSERT INTO inbox (arn, body) VALUES ($1, $2) RETURNING id",
                &[&arn, &body],
            )?;
            Ok(row.try_get(0)?)
        })
    }

    fn is_posted(&self, id: i64) -> Result<bool> {
        self.pool.run(move |client| {
            Ok(client
                .query_opt("SELECT 1 FROM inbox WHERE id = $1", &[&id])?
                .is_some())
        })
    }

    fn inbox(&self, limit: usize) -> Result<Vec<InboxMessage>> {
        let owner = self.owner.clone();
        self.pool.run(move |client| {
            // Messages for executions that ended are anyone's to drop.
            let rows = client.query(
                "SELECT i.id, i.arn, i.body FROM inbox i JOIN executions e ON e.arn = i.arn \
                 WHERE e.owner = $1 OR e.status <> 'RUNNING' ORDER BY i.id LIMIT $2",
                &[&owner, &limit_of(limit)],
            )?;
            rows.iter()
                .map(|row| {
                    Ok(InboxMessage {
                        id: row.try_get(0)?,
                        arn: row.try_get(1)?,
                        body: row.try_get(2)?,
                    })
                })
                .collect()
        })
    }

    fn ack(&self, ids: &[i64]) -> Result<()> {
        let ids = ids.to_vec();
        self.pool.run(move |client| {
            client.execute("DELETE FROM inbox WHERE id = ANY($1)", &[&ids])?;
            Ok(())
        })
    }

    fn token_task(&self, token: &str) -> Result<Option<TokenTask>> {
        let token = token.to_string();
        self.pool.run(move |client| {
            client
                .query_opt(
                    "SELECT token, arn, activity, input FROM token_tasks WHERE token = $1",
                    &[&token],
                )?
                .as_ref()
                .map(token_task_from_row)
                .transpose()
        })
    }

    fn take_activity_task(&self, activity_arn: &str) -> Result<Option<TokenTask>> {
        let activity = activity_arn.to_string();
        self.pool.run(move |client| {
            let row = client.query_opt(
                "UPDATE token_tasks SET handed_out = true WHERE token = (\
                   SELECT token FROM token_tasks WHERE activity = $1 AND NOT handed_out \
                   ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING token, arn, activity, input",
                &[&activity],
            )?;
            row.as_ref().map(token_task_from_row).transpose()
        })
    }
}
