//! A shortcut for the commonest expressions, `$states.input.a.b` and
//! `$var.a.b`: looked up in the JSON directly, without converting the whole
//! input to JSONata values. It answers only where the answer is plainly the
//! same as JSONata's (a chain of object fields ending on a value that is not
//! an array) and otherwise leaves the expression to the evaluator.

use serde_json::Value as Json;

use crate::Scope;

/// Where the path starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    Input,
    Context,
    Result,
    ErrorOutput,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Start {
    States(Root),
    Variable(Box<str>),
}

/// `$states.<field>.<key>...` or `$<variable>.<key>...` with plain names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FastPath {
    start: Start,
    keys: Box<[Box<str>]>,
}

/// The shortcut's answer.
pub(crate) enum Outcome<'a> {
    Value(&'a Json),
    Undefined,
    /// Not plainly the same as JSONata's answer: evaluate the expression.
    Evaluate,
}

impl FastPath {
    /// The shortcut for `source`, if it is such a path.
    pub fn of(source: &str) -> Option<FastPath> {
        let text = source.trim().strip_prefix('$')?;
        let mut names = text.split('.');
        let first = names.next().filter(|name| is_name(name))?;
        let mut keys: Vec<Box<str>> = Vec::new();
        for name in names {
            if !is_name(name) {
                return None;
            }
            keys.push(name.into());
        }
        let start = if first == "states" {
            if keys.is_empty() {
                return None;
            }
            let root = match &*keys.remove(0) {
                "input" => Root::Input,
                "context" => Root::Context,
                "result" => Root::Result,
                "errorOutput" => Root::ErrorOutput,
                _ => return None,
            };
            Start::States(root)
        } else {
            Start::Variable(first.into())
        };
        Some(FastPath {
            start,
            keys: keys.into_boxed_slice(),
        })
    }

    /// Follows the path in `scope`.
    pub fn follow<'a>(&self, scope: &Scope<'a>) -> Outcome<'a> {
        let mut current = match &self.start {
            Start::States(root) => match super::engine::lookup(scope, *root) {
                Some(value) => value,
                None => return Outcome::Undefined,
            },
            // An unknown name may be a function or bound by the expression itself.
            Start::Variable(name) => match scope.vars.get(name) {
                Some(value) => value,
                None => return Outcome::Evaluate,
            },
        };
        for key in self.keys.iter() {
            current = match current {
                Json::Object(fields) => match fields.get(&**key) {
                    Some(value) => value,
                    None => return Outcome::Undefined,
                },
                _ => return Outcome::Evaluate,
            };
        }
        match current {
            Json::Array(_) => Outcome::Evaluate,
            value => Outcome::Value(value),
        }
    }
}

/// A JSONata name that needs no backquotes and is no keyword.
fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !matches!(
            text,
            "and" | "or" | "in" | "true" | "false" | "null" | "function"
        )
}
