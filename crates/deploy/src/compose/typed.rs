//! Reading a YAML value as a typed field, the YAML library's message put
//! at the path inside the value that it names: a service's field alone,
//! and a list item by item, so that one bad value hides no other.

use serde::de::DeserializeOwned;
use serde_norway::{Mapping, Value};

use super::diagnostic::Report;
use super::interpolate::key_text;
use super::locate::FieldPath;
use super::Service;

/// Reads `value` as a `T`; on failure reports the YAML library's message at
/// the path inside `value` that it names.
pub(crate) fn typed<T: DeserializeOwned>(
    value: &Value,
    at: &FieldPath,
    report: &mut Report,
) -> Option<T> {
    match read_as::<T>(value) {
        Ok(typed) => Some(typed),
        Err((path, message)) => {
            let path = at.join_printed(&path);
            report.error_in(&path, &unknown_key(&path, &message), message);
            None
        }
    }
}

/// Reads `value` as a `T`, or says at which path inside it (as the YAML
/// library prints it, empty for the value itself) what went wrong.
fn read_as<T: DeserializeOwned>(value: &Value) -> Result<T, (String, String)> {
    if let Ok(typed) = serde_norway::from_value::<T>(value.clone()) {
        return Ok(typed);
    }
    // Read through text, where the library says which field failed.
    let text = serde_norway::to_string(value).unwrap_or_default();
    let err = match serde_norway::from_str::<T>(&text) {
        Ok(typed) => return Ok(typed),
        Err(err) => err,
    };
    let message = err.to_string();
    let message = match err.location() {
        Some(l) => message.replacen(
            &format!(" at line {} column {}", l.line(), l.column()),
            "",
            1,
        ),
        None => message,
    };
    Err(match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => (path.to_owned(), plain(rest)),
        _ => (String::new(), plain(&message)),
    })
}

/// The YAML library's message in a user's words where it speaks Rust: a key
/// written with nothing after it (or only a comment) is null, which the
/// library calls a "unit value".
fn plain(message: &str) -> String {
    match message.strip_prefix("invalid type: unit value, expected ") {
        Some(expected) => format!("the value is empty (null: the key has nothing after it, or only a comment), expected {expected}: give it a value, or remove the key"),
        None => super::fields::reword_unknown(message),
    }
}

/// Checks one service field alone; a list that does not read is read item
/// by item, so that each bad item is reported at its index.
pub(crate) fn check_field(key: &Value, field: &Value, at: &FieldPath, report: &mut Report) -> bool {
    let single = |value: Value| {
        let mut single = Mapping::new();
        single.insert(key.clone(), value);
        Value::Mapping(single)
    };
    let Err((path, message)) = read_as::<Service>(&single(field.clone())) else {
        return true;
    };
    let name = key_text(key);
    if let Value::Sequence(items) = field {
        if items.len() > 1 {
            for (i, item) in items.iter().enumerate() {
                if let Err((path, message)) =
                    read_as::<Service>(&single(Value::Sequence(vec![item.clone()])))
                {
                    let inner = path.strip_prefix(&format!("{name}[0]")).unwrap_or("");
                    let path = at.key(&name).index(i).join_printed(inner);
                    report.error_in(&path, &unknown_key(&path, &message), message);
                }
            }
            return false;
        }
    }
    let path = at.join_printed(&path);
    report.error_in(&path, &unknown_key(&path, &message), message);
    false
}

/// For "unknown field `x`", the path of that key, where the line is.
fn unknown_key(path: &FieldPath, message: &str) -> FieldPath {
    message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map_or_else(|| path.clone(), |(key, _)| path.key(key))
}

/// Service fields that are numbers or booleans, by path from the service.
const NUMBERS: &[&[&str]] = &[
    &["deploy", "replicas"],
    &["deploy", "update_config", "parallelism"],
    &["deploy", "rollback_config", "parallelism"],
    &["healthcheck", "retries"],
    &["pids_limit"],
    &["scale"],
    &["oom_score_adj"],
    &["mem_swappiness"],
    &["cpu_shares"],
    &["deploy", "resources", "limits", "pids"],
    &["blkio_config", "weight"],
    &["x-windlass", "port"],
    &["x-windlass", "retain"],
    &["x-windlass", "rollback_on", "failed_health_checks"],
    &["x-windlass", "rollout", "weight"],
    &["x-windlass", "rollout", "step"],
    &["x-windlass", "rollout", "analysis", "min_requests"],
];
const BOOLEANS: &[&[&str]] = &[
    &["init"],
    &["stdin_open"],
    &["tty"],
    &["read_only"],
    &["privileged"],
    &["attach"],
    &["oom_kill_disable"],
    &["use_api_socket"],
    &["healthcheck", "disable"],
    &["x-windlass", "exclusive"],
    &["x-windlass", "shared_mounts"],
    &["x-windlass", "rollout", "approve"],
];

/// Makes numbers and booleans of strings where the field wants one, as
/// Compose does after interpolation: `replicas: ${REPLICAS:-2}` is the
/// string "2" once interpolated, and means 2.
pub(crate) fn cast_scalars(service: &mut Mapping) {
    for (paths, number) in [(NUMBERS, true), (BOOLEANS, false)] {
        for path in paths {
            let Some(value) = lookup(service, path) else {
                continue;
            };
            let Value::String(text) = value else {
                continue;
            };
            let cast = if number {
                text.trim().parse::<i64>().ok().map(Value::from)
            } else {
                match text.trim() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    _ => None,
                }
            };
            if let Some(cast) = cast {
                *value = cast;
            }
        }
    }
}

fn lookup<'a>(map: &'a mut Mapping, path: &[&str]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let value = map.get_mut(*first)?;
    if rest.is_empty() {
        return Some(value);
    }
    match value {
        Value::Mapping(inner) => lookup(inner, rest),
        _ => None,
    }
}
