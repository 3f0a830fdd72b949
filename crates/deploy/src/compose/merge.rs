//! Several Compose files merged as `docker compose -f a.yaml -f b.yaml`
//! merges them (the specification's "Merge and override" page): mappings
//! merge key by key; list-or-map fields (`environment`, `labels`,
//! `build.args`, `depends_on`, `networks` ...) are made maps first; `ports`,
//! `expose`, `dns`, `cap_add` and the like are appended with duplicates
//! removed; `volumes` merge by container path, `secrets` and `configs` by
//! source; `command`, `entrypoint` and `healthcheck.test` are replaced. The
//! YAML tags `!reset` (drop the base value) and `!override` (replace it
//! whole) work as in Compose.

use serde_norway::value::{Tag, TaggedValue};
use serde_norway::{Mapping, Value};

use super::interpolate::key_text;

/// Service fields whose value is replaced, never merged.
const REPLACED: &[&str] = &["command", "entrypoint"];
/// Service fields that may be a list of `KEY=VALUE` or a map.
const KEY_VALUE_LISTS: &[&str] = &[
    "environment",
    "labels",
    "sysctls",
    "annotations",
    "extra_hosts",
];

/// Applies YAML merge keys (`<<: *base`, `<<: [*a, *b]`): a key of the
/// mapping wins over the merged ones, an earlier merged mapping over a
/// later. A merged mapping's own merge keys are applied first, so that an
/// anchor holding `<<` can be merged again (serde_norway's
/// `apply_merge` leaves the inner `<<` behind).
pub fn apply_merge_keys(value: &mut Value) -> Result<(), String> {
    match value {
        Value::Mapping(mapping) => {
            if let Some(merged) = mapping.remove("<<") {
                let sources = match merged {
                    Value::Sequence(sources) => sources,
                    one => vec![one],
                };
                for mut source in sources {
                    apply_merge_keys(&mut source)?;
                    let Value::Mapping(source) = source else {
                        return Err(format!(
                            "`<<` merges mappings (an anchor like `*base`), found {}",
                            super::read::kind(&source)
                        ));
                    };
                    for (key, value) in source {
                        if !mapping.contains_key(&key) {
                            mapping.insert(key, value);
                        }
                    }
                }
            }
            for (_, value) in mapping.iter_mut() {
                apply_merge_keys(value)?;
            }
        }
        Value::Sequence(items) => {
            for item in items {
                apply_merge_keys(item)?;
            }
        }
        Value::Tagged(tagged) => apply_merge_keys(&mut tagged.value)?,
        _ => {}
    }
    Ok(())
}

/// Merges `over` into `base` for a whole file.
pub fn merge_files(base: &mut Value, over: Value) {
    let (Value::Mapping(base), Value::Mapping(over)) = (&mut *base, &over) else {
        *base = over;
        return;
    };
    for (key, value) in over.clone() {
        let name = key_text(&key);
        let existing = base.get_mut(&key);
        match (name.as_str(), existing) {
            ("services", Some(Value::Mapping(services))) => merge_services(services, value),
            (_, Some(existing)) => merge_value(existing, value, &name),
            (_, None) => {
                base.insert(key, strip_tags(value));
            }
        }
    }
    base.retain(|_, v| !is_reset(v));
}

fn merge_services(base: &mut Mapping, over: Value) {
    let Value::Mapping(over) = over else {
        return;
    };
    for (name, service) in over {
        match base.get_mut(&name) {
            Some(existing @ Value::Mapping(_)) => merge_service(existing, service),
            Some(existing) => *existing = strip_tags(service),
            None if is_reset(&service) => {}
            None => {
                base.insert(name, strip_tags(service));
            }
        }
    }
}

/// Merges one service over another (`-f` files and `extends`).
pub(crate) fn merge_service(base: &mut Value, over: Value) {
    normalise_service(base);
    let mut over = over;
    normalise_service(&mut over);
    let (Value::Mapping(base), Value::Mapping(over)) = (base, over) else {
        return;
    };
    for (key, value) in over {
        let name = key_text(&key);
        match base.get_mut(&key) {
            Some(existing) if !REPLACED.contains(&name.as_str()) => {
                merge_value(existing, value, &name)
            }
            _ if is_reset(&value) => {
                base.remove(&key);
            }
            _ => {
                base.insert(key, strip_tags(value));
            }
        }
    }
    base.retain(|_, v| !is_reset(v));
}

/// Merges a top-level resource over another of the same name: an including
/// file's over the one it includes.
pub(crate) fn merge_resource(section: &str, base: &mut Value, over: Value) {
    if section == "services" {
        merge_service(base, over);
    } else {
        merge_value(base, over, section);
    }
}

/// Merges one field; `field` names it so that lists merge by their key.
fn merge_value(base: &mut Value, over: Value, field: &str) {
    if let Value::Tagged(tagged) = &over {
        if tagged.tag == Tag::new("reset") {
            *base = over;
            return;
        }
        if tagged.tag == Tag::new("override") {
            *base = tagged.value.clone();
            return;
        }
    }
    match (&mut *base, over) {
        (Value::Mapping(base), Value::Mapping(over)) => {
            for (key, value) in over {
                let name = key_text(&key);
                let replaced = field == "healthcheck" && name == "test";
                match base.get_mut(&key) {
                    Some(existing) if !replaced => merge_value(existing, value, &name),
                    _ if is_reset(&value) => {
                        base.remove(&key);
                    }
                    _ => {
                        base.insert(key, strip_tags(value));
                    }
                }
            }
            base.retain(|_, v| !is_reset(v));
        }
        (Value::Sequence(base), Value::Sequence(over)) => {
            for item in over {
                let key = identity(field, &item);
                let same = base
                    .iter()
                    .position(|b| key.is_some() && identity(field, b) == key || *b == item);
                match same {
                    Some(at) => base[at] = item,
                    None => base.push(item),
                }
            }
        }
        (base, over) => *base = strip_tags(over),
    }
}

/// What makes two list items "the same" for merging.
fn identity(field: &str, item: &Value) -> Option<String> {
    match (field, item) {
        ("volumes" | "tmpfs", Value::String(short)) => {
            let parts: Vec<&str> = short.split(':').collect();
            Some(parts.get(1).unwrap_or(&parts[0]).to_string())
        }
        ("volumes", Value::Mapping(long)) => long.get("target").map(key_text),
        ("secrets" | "configs", Value::String(name)) => Some(name.clone()),
        ("secrets" | "configs", Value::Mapping(long)) => long.get("source").map(key_text),
        ("env_file", Value::Mapping(long)) => long.get("path").map(key_text),
        _ => None,
    }
}

/// Makes list-or-map fields of a service maps, so that they merge by key.
fn normalise_service(service: &mut Value) {
    let Value::Mapping(map) = service else {
        return;
    };
    for (key, value) in map.iter_mut() {
        let name = key_text(key);
        if KEY_VALUE_LISTS.contains(&name.as_str()) {
            key_values_to_map(
                value,
                if name == "extra_hosts" {
                    &['=', ':']
                } else {
                    &['=']
                },
            );
        } else if name == "build" {
            if let Value::Mapping(build) = value {
                if let Some(args) = build.get_mut("args") {
                    key_values_to_map(args, &['=']);
                }
                if let Some(labels) = build.get_mut("labels") {
                    key_values_to_map(labels, &['=']);
                }
            }
        } else if name == "depends_on" || name == "networks" {
            if let Value::Sequence(names) = value {
                let mut map = Mapping::new();
                for item in names.drain(..) {
                    let options = if name == "depends_on" {
                        let mut long = Mapping::new();
                        long.insert("condition".into(), "service_started".into());
                        Value::Mapping(long)
                    } else {
                        Value::Null
                    };
                    map.insert(item, options);
                }
                *value = Value::Mapping(map);
            }
        }
    }
}

fn key_values_to_map(value: &mut Value, separators: &[char]) {
    let Value::Sequence(items) = value else {
        return;
    };
    let mut map = Mapping::new();
    for item in items.iter() {
        let text = key_text(item);
        match text.split_once(separators) {
            Some((k, v)) => map.insert(k.into(), v.into()),
            None => map.insert(text.into(), Value::Null),
        };
    }
    *value = Value::Mapping(map);
}

fn is_reset(value: &Value) -> bool {
    matches!(value, Value::Tagged(t) if t.tag == Tag::new("reset"))
}

/// Drops `!override` and `!reset` tags left where there was nothing to merge.
pub fn strip_tags(value: Value) -> Value {
    match value {
        Value::Tagged(tagged) if tagged.tag == Tag::new("override") => strip_tags(tagged.value),
        Value::Tagged(tagged) if tagged.tag == Tag::new("reset") => Value::Null,
        Value::Tagged(tagged) => Value::Tagged(Box::new(TaggedValue {
            tag: tagged.tag,
            value: strip_tags(tagged.value),
        })),
        Value::Mapping(map) => Value::Mapping(
            map.into_iter()
                .filter(|(_, v)| !is_reset(v))
                .map(|(k, v)| (k, strip_tags(v)))
                .collect(),
        ),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(strip_tags).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_norway::from_str(text).expect("yaml")
    }

    #[test]
    fn merges_as_compose_does() {
        let mut base = yaml(
            "services:\n  web:\n    image: a\n    command: [a, b]\n    ports: ['80', '443']\n    environment: [A=1, B=2]\n    volumes: ['data:/data', './x:/x']\n    depends_on: [db]\n    healthcheck: {test: [CMD, a], interval: 1s}\n",
        );
        merge_files(
            &mut base,
            yaml("services:\n  web:\n    image: b\n    command: [c]\n    ports: ['443', '8080']\n    environment: {B: 3}\n    volumes: ['./y:/x']\n    depends_on: {cache: {condition: service_healthy}}\n    healthcheck: {test: [CMD, b]}\n    labels: !reset {}\n"),
        );
        let expected = yaml(
            "services:\n  web:\n    image: b\n    command: [c]\n    ports: ['80', '443', '8080']\n    environment: {A: '1', B: 3}\n    volumes: ['data:/data', './y:/x']\n    depends_on: {db: {condition: service_started}, cache: {condition: service_healthy}}\n    healthcheck: {test: [CMD, b], interval: 1s}\n",
        );
        assert_eq!(base, expected);
    }

    #[test]
    fn merge_keys_inside_merged_anchors_are_applied() {
        let mut value = yaml(
            "x-a: &a {image: a, restart: always}\nx-b: &b {<<: *a, user: app}\nx-c: &c {<<: [*b], init: true}\nservices:\n  web:\n    <<: *c\n    image: web\n",
        );
        apply_merge_keys(&mut value).expect("merges");
        assert_eq!(
            value["services"]["web"],
            yaml("{image: web, init: true, user: app, restart: always}")
        );
        // An earlier merged mapping wins whole, its own merges included:
        // `k` comes from c (merged into a), not from b.
        let mut value =
            yaml("x-c: &c {k: c}\nx-a: &a {<<: *c}\nx-b: &b {k: b}\nweb: {<<: [*a, *b]}\n");
        apply_merge_keys(&mut value).expect("merges");
        assert_eq!(value["web"], yaml("{k: c}"));
        let mut scalar = yaml("services:\n  web:\n    <<: 3\n");
        assert!(apply_merge_keys(&mut scalar).is_err());
    }

    #[test]
    fn reset_and_override() {
        let mut base = yaml("services:\n  web:\n    ports: ['80']\n    dns: [1.1.1.1]\n");
        merge_files(
            &mut base,
            yaml("services:\n  web:\n    ports: !reset []\n    dns: !override [9.9.9.9]\n"),
        );
        assert_eq!(base, yaml("services:\n  web:\n    dns: [9.9.9.9]\n"));
    }
}
