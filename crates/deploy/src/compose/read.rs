//! From files to one YAML tree: each file read and parsed, merge keys
//! applied, variables interpolated (the project's `.env` under the process
//! environment), relative paths made absolute against the project folder,
//! `include`s loaded as projects of their own, then the files merged in
//! order as `-f a.yaml -f b.yaml` merges them.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_norway::{Mapping, Value};

use super::diagnostic::{Report, Source};
use super::interpolate::{interpolate_tree, key_text, Finding};
use super::locate::FieldPath;
use super::merge::merge_files;
use super::{dotenv, Options};

/// The merged tree and what it was read with.
pub(crate) struct Loaded {
    pub value: Value,
    pub project_dir: PathBuf,
    /// The interpolation variables: `.env`, then the environment over it.
    pub env: BTreeMap<String, String>,
}

/// One file to read; `text` when the caller has it already.
pub(crate) struct Input<'a> {
    pub file: PathBuf,
    pub text: Option<&'a str>,
}

/// Reads `inputs` as one project; `None` when nothing usable was read.
pub(crate) fn read(inputs: &[Input<'_>], options: &Options, report: &mut Report) -> Option<Loaded> {
    let first = inputs.first()?;
    let project_dir = absolute(&cwd(), first.file.parent().unwrap_or(Path::new("")), None);
    let mut env = read_env_files(
        &[project_dir.join(".env")],
        false,
        &options.environment,
        report,
    );
    env.extend(options.environment.clone());
    let value = read_unit(inputs, &project_dir, &env, &mut Vec::new(), report)?;
    Some(Loaded {
        value,
        project_dir,
        env,
    })
}

fn cwd() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
}

/// Variables of env files, later files over earlier ones; a missing file
/// is an error only when `required`.
fn read_env_files(
    files: &[PathBuf],
    required: bool,
    environment: &BTreeMap<String, String>,
    report: &mut Report,
) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(err) if !required && err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                report.at(
                    file,
                    1,
                    1,
                    "env_file",
                    format!("cannot read the env file: {err}"),
                );
                continue;
            }
        };
        let lookup = |name: &str| environment.get(name).cloned();
        match dotenv::parse(&text, &lookup) {
            Ok(parsed) => vars.extend(parsed.into_iter().filter_map(|(k, v)| Some((k, v?)))),
            Err(err) => report.at(file, err.line, 1, "env_file", err.message),
        }
    }
    vars
}

/// Reads files that share a project folder and variables, with their
/// includes, and merges them.
fn read_unit(
    inputs: &[Input<'_>],
    project_dir: &Path,
    env: &BTreeMap<String, String>,
    stack: &mut Vec<PathBuf>,
    report: &mut Report,
) -> Option<Value> {
    let mut merged: Option<Value> = None;
    for input in inputs {
        let Some(mut value) = read_file(input, env, report) else {
            continue;
        };
        resolve_paths(&mut value, project_dir, env);
        stack.push(input.file.clone());
        include(&mut value, project_dir, env, stack, report);
        stack.pop();
        match &mut merged {
            None => merged = Some(value),
            Some(base) => merge_files(base, value),
        }
    }
    merged
}

fn read_file(
    input: &Input<'_>,
    env: &BTreeMap<String, String>,
    report: &mut Report,
) -> Option<Value> {
    let file = &input.file;
    let text = match input.text {
        Some(text) => text.to_owned(),
        None => match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(err) => {
                report.at(
                    file,
                    1,
                    1,
                    "file",
                    format!("cannot read {}: {err}", file.display()),
                );
                return None;
            }
        },
    };
    report.sources.push(Source {
        file: file.clone(),
        text: text.clone(),
    });
    let mut value: Value = match serde_norway::from_str(&text) {
        Ok(value) => value,
        Err(err) => {
            let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
            let message = err.to_string();
            let message = match err.location() {
                Some(l) => message.replacen(
                    &format!(" at line {} column {}", l.line(), l.column()),
                    "",
                    1,
                ),
                None => message,
            };
            report.at(file, line, column, "YAML syntax", message);
            return None;
        }
    };
    if let Err(err) = value.apply_merge() {
        report.error(
            &FieldPath::root(),
            format!("a merge key `<<` cannot be applied: {err}"),
        );
        return None;
    }
    if !matches!(value, Value::Mapping(_)) {
        report.at(file, 1, 1, "(top level)", "a Compose file is a mapping with `services` and optionally `name`, `networks`, `volumes`, `secrets`, `configs`, `include`".into());
        return None;
    }
    let lookup = |name: &str| env.get(name).cloned();
    let mut unset: Vec<String> = Vec::new();
    interpolate_tree(
        &mut value,
        &FieldPath::root(),
        &lookup,
        &mut |path, finding| match finding {
            Finding::Error(message) => report.error(&path, message),
            Finding::Unset(name) if !unset.contains(&name) => {
                report.warning(&path, format!("variable {name} is not set, so it is empty here: set it in the environment or in .env, or write ${{{name}:-default}}"));
                unset.push(name);
            }
            Finding::Unset(_) => {}
        },
    );
    Some(value)
}

/// `base` joined with `path`, `~` as the home folder, `.` and `..` resolved
/// without touching the file system.
pub(crate) fn absolute(base: &Path, path: &Path, home: Option<&str>) -> PathBuf {
    let joined = match path.strip_prefix("~") {
        Ok(rest) => Path::new(home.unwrap_or("/root")).join(rest),
        Err(_) => base.join(path),
    };
    let mut clean = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    clean
}

/// Makes the relative paths Compose resolves against the project folder
/// absolute: build contexts, env files, bind mounts, secret and config files.
fn resolve_paths(value: &mut Value, base: &Path, env: &BTreeMap<String, String>) {
    let home = env
        .get("HOME")
        .cloned()
        .or_else(|| std::env::var("HOME").ok());
    let fix = |text: &str| {
        absolute(base, Path::new(text), home.as_deref())
            .display()
            .to_string()
    };
    let Value::Mapping(top) = value else {
        return;
    };
    if let Some(Value::Mapping(services)) = top.get_mut("services") {
        for (_, service) in services.iter_mut() {
            let Value::Mapping(service) = service else {
                continue;
            };
            match service.get_mut("build") {
                Some(Value::String(context)) if is_local(context) => *context = fix(context),
                Some(Value::Mapping(build)) => {
                    if let Some(Value::String(context)) = build.get_mut("context") {
                        if is_local(context) {
                            *context = fix(context);
                        }
                    }
                }
                _ => {}
            }
            match service.get_mut("env_file") {
                Some(Value::String(path)) => *path = fix(path),
                Some(Value::Sequence(items)) => {
                    for item in items {
                        match item {
                            Value::String(path) => *path = fix(path),
                            Value::Mapping(long) => {
                                if let Some(Value::String(path)) = long.get_mut("path") {
                                    *path = fix(path);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            if let Some(Value::Sequence(volumes)) = service.get_mut("volumes") {
                for volume in volumes {
                    resolve_volume(volume, &fix);
                }
            }
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(Value::Mapping(entries)) = top.get_mut(section) {
            for (_, entry) in entries.iter_mut() {
                if let Some(Value::String(file)) = entry.get_mut("file") {
                    *file = fix(file);
                }
            }
        }
    }
}

fn is_local(context: &str) -> bool {
    !context.contains("://") && !context.starts_with("git@")
}

fn resolve_volume(volume: &mut Value, fix: &dyn Fn(&str) -> String) {
    match volume {
        Value::String(short) => {
            let mut parts: Vec<String> = short.split(':').map(str::to_owned).collect();
            if parts.len() >= 2 && parts[0].starts_with(['.', '~']) {
                parts[0] = fix(&parts[0]);
                *short = parts.join(":");
            }
        }
        Value::Mapping(long) => {
            let bind = long.get("type").and_then(Value::as_str) == Some("bind");
            if let (true, Some(Value::String(source))) = (bind, long.get_mut("source")) {
                *source = fix(source);
            }
        }
        _ => {}
    }
}

const RESOURCES: [&str; 5] = ["services", "networks", "volumes", "secrets", "configs"];

/// Loads the file's `include` entries and adds their resources to it.
fn include(
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
                if ours.contains_key(&key) {
                    let name = key_text(&key);
                    report.error(&FieldPath::of(&[section, &name]), format!("`{name}` is also defined by include {} ({}): Compose refuses a resource an include defines again; rename one of them or drop it from one file", i, inputs.first().map(|i| i.file.display().to_string()).unwrap_or_default()));
                } else {
                    ours.insert(key, resource);
                }
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

/// A YAML node's kind, for messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}
