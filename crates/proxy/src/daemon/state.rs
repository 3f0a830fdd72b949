//! The daemon's state file: its routing table (each service's spec with the
//! address it bound, and its live release), written whole on every change by
//! writing a temporary file and renaming it over the old one, so that a
//! reader (a restarted daemon) sees either the old table or the new, never
//! half of one.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::api::{CanaryRelease, LiveRelease, ServiceName, ServiceSpec};
use super::Error;

/// The file's name in the state directory.
pub const STATE_FILE: &str = "proxy-state.json";
/// Version 2 gave a service several ports; version 1's one-port form
/// still reads (see [`ServiceSpec`]).
const VERSION: u32 = 2;
const READABLE: [u32; 2] = [1, VERSION];

/// The routing table as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub version: u32,
    pub services: BTreeMap<ServiceName, Route>,
}

/// One service's stored routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub spec: ServiceSpec,
    pub live: Option<LiveRelease>,
    /// A canary beside the live release, with its weight: a restarted
    /// daemon routes the same share to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryRelease>,
}

impl Table {
    pub fn new(services: BTreeMap<ServiceName, Route>) -> Table {
        Table {
            version: VERSION,
            services,
        }
    }
}

/// Reads the table in `dir`; an absent file is an empty table (a first start).
pub fn read(dir: &Path) -> Result<Table, Error> {
    let path = dir.join(STATE_FILE);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Table::new(BTreeMap::new())),
        Err(source) => return Err(Error::StateFile { path, source }),
    };
    let table: Table = serde_json::from_slice(&text).map_err(|source| Error::StateCorrupt {
        path: path.clone(),
        source,
    })?;
    if !READABLE.contains(&table.version) {
        return Err(Error::StateVersion {
            path,
            found: table.version,
            expected: VERSION,
        });
    }
    Ok(table)
}

/// Writes `table` to `dir` atomically and durably: the temporary file is
/// synced before the rename and the directory after it.
pub fn write(dir: &Path, table: &Table) -> Result<(), Error> {
    let path = dir.join(STATE_FILE);
    let temporary = dir.join(format!("{STATE_FILE}.tmp"));
    let text = serde_json::to_vec_pretty(table).map_err(|source| Error::StateCorrupt {
        path: path.clone(),
        source,
    })?;
    let failed = |path: &PathBuf| {
        let path = path.clone();
        move |source| Error::StateFile { path, source }
    };
    let mut file = File::create(&temporary).map_err(failed(&temporary))?;
    file.write_all(&text).map_err(failed(&temporary))?;
    file.sync_all().map_err(failed(&temporary))?;
    drop(file);
    fs::rename(&temporary, &path).map_err(failed(&path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(failed(&dir.to_path_buf()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "windlass-proxy-state-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch directory");
        dir
    }

    #[test]
    fn a_written_table_reads_back_and_replaces_the_old_one() {
        let dir = scratch("roundtrip");
        assert_eq!(read(&dir).expect("empty").services.len(), 0);
        let name: ServiceName = "db".parse().expect("name");
        let route = Route {
            spec: ServiceSpec::new("127.0.0.1:6380".parse().expect("addr"), Protocol::Tcp),
            live: Some(LiveRelease::new(
                "r1",
                vec!["127.0.0.1:7001".parse().expect("addr")],
            )),
            canary: None,
        };
        let table = Table::new([(name.clone(), route)].into());
        write(&dir, &table).expect("write");
        write(&dir, &table).expect("write again over it");
        assert_eq!(read(&dir).expect("read"), table);
        assert!(!dir.join(format!("{STATE_FILE}.tmp")).exists());
        fs::write(dir.join(STATE_FILE), b"{\"version\":1,").expect("corrupt it");
        match read(&dir) {
            Err(Error::StateCorrupt { path, .. }) => assert_eq!(path, dir.join(STATE_FILE)),
            other => panic!("expected a corrupt state file error, got {other:?}"),
        }
        let _ = fs::remove_dir_all(&dir);
    }

    /// A version-1 daemon's file reads as one port per service, its
    /// upstreams named "".
    #[test]
    fn a_version_1_table_reads() {
        let dir = scratch("v1");
        let v1 = r#"{"version":1,"services":{"db":{"spec":{"listen":"127.0.0.1:6380","protocol":"tcp","hold_timeout_ms":30000},"live":{"release":"r1","upstreams":["127.0.0.1:7001"]}}}}"#;
        fs::write(dir.join(STATE_FILE), v1).expect("write v1");
        let table = read(&dir).expect("v1 reads");
        let route = &table.services[&"db".parse::<ServiceName>().expect("name")];
        assert_eq!(
            route.spec,
            ServiceSpec::new("127.0.0.1:6380".parse().expect("addr"), Protocol::Tcp)
        );
        assert_eq!(
            route.live,
            Some(LiveRelease::new(
                "r1",
                vec!["127.0.0.1:7001".parse().expect("addr")]
            ))
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
