//! The YAML text of a canonical document, readable by YAML 1.1 readers too.
//!
//! serde_norway writes YAML 1.2, where `no`, `on` or `1:20` are strings and
//! so are left plain. A YAML 1.1 reader (Compose v1, PyYAML, Go's yaml.v2)
//! reads those as a boolean or a base-60 number, so `docker compose config`
//! (Go's yaml.v3) quotes them, and so does this printer: such a string is
//! given to serde_norway behind a marker, which it leaves plain, and the
//! marked scalar is then written quoted.

use serde_json::{Map, Value};

/// Private-use characters, around a string to be
/// quoted; serde_norway writes them as they are, in a plain scalar. The
/// strings marked (letters, or digits with `:`, `.`, `_` and a sign) need
/// no escape inside double quotes.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';

/// `document` as YAML, with every string a YAML 1.1 reader would take for
/// another type quoted.
pub(super) fn text(document: &Value) -> String {
    let plain = serde_norway::to_string(document).unwrap_or_default();
    if plain.contains([OPEN, CLOSE]) {
        // A value holds a marker itself: the marks would be ambiguous.
        return plain;
    }
    let marked = mark(document);
    let printed = serde_norway::to_string(&marked).unwrap_or_default();
    printed.replace([OPEN, CLOSE], "\"")
}

fn mark(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(marked(s)),
        Value::Array(items) => Value::Array(items.iter().map(mark).collect()),
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, value) in fields {
                out.insert(marked(key), mark(value));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn marked(s: &str) -> String {
    if is_old_bool(s) || is_base60_float(s) {
        format!("{OPEN}{s}{CLOSE}")
    } else {
        s.to_string()
    }
}

/// YAML 1.1's booleans that YAML 1.2 reads as strings (yaml.v3's
/// `isOldBool`).
fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// YAML 1.1's base-60 numbers, `[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?`
/// (yaml.v3's `isBase60Float`): `1:20` is 80 there.
fn is_base60_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (whole, fraction) = match s.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (s, None),
    };
    if fraction.is_some_and(|f| !f.chars().all(|c| c.is_ascii_digit() || c == '_')) {
        return false;
    }
    let mut parts = whole.split(':');
    let head = parts.next().unwrap_or_default();
    if !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let mut sexagesimal = 0;
    for part in parts {
        let digits = part.as_bytes();
        let ok = match digits {
            [d] => d.is_ascii_digit(),
            [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        sexagesimal += 1;
    }
    sexagesimal > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_1_1_booleans_and_base_60_numbers_are_quoted() {
        let document = json!({
            "environment": {"A": "no", "B": "yes", "C": "on", "D": "off", "E": "y",
                            "F": "1:20", "G": "-1:30.5", "H": "plain", "I": "8080:80"},
            "command": ["echo", "off"],
            "labels": {"on": "x"},
        });
        let printed = text(&document);
        for quoted in [
            "A: \"no\"",
            "B: \"yes\"",
            "C: \"on\"",
            "D: \"off\"",
            "E: \"y\"",
            "F: \"1:20\"",
            "G: \"-1:30.5\"",
            "- \"off\"",
            "\"on\": x",
        ] {
            assert!(printed.contains(quoted), "{quoted} in:\n{printed}");
        }
        assert!(printed.contains("H: plain"), "{printed}");
        assert!(
            printed.contains("I: 8080:80"),
            "80 is no base-60 digit pair: {printed}"
        );
        assert!(!printed.contains([OPEN, CLOSE]));
    }

    #[test]
    fn base_60_numbers_are_recognised_as_yaml_1_1_reads_them() {
        for yes in ["1:20", "190:20:30", "+1:59", "1_0:05.25"] {
            assert!(is_base60_float(yes), "{yes}");
        }
        for no in ["1:60", "a:20", "1:", ":20", "1.5", "12", "1:2:3x", "1:20.x"] {
            assert!(!is_base60_float(no), "{no}");
        }
    }
}
