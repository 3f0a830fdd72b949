//! Aborts kept for a rollout that has not reached a bake or gate yet: a
//! `windlass abort` that comes while an app's deploy still builds or
//! starts ends its canaries at once, but has no token to fail; it is kept
//! here, in the agent's database beside its executions, so that it
//! survives a crash of the agent: the deploy's first bake or gate fails
//! with it (a bake retried after a crash finds it again), and it is dropped
//! when the deploy ends. One an app, the newest replacing the one before.

use rusqlite::{params, OptionalExtension};

use super::SqliteReleases;
use crate::Result;

/// A person's abort of app `app`'s deploy of app release `release`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Abort {
    pub app: String,
    /// The app release the aborted deploy rolls out (`a3`): a bake of
    /// another one does not take it.
    pub release: String,
    /// Who aborted it (user@host, `dashboard`).
    pub by: String,
    pub millis: i64,
}

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS rollout_aborts (
    app TEXT PRIMARY KEY,
    release TEXT NOT NULL,
    by TEXT NOT NULL,
    millis INTEGER NOT NULL
);
";

impl SqliteReleases {
    pub(super) fn insert_abort(&self, abort: &Abort) -> Result<()> {
        self.lock().execute(
            "INSERT INTO rollout_aborts (app, release, by, millis) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(app) DO UPDATE SET release = ?2, by = ?3, millis = ?4",
            params![abort.app, abort.release, abort.by, abort.millis],
        )?;
        Ok(())
    }

    pub(super) fn select_abort(&self, app: &str) -> Result<Option<Abort>> {
        let abort = self
            .lock()
            .query_row(
                "SELECT app, release, by, millis FROM rollout_aborts WHERE app = ?1",
                params![app],
                |row| {
                    Ok(Abort {
                        app: row.get(0)?,
                        release: row.get(1)?,
                        by: row.get(2)?,
                        millis: row.get(3)?,
                    })
                },
            )
            .optional()?;
        Ok(abort)
    }

    pub(super) fn delete_abort(&self, app: &str) -> Result<()> {
        self.lock()
            .execute("DELETE FROM rollout_aborts WHERE app = ?1", params![app])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::releases::Releases;

    fn abort(release: &str, by: &str) -> Abort {
        Abort {
            app: "shop".into(),
            release: release.into(),
            by: by.into(),
            millis: 7,
        }
    }

    #[test]
    fn an_abort_is_kept_across_a_reopen_until_dropped() {
        let dir = std::env::temp_dir().join(format!("windlass-aborts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a folder");
        let db = dir.join("windlass.db");
        let _ = std::fs::remove_file(&db);
        {
            let releases = SqliteReleases::open(&db).expect("open");
            releases.keep_abort(&abort("a2", "ann")).expect("kept");
            // The newest abort of an app replaces the one before.
            releases.keep_abort(&abort("a3", "bob")).expect("kept");
        }
        let releases = SqliteReleases::open(&db).expect("open again");
        assert_eq!(releases.abort_of("cafe").expect("read"), None);
        assert_eq!(
            releases.abort_of("shop").expect("read"),
            Some(abort("a3", "bob"))
        );
        releases.drop_abort("shop").expect("dropped");
        assert_eq!(releases.abort_of("shop").expect("read"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
