//! Reading JSONPath text (Jayway's dialect, as Step Functions accepts it)
//! into a [`Path`]. Parsing never panics: malformed text is an `Err` with a
//! sentence saying what is wrong and where.

use serde_json::Value as Json;

use super::ast::{CompareOp, Filter, Function, Operand, Path, Root, Segment};

/// Parses a whole path such as `$.a[0]`, `$$.Execution.Id` or `$var.x`.
pub(crate) fn parse(text: &str) -> Result<Path, String> {
    let mut cursor = Cursor::new(text.trim());
    let path = cursor.path(false)?;
    if !cursor.at_end() {
        return Err(cursor.unexpected());
    }
    Ok(path)
}

/// A position in the path text.
pub(super) struct Cursor {
    chars: Vec<char>,
    pos: usize,
    /// How many filters and parentheses are open, so hostile nesting is an
    /// error rather than a stack overflow.
    depth: usize,
}

/// The deepest nesting of filters and parentheses a path may have.
const MAX_DEPTH: usize = 32;

fn is_variable_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Cursor {
    pub(super) fn new(text: &str) -> Self {
        Cursor {
            chars: text.chars().collect(),
            pos: 0,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, s: &str) -> bool {
        let n = s.chars().count();
        if self.chars.len() >= self.pos + n
            && s.chars().zip(&self.chars[self.pos..]).all(|(a, b)| a == *b)
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.skip_spaces();
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}' at position {}", self.pos))
        }
    }

    pub(super) fn unexpected(&self) -> String {
        match self.peek() {
            Some(c) => format!("unexpected character '{c}' at position {}", self.pos),
            None => "unexpected end of path".to_string(),
        }
    }

    /// A path from its root. `in_filter` stops property names at operator
    /// characters, so `@.x>1` reads as a comparison.
    pub(super) fn path(&mut self, in_filter: bool) -> Result<Path, String> {
        let root = if self.eat('@') {
            Root::Current
        } else if self.eat('$') {
            if self.eat('$') {
                Root::Context
            } else if self.peek().is_some_and(is_variable_char) {
                let start = self.pos;
                while self.peek().is_some_and(is_variable_char) {
                    self.pos += 1;
                }
                Root::Variable(self.chars[start..self.pos].iter().collect())
            } else {
                Root::Input
            }
        } else {
            return Err("a path must start with '$'".to_string());
        };
        let mut segments = Vec::new();
        let mut function = None;
        loop {
            match self.peek() {
                Some('.') if self.peek_at(1) == Some('.') => {
                    self.pos += 2;
                    let inner = match self.peek() {
                        Some('[') => self.bracket()?,
                        Some('*') => {
                            self.pos += 1;
                            Segment::Wildcard
                        }
                        _ => Segment::Names(vec![self.name(in_filter)?]),
                    };
                    segments.push(Segment::Scan(Box::new(inner)));
                }
                Some('.') => {
                    self.pos += 1;
                    if self.eat('*') {
                        segments.push(Segment::Wildcard);
                        continue;
                    }
                    let name = self.name(in_filter)?;
                    if self.peek() == Some('(') {
                        function = Some(self.function(&name)?);
                        break;
                    }
                    segments.push(Segment::Names(vec![name]));
                }
                Some('[') => segments.push(self.bracket()?),
                _ => break,
            }
        }
        Ok(Path {
            root,
            segments,
            function,
        })
    }

    /// A property name in dot notation.
    fn name(&mut self, in_filter: bool) -> Result<String, String> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            let stop = matches!(c, '.' | '[' | '(')
                || (in_filter
                    && (c.is_whitespace()
                        || matches!(c, ')' | ']' | ',' | '=' | '!' | '<' | '>' | '&' | '|')));
            if stop {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(format!("expected a property name at position {start}"));
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    fn function(&mut self, name: &str) -> Result<Function, String> {
        self.expect('(')?;
        self.expect(')')?;
        if matches!(self.peek(), Some('.' | '[')) {
            return Err(format!("the function {name}() must end the path"));
        }
        Function::from_name(name).ok_or_else(|| format!("unknown function {name}()"))
    }

    /// `[...]`: names, indexes, a slice, a wildcard or a filter.
    fn bracket(&mut self) -> Result<Segment, String> {
        self.expect('[')?;
        self.skip_spaces();
        let segment = match self.peek() {
            Some('*') => {
                self.pos += 1;
                Segment::Wildcard
            }
            Some('?') => {
                self.pos += 1;
                self.expect('(')?;
                let filter = self.filter_or()?;
                self.expect(')')?;
                Segment::Filter(Box::new(filter))
            }
            Some('\'' | '"') => {
                let mut names = vec![self.quoted()?];
                self.skip_spaces();
                while self.eat(',') {
                    self.skip_spaces();
                    names.push(self.quoted()?);
                    self.skip_spaces();
                }
                Segment::Names(names)
            }
            _ => self.indexes_or_slice()?,
        };
        self.expect(']')?;
        Ok(segment)
    }

    /// A quoted property name. A backslash escapes the quote that delimits
    /// the name and a backslash; any other backslash stays as it is.
    fn quoted(&mut self) -> Result<String, String> {
        let Some(quote) = self.peek().filter(|c| *c == '\'' || *c == '"') else {
            return Err(format!("expected a quoted name at position {}", self.pos));
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated quoted name".to_string()),
                Some('\\') if matches!(self.peek_at(1), Some(c) if c == quote || c == '\\') => {
                    if let Some(c) = self.peek_at(1) {
                        out.push(c);
                    }
                    self.pos += 2;
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn integer(&mut self) -> Result<Option<i64>, String> {
        self.skip_spaces();
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == start {
            return Ok(None);
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let value = text
            .parse::<i64>()
            .map_err(|_| format!("invalid array index '{text}'"))?;
        self.skip_spaces();
        Ok(Some(value))
    }

    fn indexes_or_slice(&mut self) -> Result<Segment, String> {
        let first = self.integer()?;
        if self.eat(':') {
            let end = self.integer()?;
            let step = if self.eat(':') { self.integer()? } else { None };
            if step == Some(0) {
                return Err("a slice step cannot be 0".to_string());
            }
            return Ok(Segment::Slice {
                start: first,
                end,
                step,
            });
        }
        let Some(first) = first else {
            return Err(self.unexpected());
        };
        let mut indexes = vec![first];
        while self.eat(',') {
            match self.integer()? {
                Some(index) => indexes.push(index),
                None => return Err(self.unexpected()),
            }
        }
        Ok(Segment::Indexes(indexes))
    }

    fn filter_or(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_and()?;
        loop {
            self.skip_spaces();
            if !self.eat_str("||") {
                return Ok(left);
            }
            let right = self.filter_and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
    }

    fn filter_and(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_unary()?;
        loop {
            self.skip_spaces();
            if !self.eat_str("&&") {
                return Ok(left);
            }
            let right = self.filter_unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }

    fn filter_unary(&mut self) -> Result<Filter, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("filters may be nested at most {MAX_DEPTH} deep"));
        }
        let result = self.filter_unary_inner();
        self.depth -= 1;
        result
    }

    fn filter_unary_inner(&mut self) -> Result<Filter, String> {
        self.skip_spaces();
        if self.peek() == Some('!') && self.peek_at(1) != Some('=') {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.filter_unary()?)));
        }
        if self.eat('(') {
            let inner = self.filter_or()?;
            self.expect(')')?;
            return Ok(inner);
        }
        let left = self.operand()?;
        self.skip_spaces();
        let Some(op) = self.compare_op() else {
            return Ok(Filter::Exists(left));
        };
        self.skip_spaces();
        let right = self.operand()?;
        Ok(Filter::Compare(left, op, right))
    }

    fn compare_op(&mut self) -> Option<CompareOp> {
        const OPS: [(&str, CompareOp); 16] = [
            ("==", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<=", CompareOp::Le),
            (">=", CompareOp::Ge),
            ("=~", CompareOp::Regex),
            ("<", CompareOp::Lt),
            (">", CompareOp::Gt),
            ("nin ", CompareOp::Nin),
            ("in ", CompareOp::In),
            ("subsetof ", CompareOp::SubsetOf),
            ("anyof ", CompareOp::AnyOf),
            ("noneof ", CompareOp::NoneOf),
            ("size ", CompareOp::Size),
            ("empty ", CompareOp::Empty),
            ("contains ", CompareOp::Contains),
            ("=", CompareOp::Eq),
        ];
        OPS.iter()
            .find(|(text, _)| self.eat_str(text))
            .map(|(_, op)| *op)
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.skip_spaces();
        match self.peek() {
            Some('@' | '$') => Ok(Operand::Path(Box::new(self.path(true)?))),
            Some('\'' | '"') => Ok(Operand::Literal(Json::String(self.quoted()?))),
            Some('/') => self.regex(),
            Some('[' | '{') => self.json_literal(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            _ => {
                for (word, value) in [
                    ("true", Json::Bool(true)),
                    ("false", Json::Bool(false)),
                    ("null", Json::Null),
                ] {
                    if self.eat_str(word) {
                        return Ok(Operand::Literal(value));
                    }
                }
                Err(self.unexpected())
            }
        }
    }

    fn number(&mut self) -> Result<Operand, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        serde_json::from_str::<serde_json::Number>(&text)
            .map(|n| Operand::Literal(Json::Number(n)))
            .map_err(|_| format!("invalid number '{text}' in filter"))
    }

    fn regex(&mut self) -> Result<Operand, String> {
        self.pos += 1;
        let mut pattern = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated regular expression".to_string()),
                Some('\\') if self.peek_at(1) == Some('/') => {
                    pattern.push('/');
                    self.pos += 2;
                }
                Some('/') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => {
                    pattern.push(c);
                    self.pos += 1;
                }
            }
        }
        let mut flags = String::new();
        while let Some(c) = self.peek().filter(char::is_ascii_alphabetic) {
            flags.push(c);
            self.pos += 1;
        }
        Ok(Operand::Regex { pattern, flags })
    }

    /// A JSON array or object literal, read up to its balanced close.
    fn json_literal(&mut self) -> Result<Operand, String> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            self.pos += 1;
            match (quote, c) {
                (Some(_), '\\') => self.pos += 1,
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '[' | '{') => depth += 1,
                (None, ']' | '}') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        let text: String = self.chars[start..self.pos.min(self.chars.len())]
            .iter()
            .collect();
        // Jayway accepts single-quoted strings inside literals; JSON does not.
        serde_json::from_str(&text)
            .or_else(|_| serde_json::from_str(&text.replace('\'', "\"")))
            .map(Operand::Literal)
            .map_err(|_| format!("invalid JSON literal '{text}' in filter"))
    }
}
