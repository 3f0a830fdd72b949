//! Variable interpolation, as Compose does it before reading any field:
//! `${VAR}`, `$VAR`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`,
//! `${VAR?message}`, `${VAR:+alt}`, `${VAR+alt}`, nested defaults, and `$$`
//! for a literal `$`. Keys are not interpolated, values are.
//!
//! One difference, on purpose: a `$` followed by anything but `{`, `$` or a
//! name (as in the JSONPath `$.order` of an ASL hook state) stays a literal
//! `$`, where Compose refuses the file with "invalid interpolation format".

use serde_norway::Value;

use super::locate::FieldPath;

/// What interpolation found wrong or worth saying.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// `${VAR:?message}` with VAR unset, or bad syntax.
    Error(String),
    /// A variable without a default that is not set: it became "".
    Unset(String),
}

/// Interpolates every string value under `value`, calling `found` with the
/// path of each value that had a problem.
pub fn interpolate_tree(
    value: &mut Value,
    path: &FieldPath,
    env: &dyn Fn(&str) -> Option<String>,
    found: &mut dyn FnMut(FieldPath, Finding),
) {
    match value {
        Value::String(text) if text.contains('$') => {
            let mut findings = Vec::new();
            match interpolate(text, env, &mut findings) {
                Ok(new) => *text = new,
                Err(message) => findings.push(Finding::Error(message)),
            }
            for finding in findings {
                found(path.clone(), finding);
            }
        }
        Value::Mapping(mapping) => {
            for (key, child) in mapping.iter_mut() {
                let key = key_text(key);
                interpolate_tree(child, &path.key(&key), env, found);
            }
        }
        Value::Sequence(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                interpolate_tree(child, &path.index(i), env, found);
            }
        }
        Value::Tagged(tagged) => interpolate_tree(&mut tagged.value, path, env, found),
        _ => {}
    }
}

/// A mapping key as text (numbers and booleans as YAML writes them).
pub fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        other => serde_norway::to_string(other)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
    }
}

/// Interpolates one string; unset variables are pushed to `findings`.
pub fn interpolate(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    findings: &mut Vec<Finding>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let close = matching_brace(inner).ok_or_else(|| {
                format!(
                    "invalid interpolation {:?}: `${{` is never closed with `}}`",
                    &rest[at..]
                )
            })?;
            out.push_str(&braced(&inner[..close], env, findings)?);
            rest = &inner[close + 1..];
        } else {
            let name_len = name_length(after);
            if name_len == 0 {
                out.push('$');
                rest = after;
            } else {
                let name = &after[..name_len];
                match env(name) {
                    Some(value) => out.push_str(&value),
                    None => findings.push(Finding::Unset(name.to_owned())),
                }
                rest = &after[name_len..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn name_length(text: &str) -> usize {
    let mut chars = text.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return 0,
    }
    chars
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(text.len(), |(i, _)| i)
}

/// The index of the `}` closing a `${`, nested `${...}` counted.
fn matching_brace(inner: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The inside of `${...}`: a name, then nothing or an operator and a word.
fn braced(
    inner: &str,
    env: &dyn Fn(&str) -> Option<String>,
    findings: &mut Vec<Finding>,
) -> Result<String, String> {
    let name_len = name_length(inner);
    let name = &inner[..name_len];
    let op_and_word = &inner[name_len..];
    if name.is_empty() {
        return Err(format!(
            "invalid interpolation \"${{{inner}}}\": expected a variable name (letters, digits, _) after `${{`"
        ));
    }
    let value = env(name);
    let set_and_not_empty = value.as_deref().is_some_and(|v| !v.is_empty());
    let ops: [(&str, bool); 6] = [
        (":-", true),
        ("-", false),
        (":?", true),
        ("?", false),
        (":+", true),
        ("+", false),
    ];
    let Some((op, word)) = ops
        .iter()
        .find_map(|(op, _)| op_and_word.strip_prefix(op).map(|w| (*op, w)))
    else {
        if !op_and_word.is_empty() {
            return Err(format!(
                "invalid interpolation \"${{{inner}}}\": after the name expected `}}`, `:-`, `-`, `:?`, `?`, `:+` or `+`"
            ));
        }
        return Ok(value.unwrap_or_else(|| {
            findings.push(Finding::Unset(name.to_owned()));
            String::new()
        }));
    };
    let present = if op.starts_with(':') {
        set_and_not_empty
    } else {
        value.is_some()
    };
    match op.trim_start_matches(':') {
        "-" if present => Ok(value.unwrap_or_default()),
        "-" => interpolate(word, env, findings),
        "?" if present => Ok(value.unwrap_or_default()),
        "?" => {
            let message = interpolate(word, env, findings)?;
            let message = if message.is_empty() {
                format!("variable {name} is required")
            } else {
                message
            };
            // Compose's words, then where a value can come from.
            Err(format!(
                "required variable {name} is missing a value: {message} (set {name} in the environment or in the project's .env)"
            ))
        }
        _ if present => interpolate(word, env, findings),
        _ => Ok(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Result<String, String>, Vec<Finding>) {
        let env = |name: &str| match name {
            "SET" => Some("v".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let mut findings = Vec::new();
        let result = interpolate(text, &env, &mut findings);
        (result, findings)
    }

    fn ok(text: &str) -> String {
        run(text).0.expect("interpolates")
    }

    #[test]
    fn every_form() {
        assert_eq!(ok("a ${SET} $SET b"), "a v v b");
        assert_eq!(ok("${EMPTY:-d} ${EMPTY-d} ${UNSET-d}"), "d  d");
        assert_eq!(
            ok("${SET:+alt}|${EMPTY:+alt}|${EMPTY+alt}|${UNSET+alt}"),
            "alt||alt|"
        );
        assert_eq!(ok("${UNSET:-${SET}x}"), "vx");
        assert_eq!(ok("$$SET costs $$5"), "$SET costs $5");
        assert_eq!(ok("$.order and $"), "$.order and $");
        assert_eq!(ok("${SET?no}"), "v");
    }

    #[test]
    fn problems() {
        assert_eq!(
            run("${UNSET:?give a token}").0,
            Err("required variable UNSET is missing a value: give a token (set UNSET in the environment or in the project's .env)".into())
        );
        assert_eq!(
            run("${EMPTY?}").0,
            Ok(String::new()),
            "set but empty passes `?`"
        );
        assert!(run("${SET").0.is_err());
        assert!(run("${SET:x}").0.is_err());
        assert!(run("${}").0.is_err());
        assert_eq!(run("$UNSET").1, vec![Finding::Unset("UNSET".into())]);
    }
}
