//! Relative paths made absolute as Compose makes them (build contexts, env
//! files, bind mounts, secret and config files, `develop.watch` paths): against the project
//! folder (the first file's, or an include's), `~` as the home folder.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_norway::Value;

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
pub(crate) fn resolve_paths(value: &mut Value, base: &Path, env: &BTreeMap<String, String>) {
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
            match service.get_mut("label_file") {
                Some(Value::String(path)) => *path = fix(path),
                Some(Value::Sequence(items)) => {
                    for item in items {
                        if let Value::String(path) = item {
                            *path = fix(path);
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
            // The paths `docker compose watch` watches.
            if let Some(Value::Sequence(rules)) =
                service.get_mut("develop").and_then(|d| d.get_mut("watch"))
            {
                for rule in rules {
                    if let Some(Value::String(path)) = rule.get_mut("path") {
                        *path = fix(path);
                    }
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
