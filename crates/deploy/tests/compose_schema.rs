//! The Compose Specification's JSON Schema (`compose-spec/compose-spec.json`,
//! copied from compose-spec/compose-spec) read as data: every property it
//! defines, at every depth (`services.*.deploy.resources.limits.cpus`), is
//! written into a small Compose file and read by windlass, which must either
//! honour it or refuse it with its reason ("`cpus` is not supported: ...").
//! A property windlass calls an unknown field fails the test: no field of
//! the specification is unknown to windlass.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};
use windlass_deploy::compose::{check_text, FileChecks, Options, Severity};

/// One step from a container to what it holds.
#[derive(Clone, Debug)]
enum Step {
    /// A property of an object.
    Key(String),
    /// An entry of a map of names (a service, a network ...).
    Entry,
    /// An item of a list.
    Item,
}

/// A property the schema defines: where it is, and its schema.
struct Property {
    steps: Vec<Step>,
    schema: Value,
}

impl Property {
    /// `services.*.ports[].target`, as the specification is read.
    fn name(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            match step {
                Step::Key(k) if out.is_empty() => out.push_str(k),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Entry => out.push_str(".*"),
                Step::Item => out.push_str("[]"),
            }
        }
        out
    }

    /// The path windlass gives in its diagnostics for the probe file.
    fn diagnostic_path(&self) -> String {
        let mut out = String::new();
        for step in &self.steps {
            match step {
                Step::Key(k) if out.is_empty() => out.push_str(k),
                Step::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Entry => out.push_str(".probe"),
                Step::Item => out.push_str("[0]"),
            }
        }
        out
    }

    fn key(&self) -> &str {
        self.steps
            .iter()
            .rev()
            .find_map(|s| match s {
                Step::Key(k) => Some(k.as_str()),
                _ => None,
            })
            .unwrap_or("")
    }
}

struct Schema {
    root: Value,
}

impl Schema {
    fn load() -> Schema {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compose-spec/compose-spec.json");
        let text = std::fs::read_to_string(path).expect("compose-spec.json");
        Schema {
            root: serde_json::from_str(&text).expect("JSON"),
        }
    }

    /// `node` with its `$ref` followed.
    fn resolve<'a>(&'a self, node: &'a Value) -> &'a Value {
        match node.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.trim_start_matches("#/definitions/");
                self.resolve(&self.root["definitions"][name])
            }
            None => node,
        }
    }

    /// Every property under `node`, depth first; `seen` keeps a definition
    /// that holds itself from being walked forever.
    fn walk(&self, node: &Value, steps: &[Step], seen: &mut Vec<String>, out: &mut Vec<Property>) {
        if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
            if seen.iter().any(|s| s == reference) {
                return;
            }
            seen.push(reference.to_owned());
            self.walk(self.resolve(node), steps, seen, out);
            seen.pop();
            return;
        }
        for alternative in ["oneOf", "anyOf", "allOf"] {
            for inner in node
                .get(alternative)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.walk(inner, steps, seen, out);
            }
        }
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            for (key, schema) in properties {
                let mut here = steps.to_vec();
                here.push(Step::Key(key.clone()));
                if !out.iter().any(|p| {
                    p.name()
                        == Property {
                            steps: here.clone(),
                            schema: Value::Null,
                        }
                        .name()
                }) {
                    out.push(Property {
                        steps: here.clone(),
                        schema: schema.clone(),
                    });
                }
                self.walk(schema, &here, seen, out);
            }
        }
        if let Some(patterns) = node.get("patternProperties").and_then(Value::as_object) {
            for (pattern, schema) in patterns {
                if pattern.starts_with("^x-") {
                    continue;
                }
                let mut here = steps.to_vec();
                here.push(Step::Entry);
                self.walk(schema, &here, seen, out);
            }
        }
        if let Some(items) = node.get("items") {
            let mut here = steps.to_vec();
            here.push(Step::Item);
            self.walk(items, &here, seen, out);
        }
    }

    /// A value the schema allows for `node`, picked to mean something for
    /// the property `key` (a duration for `interval`, a path for `target`).
    fn sample(&self, node: &Value, key: &str) -> Value {
        let node = self.resolve(node);
        if let Some(first) = node
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return first.clone();
        }
        if let Some(alternatives) = node
            .get("oneOf")
            .or(node.get("anyOf"))
            .and_then(Value::as_array)
        {
            // The simplest alternative: a scalar before a list or a map.
            let scalar = alternatives.iter().find(|a| {
                let a = self.resolve(a);
                matches!(
                    a.get("type").and_then(Value::as_str),
                    Some("string" | "number" | "integer" | "boolean")
                )
            });
            return self.sample(scalar.or(alternatives.first()).unwrap_or(&Value::Null), key);
        }
        let kind = match node.get("type") {
            Some(Value::Array(kinds)) => kinds.first().and_then(Value::as_str).unwrap_or("string"),
            Some(Value::String(kind)) => kind.as_str(),
            _ => "string",
        };
        match kind {
            "boolean" => json!(true),
            "integer" | "number" => json!(1),
            "array" => json!([self.sample(node.get("items").unwrap_or(&json!({})), key)]),
            "object" => self.object(node),
            _ => json!(string_sample(key)),
        }
    }

    /// An object with the properties it requires.
    fn object(&self, node: &Value) -> Value {
        let node = self.resolve(node);
        let mut out = Map::new();
        for required in node
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(key) = required.as_str() {
                let schema = &node["properties"][key];
                out.insert(key.to_owned(), self.sample(schema, key));
            }
        }
        if out.is_empty() && node.get("properties").is_none() {
            // A map of names to values (labels, driver_opts ...).
            out.insert("probe".into(), json!("probe"));
        }
        Value::Object(out)
    }
}

fn string_sample(key: &str) -> &'static str {
    match key {
        "interval" | "timeout" | "start_period" | "start_interval" | "delay" | "monitor"
        | "window" | "stop_grace_period" => "10s",
        "shm_size" | "mem_limit" | "memory" | "size" | "mem_reservation" | "memswap_limit" => "64m",
        "target" | "working_dir" | "path" => "/probe",
        "context" => ".",
        "cpus" | "max_failure_ratio" => "0.5",
        "platform" => "linux/amd64",
        "mode" => "0444",
        _ => "probe",
    }
}

/// The probe file for `property`: the property with a sample value, and
/// around it what makes it a Compose file (a service with an image).
fn probe(schema: &Schema, property: &Property) -> Value {
    let value = schema.sample(&property.schema, property.key());
    let mut node = value;
    for step in property.steps.iter().rev() {
        node = match step {
            Step::Key(k) => json!({ k.clone(): node }),
            Step::Entry => json!({ "probe": node }),
            Step::Item => json!([node]),
        };
    }
    let mut document = match node {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let services = document
        .entry("services")
        .or_insert_with(|| json!({"probe": {}}));
    if let Some(service) = services.get_mut("probe").and_then(Value::as_object_mut) {
        service.entry("image").or_insert(json!("probe"));
    }
    Value::Object(document)
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Verdict {
    /// Read without an error.
    Honoured,
    /// Read, and the sample value refused for what it is (the field is
    /// known: its value was checked).
    ValueChecked,
    /// Refused with windlass's reason.
    Refused,
    /// windlass does not know it.
    Unknown,
}

fn verdict(property: &Property, schema: &Schema) -> (Verdict, String) {
    let document = probe(schema, property);
    let text = serde_norway::to_string(&document).expect("YAML");
    let options = Options {
        environment: BTreeMap::new(),
        files: FileChecks::Skip,
        ..Options::default()
    };
    let (_, diagnostics) = check_text(
        &text,
        Path::new("/nonexistent/probe/compose.yaml"),
        &options,
    );
    let errors: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    let key = property.key();
    let at = property.diagnostic_path();
    if let Some(unknown) = errors
        .iter()
        .find(|d| d.message.contains(&format!("unknown field `{key}`")))
    {
        return (
            Verdict::Unknown,
            format!("{}: {}", unknown.field, unknown.message),
        );
    }
    let refusal = format!("`{key}` is not supported");
    if let Some(refused) = errors.iter().find(|d| d.message.starts_with(&refusal)) {
        return (Verdict::Refused, refused.message.clone());
    }
    // Refused at a containing field (a refused `deploy.resources` holds `limits`).
    if let Some(refused) = errors
        .iter()
        .find(|d| at.starts_with(&d.field) && d.message.contains("is not supported"))
    {
        return (
            Verdict::Refused,
            format!("{}: {}", refused.field, refused.message),
        );
    }
    match errors.first() {
        None => (Verdict::Honoured, String::new()),
        Some(first) => (
            Verdict::ValueChecked,
            format!("{}: {}\n{text}", first.field, first.message),
        ),
    }
}

#[test]
fn every_property_of_the_specification_is_honoured_or_refused_with_a_reason() {
    let schema = Schema::load();
    let mut properties = Vec::new();
    schema.walk(&schema.root, &[], &mut Vec::new(), &mut properties);
    assert!(
        properties.len() > 300,
        "the schema defines {} properties",
        properties.len()
    );
    let mut by_verdict: BTreeMap<Verdict, Vec<(String, String)>> = BTreeMap::new();
    for property in &properties {
        let (verdict, detail) = verdict(property, &schema);
        by_verdict
            .entry(verdict)
            .or_default()
            .push((property.name(), detail));
    }
    let count = |v| by_verdict.get(&v).map_or(0, Vec::len);
    println!(
        "{} properties of compose-spec.json: {} honoured, {} known with the sample value refused, {} refused with a reason, {} unknown",
        properties.len(),
        count(Verdict::Honoured),
        count(Verdict::ValueChecked),
        count(Verdict::Refused),
        count(Verdict::Unknown),
    );
    if std::env::var_os("WINDLASS_SCHEMA_LIST").is_some() {
        for (verdict, list) in &by_verdict {
            for (name, detail) in list {
                println!(
                    "{verdict:?}\t{name}\t{}",
                    detail.lines().next().unwrap_or("")
                );
            }
        }
    }
    let unknown = by_verdict
        .get(&Verdict::Unknown)
        .cloned()
        .unwrap_or_default();
    assert!(
        unknown.is_empty(),
        "{} properties of the specification are unknown to windlass: honour each, or refuse it with a reason in compose/fields.rs:\n{}",
        unknown.len(),
        unknown.iter().map(|(n, d)| format!("{n}: {d}")).collect::<Vec<_>>().join("\n")
    );
}
