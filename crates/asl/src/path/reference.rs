//! Writing through a reference path (ResultPath): `$`, names and single
//! indexes only. Missing objects on the way are created; anything that is
//! not the object or array a step needs is `States.ResultPathMatchFailure`.

use serde_json::Value as Json;

use super::ast::{Root, Segment};
use super::parse;
use crate::failure::names::RESULT_PATH_MATCH_FAILURE;
use crate::Failure;

/// Writes `value` into `target` at the reference path `path` (ResultPath),
/// creating objects on the way. `$` replaces the whole target.
pub fn assign(target: &mut Json, path: &str, value: Json) -> Result<(), Failure> {
    let parsed = parse::parse(path).map_err(|message| {
        Failure::new(
            RESULT_PATH_MATCH_FAILURE,
            format!("Invalid ReferencePath '{path}': {message}"),
        )
    })?;
    if parsed.root != Root::Input
        || parsed.function.is_some()
        || !parsed.is_definite()
        || parsed.merged_names().is_some()
    {
        return Err(Failure::new(
            RESULT_PATH_MATCH_FAILURE,
            format!("Invalid ReferencePath '{path}': only '$' followed by names and array indexes is allowed"),
        ));
    }
    let failure = |target: &Json| {
        Failure::new(
            RESULT_PATH_MATCH_FAILURE,
            format!("Unable to apply ReferencePath {path} to input {target}"),
        )
    };
    let Some((last, steps)) = parsed.segments.split_last() else {
        *target = value;
        return Ok(());
    };
    // Check the whole walk before writing, so a failure leaves `target` as it was.
    if !reachable(target, steps, last) {
        return Err(failure(target));
    }
    let mut current = target;
    for step in steps {
        current = match (step, current) {
            (Segment::Names(names), Json::Object(map)) => map
                .entry(names.first().cloned().unwrap_or_default())
                .or_insert_with(|| Json::Object(serde_json::Map::new())),
            (Segment::Indexes(indexes), Json::Array(items)) => {
                match indexes.first().and_then(|i| index(*i, items.len())) {
                    Some(i) => &mut items[i],
                    None => {
                        return Err(Failure::new(
                            RESULT_PATH_MATCH_FAILURE,
                            format!("Unable to apply ReferencePath {path}"),
                        ))
                    }
                }
            }
            _ => {
                return Err(Failure::new(
                    RESULT_PATH_MATCH_FAILURE,
                    format!("Unable to apply ReferencePath {path}"),
                ))
            }
        };
    }
    match (last, current) {
        (Segment::Names(names), Json::Object(map)) => {
            map.insert(names.first().cloned().unwrap_or_default(), value);
        }
        (Segment::Indexes(indexes), Json::Array(items)) => {
            if let Some(i) = indexes.first().and_then(|i| index(*i, items.len())) {
                items[i] = value;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether every step of the walk finds (or may create) what it needs.
fn reachable(target: &Json, steps: &[Segment], last: &Segment) -> bool {
    let all: Vec<&Segment> = steps.iter().chain(std::iter::once(last)).collect();
    let mut current = target;
    for (position, step) in all.iter().enumerate() {
        current = match (step, current) {
            (Segment::Names(names), Json::Object(map)) => {
                match names.first().and_then(|name| map.get(name)) {
                    Some(next) => next,
                    // A missing object is created, and so is everything below it.
                    None => {
                        return all[position + 1..]
                            .iter()
                            .all(|s| matches!(s, Segment::Names(_)))
                    }
                }
            }
            (Segment::Indexes(indexes), Json::Array(items)) => {
                match indexes
                    .first()
                    .and_then(|i| index(*i, items.len()))
                    .and_then(|i| items.get(i))
                {
                    Some(next) => next,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    true
}

fn index(index: i64, len: usize) -> Option<usize> {
    let i = usize::try_from(index).ok()?;
    (i < len).then_some(i)
}
