//! What a service mounts: `volumes` (named volumes, bind mounts, tmpfs, in
//! the short `SOURCE:TARGET:MODE` and the long syntax), `secrets` and
//! `configs`, and the top-level `volumes`, `secrets` and `configs` they
//! refer to.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::de;
use serde::Deserialize;

use super::values::{self, visitor};

/// One entry of a service's `volumes`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceVolume {
    pub kind: MountKind,
    /// A named volume's key in the top-level `volumes`, or a bind mount's
    /// host path (absolute once loaded); `None` for an anonymous volume and
    /// for tmpfs.
    pub source: Option<String>,
    /// The path in the container.
    pub target: String,
    pub read_only: bool,
    /// Volume: do not copy the image's files at the target into a new volume.
    pub nocopy: bool,
    /// Tmpfs: size in bytes.
    pub size: Option<u64>,
    /// Tmpfs: file mode of the mount's root.
    pub mode: Option<u32>,
    /// Bind: create the host path when it is missing (the short syntax does).
    pub create_host_path: bool,
    /// Named volume: the engine's volume, resolved from the top-level
    /// `volumes` with the project's name once loaded.
    pub volume: Option<crate::backend::VolumeSpec>,
    /// Bind: the host path is a file, not a directory (found once loaded;
    /// a missing path is made a directory by the engine).
    pub single_file: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    #[default]
    Volume,
    Bind,
    Tmpfs,
}

impl fmt::Display for MountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MountKind::Volume => "volume",
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LongVolume {
    #[serde(rename = "type")]
    kind: MountKind,
    source: Option<String>,
    target: String,
    #[serde(default)]
    read_only: bool,
    bind: Option<BindOptions>,
    volume: Option<VolumeOptions>,
    tmpfs: Option<TmpfsOptions>,
    /// Accepted for Docker Desktop files; the engine on Linux ignores it.
    #[allow(dead_code)]
    consistency: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BindOptions {
    #[serde(default)]
    create_host_path: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VolumeOptions {
    #[serde(default)]
    nocopy: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TmpfsOptions {
    #[serde(default, deserialize_with = "values::optional_bytes")]
    size: Option<u64>,
    #[serde(default, deserialize_with = "values::optional_mode")]
    mode: Option<u32>,
}

const VOLUME_SYNTAX: &str = "a volume as SOURCE:TARGET[:ro|rw] (a volume name, or a path starting with ., / or ~), TARGET alone, or a map with type (volume, bind, tmpfs), source, target, read_only";

visitor!(VolumeVisitor -> ServiceVolume, VOLUME_SYNTAX, {
    fn visit_str<E: de::Error>(self, text: &str) -> Result<ServiceVolume, E> {
        parse_short_volume(text).map_err(E::custom)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<ServiceVolume, A::Error> {
        let long = LongVolume::deserialize(de::value::MapAccessDeserializer::new(map))?;
        if long.kind == MountKind::Tmpfs && long.source.is_some() {
            return Err(de::Error::custom("a tmpfs mount has no source: remove `source`"));
        }
        if long.kind == MountKind::Bind && long.source.is_none() {
            return Err(de::Error::custom("a bind mount needs a `source`: the host path to mount"));
        }
        Ok(ServiceVolume {
            kind: long.kind,
            source: long.source,
            target: long.target,
            read_only: long.read_only,
            nocopy: long.volume.is_some_and(|v| v.nocopy),
            size: long.tmpfs.as_ref().and_then(|t| t.size),
            mode: long.tmpfs.as_ref().and_then(|t| t.mode),
            create_host_path: long.bind.is_some_and(|b| b.create_host_path),
            volume: None,
            single_file: false,
        })
    }
});

fn parse_short_volume(text: &str) -> Result<ServiceVolume, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts[..] {
        [target] => (None, target, None),
        [source, target] => (Some(source), target, None),
        [source, target, mode] => (Some(source), target, Some(mode)),
        _ => return Err(format!("invalid volume {text:?}: expected {VOLUME_SYNTAX}")),
    };
    if !target.starts_with('/') {
        return Err(format!(
            "invalid volume {text:?}: the container path {target:?} must be absolute (start with /)"
        ));
    }
    let mut read_only = false;
    let mut nocopy = false;
    for option in mode.into_iter().flat_map(|m| m.split(',')) {
        match option {
            "ro" => read_only = true,
            "rw" | "z" | "Z" | "cached" | "delegated" | "consistent" => {}
            "nocopy" => nocopy = true,
            other => {
                return Err(format!(
                "invalid volume {text:?}: unknown mode {other:?}, expected ro, rw, nocopy, z or Z"
            ))
            }
        }
    }
    let kind = match source {
        Some(s) if s.starts_with(['.', '/', '~']) => MountKind::Bind,
        _ => MountKind::Volume,
    };
    Ok(ServiceVolume {
        kind,
        source: source.map(str::to_owned),
        target: target.to_owned(),
        read_only,
        nocopy,
        create_host_path: kind == MountKind::Bind,
        ..ServiceVolume::default()
    })
}

impl<'de> Deserialize<'de> for ServiceVolume {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ServiceVolume, D::Error> {
        d.deserialize_any(VolumeVisitor)
    }
}

pub(crate) fn service_volumes<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ServiceVolume>, D::Error> {
    Vec::<ServiceVolume>::deserialize(d)
}

/// One entry of a service's `secrets` or `configs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileRef {
    /// The key in the top-level `secrets` or `configs`.
    pub source: String,
    /// The path in the container: `/run/secrets/NAME` (secrets) or `/NAME`
    /// (configs) unless given; absolute once loaded.
    pub target: Option<String>,
    /// File mode, 0444 unless given (Compose's default).
    pub mode: Option<u32>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    /// What the file holds, resolved from the top-level entry once loaded.
    pub content: Option<FileContent>,
    /// The top-level entry it refers to, once loaded: what a Swarm's store
    /// needs besides the content (external name, labels, drivers).
    pub declared: Option<FileSource>,
}

/// Where a secret's or config's bytes come from.
#[derive(Clone, PartialEq)]
pub enum FileContent {
    /// A host file, bind-mounted read-only.
    File(PathBuf),
    /// Text from an environment variable or inline `content`, written to a
    /// file with mode 0400 under the state folder and bind-mounted.
    Text(String),
    /// A host file's bytes as they were when the release was deployed to a
    /// Swarm (pinned with its text, `x-windlass-files`): the release keeps
    /// its value when the file changes since.
    Bytes(Vec<u8>),
}

impl fmt::Debug for FileContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileContent::File(path) => f.debug_tuple("File").field(path).finish(),
            // Secrets stay out of logs.
            FileContent::Text(text) => write!(f, "Text(<{} bytes>)", text.len()),
            FileContent::Bytes(bytes) => write!(f, "Bytes(<{} bytes>)", bytes.len()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LongFileRef {
    source: String,
    target: Option<String>,
    #[serde(default, deserialize_with = "values::optional_scalar")]
    uid: Option<String>,
    #[serde(default, deserialize_with = "values::optional_scalar")]
    gid: Option<String>,
    #[serde(default, deserialize_with = "values::optional_mode")]
    mode: Option<u32>,
}

visitor!(FileRefVisitor -> FileRef, "a name from the top-level list, or a map with source, target, uid, gid, mode", {
    fn visit_str<E: de::Error>(self, name: &str) -> Result<FileRef, E> {
        Ok(FileRef { source: name.to_owned(), ..FileRef::default() })
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<FileRef, A::Error> {
        let long = LongFileRef::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(FileRef { source: long.source, target: long.target, mode: long.mode, uid: long.uid, gid: long.gid, content: None, declared: None })
    }
});

impl<'de> Deserialize<'de> for FileRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FileRef, D::Error> {
        d.deserialize_any(FileRefVisitor)
    }
}

pub(crate) fn file_refs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<FileRef>, D::Error> {
    Vec::<FileRef>::deserialize(d)
}

/// A volume declared at the top level.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    pub driver: Option<String>,
    #[serde(default, deserialize_with = "values::string_map")]
    pub driver_opts: BTreeMap<String, String>,
    /// Made elsewhere; windlass only checks that it exists.
    #[serde(default)]
    pub external: bool,
    /// The engine's name: as written, or `PROJECT_KEY` once loaded.
    pub name: Option<String>,
    #[serde(default, deserialize_with = "values::key_values")]
    pub labels: BTreeMap<String, Option<String>>,
    #[serde(skip)]
    pub extensions: super::Extensions,
}

/// A secret or config declared at the top level: exactly one source.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    /// A host file, absolute once loaded.
    pub file: Option<PathBuf>,
    /// The name of an environment variable holding the content.
    pub environment: Option<String>,
    /// Inline content (configs only).
    pub content: Option<String>,
    /// In the Swarm's store already, by `name` (else the key): on a Swarm
    /// target only; the local engine has no such store.
    #[serde(default)]
    pub external: bool,
    pub name: Option<String>,
    /// Labels of the Swarm secret or config (Swarm target only).
    #[serde(default, deserialize_with = "values::key_values")]
    pub labels: BTreeMap<String, Option<String>>,
    /// A Swarm secret driver (a plugin) that gives the value (Swarm target
    /// only, secrets only).
    pub driver: Option<String>,
    #[serde(default, deserialize_with = "values::string_map")]
    pub driver_opts: BTreeMap<String, String>,
    /// A Swarm templating driver (`golang`) rendering the value in each task
    /// (Swarm target only).
    pub template_driver: Option<String>,
    #[serde(skip)]
    pub extensions: super::Extensions,
}
