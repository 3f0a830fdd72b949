//! Reading an ASL document (JSON or YAML text) into a [`Definition`], with
//! every problem reported as a [`Diagnostic`] that names where it is.

use crate::Definition;

/// One problem in a definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// AWS's diagnostic code, e.g. `SCHEMA_VALIDATION_FAILED`.
    pub code: String,
    /// JSON pointer into the document, e.g. `/States/Start/Next`.
    pub pointer: String,
    pub message: String,
}

/// Parses a definition given as a JSON value.
pub fn parse_value(_document: &serde_json::Value) -> (Option<Definition>, Vec<Diagnostic>) {
    (None, Vec::new())
}
