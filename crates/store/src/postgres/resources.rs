//! [`MachineStore`] for [`PostgresStore`]: the same two tables as SQLite's.

use super::{limit_of, PostgresStore};
use crate::machines::{Kind, MachineStore};
use crate::{Error, Result};

impl MachineStore for PostgresStore {
    fn put_raw(
        &self,
        kind: Kind,
        arn: &str,
        parent: Option<&str>,
        record: &str,
        replace: bool,
    ) -> Result<()> {
        let (arn, parent, record) = (
            arn.to_string(),
            parent.map(str::to_string),
            record.to_string(),
        );
        let kind = kind.as_str();
        self.pool.run(move |client| {
            let sql = if replace {
                "INSERT INTO resources (arn, kind, parent, record) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (arn) DO UPDATE SET kind = EXCLUDED.kind, parent = EXCLUDED.parent, record = EXCLUDED.record"
            } else {
                "INSERT INTO resources (arn, kind, parent, record) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            };
            if client.execute(sql, &[&arn, &kind, &parent, &record])? == 0 {
                return Err(Error::AlreadyExists(arn));
            }
            Ok(())
        })
    }

    fn get_raw(&self, kind: Kind, arn: &str) -> Result<Option<String>> {
        let arn = arn.to_string();
        let kind = kind.as_str();
        self.pool.run(move |client| {
            let row = client.query_opt(
                "SELECT record FROM resources WHERE arn = $1 AND kind = $2",
                &[&arn, &kind],
            )?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn list_raw(
        &self,
        kind: Kind,
        parent: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>> {
        let (parent, after) = (parent.map(str::to_string), after.map(str::to_string));
        let kind = kind.as_str();
        self.pool.run(move |client| {
            let rows = client.query(
                "SELECT arn, record FROM resources WHERE kind = $1 AND ($2::text IS NULL OR parent = $2) \
                 AND ($3::text IS NULL OR arn > $3) ORDER BY arn LIMIT $4",
                &[&kind, &parent, &after, &limit_of(limit)],
            )?;
            rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect()
        })
    }

    fn delete(&self, arn: &str) -> Result<bool> {
        let arn = arn.to_string();
        self.pool.run(move |client| {
            let mut tx = client.transaction()?;
            let deleted = tx.execute("DELETE FROM resources WHERE arn = $1", &[&arn])?;
            tx.execute("DELETE FROM tags WHERE arn = $1", &[&arn])?;
            tx.commit()?;
            Ok(deleted > 0)
        })
    }

    fn tags(&self, arn: &str) -> Result<Vec<(String, String)>> {
        let arn = arn.to_string();
        self.pool.run(move |client| {
            let rows = client.query(
                "SELECT key, value FROM tags WHERE arn = $1 ORDER BY key",
                &[&arn],
            )?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
        })
    }

    fn tag(&self, arn: &str, tags: &[(String, String)]) -> Result<()> {
        let arn = arn.to_string();
        let tags = tags.to_vec();
        self.pool.run(move |client| {
            let mut tx = client.transaction()?;
            for (key, value) in &tags {
                tx.execute(
                    "INSERT INTO tags (arn, key, value) VALUES ($1, $2, $3) ON CONFLICT (arn, key) DO UPDATE SET value = EXCLUDED.value",
                    &[&arn, key, value],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn untag(&self, arn: &str, keys: &[String]) -> Result<()> {
        let arn = arn.to_string();
        let keys = keys.to_vec();
        self.pool.run(move |client| {
            client.execute(
                "DELETE FROM tags WHERE arn = $1 AND key = ANY($2)",
                &[&arn, &keys],
            )?;
            Ok(())
        })
    }
}
