//! Secrets and configs given as text (an environment variable, inline
//! `content`) become files the container can mount: one folder of mode 0700
//! per container under the backend's secrets folder, one file of mode 0400
//! per secret. The folder goes when the container is removed; a container
//! of the same name made again rewrites its files.

use std::path::{Path, PathBuf};

use crate::backend::Error;

/// Writes a text secret for container `name` as a file of mode 0400 in
/// a folder of mode 0700, and returns its path.
pub(super) fn write(
    secrets_dir: &Path,
    name: &str,
    target: &str,
    bytes: &[u8],
) -> Result<PathBuf, Error> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let fail = |err: std::io::Error| Error::Engine {
        operation: "write secret for container",
        name: name.to_owned(),
        message: format!("{err} (under {})", secrets_dir.display()),
    };
    let dir = secrets_dir.join(name);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(fail)?;
    let file = dir.join(target.trim_start_matches('/').replace('/', "_"));
    match std::fs::remove_file(&file) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(fail(err)),
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .open(&file)
        .map_err(fail)?;
    std::io::Write::write_all(&mut out, bytes).map_err(fail)?;
    Ok(file)
}

/// Removes container `name`'s folder of secrets, if it has one.
pub(super) fn remove(secrets_dir: &Path, name: &str) -> Result<(), Error> {
    let dir = secrets_dir.join(name);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(Error::Engine {
            operation: "remove the secrets of container",
            name: name.to_owned(),
            message: format!("{err} (under {})", secrets_dir.display()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::write;

    #[test]
    fn writes_0400_files_in_a_0700_folder_and_rewrites_them() {
        let dir = std::env::temp_dir().join(format!("windlass-secrets-{}", std::process::id()));
        let first = write(&dir, "web-r1-0", "/run/secrets/api.key", b"one").expect("write");
        let again = write(&dir, "web-r1-0", "/run/secrets/api.key", b"two").expect("rewrite");
        assert_eq!(first, again);
        super::remove(&dir, "web-r1-0").expect("remove");
        assert!(!dir.join("web-r1-0").exists(), "removed with its container");
        super::remove(&dir, "web-r1-0").expect("removing none is fine");
        let again = write(&dir, "web-r1-0", "/run/secrets/api.key", b"two").expect("rewrite");
        assert_eq!(std::fs::read(&again).expect("read"), b"two");
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&again), 0o400);
        assert_eq!(mode(&dir.join("web-r1-0")), 0o700);
        assert_eq!(
            again.file_name().and_then(|n| n.to_str()),
            Some("run_secrets_api.key")
        );
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
