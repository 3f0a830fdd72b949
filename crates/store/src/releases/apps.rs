//! App releases: one release of a whole Compose app, naming the service
//! release each of its services runs in it (`a1`, `a2`, ... per app). A
//! deploy of an app makes one; `windlass rollback` without a service goes
//! back to an earlier one.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::history::{self, Event};
use super::{Outcome, SqliteReleases};
use crate::{Error, Result};

/// One release of an app.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AppRelease {
    pub app: String,
    /// `a1`, `a2`, ... per app.
    pub id: String,
    /// Each service of the app and the release it runs in this app release.
    pub services: Vec<Member>,
    pub created_millis: i64,
    /// Who deployed it (user@host).
    pub by: String,
    /// The latest state it is in; `history` says what happened and when.
    pub outcome: Outcome,
    /// The newest rollback away from it, from the decision to the last
    /// service's traffic flip.
    pub rollback_millis: Option<i64>,
    /// Why it was rolled back or failed, the newest reason.
    pub detail: Option<String>,
    /// The execution that deployed it.
    pub execution: Option<String>,
    /// What happened to it and when, oldest first.
    #[serde(default)]
    pub history: Vec<Event>,
}

impl AppRelease {
    /// Whether it ever went live (its deploy succeeded, or an app rollback
    /// went back to it), whatever happened since.
    pub fn went_live(&self) -> bool {
        history::went_live(&self.history)
    }
}

/// A service's release within an app release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub service: String,
    pub release: String,
    /// Whether this app release deployed it (false: it kept running the
    /// release it had).
    pub changed: bool,
}

/// A new app release, before it has an id.
#[derive(Clone, Debug)]
pub struct NewAppRelease {
    pub app: String,
    pub services: Vec<Member>,
    pub by: String,
    pub created_millis: i64,
}

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS app_releases (
    app TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    services TEXT NOT NULL,
    created_millis INTEGER NOT NULL,
    by TEXT NOT NULL,
    outcome TEXT NOT NULL,
    rollback_millis INTEGER,
    detail TEXT,
    execution TEXT,
    PRIMARY KEY (app, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS app_releases_by_id ON app_releases(app, id);
";

const SELECT: &str = "SELECT app, id, services, created_millis, by, outcome, rollback_millis, \
                      detail, execution, history FROM app_releases";

type Row = (AppRelease, String, String, String);

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        AppRelease {
            app: row.get(0)?,
            id: row.get(1)?,
            services: Vec::new(),
            created_millis: row.get(3)?,
            by: row.get(4)?,
            outcome: Outcome::Deploying,
            rollback_millis: row.get(6)?,
            detail: row.get(7)?,
            execution: row.get(8)?,
            history: Vec::new(),
        },
        row.get(2)?,
        row.get(5)?,
        row.get(9)?,
    ))
}

fn finish((mut release, services, outcome, history): Row) -> Result<AppRelease> {
    release.services = serde_json::from_str(&services)
        .map_err(|e| Error::Corrupt(format!("app release {}: {e}", release.id)))?;
    release.outcome = Outcome::parse(&outcome)?;
    release.history = super::read_history(&history, &release.id)?;
    Ok(release)
}

impl SqliteReleases {
    pub(super) fn create_app_release(&self, new: NewAppRelease) -> Result<AppRelease> {
        let services =
            serde_json::to_string(&new.services).map_err(|e| Error::Corrupt(e.to_string()))?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let seq: i64 = tx.query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM app_releases WHERE app = ?1",
            params![new.app],
            |row| row.get(0),
        )?;
        let id = format!("a{seq}");
        tx.execute(
            "INSERT INTO app_releases (app, seq, id, services, created_millis, by, outcome) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                new.app,
                seq,
                id,
                services,
                new.created_millis,
                new.by,
                Outcome::Deploying.as_str()
            ],
        )?;
        tx.commit()?;
        Ok(AppRelease {
            app: new.app,
            id,
            services: new.services,
            created_millis: new.created_millis,
            by: new.by,
            outcome: Outcome::Deploying,
            rollback_millis: None,
            detail: None,
            execution: None,
            history: Vec::new(),
        })
    }

    pub(super) fn get_app_release(&self, app: &str, id: &str) -> Result<Option<AppRelease>> {
        let conn = self.lock();
        let row = conn
            .query_row(
                &format!("{SELECT} WHERE app = ?1 AND id = ?2"),
                params![app, id],
                from_row,
            )
            .optional()?;
        row.map(finish).transpose()
    }

    pub(super) fn list_app_releases(&self, app: &str) -> Result<Vec<AppRelease>> {
        let conn = self.lock();
        let mut statement = conn.prepare(&format!("{SELECT} WHERE app = ?1 ORDER BY seq DESC"))?;
        let rows = statement.query_map(params![app], from_row)?;
        rows.map(|row| finish(row?)).collect()
    }

    pub(super) fn list_apps(&self) -> Result<Vec<String>> {
        let conn = self.lock();
        let mut statement = conn.prepare("SELECT DISTINCT app FROM app_releases ORDER BY app")?;
        let rows = statement.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub(super) fn update_app_release(
        &self,
        app: &str,
        id: &str,
        outcome: Outcome,
        rollback_millis: Option<i64>,
        detail: Option<&str>,
    ) -> Result<()> {
        let event = super::outcome_event(outcome, rollback_millis, detail)
            .map(|e| serde_json::to_string(&e))
            .transpose()
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        self.lock().execute(
            &format!(
                "UPDATE app_releases SET outcome = ?3, rollback_millis = COALESCE(?4, rollback_millis), \
                 detail = ?5, {} WHERE app = ?1 AND id = ?2",
                super::APPEND_OUTCOME_EVENT
            ),
            params![app, id, outcome.as_str(), rollback_millis, detail, event],
        )?;
        Ok(())
    }

    pub(super) fn record_app_event(&self, app: &str, id: &str, event: &Event) -> Result<()> {
        let w = super::event_columns(event)?;
        self.lock().execute(
            "UPDATE app_releases SET history = json_insert(history, '$[#]', json(?3)), \
             outcome = COALESCE(?4, outcome), rollback_millis = COALESCE(?5, rollback_millis), \
             detail = COALESCE(?6, detail) WHERE app = ?1 AND id = ?2",
            params![app, id, w.json, w.outcome, w.rollback_millis, w.detail],
        )?;
        Ok(())
    }

    pub(super) fn update_app_execution(&self, app: &str, id: &str, execution: &str) -> Result<()> {
        self.lock().execute(
            "UPDATE app_releases SET execution = ?3 WHERE app = ?1 AND id = ?2",
            params![app, id, execution],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::releases::Releases;

    fn member(service: &str, release: &str, changed: bool) -> Member {
        Member {
            service: service.into(),
            release: release.into(),
            changed,
        }
    }

    #[test]
    fn app_releases_are_numbered_per_app_and_name_their_services() -> Result<()> {
        let store = SqliteReleases::in_memory()?;
        let new = |services| NewAppRelease {
            app: "shop".into(),
            services,
            by: "me@here".into(),
            created_millis: 5,
        };
        let first = store.create_app(new(vec![member("web", "r1", true)]))?;
        let second = store.create_app(new(vec![
            member("web", "r2", true),
            member("db", "r1", false),
        ]))?;
        assert_eq!((first.id.as_str(), second.id.as_str()), ("a1", "a2"));
        store.set_app_outcome("shop", "a2", Outcome::RolledBack, Some(4), Some("why"))?;
        store.set_app_execution("shop", "a2", "arn:x")?;
        let read = store.app_release("shop", "a2")?.expect("stored");
        assert_eq!(read.services, second.services);
        assert_eq!(read.outcome, Outcome::RolledBack);
        assert_eq!(read.rollback_millis, Some(4));
        assert_eq!(read.execution.as_deref(), Some("arn:x"));
        let listed: Vec<String> = store
            .app_releases("shop")?
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(listed, vec!["a2", "a1"]);
        assert_eq!(store.apps()?, vec!["shop"]);
        assert!(store.app_release("shop", "a9")?.is_none());
        Ok(())
    }
}
