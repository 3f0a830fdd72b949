//! Env files, Compose's way: the project's `.env` (which feeds
//! interpolation) and a service's `env_file` entries. `KEY=VALUE` lines,
//! `export ` allowed, `#` comments, single quotes literal, double quotes with
//! `\n`, `\t`, `\"` and `\\` escapes, and `${VAR}` interpolated in unquoted
//! and double-quoted values from the variables above it and the environment.
//! An `env_file` entry with `format: raw` is read as `docker run --env-file`
//! reads it instead: each value as written, nothing interpolated or unquoted.

use std::collections::BTreeMap;

use super::interpolate::{interpolate, Finding};

/// One problem in an env file, at its line (from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// The variables of an env file, in the order written; a bare `KEY` has no
/// value (`None`: taken from the environment at deploy time).
pub fn parse(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, LineError> {
    let mut vars: Vec<(String, Option<String>)> = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let fail = |message: String| LineError {
            line: i + 1,
            message,
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((key, value)) = line.split_once('=') else {
            if valid_name(line) {
                vars.push((line.to_owned(), None));
                continue;
            }
            return Err(fail(
                "the line is not KEY=VALUE: expected a variable name, `=` and its value".into(),
            ));
        };
        let key = key.trim();
        if !valid_name(key) {
            return Err(fail(
                "the name before `=` is not a variable name: expected letters, digits, `_`, `.` or `-`".into(),
            ));
        }
        let lookup = |name: &str| seen.get(name).cloned().or_else(|| env(name));
        let value = value.trim_start();
        let value = if let Some(quoted) = value.strip_prefix('\'') {
            let (inner, _) = quoted
                .split_once('\'')
                .ok_or_else(|| fail("the value opens a ' that is not closed".into()))?;
            inner.to_owned()
        } else if let Some(quoted) = value.strip_prefix('"') {
            let inner = double_quoted(quoted)
                .ok_or_else(|| fail("the value opens a \" that is not closed".into()))?;
            expand(&inner, &lookup).map_err(&fail)?
        } else {
            let unquoted = match value.find(" #") {
                Some(at) => &value[..at],
                None => value,
            };
            expand(unquoted.trim_end(), &lookup).map_err(&fail)?
        };
        seen.insert(key.to_owned(), value.clone());
        vars.push((key.to_owned(), Some(value)));
    }
    Ok(vars)
}

/// The variables of an env file in Compose's `raw` format (the Docker CLI's
/// `--env-file` parser): `#` comment lines and blank lines skipped, leading
/// blanks ignored, everything after the first `=` the value, kept as
/// written (quotes, `$`, trailing blanks); a bare `KEY` takes `env`'s
/// value, else is left without one.
pub fn parse_raw(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, LineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut vars = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((key, value)) => (key, Some(value.to_owned())),
            None => (line, None),
        };
        let fail = |message: &str| LineError {
            line: i + 1,
            message: message.to_owned(),
        };
        if key.is_empty() {
            return Err(fail("the line has no variable name before `=`"));
        }
        if key.chars().any(char::is_whitespace) {
            return Err(fail("the variable name contains blanks"));
        }
        let value = value.or_else(|| env(key));
        vars.push((key.to_owned(), value));
    }
    Ok(vars)
}

/// The value with its variables replaced; an error says what is wrong
/// without the text (an env file can be a secret, or not one at all, and
/// its lines must not leak through a message).
fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut findings: Vec<Finding> = Vec::new();
    interpolate(text, lookup, &mut findings).map_err(|_| {
        "the value has an invalid `$` interpolation: write `$$` for a literal `$`, or ${NAME}"
            .into()
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn double_quoted(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_never_shows_the_files_text() {
        let none = |_: &str| None;
        for text in [
            "root:$6$s3cr3t:19000:0:99999:7:::",
            "s3cr3t key=1",
            "KEY='s3cr3t",
            "KEY=\"s3cr3t",
            "KEY=${s3cr3t",
            "KEY=${A:?s3cr3t}",
        ] {
            let error = parse(text, &none).expect_err(text);
            assert_eq!(error.line, 1);
            assert!(
                !error.message.contains("s3cr3t"),
                "{text}: {}",
                error.message
            );
        }
    }

    #[test]
    fn reads_compose_env_files() {
        let text = "# c\nA=1\nexport B = two words # note\nC='${A} lit'\nD=\"x${A}\\ny\"\nE=${A}-${HOST_ONLY}\nBARE\n";
        let env = |n: &str| (n == "HOST_ONLY").then(|| "h".to_owned());
        let vars = parse(text, &env).expect("valid");
        let get = |k: &str| {
            vars.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("A"), Some(Some("1".into())));
        assert_eq!(get("B"), Some(Some("two words".into())));
        assert_eq!(get("C"), Some(Some("${A} lit".into())));
        assert_eq!(get("D"), Some(Some("x1\ny".into())));
        assert_eq!(get("E"), Some(Some("1-h".into())));
        assert_eq!(get("BARE"), Some(None));
    }

    #[test]
    fn reads_raw_env_files_literally() {
        let text = "\u{feff}# c\n  A='q' \nB=${HOST_ONLY}$$x\nC=\"x\\ny\" # not a comment\nHOST_ONLY\nMISSING\nD==e=\n";
        let env = |n: &str| (n == "HOST_ONLY").then(|| "h".to_owned());
        let vars = parse_raw(text, &env).expect("valid");
        let expected: Vec<(String, Option<String>)> = [
            ("A", Some("'q' ")),
            ("B", Some("${HOST_ONLY}$$x")),
            ("C", Some("\"x\\ny\" # not a comment")),
            ("HOST_ONLY", Some("h")),
            ("MISSING", None),
            ("D", Some("=e=")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.map(str::to_owned)))
        .collect();
        assert_eq!(vars, expected);
        let err = parse_raw("A=1\nMY KEY=2\n", &|_| None).expect_err("blank in name");
        assert_eq!(err.line, 2);
        let err = parse_raw("=2\n", &|_| None).expect_err("no name");
        assert_eq!(err.line, 1);
    }

    #[test]
    fn says_which_line_is_wrong() {
        let err = parse("A=1\nnot a var\n", &|_| None).expect_err("invalid");
        assert_eq!(err.line, 2);
        let err = parse("A=\"open\n", &|_| None).expect_err("invalid");
        assert_eq!(err.line, 1);
    }
}
