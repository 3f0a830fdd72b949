//! Which build of windlass a process runs, so the CLI can tell an agent
//! started by an older binary (a user who upgraded windlass while its agent
//! ran in the background) from its own.
//!
//! The identity is the version and the executable file's size and
//! modification time as the process found them when it started: read once,
//! because a binary replaced on disk afterwards no longer names the one
//! running.

use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

/// One build of windlass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    pub version: String,
    /// The executable the process was started from.
    pub executable: String,
    pub size: u64,
    /// Its modification time, in nanoseconds since the epoch.
    pub modified: u128,
}

impl Build {
    /// This process's build, as its executable was when first asked (the
    /// agent asks as it starts).
    pub fn current() -> Option<Build> {
        static CURRENT: OnceLock<Option<Build>> = OnceLock::new();
        CURRENT.get_or_init(read).clone()
    }
}

impl std::fmt::Display for Build {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let modified = i128::try_from(self.modified)
            .ok()
            .and_then(|nanos| time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok())
            .and_then(|at| {
                at.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "an unknown time".to_owned());
        write!(
            f,
            "windlass {} ({} of {modified}, {} bytes)",
            self.version, self.executable, self.size
        )
    }
}

fn read() -> Option<Build> {
    let executable = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&executable).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(Build {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        executable: executable.display().to_string(),
        size: meta.len(),
        modified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_build_is_read_once_and_names_this_executable() {
        let first = Build::current().expect("the test binary's build");
        assert_eq!(Build::current(), Some(first.clone()));
        assert!(first.size > 0);
        let exe = std::env::current_exe().expect("exe");
        assert_eq!(first.executable, exe.display().to_string());
        assert!(first.to_string().starts_with("windlass "));
    }
}
