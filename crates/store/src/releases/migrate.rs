//! What later versions added to a release database an earlier one made:
//! columns, the installation's id, service keys qualified by their app, and
//! each release's history of events (read from its one-word outcome).
//!
//! Before keys held their app, `releases`, `live_releases` and
//! `deploy_locks` named a service bare (`web`). A bare name belongs to the
//! app whose app releases list it (the newest such app release's app); a
//! service no app release lists (deployed with the user's own definition)
//! belongs to the project its newest release's pinned Compose text names
//! (the pinned text always has its top-level `name:`). Keys that already
//! hold a `/` (qualified ones, ECS's `ecs/CLUSTER/SERVICE`) are left alone.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::history::{self, Event, Happened};
use super::key::Installation;
use super::Outcome;

pub(super) const META_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS release_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

pub(super) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, kind) in [
        ("releases", "pruned_millis", "INTEGER"),
        ("releases", "fingerprint", "TEXT"),
        ("deploy_locks", "host", "TEXT NOT NULL DEFAULT ''"),
        // Every port of a live release; a row of before has its one port
        // in `address` and `upstreams`, and reads as such.
        ("live_releases", "ports", "TEXT NOT NULL DEFAULT '[]'"),
    ] {
        let has: bool = conn
            .prepare(&format!(
                "SELECT 1 FROM pragma_table_info('{table}') WHERE name = '{column}'"
            ))?
            .exists([])?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    conn.execute_batch(META_SCHEMA)?;
    qualify_keys(conn)?;
    add_history(conn)?;
    Ok(())
}

fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    conn.prepare(&format!(
        "SELECT 1 FROM pragma_table_info('{table}') WHERE name = '{column}'"
    ))?
    .exists([])
}

/// Gives `releases` and `app_releases` their `history` column, each row's
/// filled in from what the row says (its outcome, the reason a rollback
/// wrote, when it was pruned), in one transaction with the column: a
/// database has its histories once, whole.
fn add_history(conn: &Connection) -> rusqlite::Result<()> {
    let tables = [
        ("releases", "service", ", pruned_millis"),
        ("app_releases", "app", ", NULL"),
    ];
    let mut missing = Vec::new();
    for table in tables {
        if !has_column(conn, table.0, "history")? {
            missing.push(table);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let done = (|| {
        for (table, owner, pruned) in &missing {
            conn.execute_batch(&format!(
                "ALTER TABLE {table} ADD COLUMN history TEXT NOT NULL DEFAULT '[]'"
            ))?;
            let rows: Vec<OldRow> = conn
                .prepare(&format!(
                    "SELECT {owner}, id, outcome, rollback_millis, detail{pruned} FROM {table}"
                ))?
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            for (who, id, outcome, rollback_millis, detail, pruned_millis) in rows {
                // An outcome this version does not know is left for the
                // reader to refuse, as before.
                let Ok(outcome) = Outcome::parse(&outcome) else {
                    continue;
                };
                let mut events = history::from_outcome(outcome, rollback_millis, detail.as_deref());
                if let Some(at) = pruned_millis {
                    events.push(Event::at(at, Happened::Pruned));
                }
                let json = serde_json::to_string(&events)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                conn.execute(
                    &format!("UPDATE {table} SET history = ?3 WHERE {owner} = ?1 AND id = ?2"),
                    params![who, id, json],
                )?;
            }
        }
        Ok(())
    })();
    match done {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            conn.execute_batch("ROLLBACK")?;
            Err(e)
        }
    }
}

/// Whether the database is as this version writes it: its service keys
/// qualified and its installation made.
pub(super) fn is_current(conn: &Connection) -> rusqlite::Result<bool> {
    let has_meta: bool = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'release_meta'")?
        .exists([])?;
    if !has_meta {
        return Ok(false);
    }
    if !has_column(conn, "live_releases", "ports")?
        || !has_column(conn, "releases", "history")?
        || !has_column(conn, "app_releases", "history")?
    {
        return Ok(false);
    }
    conn.prepare("SELECT 1 FROM release_meta WHERE key = 'installation'")?
        .exists([])
}

/// The installation's id, made on first use and kept in the database.
pub(super) fn installation(conn: &Connection) -> rusqlite::Result<Installation> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM release_meta WHERE key = 'installation'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(id) = stored {
        return Ok(Installation::from(id.as_str()));
    }
    let fresh = Installation::random();
    // Another connection may have made one meanwhile: the first one stays.
    conn.execute(
        "INSERT OR IGNORE INTO release_meta (key, value) VALUES ('installation', ?1)",
        params![fresh.as_str()],
    )?;
    conn.query_row(
        "SELECT value FROM release_meta WHERE key = 'installation'",
        [],
        |row| row.get::<_, String>(0),
    )
    .map(|id| Installation::from(id.as_str()))
}

/// Rewrites every bare service name to `APP/SERVICE`, in one transaction.
fn qualify_keys(conn: &Connection) -> rusqlite::Result<()> {
    let bare: Vec<String> = conn
        .prepare(
            "SELECT service FROM releases WHERE instr(service, '/') = 0 \
             UNION SELECT service FROM live_releases WHERE instr(service, '/') = 0 \
             UNION SELECT service FROM deploy_locks WHERE instr(service, '/') = 0",
        )?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if bare.is_empty() {
        return Ok(());
    }
    let owners = owners(conn)?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let done = (|| {
        for service in &bare {
            let app = match owners.get(service) {
                Some(app) => app.clone(),
                None => project_of(conn, service)?,
            };
            let key = format!("{app}/{service}");
            for table in ["releases", "live_releases", "deploy_locks"] {
                conn.execute(
                    &format!("UPDATE {table} SET service = ?2 WHERE service = ?1"),
                    params![service, key],
                )?;
            }
        }
        Ok(())
    })();
    match done {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            conn.execute_batch("ROLLBACK")?;
            Err(e)
        }
    }
}

/// Each service name to the app whose newest app release lists it.
fn owners(conn: &Connection) -> rusqlite::Result<BTreeMap<String, String>> {
    let mut statement =
        conn.prepare("SELECT app, services FROM app_releases ORDER BY created_millis, seq")?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut owners = BTreeMap::new();
    for row in rows {
        let (app, services) = row?;
        let members: Vec<serde_json::Value> = serde_json::from_str(&services).unwrap_or_default();
        for member in members {
            if let Some(service) = member.get("service").and_then(|s| s.as_str()) {
                // Later app releases come later: the newest owner wins.
                owners.insert(service.to_owned(), app.clone());
            }
        }
    }
    Ok(owners)
}

/// The project name the service's newest release's Compose text gives at
/// its top level, else `default`.
fn project_of(conn: &Connection, service: &str) -> rusqlite::Result<String> {
    let text: Option<String> = conn
        .query_row(
            "SELECT compose_text FROM releases WHERE service = ?1 ORDER BY seq DESC LIMIT 1",
            params![service],
            |row| row.get(0),
        )
        .optional()?;
    Ok(text
        .as_deref()
        .and_then(top_level_name)
        .unwrap_or_else(|| "default".to_owned()))
}

/// `name: X` at the top level of a YAML text (column 0), unquoted.
fn top_level_name(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix("name:")?.trim();
        let value = value.trim_matches(|c| c == '"' || c == '\'');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// A release row as the layout before histories kept it: owner, id,
/// outcome, rollback time, detail, and when it was pruned.
type OldRow = (
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

#[cfg(test)]
mod tests {
    use super::super::{Releases, SqliteReleases, SCHEMA};
    use super::*;
    use crate::releases::ServiceKey;

    fn key(text: &str) -> ServiceKey {
        text.parse().expect("a key")
    }

    /// A database as windlass wrote it before keys held their app: two
    /// apps' releases of bare names, one of them (`worker`) never in an
    /// app release.
    fn legacy(conn: &Connection) -> rusqlite::Result<()> {
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(super::super::apps::SCHEMA)?;
        conn.execute_batch(
            "INSERT INTO releases (service, seq, id, compose_file, compose_text, created_millis, by, outcome) VALUES
               ('web', 1, 'r1', 'c.yaml', 'name: shop', 1, 'me', 'live'),
               ('db', 1, 'r1', 'c.yaml', 'name: shop', 1, 'me', 'live'),
               ('worker', 1, 'r1', 'c.yaml', 'services: {}\nname: \"jobs\"\n', 1, 'me', 'live'),
               ('ecs/prod/api', 1, 'r1', 'c.yaml', '', 1, 'me', 'live');
             INSERT INTO live_releases VALUES ('web', 'r1', '127.0.0.1:8080', '[]', 1);
             INSERT INTO deploy_locks (service, holder, pid, heartbeat_millis) VALUES ('db', 'arn:x', 1, 1);
             INSERT INTO app_releases (app, seq, id, services, created_millis, by, outcome) VALUES
               ('shop', 1, 'a1', '[{\"service\":\"web\",\"release\":\"r1\",\"changed\":true},{\"service\":\"db\",\"release\":\"r1\",\"changed\":true}]', 1, 'me', 'live');",
        )
    }

    #[test]
    fn bare_names_become_their_apps_keys_once() -> crate::Result<()> {
        let dir = std::env::temp_dir().join(format!("windlass-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
        let path = dir.join("legacy.db");
        let _ = std::fs::remove_file(&path);
        legacy(&Connection::open(&path)?)?;
        let store = SqliteReleases::open(&path)?;
        assert_eq!(
            store.keys()?,
            [
                key("ecs/prod/api"),
                key("jobs/worker"),
                key("shop/db"),
                key("shop/web")
            ]
        );
        assert_eq!(
            store.live(&key("shop/web"))?.map(|l| l.release),
            Some("r1".into())
        );
        assert_eq!(
            store.lock_of(&key("shop/db"))?.map(|l| l.holder),
            Some("arn:x".into())
        );
        let installation = store.installation()?;
        drop(store);
        let again = SqliteReleases::open(&path)?;
        assert_eq!(again.keys()?.len(), 4, "opening again changes nothing");
        assert_eq!(again.installation()?, installation, "the id is kept");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn a_top_level_name_is_read_from_the_pinned_text() {
        assert_eq!(
            top_level_name("services:\n  web:\n    name: x\nname: shop\n"),
            Some("shop".into())
        );
        assert_eq!(top_level_name("services: {}\n"), None);
    }
}

