//! A service's fingerprint: one digest of everything a deploy of it is made
//! from besides the image it names. Its resolved configuration (paths
//! absolute, env files already read into `environment`), the top-level
//! networks, volumes, secrets and configs it uses, the bytes of the secret
//! and config files it mounts, and, when it is built, every file of its
//! build context. Two deploys with the same fingerprint (and, for a service
//! that names an image, the same image id) start the same containers.

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::mounts::{FileContent, MountKind, Volume};
use super::{Network, Project};

impl Project {
    /// `sha256:...` of service `name`, `None` when there is no such service.
    pub fn fingerprint(&self, name: &str) -> Option<String> {
        let service = self.services.get(name)?;
        let mut hash = Sha256::new();
        // Debug output is deterministic for these types (ordered maps); a
        // windlass whose types print differently only redeploys once. The
        // `x-` extensions start nothing (`x-windlass` is read into
        // `windlass`), so they are left out.
        let mut read = service.clone();
        read.extensions.clear();
        // `develop` is `docker compose watch`'s: it starts nothing either.
        read.develop = None;
        hash.update(format!("{read:?}"));
        for network in service.networks.0.keys() {
            hash.update(format!(
                "network {network}: {:?}",
                self.networks.get(network).map(|n| Network {
                    extensions: Default::default(),
                    ..n.clone()
                })
            ));
        }
        for volume in &service.volumes {
            if let (MountKind::Volume, Some(source)) = (volume.kind, &volume.source) {
                let volume = self.volumes.get(source).map(|v| Volume {
                    extensions: Default::default(),
                    ..v.clone()
                });
                hash.update(format!("volume {source}: {volume:?}"));
            }
        }
        for file in service.secrets.iter().chain(&service.configs) {
            match &file.content {
                Some(FileContent::File(path)) => {
                    hash.update(format!("file {}", path.display()));
                    hash.update(std::fs::read(path).unwrap_or_default());
                }
                Some(FileContent::Text(text)) => hash.update(format!("text {text}")),
                Some(FileContent::Bytes(bytes)) => {
                    hash.update("bytes ");
                    hash.update(bytes);
                }
                None => {}
            }
        }
        if let Some(build) = &service.build {
            tree(&build.context, &build.context, &mut hash);
        }
        let mut text = String::from("sha256:");
        for byte in hash.finalize() {
            let _ = write!(text, "{byte:02x}");
        }
        Some(text)
    }
}

/// Every entry under `dir`, in name order: its path relative to `root`, its
/// kind, and a file's bytes or a link's target. `.git` is left out, as
/// changes there change no image.
fn tree(root: &Path, dir: &Path, hash: &mut Sha256) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        hash.update(format!("unreadable {}", dir.display()));
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name() == ".git" {
            continue;
        }
        let path = entry.path();
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_symlink() {
            let target = std::fs::read_link(&path).unwrap_or_default();
            hash.update(format!("link {relative} -> {}\n", target.display()));
        } else if kind.is_dir() {
            hash.update(format!("dir {relative}\n"));
            tree(root, &path, hash);
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            hash.update(format!("file {relative} {}\n", bytes.len()));
            hash.update(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    #[test]
    fn a_fingerprint_changes_with_the_configuration_and_the_build_context() {
        let dir = std::env::temp_dir().join(format!("wl-fingerprint-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("app")).expect("dir");
        std::fs::write(dir.join("app/Dockerfile"), "FROM scratch\n").expect("Dockerfile");
        std::fs::write(dir.join("app/main.txt"), "one").expect("source");
        let file = dir.join("compose.yaml");
        let text = |env: &str| {
            format!("services:\n  web:\n    build: ./app\n    environment: {{MODE: {env}}}\n  db:\n    image: db\n")
        };
        let fingerprint = |text: &str, service: &str| {
            parse(text, &file)
                .expect("valid")
                .fingerprint(service)
                .expect("service")
        };
        let first = fingerprint(&text("a"), "web");
        assert!(first.starts_with("sha256:"), "{first}");
        assert_eq!(fingerprint(&text("a"), "web"), first, "stable");
        assert_ne!(fingerprint(&text("b"), "web"), first, "configuration");
        let db = fingerprint(&text("a"), "db");
        assert_eq!(
            fingerprint(&text("b"), "db"),
            db,
            "another service's change"
        );
        std::fs::write(dir.join("app/main.txt"), "two").expect("source");
        assert_ne!(fingerprint(&text("a"), "web"), first, "build context");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
