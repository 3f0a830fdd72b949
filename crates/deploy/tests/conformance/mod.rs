//! Shared by the Compose conformance tests: documents flattened to their
//! leaves (`services.foo.ports[2].target` = 3002) so that two documents are
//! compared field by field, and field paths written as text.

#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;

/// Every leaf of `value` by its path: scalars, nulls, and empty lists and
/// maps (which are values of their own, like `volume: {}`).
pub fn leaves(value: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    walk(value, String::new(), &mut out);
    out
}

fn walk(value: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(inner, path, out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, inner) in items.iter().enumerate() {
                walk(inner, format!("{path}[{i}]"), out);
            }
        }
        leaf => {
            out.insert(path, leaf.clone());
        }
    }
}

/// Whether `path` is `prefix` or lies under it.
pub fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// Two leaves are equal as values: numbers by their value (Go prints a
/// float32 0.3 as 0.3).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(1.0),
            _ => x == y,
        },
        _ => a == b,
    }
}

/// One step of a field path: a key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// `services.foo.ports[1].target` as steps; a key with dots in it is
/// quoted: `labels."com.example.x"`.
pub fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        rest = rest.strip_prefix('.').unwrap_or(rest);
        if let Some(quoted) = rest.strip_prefix('"') {
            let (key, after) = quoted.split_once('"').unwrap_or((quoted, ""));
            out.push(Step::Key(key.to_owned()));
            rest = after;
        } else if let Some(indexed) = rest.strip_prefix('[') {
            let (index, after) = indexed.split_once(']').unwrap_or((indexed, ""));
            if let Ok(i) = index.parse() {
                out.push(Step::Index(i));
            }
            rest = after;
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Step::Key(rest[..end].to_owned()));
            rest = &rest[end..];
        }
    }
    out
}

/// The JSON node at `path`, if there.
pub fn get<'a>(value: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter()
        .try_fold(value, |node, step| match (step, node) {
            (Step::Key(k), Value::Object(m)) => m.get(k),
            (Step::Index(i), Value::Array(a)) => a.get(*i),
            _ => None,
        })
}

/// Takes the JSON node at `path` out; a mapping left empty becomes null,
/// as compose-go prints an entry with nothing set (a service's network
/// without options).
pub fn remove(value: &mut Value, path: &[Step]) -> Option<Value> {
    let (first, rest) = path.split_first()?;
    if rest.is_empty() {
        return match (first, value) {
            (Step::Key(k), Value::Object(m)) => m.shift_remove(k),
            (Step::Index(i), Value::Array(a)) if *i < a.len() => Some(a.remove(*i)),
            _ => None,
        };
    }
    let child = match (first, &mut *value) {
        (Step::Key(k), Value::Object(m)) => m.get_mut(k)?,
        (Step::Index(i), Value::Array(a)) => a.get_mut(*i)?,
        _ => return None,
    };
    let taken = remove(child, rest)?;
    if child.as_object().is_some_and(|m| m.is_empty()) {
        *child = Value::Null;
    }
    Some(taken)
}

/// Removes every path of `paths` there is, the later list items first so
/// that the indices of the others hold.
pub fn remove_all(value: &mut Value, paths: &[String]) -> usize {
    let mut sorted: Vec<Vec<Step>> = paths.iter().map(|p| steps(p)).collect();
    sorted.sort();
    sorted.dedup();
    sorted
        .iter()
        .rev()
        .filter(|path| remove(value, path).is_some())
        .count()
}

/// Takes the node at `path` out of a YAML tree, if there.
pub fn take(tree: &mut serde_norway::Value, path: &[Step]) -> Option<serde_norway::Value> {
    let (last, parents) = path.split_last()?;
    let mut node = tree;
    for step in parents {
        node = match (step, node) {
            (Step::Key(k), serde_norway::Value::Mapping(m)) => m.get_mut(k.as_str())?,
            (Step::Index(i), serde_norway::Value::Sequence(s)) => s.get_mut(*i)?,
            _ => return None,
        };
    }
    match (last, node) {
        (Step::Key(k), serde_norway::Value::Mapping(m)) => m.remove(k.as_str()),
        (Step::Index(i), serde_norway::Value::Sequence(s)) if *i < s.len() => Some(s.remove(*i)),
        _ => None,
    }
}

/// Puts `value` at `path` in a YAML tree, making the mappings on the way.
pub fn put(tree: &mut serde_norway::Value, path: &[Step], value: serde_norway::Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = tree;
    for step in parents {
        node = match (step, node) {
            (Step::Key(k), serde_norway::Value::Mapping(m)) => m
                .entry(k.as_str().into())
                .or_insert_with(|| serde_norway::Value::Mapping(Default::default())),
            (Step::Index(i), serde_norway::Value::Sequence(s)) if *i < s.len() => &mut s[*i],
            _ => return,
        };
    }
    match (last, node) {
        (Step::Key(k), serde_norway::Value::Mapping(m)) => {
            m.insert(k.as_str().into(), value);
        }
        (Step::Index(i), serde_norway::Value::Sequence(s)) => {
            s.insert((*i).min(s.len()), value);
        }
        _ => {}
    }
}
