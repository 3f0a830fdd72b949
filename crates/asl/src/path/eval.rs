//! Evaluating a parsed path against a document, with Jayway's semantics: a
//! definite path yields its value or fails; an indefinite one yields the
//! array of everything it matched, possibly empty, and never fails.

use serde_json::Value as Json;

use super::ast::{Function, Normalized, Path, Segment};
use super::filter;

/// Why a definite path produced nothing; the text is Jayway's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NotFound(pub String);

/// The documents a path can start from.
pub(crate) struct Roots<'a> {
    /// What the path's own root (`$`, `$$`, `$var` or `@`) stands for.
    pub start: &'a Json,
    /// What `$` means inside a filter.
    pub document: &'a Json,
}

/// Evaluates `path` from `roots.start`.
pub(crate) fn evaluate(path: &Path, roots: &Roots) -> Result<Json, NotFound> {
    let definite = path.is_definite();
    let merged = if definite { path.merged_names() } else { None };
    let walked = match merged {
        Some(_) => &path.segments[..path.segments.len() - 1],
        None => &path.segments[..],
    };
    let mut current: Vec<&Json> = vec![roots.start];
    for (index, segment) in walked.iter().enumerate() {
        let mut next = Vec::new();
        let leaf = index + 1 == path.segments.len();
        for node in current {
            let step = Step {
                segments: &path.segments,
                index,
                leaf,
                strict: definite,
            };
            step.apply(segment, node, roots.document, &mut next)?;
        }
        current = next;
    }
    let no_results = || {
        NotFound(format!(
            "No results for path: {}",
            Normalized(&path.segments)
        ))
    };
    let value = match (merged, current.first()) {
        (Some(names), Some(Json::Object(map))) => {
            let present = names
                .iter()
                .filter_map(|name| Some((name.clone(), map.get(name)?.clone())));
            Json::Object(present.collect())
        }
        (Some(_), _) => return Err(no_results()),
        (None, Some(value)) if definite => (*value).clone(),
        (None, None) if definite => return Err(no_results()),
        (None, _) => Json::Array(current.into_iter().cloned().collect()),
    };
    match path.function {
        Some(function) => apply_function(function, value),
        None => Ok(value),
    }
}

/// One segment applied to one node, knowing where it sits in the path.
struct Step<'s> {
    segments: &'s [Segment],
    index: usize,
    leaf: bool,
    /// Definite paths report what is missing; indefinite ones skip it.
    strict: bool,
}

impl Step<'_> {
    fn here(&self) -> Normalized<'_> {
        Normalized(&self.segments[..self.index])
    }

    fn apply<'a>(
        &self,
        segment: &Segment,
        node: &'a Json,
        document: &Json,
        out: &mut Vec<&'a Json>,
    ) -> Result<(), NotFound> {
        match segment {
            Segment::Names(names) => self.names(names, node, out),
            Segment::Wildcard => {
                match node {
                    Json::Object(map) => out.extend(map.values()),
                    Json::Array(items) => out.extend(items.iter()),
                    _ => {}
                }
                Ok(())
            }
            Segment::Indexes(indexes) => {
                let Some(items) = self.array(segment, node)? else {
                    return Ok(());
                };
                for index in indexes {
                    if let Some(item) =
                        resolve_index(*index, items.len()).and_then(|i| items.get(i))
                    {
                        out.push(item);
                    }
                }
                Ok(())
            }
            Segment::Slice { start, end, step } => {
                if let Json::Array(items) = node {
                    out.extend(slice(items, *start, *end, *step));
                }
                Ok(())
            }
            Segment::Filter(test) => {
                match node {
                    Json::Object(_) if filter::accepts(test, node, document) => out.push(node),
                    Json::Array(items) => out.extend(
                        items
                            .iter()
                            .filter(|item| filter::accepts(test, item, document)),
                    ),
                    _ => {}
                }
                Ok(())
            }
            Segment::Scan(inner) => {
                let lenient = Step {
                    strict: false,
                    ..*self
                };
                let mut stack = vec![node];
                while let Some(current) = stack.pop() {
                    if matches!(current, Json::Object(_) | Json::Array(_)) {
                        lenient.apply(inner, current, document, out)?;
                    }
                    match current {
                        Json::Object(map) => stack.extend(map.values().rev()),
                        Json::Array(items) => stack.extend(items.iter().rev()),
                        _ => {}
                    }
                }
                Ok(())
            }
        }
    }

    fn names<'a>(
        &self,
        names: &[String],
        node: &'a Json,
        out: &mut Vec<&'a Json>,
    ) -> Result<(), NotFound> {
        let Json::Object(map) = node else {
            if self.strict {
                let fragment =
                    Normalized(std::slice::from_ref(&self.segments[self.index])).to_string();
                let fragment = fragment.trim_start_matches('$');
                return Err(NotFound(format!(
                    "Expected to find an object with property {fragment} in path {} but found '{}'. This is not a json object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.",
                    self.here(),
                    java_class(node)
                )));
            }
            return Ok(());
        };
        for name in names {
            match map.get(name) {
                Some(value) => out.push(value),
                None if self.strict && !self.leaf => {
                    return Err(NotFound(format!(
                        "Missing property in path {}",
                        Normalized(&self.segments[..=self.index])
                    )));
                }
                None => {}
            }
        }
        Ok(())
    }

    fn array<'a>(
        &self,
        segment: &Segment,
        node: &'a Json,
    ) -> Result<Option<&'a Vec<Json>>, NotFound> {
        match node {
            Json::Array(items) => Ok(Some(items)),
            Json::Null if self.strict => Err(NotFound(format!("The path {} is null", self.here()))),
            _ if self.strict => {
                let fragment = Normalized(std::slice::from_ref(segment)).to_string();
                Err(NotFound(format!(
                    "Filter: {} can only be applied to arrays. Current context is: {}",
                    fragment.trim_start_matches('$'),
                    node
                )))
            }
            _ => Ok(None),
        }
    }
}

/// Jayway names the Java class it found where it wanted an object.
fn java_class(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "java.lang.Boolean",
        Json::Number(n) if n.is_f64() => "java.lang.Double",
        Json::Number(n) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => {
            "java.lang.Integer"
        }
        Json::Number(_) => "java.lang.Long",
        Json::String(_) => "java.lang.String",
        Json::Array(_) => "net.minidev.json.JSONArray",
        Json::Object(_) => "net.minidev.json.JSONObject",
    }
}

pub(super) fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let resolved = if index < 0 { len + index } else { index };
    if (0..len).contains(&resolved) {
        usize::try_from(resolved).ok()
    } else {
        None
    }
}

/// `[start:end:step]` with Python's rules for negative and missing bounds.
fn slice(items: &[Json], start: Option<i64>, end: Option<i64>, step: Option<i64>) -> Vec<&Json> {
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let step = step.unwrap_or(1);
    let clamp = |n: i64, low: i64, high: i64| n.clamp(low, high);
    let bound = |n: i64, low: i64, high: i64| clamp(if n < 0 { n + len } else { n }, low, high);
    let mut out = Vec::new();
    if step > 0 {
        let from = start.map_or(0, |n| bound(n, 0, len));
        let to = end.map_or(len, |n| bound(n, 0, len));
        let mut i = from;
        while i < to {
            out.extend(usize::try_from(i).ok().and_then(|i| items.get(i)));
            i = i.saturating_add(step);
        }
    } else {
        let from = start.map_or(len - 1, |n| bound(n, -1, len - 1));
        let to = end.map_or(-1, |n| bound(n, -1, len - 1));
        let mut i = from;
        while i > to {
            out.extend(usize::try_from(i).ok().and_then(|i| items.get(i)));
            i = i.saturating_add(step);
        }
    }
    out
}

fn numbers(value: &Json, name: &str) -> Result<Vec<f64>, NotFound> {
    let items = match value {
        Json::Array(items) => items,
        _ => {
            return Err(NotFound(format!(
                "Aggregation function attempted to calculate value using empty array: {name}"
            )))
        }
    };
    let numbers: Vec<f64> = items.iter().filter_map(Json::as_f64).collect();
    if numbers.is_empty() {
        return Err(NotFound(format!(
            "Aggregation function attempted to calculate value using empty array: {name}"
        )));
    }
    Ok(numbers)
}

fn float(value: f64) -> Json {
    serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number)
}

fn apply_function(function: Function, value: Json) -> Result<Json, NotFound> {
    Ok(match function {
        Function::Length => match &value {
            Json::Array(items) => Json::from(items.len()),
            Json::Object(map) => Json::from(map.len()),
            Json::String(text) => Json::from(text.encode_utf16().count()),
            _ => {
                return Err(NotFound(
                    "Invalid function: length() requires an array, object or string".to_string(),
                ))
            }
        },
        Function::Min => float(
            numbers(&value, "min")?
                .into_iter()
                .fold(f64::INFINITY, f64::min),
        ),
        Function::Max => float(
            numbers(&value, "max")?
                .into_iter()
                .fold(f64::NEG_INFINITY, f64::max),
        ),
        Function::Sum => float(numbers(&value, "sum")?.into_iter().sum()),
        Function::Avg => {
            let n = numbers(&value, "avg")?;
            float(n.iter().sum::<f64>() / n.len() as f64)
        }
        Function::Stddev => {
            let n = numbers(&value, "stddev")?;
            let mean = n.iter().sum::<f64>() / n.len() as f64;
            float((n.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n.len() as f64).sqrt())
        }
        Function::Keys => match &value {
            Json::Object(map) => Json::Array(map.keys().cloned().map(Json::String).collect()),
            _ => {
                return Err(NotFound(
                    "Invalid function: keys() requires an object".to_string(),
                ))
            }
        },
        Function::First | Function::Last => match &value {
            Json::Array(items) => {
                let item = if function == Function::First {
                    items.first()
                } else {
                    items.last()
                };
                item.cloned()
                    .ok_or_else(|| NotFound("Invalid function: the array is empty".to_string()))?
            }
            _ => {
                return Err(NotFound(
                    "Invalid function: first() and last() require an array".to_string(),
                ))
            }
        },
    })
}
