//! From files to one YAML tree: each file read and parsed, merge keys
//! applied, variables interpolated (the project's `.env` under the process
//! environment), relative paths made absolute against the project folder,
//! `include`s loaded as projects of their own, each service's `extends`
//! resolved, then the files merged in order as `-f a.yaml -f b.yaml` merges
//! them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

use super::diagnostic::{Report, Source};
use super::extends::apply_extends;
use super::include::include;
use super::interpolate::{interpolate_tree, Finding};
use super::locate::FieldPath;
use super::merge::merge_files;
pub(crate) use super::paths::absolute;
use super::paths::resolve_paths;
use super::{dotenv, environments, promote, Options};

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
    // A pinned text was interpolated where it was pinned: the reader's own
    // variables and `.env` must not reach it.
    let env = if options.pinned {
        BTreeMap::new()
    } else {
        let mut env = read_env_files(
            &[project_dir.join(".env")],
            false,
            &options.environment,
            report,
        );
        env.extend(options.environment.clone());
        env
    };
    let mut value = read_unit(inputs, &project_dir, &env, &mut Vec::new(), report)?;
    // A pinned text holds what its environment and promotion settled.
    if !options.pinned {
        if let Some(name) = &options.env {
            let files: Vec<PathBuf> = inputs.iter().map(|i| i.file.clone()).collect();
            environments::apply(&mut value, name, &files, &project_dir, &env, report);
        }
        if let Some(origin) = &options.promotion {
            promote::apply(&mut value, origin, report);
        }
    }
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
pub(crate) fn read_env_files(
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
pub(crate) fn read_unit(
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
        // After the includes, as Compose: a service may extend one they bring.
        apply_extends(&mut value, &input.file, project_dir, env, report);
        match &mut merged {
            None => merged = Some(value),
            Some(base) => merge_files(base, value),
        }
    }
    merged
}

/// One file read, parsed, its merge keys applied and its variables
/// interpolated; `None` when it cannot be.
pub(crate) fn read_file(
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
    // libyaml's time grows with the square of the nesting: refuse a deep
    // text before it reads it.
    if let Err(deep) = windlass_asl::parse::check_yaml_depth(&text) {
        report.at(
            file,
            deep.line,
            deep.column,
            "YAML syntax",
            deep.to_string(),
        );
        return None;
    }
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
    // A merge brings in the mapping of an anchor as it was written: when
    // that mapping merges another (`x-defaults: {<<: *base}`), its merges
    // are applied first (see `apply_merge_keys`).
    if let Err(err) = super::merge::apply_merge_keys(&mut value) {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{check_text, Options};

    #[test]
    fn a_merge_within_a_merge_is_applied() {
        let text = "x-restart: &restart\n  restart: unless-stopped\nx-defaults: &defaults\n  <<: *restart\n  image: app\nservices:\n  api:\n    <<: *defaults\n    command: [serve]\n";
        let (project, diagnostics) =
            check_text(text, Path::new("/tmp/compose.yaml"), &Options::default());
        let project = project.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let api = &project.services["api"];
        assert_eq!(api.image.as_deref(), Some("app"));
        assert_eq!(api.restart, Some(super::super::Restart::UnlessStopped));
    }
}
