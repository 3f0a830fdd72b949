//! Text helpers with the Java behaviour Step Functions shows: how
//! States.Format prints values, its `{}` placeholders, and how
//! States.StringSplit tokenizes.

use serde_json::Value as Json;

/// How States.Format prints an argument: strings bare, objects as
/// `{key=value, ...}` and arrays as `[a, b]` (Java's `toString`).
pub(super) fn display(value: &Json) -> String {
    let mut out = String::new();
    write_display(value, &mut out);
    out
}

fn write_display(value: &Json, out: &mut String) {
    match value {
        Json::String(text) => out.push_str(text),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_display(item, out);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push('=');
                write_display(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// One piece of a States.Format template.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Piece {
    Text(String),
    Placeholder,
}

/// Splits a template into text and `{}` placeholders. `raw` is the literal's
/// text between its quotes, where `\{`, `\}`, `\'` and `\\` are escapes;
/// without it (a template read from a path) only `{}` is special.
pub(super) fn template(value: &str, raw: Option<&str>) -> Vec<Piece> {
    let source = raw.unwrap_or(value);
    let escapes = raw.is_some();
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if escapes => {
                if let Some(next) = chars.next() {
                    text.push(next);
                }
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Placeholder);
            }
            other => text.push(other),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

/// Java's `StringTokenizer`: every character of `delimiters` separates
/// tokens, and empty tokens are dropped.
pub(super) fn tokenize(text: &str, delimiters: &str) -> Vec<String> {
    text.split(|c| delimiters.contains(c))
        .filter(|token| !token.is_empty())
        .map(str::to_string)
        .collect()
}
