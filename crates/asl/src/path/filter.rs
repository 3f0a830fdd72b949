//! Filter expressions (`[?(@.price > 10)]`) with Jayway's comparison rules:
//! numbers compare by value, strings lexically, and values of different
//! types are never equal.

use std::cmp::Ordering;

use serde_json::Value as Json;

use super::ast::{CompareOp, Filter, Operand, Root};
use super::eval::{evaluate, Roots};

/// Whether `candidate` (the filter's `@`) passes `filter`; `$` in the filter
/// is `document`.
pub(crate) fn accepts(filter: &Filter, candidate: &Json, document: &Json) -> bool {
    match filter {
        Filter::Or(a, b) => accepts(a, candidate, document) || accepts(b, candidate, document),
        Filter::And(a, b) => accepts(a, candidate, document) && accepts(b, candidate, document),
        Filter::Not(inner) => !accepts(inner, candidate, document),
        Filter::Exists(operand) => match value(operand, candidate, document) {
            Some(Json::Bool(b)) if !matches!(operand, Operand::Path(_)) => b,
            Some(_) => true,
            None => false,
        },
        Filter::Compare(left, op, right) => {
            let left_value = value(left, candidate, document);
            if *op == CompareOp::Regex {
                return match (left_value, right) {
                    (Some(Json::String(text)), Operand::Regex { pattern, flags }) => {
                        regex_matches(pattern, flags, &text)
                    }
                    _ => false,
                };
            }
            compare(
                left_value.as_ref(),
                *op,
                value(right, candidate, document).as_ref(),
            )
        }
    }
}

/// An operand's value, or `None` when its path matched nothing.
fn value(operand: &Operand, candidate: &Json, document: &Json) -> Option<Json> {
    match operand {
        Operand::Literal(value) => Some(value.clone()),
        Operand::Regex { pattern, .. } => Some(Json::String(pattern.clone())),
        Operand::Path(path) => {
            let start = match path.root {
                Root::Current => candidate,
                _ => document,
            };
            evaluate(path, &Roots { start, document }).ok()
        }
    }
}

fn order(left: &Json, right: &Json) -> Option<Ordering> {
    match (left, right) {
        (Json::Number(a), Json::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
        },
        (Json::String(a), Json::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn equal(left: &Json, right: &Json) -> bool {
    match (left, right) {
        (Json::Number(_), Json::Number(_)) => order(left, right) == Some(Ordering::Equal),
        _ => left == right,
    }
}

fn contains(items: &[Json], value: &Json) -> bool {
    items.iter().any(|item| equal(item, value))
}

fn compare(left: Option<&Json>, op: CompareOp, right: Option<&Json>) -> bool {
    let (Some(left), Some(right)) = (left, right) else {
        return op == CompareOp::Ne;
    };
    match op {
        CompareOp::Eq => equal(left, right),
        CompareOp::Ne => !equal(left, right),
        CompareOp::Lt => order(left, right) == Some(Ordering::Less),
        CompareOp::Le => matches!(order(left, right), Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Gt => order(left, right) == Some(Ordering::Greater),
        CompareOp::Ge => matches!(
            order(left, right),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        CompareOp::In => right.as_array().is_some_and(|items| contains(items, left)),
        CompareOp::Nin => right.as_array().is_some_and(|items| !contains(items, left)),
        CompareOp::SubsetOf => match (left, right) {
            (Json::Array(l), Json::Array(r)) => l.iter().all(|item| contains(r, item)),
            _ => false,
        },
        CompareOp::AnyOf => match (left, right) {
            (Json::Array(l), Json::Array(r)) => l.iter().any(|item| contains(r, item)),
            _ => false,
        },
        CompareOp::NoneOf => match (left, right) {
            (Json::Array(l), Json::Array(r)) => !l.iter().any(|item| contains(r, item)),
            _ => false,
        },
        CompareOp::Size => {
            let size = match left {
                Json::Array(items) => items.len(),
                Json::String(text) => text.chars().count(),
                _ => return false,
            };
            right
                .as_u64()
                .is_some_and(|n| usize::try_from(n).is_ok_and(|n| n == size))
        }
        CompareOp::Empty => {
            let empty = match left {
                Json::Array(items) => items.is_empty(),
                Json::String(text) => text.is_empty(),
                _ => return false,
            };
            right.as_bool() == Some(empty)
        }
        CompareOp::Contains => match (left, right) {
            (Json::String(text), Json::String(part)) => text.contains(part.as_str()),
            (Json::Array(items), value) => contains(items, value),
            _ => false,
        },
        CompareOp::Regex => false,
    }
}

/// `=~ /pattern/flags`. Only literal patterns and the simplest anchors are
/// understood; anything else does not match rather than guessing.
fn regex_matches(pattern: &str, flags: &str, text: &str) -> bool {
    let insensitive = flags.contains('i');
    let (text, pattern) = if insensitive {
        (text.to_lowercase(), pattern.to_lowercase())
    } else {
        (text.to_string(), pattern.to_string())
    };
    let body = pattern.trim_start_matches('^').trim_end_matches('$');
    let body = body.strip_prefix(".*").unwrap_or(body);
    let body = body.strip_suffix(".*").unwrap_or(body);
    if body.chars().any(|c| "\\.*+?()[]{}|^$".contains(c)) {
        return false;
    }
    let anchored_start = pattern.starts_with('^') && !pattern.starts_with("^.*");
    let anchored_end = pattern.ends_with('$') && !pattern.ends_with(".*$");
    let full = !pattern.starts_with('^')
        && !pattern.ends_with('$')
        && !pattern.starts_with(".*")
        && !pattern.ends_with(".*");
    // Jayway matches the whole string (Java's Matcher.matches()).
    match (anchored_start || full, anchored_end || full) {
        (true, true) => text == body,
        (true, false) => text.starts_with(body),
        (false, true) => text.ends_with(body),
        (false, false) => text.contains(body),
    }
}
