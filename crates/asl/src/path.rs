//! JSONPath as ASL uses it: selecting (InputPath, OutputPath, `.$` fields,
//! ItemsPath, Choice `Variable`, `...Path` fields) and reference paths
//! (ResultPath). `$` is the state's input, `$$` the context object, and
//! `$name` a variable.

use serde_json::Value as Json;

use crate::{Failure, Scope};

/// Selects `path` from the scope: `$...` from the input, `$$...` from the
/// context object, `$var...` from a variable. Fails with `States.Runtime`
/// when the path matches nothing (AWS: "The JSONPath '...' specified for the
/// field '...' could not be found in the input '...'" — callers add the field).
pub fn select(path: &str, scope: &Scope) -> Result<Json, Failure> {
    select_opt(path, scope)?
        .ok_or_else(|| Failure::runtime(format!("The JSONPath '{path}' could not be found in the input")))
}

/// Like [`select`], but a path that matches nothing is `Ok(None)` (Choice `IsPresent`).
pub fn select_opt(path: &str, scope: &Scope) -> Result<Option<Json>, Failure> {
    let _ = scope;
    Err(Failure::runtime(format!("JSONPath is not implemented yet: {path}")))
}

/// Writes `value` into `target` at the reference path `path` (ResultPath),
/// creating objects on the way. `$` replaces the whole target.
pub fn assign(target: &mut Json, path: &str, value: Json) -> Result<(), Failure> {
    if path == "$" {
        *target = value;
        return Ok(());
    }
    Err(Failure::new(
        crate::failure::names::RESULT_PATH_MATCH_FAILURE,
        format!("reference paths are not implemented yet: {path}"),
    ))
}
