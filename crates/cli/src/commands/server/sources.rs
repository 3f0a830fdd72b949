//! Where `windlass server`'s access keys and store come from: flags, the
//! environment (`WINDLASS_ACCESS_KEYS`, `WINDLASS_STORE`) or a key file of
//! mode 0600. A secret on the command line still works, with a warning:
//! `ps` shows it to every user of the machine.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use windlass_server::sigv4::AccessKey;

use super::Args;

/// Where access keys come from when not given with --access-key: `ID:SECRET[,ID:SECRET...]`.
pub(super) const ACCESS_KEYS_ENV: &str = "WINDLASS_ACCESS_KEYS";

/// Where the store comes from when not given with --store.
const STORE_ENV: &str = "WINDLASS_STORE";

pub(super) enum StoreChoice {
    Sqlite(PathBuf),
    Postgres(String),
    Memory,
}

/// The store `--store` or WINDLASS_STORE names; a password given on the
/// command line is warned about.
fn store_spec(args: &Args) -> anyhow::Result<Option<String>> {
    if let Some(spec) = &args.store {
        // Only a URL with a password is worth the warning.
        if redacted(spec) != *spec {
            tracing::warn!(
                "--store shows the database password to every user of this machine (`ps`); \
                 give the URL in {STORE_ENV} instead"
            );
        }
        return Ok(Some(spec.clone()));
    }
    match std::env::var(STORE_ENV) {
        Ok(spec) if !spec.trim().is_empty() => {
            if args.data_dir.is_some() {
                bail!("--data-dir and {STORE_ENV} both name a store: give one");
            }
            Ok(Some(spec.trim().to_string()))
        }
        _ => Ok(None),
    }
}

pub(super) fn store_choice(args: &Args) -> anyhow::Result<StoreChoice> {
    match store_spec(args)?.as_deref() {
        Some("memory") => Ok(StoreChoice::Memory),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(StoreChoice::Postgres(url.to_string()))
        }
        Some(spec) => match spec.strip_prefix("sqlite:") {
            Some(path) if !path.is_empty() => Ok(StoreChoice::Sqlite(PathBuf::from(path))),
            _ => bail!(
                "the store is sqlite:PATH, postgres://... or memory, not '{}'",
                redacted(spec)
            ),
        },
        None => {
            let dir = args
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("windlass-data"));
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
            Ok(StoreChoice::Sqlite(dir.join("windlass.db")))
        }
    }
}

/// A store URL with its password hidden, for messages.
fn redacted(spec: &str) -> String {
    match (spec.find("://"), spec.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user_info = &spec[scheme + 3..at];
            match user_info.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &spec[..scheme + 3], &spec[at..]),
                None => spec.to_string(),
            }
        }
        _ => spec.to_string(),
    }
}

/// The access keys: --access-key (warned about), --access-key-file, or
/// WINDLASS_ACCESS_KEYS, all of those given.
pub(super) fn access_keys(args: &Args) -> anyhow::Result<Vec<AccessKey>> {
    let mut keys = args.access_keys.clone();
    if !keys.is_empty() {
        tracing::warn!(
            "--access-key shows the secret to every user of this machine (`ps`); give the keys in \
             {ACCESS_KEYS_ENV} or in a file of mode 0600 named by --access-key-file"
        );
    }
    if let Some(path) = &args.access_key_file {
        keys.extend(access_key_file(path)?);
    }
    if let Ok(text) = std::env::var(ACCESS_KEYS_ENV) {
        for key in text.split(',').filter(|k| !k.trim().is_empty()) {
            keys.push(
                key.trim()
                    .parse::<AccessKey>()
                    .map_err(|e| anyhow::anyhow!("{ACCESS_KEYS_ENV}: {e}"))?,
            );
        }
    }
    Ok(keys)
}

/// The keys of a file of `ID:SECRET` lines, refused when other users may
/// read it.
fn access_key_file(path: &Path) -> anyhow::Result<Vec<AccessKey>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot read the access key file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "the access key file {} may be read by other users (mode {:04o}): `chmod 600 {}`",
                path.display(),
                mode & 0o7777,
                path.display()
            );
        }
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the access key file {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(number, line)| {
            // The error would quote the line, secret included: say where only.
            line.parse::<AccessKey>().map_err(|_| {
                anyhow::anyhow!(
                    "{} line {number}: an access key is written ID:SECRET",
                    path.display()
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_url_is_shown_without_its_password() {
        assert_eq!(
            redacted("postgres://windlass:s3cret@db:5432/windlass"),
            "postgres://windlass:***@db:5432/windlass"
        );
        assert_eq!(redacted("postgres://db/windlass"), "postgres://db/windlass");
        assert_eq!(
            redacted("postgres://windlass@db/windlass"),
            "postgres://windlass@db/windlass"
        );
        assert_eq!(redacted("sqlite:/var/lib/w.db"), "sqlite:/var/lib/w.db");
    }

    #[test]
    fn a_key_file_holds_one_key_a_line_and_never_echoes_a_bad_one() {
        let dir = std::env::temp_dir().join(format!("windlass-keys-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let path = dir.join("keys");
        let private = |text: &str| {
            std::fs::write(&path, text).expect("writes");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod");
            }
        };
        private("# keys\nAKID1:one\n\n  AKID2:two:with:colons  \n");
        let keys = access_key_file(&path).expect("two keys");
        assert_eq!(
            keys.iter()
                .map(|k| (k.id.as_str(), k.secret.as_str()))
                .collect::<Vec<_>>(),
            [("AKID1", "one"), ("AKID2", "two:with:colons")]
        );
        private("AKID1:one\nsecret-without-an-id\n");
        let error = access_key_file(&path).expect_err("a bad line").to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(!error.contains("secret-without-an-id"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
