//! State at rest kept to its owner (folders 0700, files 0600), and the
//! open-files limit a long-lived server needs.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

use super::Error;

/// Creates `dir` (and its missing parents) mode 0700, or makes an
/// existing one 0700: state folders hold the database, secrets in pinned
/// Compose texts, and the control sockets.
pub fn private_dir(dir: &Path) -> Result<(), Error> {
    let failed = |source| Error::Private {
        path: dir.to_owned(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(failed)?;
    set_mode(dir, 0o700).map_err(failed)
}

/// Creates `file` empty, mode 0600, when missing, or makes an existing one
/// 0600 (SQLite gives its `-wal` and `-shm` files the database's mode).
pub fn private_file(file: &Path) -> Result<(), Error> {
    let failed = |source| Error::Private {
        path: file.to_owned(),
        source,
    };
    if file.exists() {
        return set_mode(file, 0o600).map_err(failed);
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(file)
        .map_err(failed)?;
    set_mode(file, 0o600).map_err(failed)
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    let current = std::fs::metadata(path)?.permissions().mode() & 0o7777;
    if current == mode {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Raises this process's soft limit of open files to its hard limit (a
/// proxy holds two descriptors per proxied connection; the usual soft
/// limit of 1024 is reached by a few hundred clients). Gives the limit in
/// force afterwards, `None` for unlimited.
pub fn raise_open_files() -> std::io::Result<Option<u64>> {
    let limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return Ok(limit.current);
    }
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised)?;
    Ok(getrlimit(Resource::Nofile).current)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn folders_and_files_are_made_private_new_or_old() {
        let root = std::env::temp_dir().join(format!("windlass-owner-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("state").join("proxy");
        private_dir(&dir).expect("new folder");
        assert_eq!(mode(&dir), 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        private_dir(&dir).expect("old folder");
        assert_eq!(mode(&dir), 0o700);

        let file = dir.join("windlass.db");
        private_file(&file).expect("new file");
        assert_eq!(mode(&file), 0o600);
        std::fs::write(&file, "kept").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        private_file(&file).expect("old file");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).expect("read"), "kept");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
        let hard = getrlimit(Resource::Nofile).maximum;
        assert_eq!(raise_open_files().expect("raised"), hard);
        assert_eq!(getrlimit(Resource::Nofile).current, hard);
    }
}
