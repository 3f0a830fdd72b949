//! `include`: other Compose files loaded as projects of their own (their
//! folder, their env file), whose services, networks, volumes, secrets and
//! configs join the including file's; a resource defined on both sides is
//! the included one with the including file's merged over it, as in
//! Compose; a file that includes itself is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use super::diagnostic::Report;
use super::interpolate::key_text;
use super::locate::FieldPath;
use super::merge::merge_resource;
use super::paths::absolute;
use super::read::{kind, read_env_files, read_unit, Input};

const RESOURCES: [&str; 5] = ["services", "networks", "volumes", "secrets", "configs"];

/// Loads the file's `include` entries and adds their resources to it.
pub(crate) fn include(
    value: &mut Value,
    base: &Path,
    env: &BTreeMap<String, String>,
    stack: &mut Vec<PathBuf>,
    report: &mut Report,
) {
    let Value::Mapping(top) = value else {
        return;
    };
    let Some(entries) = top.remove("include") else {
        return;
    };
    let entries = match entries {
        Value::Sequence(items) => items,
        other => {
            report.error(&FieldPath::of(&["include"]), format!("expected a list of paths or of {{path, project_directory, env_file}}, found {}", kind(&other)));
            return;
        }
    };
    for (i, entry) in entries.into_iter().enumerate() {
        let at = FieldPath::of(&["include"]).index(i);
        let Some((files, dir, env_files)) = include_entry(&entry, base, &at, report) else {
            continue;
        };
        if let Some(looped) = files.iter().find(|f| stack.contains(f)) {
            report.error(
                &at,
                format!(
                    "{} includes itself (through {}): remove one of the includes",
                    looped.display(),
                    stack
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" -> ")
                ),
            );
            continue;
        }
        let mut included_env = read_env_files(&env_files, !env_files.is_empty(), env, report);
        if env_files.is_empty() {
            included_env = read_env_files(&[dir.join(".env")], false, env, report);
        }
        included_env.extend(env.clone());
        let inputs: Vec<Input<'_>> = files
            .into_iter()
            .map(|file| Input { file, text: None })
            .collect();
        let Some(Value::Mapping(mut included)) =
            read_unit(&inputs, &dir, &included_env, stack, report)
        else {
            continue;
        };
        for section in RESOURCES {
            let Some(Value::Mapping(theirs)) = included.remove(section) else {
                continue;
            };
            let ours = top
                .entry(section.into())
                .or_insert_with(|| Value::Mapping(Mapping::new()));
            if ours.is_null() {
                *ours = Value::Mapping(Mapping::new());
            }
            let Value::Mapping(ours) = ours else {
                continue;
            };
            for (key, resource) in theirs {
                // The including file's definition is merged over the
                // included one, as Compose does since compose-go 2.10
                // ("Allow importing compose file to override resource
                // definition"): wger's file tunes the `db` it includes.
                let merged = match ours.remove(&key) {
                    Some(own) => {
                        let mut merged = resource;
                        merge_resource(section, &mut merged, own);
                        merged
                    }
                    None => resource,
                };
                ours.insert(key, merged);
            }
        }
    }
}

type IncludeEntry = (Vec<PathBuf>, PathBuf, Vec<PathBuf>);

fn include_entry(
    entry: &Value,
    base: &Path,
    at: &FieldPath,
    report: &mut Report,
) -> Option<IncludeEntry> {
    let paths = |value: &Value| -> Option<Vec<PathBuf>> {
        match value {
            Value::String(p) => Some(vec![absolute(base, Path::new(p), None)]),
            Value::Sequence(items) => items
                .iter()
                .map(|i| i.as_str().map(|p| absolute(base, Path::new(p), None)))
                .collect(),
            _ => None,
        }
    };
    match entry {
        Value::String(_) => {
            let files = paths(entry)?;
            let dir = files[0]
                .parent()
                .map_or_else(|| base.to_owned(), Path::to_owned);
            Some((files, dir, Vec::new()))
        }
        Value::Mapping(long) => {
            for key in long.keys().map(key_text) {
                if !["path", "project_directory", "env_file"].contains(&key.as_str()) {
                    report.error(&at.key(&key), format!("unknown field `{key}`, expected `path`, `project_directory` or `env_file`"));
                }
            }
            let Some(files) = long.get("path").and_then(paths).filter(|f| !f.is_empty()) else {
                report.error(at, "an include needs `path`: a file or a list of files");
                return None;
            };
            let dir = match long.get("project_directory").and_then(Value::as_str) {
                Some(dir) => absolute(base, Path::new(dir), None),
                None => files[0]
                    .parent()
                    .map_or_else(|| base.to_owned(), Path::to_owned),
            };
            let env_files = long.get("env_file").and_then(|v| match v {
                Value::String(p) => Some(vec![absolute(base, Path::new(p), None)]),
                Value::Sequence(items) => items
                    .iter()
                    .map(|i| i.as_str().map(|p| absolute(base, Path::new(p), None)))
                    .collect(),
                _ => None,
            });
            Some((files, dir, env_files.unwrap_or_default()))
        }
        other => {
            report.error(
                at,
                format!(
                    "expected a path or a map with path, project_directory, env_file, found {}",
                    kind(other)
                ),
            );
            None
        }
    }
}
