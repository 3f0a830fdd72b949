//! JSONPath as ASL uses it: selecting (InputPath, OutputPath, `.$` fields,
//! ItemsPath, Choice `Variable`, `...Path` fields) and reference paths
//! (ResultPath). `$` is the state's input, `$$` the context object, and
//! `$name` a variable. The dialect is Jayway's, which Step Functions uses.

mod ast;
mod eval;
mod filter;
mod parse;
mod reference;

use serde_json::Value as Json;

use crate::{Failure, Scope};

pub(crate) use ast::Path;
pub use reference::assign;

/// Selects `path` from the scope: `$...` from the input, `$$...` from the
/// context object, `$var...` from a variable. A definite path that matches
/// nothing fails with `States.Runtime` and AWS's InputPath/OutputPath message
/// ("Invalid path '$.x' : No results for path: $['x']"); an indefinite path
/// (wildcard, slice, filter, deep scan) yields the array of its matches.
pub fn select(path: &str, scope: &Scope) -> Result<Json, Failure> {
    let parsed = parse_or_fail(path)?;
    evaluate(&parsed, scope)
        .map_err(|message| Failure::runtime(format!("Invalid path '{path}' : {message}")))
}

/// A path parsed once, when the definition is read: evaluating it then
/// needs no parse and no cache lookup. Holds nothing when the text does not
/// parse (validation reports that; evaluation then fails as [`select`] does).
#[derive(Clone, Debug, Default)]
pub struct Parsed(Option<std::sync::Arc<Path>>);

impl Parsed {
    pub fn new(text: &str) -> Self {
        Parsed(parse::parse(text).ok().map(std::sync::Arc::new))
    }
}

/// Looks `path` up in the scope and hands `f` what it finds (`None`: the
/// path matches nothing, as with [`select_opt`]). A definite path of names
/// and indexes that reaches a value lends it without copying.
pub fn lookup<T>(
    path: &str,
    parsed: &Parsed,
    scope: &Scope,
    f: impl FnOnce(Option<&Json>) -> T,
) -> Result<T, Failure> {
    let Some(parsed) = &parsed.0 else {
        return select_opt(path, scope).map(|value| f(value.as_ref()));
    };
    if let Some(value) = start(parsed, scope)
        .ok()
        .and_then(|start| walk(parsed, start))
    {
        return Ok(f(Some(value)));
    }
    Ok(f(evaluate(parsed, scope).ok().as_ref()))
}

/// Like [`select`], but a path that matches nothing is `Ok(None)` (Choice
/// `IsPresent`). Only a malformed path is an error.
pub fn select_opt(path: &str, scope: &Scope) -> Result<Option<Json>, Failure> {
    let parsed = parse_or_fail(path)?;
    Ok(evaluate(&parsed, scope).ok())
}

/// Like [`select`], for a path given in the field `field` (`value.$`,
/// `ErrorPath`, `ItemsPath`...): a path that matches nothing fails with
/// AWS's message naming the field and the input.
pub fn select_field(path: &str, field: &str, scope: &Scope) -> Result<Json, Failure> {
    match select_opt(path, scope)? {
        Some(value) => Ok(value),
        None => Err(not_found_in_field(path, field, scope)),
    }
}

/// `States.Runtime`: "The JSONPath '...' specified for the field '...' could
/// not be found in the input '...'".
pub fn not_found_in_field(path: &str, field: &str, scope: &Scope) -> Failure {
    Failure::runtime(format!(
        "The JSONPath '{path}' specified for the field '{field}' could not be found in the input '{}'",
        scope.input
    ))
}

/// Checks that `path` is a well-formed path (any JSONPath the engine can
/// evaluate). The message says what is wrong; validation wraps it.
pub fn check(path: &str) -> Result<(), String> {
    parse::parse(path).map(|_| ())
}

/// Checks that `path` is a reference path: `$`, `$$` or `$var` followed only
/// by names and single indexes (Choice `Variable`, `...Path` fields).
pub fn check_reference(path: &str) -> Result<(), String> {
    let parsed = parse::parse(path)?;
    if parsed.is_definite() && parsed.function.is_none() && parsed.merged_names().is_none() {
        Ok(())
    } else {
        Err(format!(
            "'{path}' is not a reference path: only names and single array indexes are allowed"
        ))
    }
}

/// Whether `path` yields a single value rather than an array of matches.
pub fn is_definite(path: &str) -> Result<bool, String> {
    parse::parse(path).map(|parsed| parsed.is_definite() && parsed.function.is_none())
}

pub(crate) fn parse_text(path: &str) -> Result<Path, String> {
    parse::parse(path)
}

pub(crate) fn parse_or_fail(path: &str) -> Result<std::rc::Rc<Path>, Failure> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;
    /// Parsed paths by text: a definition's paths are evaluated again and
    /// again, and parsing costs more than evaluating.
    const CAPACITY: usize = 4096;
    thread_local! {
        static CACHE: RefCell<HashMap<String, Rc<Path>>> = RefCell::new(HashMap::new());
    }
    if let Some(parsed) = CACHE.with(|cache| cache.borrow().get(path).cloned()) {
        return Ok(parsed);
    }
    let parsed = Rc::new(
        parse::parse(path)
            .map_err(|message| Failure::runtime(format!("Invalid path '{path}' : {message}")))?,
    );
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= CAPACITY {
            cache.clear();
        }
        cache.insert(path.to_string(), parsed.clone());
    });
    Ok(parsed)
}

/// Evaluates a parsed path in the scope; `Err` carries Jayway's message for
/// a definite path that matched nothing.
pub(crate) fn evaluate(path: &Path, scope: &Scope) -> Result<Json, String> {
    let start = start(path, scope)?;
    if let Some(value) = walk(path, start) {
        return Ok(value.clone());
    }
    eval::evaluate(
        path,
        &eval::Roots {
            start,
            document: start,
        },
    )
    .map_err(|e| e.0)
}

/// The document a path starts from.
fn start<'s>(path: &Path, scope: &Scope<'s>) -> Result<&'s Json, String> {
    Ok(match &path.root {
        ast::Root::Input | ast::Root::Current => scope.input,
        ast::Root::Context => scope.context,
        ast::Root::Variable(name) => match scope.vars.get(name) {
            Some(value) => value,
            None => return Err(format!("The variable '{name}' is not defined")),
        },
    })
}

/// The value a path of single names and indexes without a function (`$.a`,
/// `$.a[0].b`) reaches, by reference; `None` when the path has another
/// shape or does not reach a value, for the evaluator to answer (with
/// Jayway's message when it fails).
fn walk<'j>(path: &Path, start: &'j Json) -> Option<&'j Json> {
    if path.function.is_some() {
        return None;
    }
    let mut node = start;
    for segment in &path.segments {
        node = match (segment, node) {
            (ast::Segment::Names(names), Json::Object(map)) if names.len() == 1 => {
                map.get(&names[0])?
            }
            (ast::Segment::Indexes(indexes), Json::Array(items)) if indexes.len() == 1 => {
                items.get(eval::resolve_index(indexes[0], items.len())?)?
            }
            _ => return None,
        };
    }
    Some(node)
}

#[cfg(test)]
mod tests;
