//! Durable storage of the API's resources: state machines, their versions
//! and aliases, activities, and the tags on any of them.
//!
//! [`MachineStore`] sits beside [`crate::Store`] and is implemented by the
//! same stores in tables of their own. It stores each resource as a record
//! under its ARN, grouped by [`Kind`] and by a parent ARN (a version's or an
//! alias's state machine), so that one small trait serves every resource the
//! API server keeps.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::memory::MemoryStore;
use crate::sqlite::SqliteStore;
use crate::{Error, Result};

/// What a stored resource is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    StateMachine,
    Version,
    Alias,
    Activity,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::StateMachine => "stateMachine",
            Kind::Version => "version",
            Kind::Alias => "alias",
            Kind::Activity => "activity",
        }
    }
}

/// A state machine as CreateStateMachine and UpdateStateMachine leave it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MachineRecord {
    pub arn: String,
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    /// `STANDARD` or `EXPRESS`.
    pub kind: String,
    pub description: String,
    pub creation_millis: i64,
    pub update_millis: i64,
    pub revision_id: String,
    pub logging_configuration: Json,
    pub tracing_configuration: Json,
    /// `encryptionConfiguration` as given (`None`: AWS's own key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_configuration: Option<Json>,
    /// The number the last published version got (0: none yet).
    pub last_version: u64,
}

/// A published version: a frozen copy of a machine's revision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub arn: String,
    pub machine_arn: String,
    pub version: u64,
    pub definition: String,
    pub role_arn: String,
    pub kind: String,
    pub description: String,
    pub creation_millis: i64,
    pub revision_id: String,
    pub logging_configuration: Json,
    pub tracing_configuration: Json,
    /// `encryptionConfiguration` as given (`None`: AWS's own key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_configuration: Option<Json>,
}

/// An alias routing executions to one or two versions by weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub arn: String,
    pub machine_arn: String,
    pub name: String,
    pub description: String,
    /// `(version ARN, weight)` pairs.
    pub routing: Vec<(String, u32)>,
    pub creation_millis: i64,
    pub update_millis: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityRecord {
    pub arn: String,
    pub name: String,
    pub creation_millis: i64,
    /// `encryptionConfiguration` as given (`None`: AWS's own key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_configuration: Option<Json>,
}

/// A record the [`MachineStore`] keeps.
pub trait Resource: Serialize + DeserializeOwned {
    const KIND: Kind;
    fn arn(&self) -> &str;
    /// The ARN the resource belongs to, for listing (versions, aliases).
    fn parent(&self) -> Option<&str> {
        None
    }
}

impl Resource for MachineRecord {
    const KIND: Kind = Kind::StateMachine;
    fn arn(&self) -> &str {
        &self.arn
    }
}

impl Resource for VersionRecord {
    const KIND: Kind = Kind::Version;
    fn arn(&self) -> &str {
        &self.arn
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.machine_arn)
    }
}

impl Resource for AliasRecord {
    const KIND: Kind = Kind::Alias;
    fn arn(&self) -> &str {
        &self.arn
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.machine_arn)
    }
}

impl Resource for ActivityRecord {
    const KIND: Kind = Kind::Activity;
    fn arn(&self) -> &str {
        &self.arn
    }
}

/// Where the API's resources live. Records are opaque JSON to the store.
pub trait MachineStore: Send + Sync + 'static {
    /// Stores a record; without `replace`, fails with `AlreadyExists` when the ARN is taken.
    fn put_raw(
        &self,
        kind: Kind,
        arn: &str,
        parent: Option<&str>,
        record: &str,
        replace: bool,
    ) -> Result<()>;
    fn get_raw(&self, kind: Kind, arn: &str) -> Result<Option<String>>;
    /// Records of `kind` (and `parent`, when given) in ARN order, after `after`.
    fn list_raw(
        &self,
        kind: Kind,
        parent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>>;
    /// Deletes a resource and its tags; says whether it existed.
    fn delete(&self, arn: &str) -> Result<bool>;
    fn tags(&self, arn: &str) -> Result<Vec<(String, String)>>;
    /// Adds or overwrites tags.
    fn tag(&self, arn: &str, tags: &[(String, String)]) -> Result<()>;
    fn untag(&self, arn: &str, keys: &[String]) -> Result<()>;
}

fn encode<R: Resource>(record: &R) -> Result<String> {
    serde_json::to_string(record).map_err(|e| Error::Corrupt(e.to_string()))
}

fn decode<R: Resource>(text: &str) -> Result<R> {
    serde_json::from_str(text)
        .map_err(|e| Error::Corrupt(format!("{} record: {e}", R::KIND.as_str())))
}

/// Typed access to a [`MachineStore`].
pub trait MachineStoreExt {
    fn insert<R: Resource>(&self, record: &R) -> Result<()>;
    fn replace<R: Resource>(&self, record: &R) -> Result<()>;
    fn get<R: Resource>(&self, arn: &str) -> Result<Option<R>>;
    fn list<R: Resource>(
        &self,
        parent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<R>>;
}

impl<S: MachineStore + ?Sized> MachineStoreExt for S {
    fn insert<R: Resource>(&self, record: &R) -> Result<()> {
        self.put_raw(
            R::KIND,
            record.arn(),
            record.parent(),
            &encode(record)?,
            false,
        )
    }

    fn replace<R: Resource>(&self, record: &R) -> Result<()> {
        self.put_raw(
            R::KIND,
            record.arn(),
            record.parent(),
            &encode(record)?,
            true,
        )
    }

    fn get<R: Resource>(&self, arn: &str) -> Result<Option<R>> {
        self.get_raw(R::KIND, arn)?
            .map(|text| decode(&text))
            .transpose()
    }

    fn list<R: Resource>(
        &self,
        parent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<R>> {
        self.list_raw(R::KIND, parent, after, limit)?
            .iter()
            .map(|(_, text)| decode(text))
            .collect()
    }
}

/// The tables [`SqliteStore`] creates for this trait.
pub(crate) const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS resources (
    arn TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    parent TEXT,
    record TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS resources_by_kind ON resources(kind, parent, arn);
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
) WITHOUT ROWID;
";

fn sql_limit(limit: usize) -> i64 {
    if limit == 0 {
        i64::MAX
    } else {
        i64::try_from(limit).unwrap_or(i64::MAX)
    }
}

impl MachineStore for SqliteStore {
    fn put_raw(
        &self,
        kind: Kind,
        arn: &str,
        parent: Option<&str>,
        record: &str,
        replace: bool,
    ) -> Result<()> {
        let conn = self.lock();
        let verb = if replace {
            "INSERT OR REPLACE"
        } else {
            "INSERT"
        };
        let sql =
            format!("{verb} INTO resources (arn, kind, parent, record) VALUES (?1, ?2, ?3, ?4)");
        let mut statement = conn.prepare_cached(&sql)?;
        let inserted = statement.execute(params![arn, kind.as_str(), parent, record]);
        match inserted {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::AlreadyExists(arn.to_string()))
            }
            other => other.map(|_| ()).map_err(Error::from),
        }
    }

    fn get_raw(&self, kind: Kind, arn: &str) -> Result<Option<String>> {
        let conn = self.lock();
        let mut statement =
            conn.prepare_cached("SELECT record FROM resources WHERE arn = ?1 AND kind = ?2")?;
        Ok(statement
            .query_row(params![arn, kind.as_str()], |row| row.get(0))
            .optional()?)
    }

    fn list_raw(
        &self,
        kind: Kind,
        parent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached(
            "SELECT arn, record FROM resources WHERE kind = ?1 AND (?2 IS NULL OR parent = ?2) \
             AND (?3 IS NULL OR arn > ?3) ORDER BY arn LIMIT ?4",
        )?;
        let rows = statement.query_map(
            params![kind.as_str(), parent, after, sql_limit(limit)],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn delete(&self, arn: &str) -> Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let deleted = tx.execute("DELETE FROM resources WHERE arn = ?1", params![arn])?;
        tx.execute("DELETE FROM tags WHERE arn = ?1", params![arn])?;
        tx.commit()?;
        Ok(deleted > 0)
    }

    fn tags(&self, arn: &str) -> Result<Vec<(String, String)>> {
        let conn = self.lock();
        let mut statement =
            conn.prepare_cached("SELECT key, value FROM tags WHERE arn = ?1 ORDER BY key")?;
        let rows = statement.query_map(params![arn], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn tag(&self, arn: &str, tags: &[(String, String)]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (key, value) in tags {
            tx.execute(
                "INSERT OR REPLACE INTO tags (arn, key, value) VALUES (?1, ?2, ?3)",
                params![arn, key, value],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn untag(&self, arn: &str, keys: &[String]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for key in keys {
            tx.execute(
                "DELETE FROM tags WHERE arn = ?1 AND key = ?2",
                params![arn, key],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// The in-memory tables behind [`MemoryStore`]'s [`MachineStore`].
#[derive(Default)]
pub(crate) struct MemoryResources {
    /// ARN -> (kind, parent, record).
    records: BTreeMap<String, (Kind, Option<String>, String)>,
    tags: BTreeMap<String, BTreeMap<String, String>>,
}

impl MachineStore for MemoryStore {
    fn put_raw(
        &self,
        kind: Kind,
        arn: &str,
        parent: Option<&str>,
        record: &str,
        replace: bool,
    ) -> Result<()> {
        let mut tables = self.resources();
        if !replace && tables.records.contains_key(arn) {
            return Err(Error::AlreadyExists(arn.to_string()));
        }
        tables.records.insert(
            arn.to_string(),
            (kind, parent.map(str::to_string), record.to_string()),
        );
        Ok(())
    }

    fn get_raw(&self, kind: Kind, arn: &str) -> Result<Option<String>> {
        Ok(self
            .resources()
            .records
            .get(arn)
            .filter(|(k, _, _)| *k == kind)
            .map(|(_, _, r)| r.clone()))
    }

    fn list_raw(
        &self,
        kind: Kind,
        parent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        let limit = if limit == 0 { usize::MAX } else { limit };
        Ok(self
            .resources()
            .records
            .iter()
            .filter(|(arn, (k, p, _))| {
                *k == kind
                    && parent.is_none_or(|want| p.as_deref() == Some(want))
                    && after.is_none_or(|a| arn.as_str() > a)
            })
            .take(limit)
            .map(|(arn, (_, _, record))| (arn.clone(), record.clone()))
            .collect())
    }

    fn delete(&self, arn: &str) -> Result<bool> {
        let mut tables = self.resources();
        tables.tags.remove(arn);
        Ok(tables.records.remove(arn).is_some())
    }

    fn tags(&self, arn: &str) -> Result<Vec<(String, String)>> {
        Ok(self
            .resources()
            .tags
            .get(arn)
            .map(|t| t.clone().into_iter().collect())
            .unwrap_or_default())
    }

    fn tag(&self, arn: &str, tags: &[(String, String)]) -> Result<()> {
        let mut tables = self.resources();
        let entry = tables.tags.entry(arn.to_string()).or_default();
        for (key, value) in tags {
            entry.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    fn untag(&self, arn: &str, keys: &[String]) -> Result<()> {
        if let Some(entry) = self.resources().tags.get_mut(arn) {
            for key in keys {
                entry.remove(key);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sqlite::Durability;

    fn activity(name: &str) -> ActivityRecord {
        ActivityRecord {
            arn: format!("arn:aws:states:r:1:activity:{name}"),
            name: name.into(),
            creation_millis: 7,
            encryption_configuration: None,
        }
    }

    pub(crate) fn exercise(store: &dyn MachineStore) {
        let a = activity("a");
        store.insert(&a).expect("insert");
        assert!(matches!(store.insert(&a), Err(Error::AlreadyExists(_))));
        store.insert(&activity("b")).expect("insert b");
        assert_eq!(
            store.get::<ActivityRecord>(&a.arn).expect("get"),
            Some(a.clone())
        );
        assert_eq!(
            store
                .get::<MachineRecord>(&a.arn)
                .expect("get as other kind"),
            None
        );
        let page: Vec<ActivityRecord> = store.list(None, Some(&a.arn), 0).expect("list");
        assert_eq!(
            page.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        store
            .tag(
                &a.arn,
                &[("k".into(), "v".into()), ("x".into(), "1".into())],
            )
            .expect("tag");
        store.untag(&a.arn, &["x".into()]).expect("untag");
        assert_eq!(
            store.tags(&a.arn).expect("tags"),
            vec![("k".to_string(), "v".to_string())]
        );
        assert!(store.delete(&a.arn).expect("delete"));
        assert!(!store.delete(&a.arn).expect("delete again"));
        assert!(store.tags(&a.arn).expect("tags after delete").is_empty());
    }

    #[test]
    fn sqlite_and_memory_keep_resources_alike() {
        let dir =
            std::env::temp_dir().join(format!("windlass-machines-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("store.db");
        let _ = std::fs::remove_file(&path);
        exercise(&SqliteStore::open(&path, Durability::Full).expect("open"));
        exercise(&MemoryStore::new());
        let reopened = SqliteStore::open(&path, Durability::Full).expect("reopen");
        assert!(reopened
            .get::<ActivityRecord>("arn:aws:states:r:1:activity:b")
            .expect("get")
            .is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
