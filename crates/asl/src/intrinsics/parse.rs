//! Reading intrinsic function text (`States.Format('{}', $.a)`) into a
//! [`Call`]. Strings are single-quoted, and inside them only `\'`, `\{`,
//! `\}` and `\\` are escapes; any other backslash makes the text invalid, as
//! on AWS.

use serde_json::Number;

use crate::path::{self, Path};

/// How deeply calls may nest: AWS allows ten intrinsics within a field.
const MAX_DEPTH: usize = 11;

/// The intrinsic functions Step Functions offers.
pub(crate) const FUNCTIONS: [&str; 18] = [
    "States.Format",
    "States.StringToJson",
    "States.JsonToString",
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
    "States.UUID",
];

/// A function call with its arguments.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Call {
    pub name: String,
    pub args: Vec<Arg>,
}

/// One argument of a call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    /// A quoted string: its value, and its text between the quotes (which
    /// States.Format needs to tell `\{` from a placeholder).
    String {
        value: String,
        raw: String,
    },
    Number(Number),
    Bool(bool),
    Null,
    Path {
        text: String,
        path: Path,
    },
    Call(Call),
}

/// Parses a whole intrinsic call; nothing may follow its closing parenthesis.
pub(crate) fn parse(text: &str) -> Result<Call, String> {
    let mut reader = Reader {
        chars: text.trim().chars().collect(),
        pos: 0,
    };
    let call = reader.call(1)?;
    reader.skip_spaces();
    if reader.pos < reader.chars.len() {
        return Err(format!(
            "unexpected text after the closing parenthesis at position {}",
            reader.pos
        ));
    }
    Ok(call)
}

struct Reader {
    chars: Vec<char>,
    pos: usize,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn starts_with(&self, s: &str) -> bool {
        let n = s.chars().count();
        self.chars.len() >= self.pos + n
            && s.chars().zip(&self.chars[self.pos..]).all(|(a, b)| a == *b)
    }

    fn call(&mut self, depth: usize) -> Result<Call, String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "intrinsic functions may be nested at most {} deep",
                MAX_DEPTH - 1
            ));
        }
        self.skip_spaces();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        if name.is_empty() || !FUNCTIONS.contains(&name.as_str()) {
            return Err(format!("'{name}' is not an intrinsic function"));
        }
        self.skip_spaces();
        if self.peek() != Some('(') {
            return Err(format!("expected '(' after {name}"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_spaces();
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok(Call { name, args });
        }
        loop {
            args.push(self.arg(depth)?);
            self.skip_spaces();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {
                    self.pos += 1;
                    return Ok(Call { name, args });
                }
                Some(c) => {
                    return Err(format!(
                        "unexpected character '{c}' at position {} in the arguments of {name}",
                        self.pos
                    ))
                }
                None => return Err(format!("missing ')' to close {name}")),
            }
        }
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
        self.skip_spaces();
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => self.path(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(_) if self.starts_with("States.") => Ok(Arg::Call(self.call(depth + 1)?)),
            Some(_) => {
                for (word, arg) in [
                    ("true", Arg::Bool(true)),
                    ("false", Arg::Bool(false)),
                    ("null", Arg::Null),
                ] {
                    if self.starts_with(word)
                        && !self
                            .chars
                            .get(self.pos + word.len())
                            .is_some_and(|c| c.is_alphanumeric())
                    {
                        self.pos += word.len();
                        return Ok(arg);
                    }
                }
                Err(format!("invalid argument at position {}", self.pos))
            }
            None => Err("missing argument".to_string()),
        }
    }

    fn string(&mut self) -> Result<Arg, String> {
        self.pos += 1;
        let start = self.pos;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string literal".to_string()),
                Some('\\') => {
                    match self.chars.get(self.pos + 1) {
                        Some(c @ ('\'' | '{' | '}' | '\\')) => value.push(*c),
                        Some(c) => {
                            return Err(format!(
                                "invalid escape sequence '\\{c}' in a string literal"
                            ))
                        }
                        None => return Err("unterminated string literal".to_string()),
                    }
                    self.pos += 2;
                }
                Some('\'') => {
                    let raw = self.chars[start..self.pos].iter().collect();
                    self.pos += 1;
                    return Ok(Arg::String { value, raw });
                }
                Some(c) => {
                    value.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn number(&mut self) -> Result<Arg, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        serde_json::from_str::<Number>(&text)
            .map(Arg::Number)
            .map_err(|_| format!("invalid number '{text}'"))
    }

    /// A path runs to the next `,` or `)` outside brackets, parentheses and quotes.
    fn path(&mut self) -> Result<Arg, String> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            match (quote, c) {
                (Some(_), '\\') => self.pos += 1,
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '[' | '(') => depth += 1,
                (None, ']' | ')') if depth > 0 => depth -= 1,
                (None, ',' | ')') => break,
                _ => {}
            }
            self.pos += 1;
        }
        let end = self.pos.min(self.chars.len());
        let text: String = self.chars[start..end]
            .iter()
            .collect::<String>()
            .trim_end()
            .to_string();
        let parsed = path::parse_text(&text)
            .map_err(|message| format!("invalid path '{text}': {message}"))?;
        Ok(Arg::Path { text, path: parsed })
    }
}
