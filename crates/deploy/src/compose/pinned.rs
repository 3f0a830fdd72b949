//! A project pinned as one self-contained Compose text: the files merged,
//! `include`s inlined, variables interpolated with the environment of the
//! command that deploys (not the agent's), paths absolute, profiles
//! settled, the project's name written. A release stores this text, so that
//! the agent (another process, another environment) and a later rollback
//! read exactly what `windlass deploy` read.
//!
//! Whatever Compose takes from the deploying command's environment at run
//! time is resolved here too, so that the agent never looks in its own: a
//! service's `env_file`s are read into its `environment`, keys without a
//! value (and build args without one) get the deploying command's value,
//! and a secret or config from an `environment` variable has that
//! variable's value in the text's `x-windlass-environment`. The text can
//! hold secrets, so the agent's database is its user's only (0600).

use std::collections::BTreeMap;

use serde_norway::{Mapping, Value};

use windlass_store::releases::Environment;

use super::diagnostic::Report;
use super::locate::FieldPath;
use super::merge::strip_tags;
use super::{Project, Service};

/// The top-level key of the variables a pinned text's secrets and configs
/// are read from.
pub(crate) const ENVIRONMENT: &str = "x-windlass-environment";

/// The top-level key of the environment a pinned text was deployed as
/// (`--env`): the app is then `NAME.ENV`.
pub(crate) const ENV: &str = "x-windlass-env";

/// The top-level key of the target a pinned text was read for, when
/// `--target swarm` chose it rather than the services' `x-windlass.target`.
pub(crate) const TARGET: &str = "x-windlass-target";

/// The top-level key of the bytes of the `file:` secrets and configs a
/// text pinned for a Swarm holds (base64, by absolute path): a release
/// started again mounts the value it was deployed with.
pub(crate) const FILES: &str = "x-windlass-files";

/// The file bytes a pinned text carries (its `x-windlass-files`).
pub(crate) fn files(top: &Mapping) -> BTreeMap<std::path::PathBuf, Vec<u8>> {
    use base64::Engine as _;
    let Some(Value::Mapping(files)) = top.get(FILES) else {
        return BTreeMap::new();
    };
    files
        .iter()
        .filter_map(|(k, v)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v.as_str()?)
                .ok()?;
            Some((std::path::PathBuf::from(k.as_str()?), bytes))
        })
        .collect()
}

/// The bytes of the `file:` secrets and configs the services mount, read
/// now, for a text pinned for a Swarm.
fn file_bytes(project: &Project) -> Mapping {
    use base64::Engine as _;
    let mounted = project
        .services
        .values()
        .flat_map(|s| s.secrets.iter().chain(&s.configs));
    let mut files = Mapping::new();
    for file in mounted {
        let Some(super::FileContent::File(path)) = &file.content else {
            continue;
        };
        if let Ok(bytes) = std::fs::read(path) {
            files.insert(
                Value::String(path.display().to_string()),
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            );
        }
    }
    files
}

/// The environment a pinned text was deployed as, if any.
pub(crate) fn deployed_as(top: &Mapping, report: &mut Report) -> Option<Environment> {
    let value = top.get(ENV)?;
    match value.as_str().map(str::parse::<Environment>) {
        Some(Ok(env)) => Some(env),
        Some(Err(bad)) => {
            report.error(&FieldPath::of(&[ENV]), bad.to_string());
            None
        }
        None => {
            report.error(&FieldPath::of(&[ENV]), "expected an environment's name");
            None
        }
    }
}

/// The pinned text of `value` (the merged, interpolated tree the project was
/// checked from, with the variables `env` it was interpolated with).
pub(crate) fn pinned_text(
    value: &Value,
    project: &Project,
    env: &BTreeMap<String, String>,
) -> String {
    let Value::Mapping(top) = strip_tags(value.clone()) else {
        return String::new();
    };
    let mut pinned = Mapping::new();
    pinned.insert("name".into(), Value::String(project.base_name().to_owned()));
    if let Some(env) = &project.env {
        pinned.insert(ENV.into(), Value::String(env.to_string()));
    }
    if project.target == super::Target::Swarm {
        pinned.insert(TARGET.into(), Value::String(project.target.to_string()));
        let files = file_bytes(project);
        if !files.is_empty() {
            pinned.insert(FILES.into(), Value::Mapping(files));
        }
    }
    for (key, value) in top {
        match key.as_str() {
            Some("name") | Some(ENVIRONMENT) | Some(ENV) | Some(TARGET) | Some(FILES) => {}
            Some("services") => {
                pinned.insert(key, services(value, project, env));
            }
            _ => {
                pinned.insert(key, value);
            }
        }
    }
    let variables = sourced_variables(project, env);
    if !variables.is_empty() {
        pinned.insert(ENVIRONMENT.into(), Value::Mapping(variables));
    }
    let mut pinned = Value::Mapping(pinned);
    escape_dollars(&mut pinned);
    serde_norway::to_string(&pinned).unwrap_or_default()
}

/// The services that run; their `profiles` are dropped, since the profiles
/// that chose them are not in the agent's environment, and what they take
/// from the environment resolved.
fn services(value: Value, project: &Project, env: &BTreeMap<String, String>) -> Value {
    let Value::Mapping(services) = value else {
        return value;
    };
    let kept = services
        .into_iter()
        .filter_map(|(name, mut service)| {
            let resolved = project.services.get(name.as_str()?)?;
            if let Value::Mapping(fields) = &mut service {
                fields.remove("profiles");
                resolve_environment(fields, resolved, env);
            }
            Some((name, service))
        })
        .collect();
    Value::Mapping(kept)
}

/// `env_file` read into `environment`, and keys without a value given the
/// deploying command's (left without one when it has none, as Compose
/// leaves them unset); the same for build args and lifecycle hooks.
fn resolve_environment(fields: &mut Mapping, service: &Service, env: &BTreeMap<String, String>) {
    fields.remove("env_file");
    if !service.environment.is_empty() {
        fields.insert("environment".into(), key_values(&service.environment, env));
    }
    if let (Some(Value::Mapping(build)), Some(resolved)) = (fields.get_mut("build"), &service.build)
    {
        if !resolved.args.is_empty() {
            build.insert("args".into(), key_values(&resolved.args, env));
        }
    }
    // A lifecycle hook's variables, as the service's.
    for (key, hooks) in [
        ("post_start", &service.post_start),
        ("pre_stop", &service.pre_stop),
    ] {
        let Some(Value::Sequence(written)) = fields.get_mut(key) else {
            continue;
        };
        for (entry, hook) in written.iter_mut().zip(hooks) {
            if let (Value::Mapping(entry), false) = (entry, hook.environment.is_empty()) {
                entry.insert("environment".into(), key_values(&hook.environment, env));
            }
        }
    }
}

fn key_values(values: &BTreeMap<String, Option<String>>, env: &BTreeMap<String, String>) -> Value {
    let mapping = values
        .iter()
        .map(|(key, value)| {
            let value = value.clone().or_else(|| env.get(key).cloned());
            (
                Value::String(key.clone()),
                value.map_or(Value::Null, Value::String),
            )
        })
        .collect();
    Value::Mapping(mapping)
}

/// The variables the project's secrets and configs are read from, with
/// their values.
fn sourced_variables(project: &Project, env: &BTreeMap<String, String>) -> Mapping {
    // A build's `ssh: [default]` is the deploying user's agent.
    let agent = project
        .services
        .values()
        .filter_map(|s| s.build.as_ref())
        .flat_map(|b| &b.ssh)
        .any(|a| !a.written)
        .then(|| super::check::SSH_AUTH_SOCK.to_owned());
    project
        .secrets
        .values()
        .chain(project.configs.values())
        .filter_map(|source| source.environment.clone())
        .chain(agent)
        .filter_map(|name| {
            Some((
                Value::String(name.clone()),
                Value::String(env.get(&name)?.clone()),
            ))
        })
        .collect()
}

/// The variables a pinned text carries for its secrets and configs (its
/// `x-windlass-environment`); nothing else of any environment is used.
pub(crate) fn environment(top: &Mapping) -> BTreeMap<String, String> {
    let Some(Value::Mapping(variables)) = top.get(ENVIRONMENT) else {
        return BTreeMap::new();
    };
    variables
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
        .collect()
}

/// `$` becomes `$$` in every value, so that reading the text again
/// interpolates nothing and gives back the same strings.
fn escape_dollars(value: &mut Value) {
    match value {
        Value::String(text) if text.contains('$') => *text = text.replace('$', "$$"),
        Value::Mapping(mapping) => mapping.values_mut().for_each(escape_dollars),
        Value::Sequence(items) => items.iter_mut().for_each(escape_dollars),
        Value::Tagged(tagged) => escape_dollars(&mut tagged.value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{check_files, pin_files, Options};

    #[test]
    fn a_pinned_text_reads_back_as_the_same_project_anywhere() {
        let dir = std::env::temp_dir().join(format!("wl-pinned-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("site")).expect("dir");
        std::fs::write(dir.join(".env"), "TAG=v1\n").expect(".env");
        std::fs::write(
            dir.join("compose.yaml"),
            "services:\n  web:\n    image: web:${TAG}\n    command: [sh, -c, 'echo $$HOME']\n    volumes: ['./site:/site']\n  debug:\n    image: tools\n    profiles: [debug]\n  admin:\n    image: admin\n    profiles: [ops]\n",
        )
        .expect("base");
        std::fs::write(
            dir.join("override.yaml"),
            "services:\n  web:\n    environment: {MODE: '${MODE:-quiet}'}\n",
        )
        .expect("override");
        let options = Options {
            environment: BTreeMap::from([
                ("TAG".to_owned(), "v2".to_owned()),
                ("COMPOSE_PROFILES".to_owned(), "ops".to_owned()),
            ]),
            ..Options::default()
        };
        let files = [dir.join("compose.yaml"), dir.join("override.yaml")];
        let (pinned, diagnostics) = pin_files(&files, &options);
        let (project, text) = pinned.expect("pinned");
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        // Read again with nothing of the deploying command's environment.
        let (again, diagnostics) =
            super::super::check_text(&text, &dir.join("compose.yaml"), &Options::default());
        assert!(diagnostics.is_empty(), "{diagnostics:?}\n{text}");
        let again = again.expect("reads back");
        // The same services, but for the profiles that chose them.
        let mut chosen = project.services.clone();
        chosen.values_mut().for_each(|s| s.profiles.clear());
        assert_eq!(again.services, chosen, "{text}");
        assert_eq!(
            again.services["web"].image.as_deref(),
            Some("web:v2"),
            "{text}"
        );
        assert_eq!(
            again.services["web"].command,
            Some(vec!["sh".into(), "-c".into(), "echo $HOME".into()])
        );
        assert!(again.services.contains_key("admin"), "{text}");
        assert!(!again.services.contains_key("debug"), "{text}");
        assert_eq!(again.project, project.project);
        let (checked, _) = check_files(&files, &options);
        assert_eq!(checked.expect("checked").services, project.services);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn what_compose_takes_from_the_environment_is_pinned_and_the_readers_is_never_used() {
        use super::super::{parse_pinned, FileChecks, FileContent};
        let dir = std::env::temp_dir().join(format!("wl-pinned-env-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("app")).expect("dir");
        std::fs::write(dir.join("app/Dockerfile"), "FROM scratch\n").expect("Dockerfile");
        std::fs::write(dir.join("web.env"), "FROM_FILE=yes\n").expect("env file");
        std::fs::write(
            dir.join("compose.yaml"),
            "services:\n  web:\n    image: web\n    env_file: [./web.env]\n    environment: [TOKEN, ABSENT]\n    build: {context: ./app, args: [VERSION], ssh: [default]}\n    secrets: [api_key]\nsecrets:\n  api_key:\n    environment: API_KEY\n",
        )
        .expect("compose");
        let options = Options {
            environment: BTreeMap::from([
                ("TOKEN".to_owned(), "t0ken".to_owned()),
                ("API_KEY".to_owned(), "k3y$".to_owned()),
                ("VERSION".to_owned(), "7".to_owned()),
                (
                    "SSH_AUTH_SOCK".to_owned(),
                    "/run/user/agent.sock".to_owned(),
                ),
            ]),
            files: FileChecks::Skip,
            ..Options::default()
        };
        let (pinned, diagnostics) = pin_files(&[dir.join("compose.yaml")], &options);
        let (_, text) = pinned.unwrap_or_else(|| panic!("pinned: {diagnostics:?}"));
        assert!(!text.contains("env_file"), "{text}");
        // The env file is not needed any more: its variables are in the text.
        std::fs::remove_file(dir.join("web.env")).expect("remove");
        let again = parse_pinned(&text, &dir.join("compose.yaml")).expect("reads back");
        let web = &again.services["web"];
        assert_eq!(web.environment.get("FROM_FILE"), Some(&Some("yes".into())));
        assert_eq!(web.environment.get("TOKEN"), Some(&Some("t0ken".into())));
        assert_eq!(web.environment.get("ABSENT"), Some(&None));
        let build = web.build.as_ref().expect("build");
        assert_eq!(build.args.get("VERSION"), Some(&Some("7".into())));
        // `ssh: [default]` is the deploying user's agent, not the reader's.
        assert_eq!(
            build.ssh[0].socket.as_deref(),
            Some(std::path::Path::new("/run/user/agent.sock"))
        );
        assert_eq!(
            web.secrets[0].content,
            Some(FileContent::Text("k3y$".into()))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_received_text_is_not_interpolated_with_the_readers_environment_or_dot_env() {
        use super::super::parse_pinned;
        let dir = std::env::temp_dir().join(format!("wl-pinned-own-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(".env"), "DOTENV_SECRET=from-dot-env\n").expect(".env");
        // PATH is set in every process, as the agent's secrets are in its.
        assert!(std::env::var_os("PATH").is_some());
        let text = "services:\n  web:\n    image: \"web:${PATH}${DOTENV_SECRET}\"\n    secrets: [key]\nsecrets:\n  key:\n    environment: PATH\n";
        match parse_pinned(text, &dir.join("compose.yaml")) {
            Err(e) => {
                let message = e.to_string();
                assert!(message.contains("PATH is not set"), "{message}");
                assert!(!message.contains("/usr/bin"), "{message}");
            }
            Ok(project) => panic!("the agent's PATH reached a secret: {:?}", project.services),
        }
        let text = "services:\n  web:\n    image: \"web:${PATH}${DOTENV_SECRET}\"\n";
        let project = parse_pinned(text, &dir.join("compose.yaml")).expect("reads");
        assert_eq!(project.services["web"].image.as_deref(), Some("web:"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_lifecycle_hooks_variable_without_a_value_is_the_deploying_users() {
        let dir = std::env::temp_dir().join(format!("wl-pinned-hooks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("compose.yaml"),
            "services:\n  web:\n    image: web\n    post_start:\n      - command: warm\n        environment: [TOKEN, MODE=warm]\n",
        )
        .expect("compose file");
        let options = Options {
            environment: BTreeMap::from([("TOKEN".to_owned(), "t$1".to_owned())]),
            ..Options::default()
        };
        let (pinned, diagnostics) = pin_files(&[dir.join("compose.yaml")], &options);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let (_, text) = pinned.expect("pinned");
        let (again, diagnostics) =
            super::super::check_text(&text, &dir.join("compose.yaml"), &Options::default());
        assert!(diagnostics.is_empty(), "{diagnostics:?}\n{text}");
        let hook = &again.expect("reads back").services["web"].post_start[0];
        assert_eq!(hook.environment["TOKEN"].as_deref(), Some("t$1"), "{text}");
        assert_eq!(hook.environment["MODE"].as_deref(), Some("warm"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
