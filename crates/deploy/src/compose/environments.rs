//! Environments of an app (`--env NAME`): what NAME changes of the Compose
//! files, from an override file beside the first file (`compose.NAME.yaml`
//! beside `compose.yaml`, `docker-compose.NAME.yml` beside
//! `docker-compose.yml`: the first file's name with `.NAME` before its
//! extension, `.yaml` or `.yml`), merged after the other files as `-f base
//! -f override` merges them, and from the top-level
//! `x-windlass.environments.NAME` of the merged files: a mapping of the
//! shape of an override file (`services`, `networks`, `volumes`, ...),
//! merged last by the same rules, its relative paths resolved against the
//! project folder. The whole `environments` mapping is taken out of the
//! tree, so a pinned text holds only what its environment settled. An
//! environment that neither says anything about is refused: a typo in
//! `--env` must not deploy a second copy of the app on the same ports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};
use windlass_store::releases::Environment;

use super::diagnostic::Report;
use super::locate::FieldPath;
use super::merge::merge_files;
use super::paths::resolve_paths;

/// The top-level key windlass reads its app-wide settings from.
const WINDLASS: &str = "x-windlass";
/// Its key of the environments' overrides.
const ENVIRONMENTS: &str = "environments";

/// The override file of `env` beside `base`, when there is one.
pub fn override_file(base: &Path, env: &Environment) -> Option<PathBuf> {
    override_names(base, env)
        .into_iter()
        .find(|file| file.is_file())
}

/// The names `env`'s override file may have beside `base`.
fn override_names(base: &Path, env: &Environment) -> Vec<PathBuf> {
    let name = base
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
        .unwrap_or(&name);
    ["yaml", "yml"]
        .iter()
        .map(|ext| base.with_file_name(format!("{stem}.{env}.{ext}")))
        .collect()
}

/// Whether `file` is named as an override of `env` (`*.ENV.yaml|yml`).
fn is_override(file: &Path, env: &Environment) -> bool {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    [".yaml", ".yml"]
        .iter()
        .any(|ext| name.ends_with(&format!(".{env}{ext}")))
}

/// Applies `env`'s `x-windlass.environments` entry to the merged tree and
/// takes every environment's entry out of it; reports an environment that
/// neither an override file among `files` nor an entry names.
pub(crate) fn apply(
    tree: &mut Value,
    env: &Environment,
    files: &[PathBuf],
    project_dir: &Path,
    variables: &BTreeMap<String, String>,
    report: &mut Report,
) {
    let entry = take_entries(tree).and_then(|mut entries| entries.remove(env.as_str()));
    let at = FieldPath::of(&[WINDLASS, ENVIRONMENTS, env.as_str()]);
    match entry {
        Some(Value::Mapping(mut over)) => {
            // An entry renames nothing: the app's name is settled by `--env`.
            over.remove("name");
            let mut over = Value::Mapping(over);
            resolve_paths(&mut over, project_dir, variables);
            merge_files(tree, over);
        }
        Some(Value::Null) => {}
        Some(_) => report.error(
            &at,
            format!("expected a mapping of what environment {env} changes (`services:` and the rest, as in an override file)"),
        ),
        None if files.iter().any(|f| is_override(f, env)) => {}
        None => {
            let first = files.first().cloned().unwrap_or_default();
            let names: Vec<String> = override_names(&first, env)
                .iter()
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            report.at(
                &first,
                1,
                1,
                "--env",
                format!(
                    "nothing says what environment {env} is: add {} beside {}, or `x-windlass: {{environments: {{{env}: ...}}}}` (a typo in --env would otherwise deploy another copy of the app)",
                    names.join(" or "),
                    first.display()
                ),
            );
        }
    }
}

/// Takes `x-windlass.environments` out of the tree (and `x-windlass` when
/// nothing else is left in it).
fn take_entries(tree: &mut Value) -> Option<Mapping> {
    let Value::Mapping(top) = tree else {
        return None;
    };
    let Some(Value::Mapping(windlass)) = top.get_mut(WINDLASS) else {
        return None;
    };
    let entries = windlass.remove(ENVIRONMENTS);
    if windlass.is_empty() {
        top.remove(WINDLASS);
    }
    match entries {
        Some(Value::Mapping(entries)) => Some(entries),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{parse_pinned, pin_files, Options, Severity};

    fn env(name: &str) -> Environment {
        name.parse().expect("an environment")
    }

    fn base() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compose/environments/compose.yaml")
    }

    /// The files `--env name` reads, pinned as a deploy pins them.
    fn pinned(name: &str) -> (Option<(crate::compose::Project, String)>, Vec<String>) {
        let env = env(name);
        let mut files = vec![base()];
        files.extend(override_file(&base(), &env));
        let options = Options {
            env: Some(env),
            ..Options::default()
        };
        let (pinned, diagnostics) = pin_files(&files, &options);
        let errors = diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect();
        (pinned, errors)
    }

    #[test]
    fn an_environment_is_its_override_merged_and_an_app_of_its_own() {
        let (Some((staging, text)), errors) = pinned("staging") else {
            panic!("staging reads");
        };
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(staging.project, "shop.staging");
        assert_eq!(staging.base_name(), "shop");
        let web = &staging.services["web"];
        assert_eq!(web.ports[0].published, Some(9301));
        assert_eq!(web.environment["MODE"].as_deref(), Some("staging"));
        assert!(!text.contains("environments"), "{text}");
        // The agent reads the pinned text back as the same app.
        let again = parse_pinned(&text, &base()).expect("pinned text reads");
        assert_eq!(again.project, "shop.staging");
        assert_eq!(crate::agent::app_name(&again), "shop.staging");
        assert_eq!(again.services["web"].ports, web.ports);

        let (Some((production, _)), errors) = pinned("production") else {
            panic!("production reads");
        };
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(production.project, "shop.production");
        let web = &production.services["web"];
        assert_eq!(web.ports[0].published, Some(9302));
        assert_eq!(web.environment["MODE"].as_deref(), Some("production"));
        // Its env_file, relative to the project folder, was found.
        assert_eq!(web.environment["FROM_FILE"].as_deref(), Some("yes"));
    }

    #[test]
    fn an_environment_nothing_describes_is_refused_with_its_place() {
        let (none, errors) = pinned("prodution");
        assert!(none.is_none());
        assert!(
            errors[0].contains("compose.yaml:")
                && errors[0].contains("compose.prodution.yaml or compose.prodution.yml"),
            "{errors:?}"
        );
        let (none, errors) = pinned("broken");
        assert!(none.is_none());
        assert!(
            errors[0].contains("compose.yaml:18:") && errors[0].contains("expected a mapping"),
            "{errors:?}"
        );
    }

    #[test]
    fn the_override_is_named_after_the_first_file() {
        let production = env("production");
        assert_eq!(
            override_names(Path::new("/app/compose.yaml"), &production),
            [
                PathBuf::from("/app/compose.production.yaml"),
                PathBuf::from("/app/compose.production.yml")
            ]
        );
        assert_eq!(
            override_names(Path::new("docker-compose.yml"), &production)[1],
            PathBuf::from("docker-compose.production.yml")
        );
        assert!(is_override(
            Path::new("/a/compose.production.yml"),
            &production
        ));
        assert!(!is_override(
            Path::new("/a/compose.staging.yml"),
            &production
        ));
    }
}
