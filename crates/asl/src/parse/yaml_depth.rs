//! A bound on how deeply a YAML text nests, checked in one pass over the
//! text before a YAML parser sees it. libyaml (under serde_norway) keeps a
//! stack of possible simple keys, one per flow level, and walks all of it
//! for every token, so its time grows with the square of the nesting: a
//! 200 KB file of nested lists took 36 s to 76 s of CPU. serde_norway
//! refuses more than 128 levels anyway, but only after libyaml has read
//! the whole text; this scan refuses such a text first.
//!
//! The scan counts what opens a level: an indentation deeper than the
//! lines it is nested in, a block sequence's `- ` or a complex key's `? `
//! where a node begins, and a flow collection's `[` or `{` (outside quoted
//! scalars, comments and block scalars). It may count a level more than a
//! YAML parser would, never fewer.

/// The deepest nesting accepted: serde_norway's own recursion limit.
pub const MAX_YAML_DEPTH: usize = 128;

/// A text that nests deeper than [`MAX_YAML_DEPTH`], and where it first does.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the YAML nests more than {MAX_YAML_DEPTH} levels deep at line {line}, column {column}; \
     flatten the document"
)]
pub struct TooDeep {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
}

/// Checks that `text` nests at most [`MAX_YAML_DEPTH`] levels deep.
pub fn check_yaml_depth(text: &str) -> Result<(), TooDeep> {
    let mut scan = Scan::default();
    for (index, line) in text.lines().enumerate() {
        scan.line(index + 1, line)?;
    }
    Ok(())
}

#[derive(Default)]
struct Scan {
    /// Indentations of the enclosing block nodes, increasing.
    indents: Vec<usize>,
    /// Open flow collections.
    flow: usize,
    /// Inside a quoted scalar that goes on past its line: its quote.
    quote: Option<char>,
    /// Inside a block scalar (`|`, `>`): the indentation of its parent's
    /// line; lines indented deeper are its text.
    block_scalar: Option<usize>,
}

impl Scan {
    fn line(&mut self, number: usize, line: &str) -> Result<(), TooDeep> {
        let indent = line.chars().take_while(|c| *c == ' ').count();
        let blank = line.trim().is_empty() || line.trim_start().starts_with('#');
        if let Some(parent) = self.block_scalar {
            if blank || indent > parent {
                return Ok(());
            }
            self.block_scalar = None;
        }
        if blank && self.quote.is_none() {
            return Ok(());
        }
        if self.flow == 0 && self.quote.is_none() {
            while self.indents.last().is_some_and(|last| *last >= indent) {
                self.indents.pop();
            }
            self.indents.push(indent);
        }
        let mut inline = 0;
        let mut node_start = self.quote.is_none();
        let mut previous = ' ';
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            if let Some(quote) = self.quote {
                match c {
                    '\\' if quote == '"' => i += 1,
                    '\'' if quote == '\'' && next == '\'' => i += 1,
                    _ if c == quote => self.quote = None,
                    _ => {}
                }
                previous = c;
                i += 1;
                continue;
            }
            match c {
                '#' if previous == ' ' || previous == '\t' => break,
                '"' | '\'' if node_start || self.flow > 0 => self.quote = Some(c),
                // An anchor or a tag before a node: the node still begins after it.
                '&' | '!' if node_start => {
                    while chars.get(i + 1).is_some_and(|c| {
                        !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}')
                    }) {
                        i += 1;
                    }
                }
                '[' | '{' if node_start || self.flow > 0 => {
                    self.flow += 1;
                    node_start = true;
                }
                ']' | '}' if self.flow > 0 => self.flow -= 1,
                ',' if self.flow > 0 => node_start = true,
                '-' | '?' | ':' if self.flow == 0 && node_start && next.is_whitespace() => {
                    if c != ':' {
                        inline += 1;
                    }
                }
                ':' if next.is_whitespace()
                    || (self.flow > 0 && matches!(next, ',' | ']' | '}')) =>
                {
                    node_start = true;
                }
                '|' | '>' if node_start && self.flow == 0 => {
                    self.block_scalar = Some(indent);
                    break;
                }
                ' ' | '\t' => {}
                _ => node_start = false,
            }
            let depth = self.indents.len() + inline + self.flow;
            if depth > MAX_YAML_DEPTH {
                return Err(TooDeep {
                    line: number,
                    column: i + 1,
                });
            }
            previous = c;
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_documents_pass() {
        let compose = "services:\n  web:\n    image: nginx # a comment [\n    command: [\"sh\", \"-c\", \"echo [x\"]\n    environment:\n      - A=1\n      - B={x\n    labels:\n      text: |\n        [[[[[[\n          {{{{{\n";
        assert_eq!(check_yaml_depth(compose), Ok(()));
        let asl = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: {a: [1, 2, {b: [3]}]}\n    End: true\n";
        assert_eq!(check_yaml_depth(asl), Ok(()));
    }

    #[test]
    fn deep_flow_lists_are_refused_where_they_pass_the_limit() {
        let text = format!("a: {}1{}\n", "[".repeat(200), "]".repeat(200));
        let error = check_yaml_depth(&text).expect_err("too deep");
        assert_eq!(error.line, 1);
        // `a: ` then the indentation level, then 127 brackets.
        assert_eq!(error.column, 3 + MAX_YAML_DEPTH);
        // An anchor and a tag do not hide the lists after them.
        assert_eq!(
            check_yaml_depth(&format!("a: &x !!seq {}\n", "[".repeat(200))).map_err(|e| e.line),
            Err(1)
        );
    }

    #[test]
    fn deep_block_lists_are_refused_on_their_line() {
        let mut text = String::from("top: 1\n");
        for level in 0..150 {
            text.push_str(&format!("{}- \n", "  ".repeat(level)));
        }
        let error = check_yaml_depth(&text).expect_err("too deep");
        assert_eq!(error.line, 1 + MAX_YAML_DEPTH);
        let inline = format!("{}x\n", "- ".repeat(150));
        assert_eq!(check_yaml_depth(&inline).expect_err("too deep").line, 1);
    }

    #[test]
    fn nesting_at_the_limit_is_accepted() {
        let text = format!(
            "{}1{}\n",
            "[".repeat(MAX_YAML_DEPTH - 1),
            "]".repeat(MAX_YAML_DEPTH - 1)
        );
        assert_eq!(check_yaml_depth(&text), Ok(()));
    }
}
