//! A project in Compose's canonical form, as `docker compose config`
//! prints it: compose-go's field order and long syntaxes (ports, volumes,
//! `depends_on`), values resolved (paths absolute, `environment` as a map
//! with value-less keys taken from the environment), durations and sizes
//! as Go writes them. [`Normalize::Compose`] adds what Docker Compose's
//! normalisation adds (the `default` network, resources' names, a build's
//! `Dockerfile`); [`Normalize::None`] prints what was read, as compose-go's
//! loader tests do.

mod go;
mod host;
mod service;
mod yaml;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use go::Object;

use super::{FileSource, Ipam, Network, Project, Volume};

/// How the project is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Yaml,
    Json,
}

/// Whether Docker Compose's normalisation is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalize {
    /// As `docker compose config` prints: every service on a network
    /// (`default` when it names none), every resource with its engine name,
    /// a build's `dockerfile` given.
    #[default]
    Compose,
    /// What was read and resolved, nothing added: compose-go's loader with
    /// `SkipNormalization`, which its tests' expected texts come from.
    None,
}

/// What the printer needs besides the project.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    /// The variables the project was read with (its `.env` under the
    /// process environment): `environment` keys without a value take theirs.
    pub environment: &'a BTreeMap<String, String>,
    pub normalize: Normalize,
}

/// The project as Compose's canonical text, YAML or JSON.
pub fn text(project: &Project, settings: &Settings<'_>, format: Format) -> String {
    let document = document(project, settings, format);
    match format {
        Format::Yaml => yaml::text(&document),
        Format::Json => serde_json::to_string_pretty(&document).unwrap_or_default(),
    }
}

/// The project as Compose's canonical document. The JSON form differs from
/// the YAML one as compose-go's does: top-level keys sorted, every network
/// with an `ipam` object, `command` and `entrypoint` null when not set.
pub fn document(project: &Project, settings: &Settings<'_>, format: Format) -> Value {
    let normalized = settings.normalize == Normalize::Compose;
    let mut services = Map::new();
    let mut uses_default = false;
    let mut sorted: Vec<_> = project.services.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (name, service) in sorted {
        let mut value = service::service(service, settings);
        if let Value::Object(fields) = &mut value {
            if normalized {
                normalize_service(fields, settings);
                uses_default |= fields
                    .get("networks")
                    .and_then(Value::as_object)
                    .is_some_and(|n| n.contains_key("default"));
            }
            if format == Format::Json {
                for key in ["command", "entrypoint"] {
                    fields.entry(key).or_insert(Value::Null);
                }
            }
        }
        services.insert(name.clone(), value);
    }
    let prefix = &project.project;
    let mut networks: BTreeMap<String, Value> = project
        .networks
        .iter()
        .map(|(key, n)| (key.clone(), network(key, n, prefix, normalized, format)))
        .collect();
    if uses_default && !networks.contains_key("default") {
        let default = Network::default();
        networks.insert(
            "default".into(),
            network("default", &default, prefix, normalized, format),
        );
    }
    let mut volumes: BTreeMap<String, Value> = project
        .volumes
        .iter()
        .map(|(key, v)| (key.clone(), volume(key, v, prefix, normalized)))
        .collect();
    let mut secrets = file_sources(&project.secrets, prefix, normalized);
    let mut configs = file_sources(&project.configs, prefix, normalized);
    if format == Format::Json {
        // compose-go's JSON leaves out the extensions of everything but
        // the project (`json:"-"`).
        let entries = services
            .values_mut()
            .chain(networks.values_mut())
            .chain(volumes.values_mut())
            .chain(
                secrets
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|m| m.values_mut()),
            )
            .chain(
                configs
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|m| m.values_mut()),
            );
        for entry in entries {
            if let Value::Object(fields) = entry {
                fields.retain(|k, _| !k.starts_with("x-"));
            }
        }
    }
    let mut top = Object::default();
    top.put("name", json!(project.base_name()));
    top.0.insert("services".into(), Value::Object(services));
    top.put("networks", Value::Object(networks.into_iter().collect()))
        .put("volumes", Value::Object(volumes.into_iter().collect()))
        .put("secrets", secrets)
        .put("configs", configs)
        .extend(&project.extensions);
    let mut top = top.0;
    if format == Format::Json {
        top.sort_keys();
    }
    Value::Object(top)
}

/// What Docker Compose's normalisation adds to a service.
fn normalize_service(fields: &mut Map<String, Value>, settings: &Settings<'_>) {
    if fields.get("networks").is_none() {
        fields.insert("networks".into(), json!({ "default": null }));
        sort_in(fields, "networks");
    }
    if let Some(Value::Object(build)) = fields.get_mut("build") {
        if !build.contains_key("dockerfile") {
            let mut rebuilt = Map::new();
            for (key, value) in std::mem::take(build) {
                let context = key == "context";
                rebuilt.insert(key, value);
                if context {
                    rebuilt.insert("dockerfile".into(), json!("Dockerfile"));
                }
            }
            *build = rebuilt;
        }
        // Build args without a value take the environment's, or are dropped.
        if let Some(Value::Object(args)) = build.get_mut("args") {
            let resolved: Map<String, Value> = std::mem::take(args)
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Value::Null => settings.environment.get(&k).map(|v| (k, json!(v))),
                    v => Some((k, v)),
                })
                .collect();
            *args = resolved;
        }
    }
}

/// Moves `key` (just appended) to its place in compose-go's order, which
/// for the fields added by normalisation is alphabetical among its
/// neighbours.
fn sort_in(fields: &mut Map<String, Value>, key: &str) {
    let Some(value) = fields.remove(key) else {
        return;
    };
    let mut rebuilt = Map::new();
    let mut placed = false;
    for (k, v) in std::mem::take(fields) {
        if !placed && k.as_str() > key && !k.starts_with("x-") {
            rebuilt.insert(key.to_owned(), value.clone());
            placed = true;
        }
        rebuilt.insert(k, v);
    }
    if !placed {
        rebuilt.insert(key.to_owned(), value);
    }
    *fields = rebuilt;
}

/// The engine's name Compose gives a resource that names none.
fn default_name(key: &str, external: bool, prefix: &str) -> String {
    if external {
        key.to_owned()
    } else {
        format!("{prefix}_{key}")
    }
}

/// A resource's `name`: always when normalised, else only when it is not
/// the one Compose would give (so, as written).
fn resource_name(
    name: Option<&str>,
    key: &str,
    external: bool,
    prefix: &str,
    normalized: bool,
) -> Value {
    let default = default_name(key, external, prefix);
    match name {
        Some(name) if normalized || name != default => json!(name),
        None if normalized => json!(default),
        _ => Value::Null,
    }
}

fn network(key: &str, network: &Network, prefix: &str, normalized: bool, format: Format) -> Value {
    let mut out = Object::default();
    out.put(
        "name",
        resource_name(
            network.name.as_deref(),
            key,
            network.external,
            prefix,
            normalized,
        ),
    )
    .put("driver", go::text(network.driver.as_deref()))
    .put("driver_opts", go::plain_map(&network.driver_opts));
    // compose-go's IPAM is a struct, not a pointer: its JSON encoder always
    // writes it, its YAML encoder leaves it out when empty.
    let ipam = network.ipam.as_ref().map_or(json!({}), ipam);
    if format == Format::Json {
        out.0.insert("ipam".into(), ipam);
    } else {
        out.put("ipam", ipam);
    }
    out.put("external", Value::Bool(network.external))
        .put("internal", Value::Bool(network.internal))
        .put("attachable", Value::Bool(network.attachable))
        .put("labels", go::string_map(&network.labels))
        .put("enable_ipv6", Value::Bool(network.enable_ipv6))
        .extend(&network.extensions);
    out.value()
}

/// A network's `ipam` in compose-go's order (`types.IPAMConfig`).
fn ipam(ipam: &Ipam) -> Value {
    let mut out = Object::default();
    out.put("driver", go::text(ipam.driver.as_deref()))
        .put(
            "config",
            Value::Array(
                ipam.config
                    .iter()
                    .map(|pool| {
                        let mut out = Object::default();
                        out.put("subnet", go::text(pool.subnet.as_deref()))
                            .put("gateway", go::text(pool.gateway.as_deref()))
                            .put("ip_range", go::text(pool.ip_range.as_deref()))
                            .put("aux_addresses", go::plain_map(&pool.aux_addresses));
                        out.value()
                    })
                    .collect(),
            ),
        )
        .put("options", go::plain_map(&ipam.options));
    out.value()
}

fn volume(key: &str, volume: &Volume, prefix: &str, normalized: bool) -> Value {
    let mut out = Object::default();
    out.put(
        "name",
        resource_name(
            volume.name.as_deref(),
            key,
            volume.external,
            prefix,
            normalized,
        ),
    )
    .put("driver", go::text(volume.driver.as_deref()))
    .put("driver_opts", go::plain_map(&volume.driver_opts))
    .put("external", Value::Bool(volume.external))
    .put("labels", go::string_map(&volume.labels))
    .extend(&volume.extensions);
    out.value()
}

fn file_sources(
    sources: &indexmap::IndexMap<String, FileSource>,
    prefix: &str,
    normalized: bool,
) -> Value {
    let sorted: BTreeMap<&String, &FileSource> = sources.iter().collect();
    Value::Object(
        sorted
            .into_iter()
            .map(|(key, source)| {
                let mut out = Object::default();
                out.put(
                    "name",
                    resource_name(
                        source.name.as_deref(),
                        key,
                        source.external,
                        prefix,
                        normalized,
                    ),
                )
                .put(
                    "file",
                    go::text(
                        source
                            .file
                            .as_ref()
                            .map(|f| f.display().to_string())
                            .as_deref(),
                    ),
                )
                .put("environment", go::text(source.environment.as_deref()))
                .put("content", go::text(source.content.as_deref()))
                .put("external", Value::Bool(source.external))
                .put("labels", go::string_map(&source.labels))
                .put("driver", go::text(source.driver.as_deref()))
                .put("driver_opts", go::plain_map(&source.driver_opts))
                .put(
                    "template_driver",
                    go::text(source.template_driver.as_deref()),
                )
                .extend(&source.extensions);
                (key.clone(), out.value())
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests;
