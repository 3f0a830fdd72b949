//! Problems found in Compose files, each located (file, line, column, field
//! path) and collected, so that one run reports every one of them.

use std::fmt;
use std::path::{Path, PathBuf};

use super::locate::{locate, FieldPath};

/// Where in a file; line and column count from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// An error refuses the files; a warning is said and the files are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem: where, in which field, and what is wrong and allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Location,
    /// The field's path, such as `services.web.volumes[1]`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "{}: {}: {}", self.location, self.field, self.message),
            Severity::Warning => write!(
                f,
                "{}: {}: warning: {}",
                self.location, self.field, self.message
            ),
        }
    }
}

/// A file that was read, kept to locate fields in it.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub file: PathBuf,
    pub text: String,
}

/// The sources read so far and the problems found in them.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub sources: Vec<Source>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// An error at `path`, located in whichever file wrote the most of it
    /// (the later file when two do, as the later one overrides).
    pub fn error(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.push(Severity::Error, path, message.into());
    }

    pub fn warning(&mut self, path: &FieldPath, message: impl Into<String>) {
        self.push(Severity::Warning, path, message.into());
    }

    /// An error in the field at `path`, located at `spot` inside it (an
    /// unknown key, say).
    pub fn error_in(&mut self, path: &FieldPath, spot: &FieldPath, message: impl Into<String>) {
        let location = self.locate(spot);
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            location,
            field: path.to_string(),
            message: message.into(),
        });
    }

    fn push(&mut self, severity: Severity, path: &FieldPath, message: String) {
        let location = self.locate(path);
        let diagnostic = Diagnostic {
            severity,
            location,
            field: path.to_string(),
            message,
        };
        if !self.diagnostics.contains(&diagnostic) {
            self.diagnostics.push(diagnostic);
        }
    }

    /// A problem at a known place in a file that is not YAML (an env file,
    /// a Dockerfile) or before its YAML could be read.
    pub fn at(&mut self, file: &Path, line: usize, column: usize, field: &str, message: String) {
        self.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            location: Location {
                file: file.to_owned(),
                line,
                column,
            },
            field: field.to_owned(),
            message,
        });
    }

    fn locate(&self, path: &FieldPath) -> Location {
        let mut best: Option<(usize, usize, usize, &Source)> = None;
        for source in self.sources.iter().rev() {
            let (line, column, depth) = locate(&source.text, path);
            if best.is_none_or(|(_, _, d, _)| depth > d) {
                best = Some((line, column, depth, source));
            }
        }
        match (best, self.sources.first()) {
            (Some((line, column, depth, source)), _) if depth > 0 => Location {
                file: source.file.clone(),
                line,
                column,
            },
            (_, Some(first)) => Location {
                file: first.file.clone(),
                line: 1,
                column: 1,
            },
            (_, None) => Location {
                file: PathBuf::new(),
                line: 1,
                column: 1,
            },
        }
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}
