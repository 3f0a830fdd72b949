//! Reading an execution's input text as StartExecution does, with the
//! message Step Functions gives when it is not JSON (its JSON reader's
//! wording: "Unrecognized token 'not': was expecting ...").

use serde_json::Value as Json;

const VALUE_EXPECTED: &str =
    "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')";

/// Parses execution input text; the error is the text AWS quotes in
/// `Invalid State Machine Execution Input: '<message>'`.
pub fn execution_input(text: &str) -> Result<Json, String> {
    if text.trim().is_empty() {
        return Err("Invalid execution input.".into());
    }
    serde_json::from_str(text).map_err(|error| {
        let mut scanner = Scanner {
            chars: text.chars().collect(),
            pos: 0,
        };
        scanner
            .document()
            .err()
            .unwrap_or_else(|| error.to_string())
    })
}

/// A small JSON reader that only finds the first problem and words it.
struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

/// How deep the scanner follows nested arrays and objects before giving up
/// on finding a better message.
const MAX_DEPTH: usize = 256;

impl Scanner {
    fn document(&mut self) -> Result<(), String> {
        self.value(0)?;
        self.skip_ws();
        match self.peek() {
            None => Ok(()),
            Some(c) => Err(format!(
                "Unexpected character ({}): expected end-of-input",
                describe(c)
            )),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self
            .peek()
            .is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
        {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("Document nesting depth exceeds the maximum allowed".into());
        }
        self.skip_ws();
        let Some(c) = self.peek() else {
            return Err("Unexpected end-of-input: expected a value".into());
        };
        match c {
            '{' => self.object(depth),
            '[' => self.array(depth),
            '"' => self.string(),
            '-' | '0'..='9' => {
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
                {
                    self.pos += 1;
                }
                Ok(())
            }
            c if is_identifier_char(c) => {
                let start = self.pos;
                while self.peek().is_some_and(is_identifier_char) {
                    self.pos += 1;
                }
                let token: String = self.chars[start..self.pos].iter().collect();
                if matches!(token.as_str(), "true" | "false" | "null") {
                    Ok(())
                } else {
                    Err(format!(
                        "Unrecognized token '{token}': was expecting {VALUE_EXPECTED}"
                    ))
                }
            }
            c => Err(format!(
                "Unexpected character ({}): expected a valid value {VALUE_EXPECTED}",
                describe(c)
            )),
        }
    }

    fn string(&mut self) -> Result<(), String> {
        self.pos += 1;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '\\' => self.pos += 1,
                '"' => return Ok(()),
                _ => {}
            }
        }
        Err("Unexpected end-of-input: was expecting closing quote for a string value".into())
    }

    fn object(&mut self, depth: usize) -> Result<(), String> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some('"') => self.string()?,
                Some(c) => {
                    return Err(format!(
                        "Unexpected character ({}): was expecting double-quote to start field name",
                        describe(c)
                    ))
                }
                None => {
                    return Err("Unexpected end-of-input: expected close marker for Object".into())
                }
            }
            self.skip_ws();
            match self.peek() {
                Some(':') => self.pos += 1,
                Some(c) => {
                    return Err(format!(
                        "Unexpected character ({}): was expecting a colon to separate field name and value",
                        describe(c)
                    ))
                }
                None => return Err("Unexpected end-of-input: expected close marker for Object".into()),
            }
            self.value(depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(c) => {
                    return Err(format!(
                        "Unexpected character ({}): was expecting comma to separate Object entries",
                        describe(c)
                    ))
                }
                None => {
                    return Err("Unexpected end-of-input: expected close marker for Object".into())
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<(), String> {
        self.pos += 1;
        self.skip_ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value(depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(c) => {
                    return Err(format!(
                        "Unexpected character ({}): was expecting comma to separate Array entries",
                        describe(c)
                    ))
                }
                None => {
                    return Err("Unexpected end-of-input: expected close marker for Array".into())
                }
            }
        }
    }
}

fn is_identifier_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// A character as the reader names it: `'x' (code 120)`, or
/// `CTRL-CHAR, code 10` for control characters.
fn describe(c: char) -> String {
    let code = u32::from(c);
    if c.is_control() {
        format!("CTRL-CHAR, code {code}")
    } else {
        format!("'{c}' (code {code})")
    }
}

#[cfg(test)]
mod tests {
    use super::execution_input;

    #[test]
    fn words_bad_input_as_aws_does() {
        let table = [
            ("", "Invalid execution input."),
            (
                "not some json",
                "Unrecognized token 'not': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')",
            ),
            ("{'not': 'json'", "Unexpected character (''' (code 39)): was expecting double-quote to start field name"),
            ("[1 2]", "Unexpected character ('2' (code 50)): was expecting comma to separate Array entries"),
        ];
        for (text, message) in table {
            assert_eq!(
                execution_input(text),
                Err(message.to_string()),
                "input {text:?}"
            );
        }
        assert_eq!(
            execution_input(" {\"a\": [1, true]} "),
            Ok(serde_json::json!({"a": [1, true]}))
        );
    }
}
