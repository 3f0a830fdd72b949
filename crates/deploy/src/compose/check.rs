//! From the merged YAML tree to a typed [`Project`], field by field, every
//! problem reported: each top-level and service field is honoured (read
//! with its type) or refused with the reason from `fields`; a field whose
//! value does not read is reported at its own path and the rest go on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_norway::{Mapping, Value};

use super::diagnostic::Report;
use super::fields::{self, refusal};
use super::interpolate::key_text;
use super::locate::FieldPath;
use super::merge::strip_tags;
use super::mounts::{FileSource, Volume};
use super::read::{absolute, kind, Loaded};
use super::typed::{cast_scalars, check_field, typed};
use super::{dotenv, pinned, rules, EnvFormat, Network, Options, Project, Service, Target};

/// Builds the project; `None` when an error was reported.
pub(crate) fn check(
    loaded: Loaded,
    options: &Options,
    file: &Path,
    files: Vec<PathBuf>,
    report: &mut Report,
) -> Option<Project> {
    let Loaded {
        value,
        project_dir,
        env,
    } = loaded;
    let Value::Mapping(mut top) = strip_tags(value) else {
        return None;
    };
    let env = match options.pinned {
        true => pinned::environment(&top),
        false => env,
    };
    for key in top.keys().map(key_text).collect::<Vec<_>>() {
        let at = FieldPath::of(&[&key]);
        if key.starts_with("x-") || fields::TOP_LEVEL.contains(&key.as_str()) {
            if key == "version" {
                report.warning(
                    &at,
                    "`version` is obsolete: Compose and windlass ignore it; remove it",
                );
            }
            continue;
        }
        match refusal(fields::TOP_LEVEL_REFUSED, &key) {
            Some(why) => report.error(&at, format!("`{key}` is not supported: {why}")),
            None => report.error(
                &at,
                fields::unknown(&key, fields::TOP_LEVEL, ", or an `x-` extension"),
            ),
        }
    }
    let written_name = match top.get("name") {
        None => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(other) => {
            report.error(
                &FieldPath::of(&["name"]),
                format!(
                    "expected the project's name as a string, found {}",
                    kind(other)
                ),
            );
            None
        }
    };
    let environment = match options.pinned {
        true => pinned::deployed_as(&top, report),
        false => options.env.clone(),
    };
    let base_name = project_name(options, &project_dir, &env, written_name.as_deref(), report);
    let project_name = match &environment {
        Some(environment) => environment.app(&base_name),
        None => base_name,
    };
    let target = reading_target(&top, options);
    let extensions = extensions(
        &top,
        &[
            super::PINNED_ENVIRONMENT,
            pinned::ENV,
            pinned::TARGET,
            pinned::FILES,
        ],
    );
    let networks: IndexMap<String, Network> =
        section(&mut top, "networks", fields::NETWORK_REFUSED, report);
    let volumes: IndexMap<String, Volume> = section(&mut top, "volumes", &[], report);
    let (secrets_refused, configs_refused) = match target {
        Target::Swarm => (fields::SWARM_SECRET_REFUSED, fields::SWARM_CONFIG_REFUSED),
        Target::Docker | Target::Ecs => (fields::FILE_SOURCE_REFUSED, fields::FILE_SOURCE_REFUSED),
    };
    let secrets: IndexMap<String, FileSource> =
        section(&mut top, "secrets", secrets_refused, report);
    let configs: IndexMap<String, FileSource> =
        section(&mut top, "configs", configs_refused, report);
    let services = match top.remove("services") {
        Some(Value::Mapping(services)) if !services.is_empty() => services,
        Some(Value::Mapping(_)) | None | Some(Value::Null) => {
            report.error(
                &FieldPath::of(&["services"]),
                "no services: declare at least one under `services`",
            );
            Mapping::new()
        }
        Some(other) => {
            report.error(
                &FieldPath::of(&["services"]),
                format!(
                    "expected a mapping of service names to services, found {}",
                    kind(&other)
                ),
            );
            Mapping::new()
        }
    };
    let mut typed = IndexMap::new();
    for (name, value) in services {
        let name = key_text(&name);
        if let Some(service) = service(&name, value, &env, target, report) {
            typed.insert(name, service);
        }
    }
    // A long `build` without `context` builds the project folder (paths were
    // made absolute before the files were merged, so it is still relative).
    for build in typed
        .values_mut()
        .filter_map(|s: &mut Service| s.build.as_mut())
    {
        if build.context.is_relative() {
            build.context = absolute(&project_dir, &build.context, None);
        }
        // An SSH agent's socket: relative to the project folder, else the
        // deploying command's `$SSH_AUTH_SOCK` (pinned with the text).
        for agent in &mut build.ssh {
            agent.socket = match agent.socket.take() {
                Some(path) => Some(super::paths::absolute(
                    &project_dir,
                    &path,
                    env.get("HOME").map(String::as_str),
                )),
                None => env.get(SSH_AUTH_SOCK).map(PathBuf::from),
            };
        }
    }
    // `platform: ${DOCKER_PLATFORM:-}` left empty means no platform, as
    // Compose reads it.
    for service in typed.values_mut() {
        if service.platform.as_deref() == Some("") {
            service.platform = None;
        }
    }
    let active = active_profiles(options, &env);
    let (services, left_out): (IndexMap<_, _>, IndexMap<_, _>) =
        typed.into_iter().partition(|(_, s): &(String, Service)| {
            s.profiles.is_empty()
                || s.profiles
                    .iter()
                    .any(|p| active.contains(p) || active.iter().any(|a| a == "*"))
        });
    let mut project = Project {
        file: file.to_owned(),
        files,
        name: written_name,
        project: project_name,
        directory: project_dir.clone(),
        services,
        networks,
        volumes,
        secrets,
        configs,
        left_out: left_out.keys().cloned().collect(),
        extensions,
        env: environment,
        target,
        pinned_files: match options.pinned {
            true => pinned::files(&top),
            false => BTreeMap::new(),
        },
    };
    rules::check_project(&mut project, &left_out, &env, options.files, report);
    (!report.has_errors()).then_some(project)
}

/// The target the file is read for: `--target`, else the pinned text's
/// `x-windlass-target`, else `swarm` when every service says
/// `x-windlass.target: swarm` (as `deploy` then chooses the Swarm), else
/// the local engine. Read from the tree before the services are typed, so
/// that each field is read with that target's meaning.
fn reading_target(top: &Mapping, options: &Options) -> Target {
    if let Some(target) = options.target {
        return target;
    }
    let written = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Target>().ok())
    };
    if options.pinned {
        if let Some(target) = written(top.get(pinned::TARGET)) {
            return target;
        }
    }
    let Some(Value::Mapping(services)) = top.get("services") else {
        return Target::Docker;
    };
    let swarm = !services.is_empty()
        && services.values().all(|service| {
            let windlass = service.get("x-windlass");
            written(windlass.and_then(|w| w.get("target"))) == Some(Target::Swarm)
        });
    if swarm {
        Target::Swarm
    } else {
        Target::Docker
    }
}

/// Compose's project name: given, `COMPOSE_PROJECT_NAME`, the top-level
/// `name`, or the project folder's name made lower case with only letters,
/// digits, `-` and `_` kept.
fn project_name(
    options: &Options,
    project_dir: &Path,
    env: &BTreeMap<String, String>,
    written: Option<&str>,
    report: &mut Report,
) -> String {
    let chosen = options
        .project_name
        .clone()
        .or_else(|| env.get("COMPOSE_PROJECT_NAME").cloned())
        .or_else(|| written.map(str::to_owned));
    if let Some(name) = chosen {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid {
            report.error(&FieldPath::of(&["name"]), format!("project name {name:?} is not valid: use lower-case letters, digits, `-` and `_`, starting with a letter or digit"));
        }
        return name;
    }
    let folder = project_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let kept: String = folder
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    let trimmed = kept.trim_start_matches(['-', '_']).to_owned();
    if trimmed.is_empty() {
        "default".to_owned()
    } else {
        trimmed
    }
}

fn active_profiles(options: &Options, env: &BTreeMap<String, String>) -> Vec<String> {
    let mut active = options.profiles.clone();
    if let Some(list) = env.get("COMPOSE_PROFILES") {
        active.extend(
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned),
        );
    }
    active
}

/// The variable that names the deploying user's SSH agent.
pub(crate) const SSH_AUTH_SOCK: &str = "SSH_AUTH_SOCK";

/// The `x-` keys of a mapping but those of `skip`, their values as JSON.
fn extensions(fields: &Mapping, skip: &[&str]) -> super::Extensions {
    fields
        .iter()
        .map(|(k, v)| (key_text(k), v))
        .filter(|(k, _)| k.starts_with("x-") && !skip.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k, serde_json::to_value(v).ok()?)))
        .collect()
}

/// What keeps a top-level entry's `x-` keys.
pub(super) trait Extended {
    fn extensions_mut(&mut self) -> &mut super::Extensions;
}

impl Extended for Network {
    fn extensions_mut(&mut self) -> &mut super::Extensions {
        &mut self.extensions
    }
}

impl Extended for Volume {
    fn extensions_mut(&mut self) -> &mut super::Extensions {
        &mut self.extensions
    }
}

impl Extended for FileSource {
    fn extensions_mut(&mut self) -> &mut super::Extensions {
        &mut self.extensions
    }
}

/// A top-level section of named entries (`networks`, `volumes`, ...); an
/// entry written as nothing takes the defaults.
fn section<T: DeserializeOwned + Default + Extended>(
    top: &mut Mapping,
    name: &str,
    refused: &[(&str, &'static str)],
    report: &mut Report,
) -> IndexMap<String, T> {
    let mut out = IndexMap::new();
    let entries = match top.remove(name) {
        None | Some(Value::Null) => return out,
        Some(Value::Mapping(entries)) => entries,
        Some(other) => {
            report.error(
                &FieldPath::of(&[name]),
                format!(
                    "expected a mapping of names to {name}, found {}",
                    kind(&other)
                ),
            );
            return out;
        }
    };
    for (key, mut value) in entries {
        let key = key_text(&key);
        let at = FieldPath::of(&[name, &key]);
        let mut kept = super::Extensions::new();
        if let Value::Mapping(fields) = &mut value {
            legacy_external(fields, &at, report);
            strip_refused(fields, refused, &at, report);
            kept = extensions(fields, &[]);
            fields.retain(|k, _| !key_text(k).starts_with("x-"));
        }
        let entry = match value {
            Value::Null => Some(T::default()),
            value => typed::<T>(&value, &at, report),
        };
        if let Some(mut entry) = entry {
            *entry.extensions_mut() = kept;
            out.insert(key, entry);
        }
    }
    out
}

/// `external: {name: X}`, the form Compose file format 3.3 and earlier
/// wrote, read as Docker Compose reads it: `external: true` with `name: X`,
/// and a warning.
fn legacy_external(fields: &mut Mapping, at: &FieldPath, report: &mut Report) {
    let Some(Value::Mapping(external)) = fields.get("external") else {
        return;
    };
    let name = external.get("name").cloned();
    if let Some(name) = &name {
        if fields.get("name").is_some_and(|written| written != name) {
            report.error(
                &at.key("external").key("name"),
                "`external.name` and `name` differ: keep `name` only, beside `external: true`",
            );
            return;
        }
    }
    report.warning(
        &at.key("external"),
        "`external: {name: ...}` is obsolete: write `name` beside `external: true`",
    );
    fields.insert("external".into(), Value::Bool(true));
    if let Some(name) = name {
        fields.insert("name".into(), name);
    }
}

fn strip_refused(
    fields: &mut Mapping,
    refused: &[(&str, &'static str)],
    at: &FieldPath,
    report: &mut Report,
) {
    for (key, why) in refused {
        if fields.remove(*key).is_some() {
            report.error(&at.key(key), format!("`{key}` is not supported: {why}"));
        }
    }
}

/// One service, every field checked; `None` when any is wrong.
fn service(
    name: &str,
    value: Value,
    env: &BTreeMap<String, String>,
    target: Target,
    report: &mut Report,
) -> Option<Service> {
    let at = FieldPath::of(&["services", name]);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        report.error(
            &at,
            format!("service name {name:?} is not valid: use letters, digits, `.`, `_` and `-`"),
        );
    }
    let mut fields = match value {
        Value::Mapping(fields) => fields,
        Value::Null => Mapping::new(),
        other => {
            report.error(
                &at,
                format!(
                    "expected a service (a mapping with `image` or `build`), found {}",
                    kind(&other)
                ),
            );
            return None;
        }
    };
    let kept = extensions(&fields, &[]);
    for key in fields.keys().map(key_text).collect::<Vec<_>>() {
        if fields::SERVICE.contains(&key.as_str()) {
            continue;
        }
        fields.remove(key.as_str());
        if key.starts_with("x-") {
            continue;
        }
        match refusal(fields::SERVICE_REFUSED, &key) {
            Some(why) => report.error(&at.key(&key), format!("`{key}` is not supported: {why}")),
            None => report.error_in(
                &at,
                &at.key(&key),
                fields::unknown(&key, fields::SERVICE, ""),
            ),
        }
    }
    if let Some(Value::Mapping(networks)) = fields.get_mut("networks") {
        for (network, options) in networks.iter_mut() {
            if let Value::Mapping(options) = options {
                let path = at.key("networks").key(&key_text(network));
                strip_refused(options, fields::SERVICE_NETWORK_REFUSED, &path, report);
            }
        }
    }
    strip_list_refused(&mut fields, &at, report);
    super::lifecycle::strip_extensions(&mut fields);
    // A Swarm gives these their meaning (`target::swarm::spec`).
    let ignored = match target {
        Target::Swarm => &[][..],
        Target::Docker | Target::Ecs => fields::NESTED_IGNORED,
    };
    for (parent, key, why) in ignored {
        if let Some(Value::Mapping(inner)) = fields.get_mut(*parent) {
            if inner.remove(*key).is_some() {
                report.warning(
                    &at.key(parent).key(key),
                    format!("`{key}` has no effect: {why}"),
                );
            }
        }
    }
    for (parent, key, why) in fields::NESTED_REFUSED {
        if let Some(Value::Mapping(inner)) = fields.get_mut(*parent) {
            if inner.remove(*key).is_some() {
                report.error(
                    &at.key(parent).key(key),
                    format!("`{key}` is not supported: {why}"),
                );
            }
        }
    }
    cast_scalars(&mut fields);
    // Each field alone, so that one bad field does not hide the others;
    // the service is then read without its bad fields so that what the
    // fields mean together is still checked. (Its errors keep the project
    // from being used.)
    let bad: Vec<Value> = fields
        .iter()
        .filter(|(key, field)| !check_field(key, field, &at, report))
        .map(|(key, _)| key.clone())
        .collect();
    for key in &bad {
        fields.remove(key);
        if matches!(key.as_str(), Some("image" | "build")) {
            // Already reported; keeps "neither image nor build" from being said too.
            fields.insert("image".into(), "(invalid)".into());
        }
    }
    let mut service = typed::<Service>(&Value::Mapping(fields), &at, report)?;
    service.extensions = kept;
    read_env_files(&mut service, &at, env, report);
    read_label_files(&mut service, &at, env, report);
    Some(service)
}

/// Puts `label_file` entries under `labels`, which overrides them.
fn read_label_files(
    service: &mut Service,
    at: &FieldPath,
    env: &BTreeMap<String, String>,
    report: &mut Report,
) {
    let mut labels = BTreeMap::new();
    for (i, file) in service.label_file.iter().enumerate() {
        let path = Path::new(file);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) => {
                report.error(
                    &at.key("label_file").index(i),
                    format!(
                        "cannot read {}: {err}; create it or fix the path",
                        path.display()
                    ),
                );
                continue;
            }
        };
        let lookup = |name: &str| env.get(name).cloned();
        match dotenv::parse(&text, &lookup) {
            Ok(vars) => labels.extend(vars),
            Err(err) => report.at(
                path,
                err.line,
                1,
                &at.key("label_file").index(i).to_string(),
                err.message,
            ),
        }
    }
    labels.append(&mut service.labels);
    service.labels = labels;
}

/// Refuses the fields of long-syntax `volumes` entries that windlass does
/// not honour, each with its reason.
fn strip_list_refused(fields: &mut Mapping, at: &FieldPath, report: &mut Report) {
    if let Some(Value::Sequence(volumes)) = fields.get_mut("volumes") {
        for (i, volume) in volumes.iter_mut().enumerate() {
            let Value::Mapping(volume) = volume else {
                continue;
            };
            let item = at.key("volumes").index(i);
            if volume.get("type").and_then(Value::as_str) == Some("image") {
                let why = fields::refusal(
                    &fields::VOLUME_REFUSED
                        .iter()
                        .map(|(_, k, w)| (*k, *w))
                        .collect::<Vec<_>>(),
                    "image",
                )
                .unwrap_or_default();
                report.error(
                    &item.key("type"),
                    format!("`type: image` is not supported: {why}"),
                );
                // Reported: the rest of the entry is not read again.
                let target = volume.get("target").cloned().unwrap_or_else(|| "/".into());
                *volume = Mapping::from_iter([
                    ("type".into(), "tmpfs".into()),
                    ("target".into(), target),
                ]);
                continue;
            }
            // Docker relabels only on a host with SELinux on; windlass never
            // does, as the short syntax's `:z` is read.
            if let Some(Value::Mapping(bind)) = volume.get_mut("bind") {
                if bind.remove("selinux").is_some() {
                    report.warning(&item.key("bind").key("selinux"), "windlass mounts the path without SELinux relabelling (as Docker does on a host without SELinux): on a host with SELinux on, label it yourself (`chcon -Rt container_file_t PATH`)");
                }
            }
            for (parent, key, why) in fields::VOLUME_REFUSED {
                let (holder, path) = if parent.is_empty() {
                    (Some(&mut *volume), item.clone())
                } else {
                    match volume.get_mut(*parent) {
                        Some(Value::Mapping(inner)) => (Some(inner), item.key(parent)),
                        _ => (None, item.clone()),
                    }
                };
                if holder.and_then(|h| h.remove(*key)).is_some() {
                    report.error(&path.key(key), format!("`{key}` is not supported: {why}"));
                }
            }
        }
    }
}

/// Puts `env_file` entries under `environment`, which overrides them.
fn read_env_files(
    service: &mut Service,
    at: &FieldPath,
    env: &BTreeMap<String, String>,
    report: &mut Report,
) {
    let mut environment = BTreeMap::new();
    for (i, env_file) in service.env_file.iter().enumerate() {
        let path = Path::new(&env_file.path);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if !env_file.required && err.kind() == std::io::ErrorKind::NotFound => {
                continue
            }
            Err(err) => {
                report.error(&at.key("env_file").index(i), format!("cannot read {}: {err}; create it, fix the path, or mark it `required: false`", path.display()));
                continue;
            }
        };
        let lookup = |name: &str| env.get(name).cloned();
        let parsed = match env_file.format {
            EnvFormat::Dotenv => dotenv::parse(&text, &lookup),
            EnvFormat::Raw => dotenv::parse_raw(&text, &lookup),
        };
        match parsed {
            Ok(vars) => environment.extend(vars),
            Err(err) => report.at(
                path,
                err.line,
                1,
                &at.key("env_file").index(i).to_string(),
                err.message,
            ),
        }
    }
    environment.append(&mut service.environment);
    service.environment = environment;
}
