//! Finding the line of a JSON pointer in the text of a JSON or YAML document,
//! so diagnostics can name a line.

/// The 1-based line where the value at `pointer` starts, if it can be found.
pub fn line_of(text: &str, pointer: &str) -> Option<usize> {
    let segments = segments(pointer);
    if segments.is_empty() {
        return Some(1);
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        json_line(text, &segments)
    } else {
        yaml_line(text, &segments)
    }
}

/// The keys and indexes of a location written as AWS writes it
/// (`/States/A/Catch[0]/Next`) or as a JSON pointer (`/States/A/Catch/0`).
fn segments(location: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in location
        .split('/')
        .skip(1)
        .filter(|segment| !segment.is_empty())
    {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        let indexed = segment.find('[').filter(|_| segment.ends_with(']'));
        match indexed {
            Some(open) => {
                out.push(segment[..open].to_string());
                let indexes = &segment[open + 1..segment.len() - 1];
                out.extend(indexes.split("][").map(str::to_string));
            }
            None => out.push(segment),
        }
    }
    out
}

/// Walks JSON text, descending into the pointer's segments.
fn json_line(text: &str, segments: &[String]) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut scanner = Scanner { bytes, pos: 0 };
    for segment in segments {
        scanner.skip_ws();
        match bytes.get(scanner.pos)? {
            b'{' => {
                scanner.pos += 1;
                loop {
                    scanner.skip_ws();
                    if bytes.get(scanner.pos) == Some(&b'}') {
                        return None;
                    }
                    let key = scanner.string()?;
                    scanner.skip_ws();
                    scanner.pos += 1; // ':'
                    scanner.skip_ws();
                    if &key == segment {
                        break;
                    }
                    scanner.skip_value()?;
                    scanner.skip_ws();
                    if bytes.get(scanner.pos) == Some(&b',') {
                        scanner.pos += 1;
                    }
                }
            }
            b'[' => {
                let index: usize = segment.parse().ok()?;
                scanner.pos += 1;
                for _ in 0..index {
                    scanner.skip_ws();
                    scanner.skip_value()?;
                    scanner.skip_ws();
                    if bytes.get(scanner.pos) != Some(&b',') {
                        return None;
                    }
                    scanner.pos += 1;
                }
                scanner.skip_ws();
            }
            _ => return None,
        }
    }
    Some(text[..scanner.pos.min(text.len())].matches('\n').count() + 1)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while self
            .bytes
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn string(&mut self) -> Option<String> {
        if self.bytes.get(self.pos) != Some(&b'"') {
            return None;
        }
        let start = self.pos;
        self.pos += 1;
        while let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'"' => {
                    let raw = std::str::from_utf8(self.bytes.get(start..self.pos)?).ok()?;
                    return serde_json::from_str(raw).ok();
                }
                _ => {}
            }
        }
        None
    }

    fn skip_value(&mut self) -> Option<()> {
        match self.bytes.get(self.pos)? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while let Some(&b) = self.bytes.get(self.pos) {
                    match b {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
                None
            }
            _ => {
                while self
                    .bytes
                    .get(self.pos)
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']'))
                {
                    self.pos += 1;
                }
                Some(())
            }
        }
    }
}

/// Follows keys by indentation in block-style YAML; list items by `- `.
fn yaml_line(text: &str, segments: &[String]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut line = 0usize;
    let mut min_indent = 0usize;
    for segment in segments {
        let mut found = None;
        if let Ok(index) = segment.parse::<usize>() {
            let mut seen = 0usize;
            for (i, l) in lines.iter().enumerate().skip(line) {
                let indent = l.len() - l.trim_start().len();
                if l.trim_start().starts_with("- ") || l.trim() == "-" {
                    if indent < min_indent {
                        break;
                    }
                    if seen == index {
                        found = Some((i, indent + 2));
                        break;
                    }
                    seen += 1;
                }
            }
        } else {
            for (i, l) in lines.iter().enumerate().skip(line) {
                let content = l.trim_start().trim_start_matches("- ");
                let indent = l.len() - content.len();
                if indent < min_indent && !l.trim().is_empty() && i > line {
                    break;
                }
                let key = content
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"')
                    .trim_matches('\'');
                if key == segment && content.contains(':') {
                    found = Some((i, indent + 1));
                    break;
                }
            }
        }
        let (i, indent) = found?;
        line = i;
        min_indent = indent;
    }
    Some(line + 1)
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn finds_lines_in_json_and_yaml() {
        let json = "{\n  \"StartAt\": \"A\",\n  \"States\": {\n    \"A\": {\n      \"Type\": \"Pass\",\n      \"Next\": \"B\"\n    }\n  }\n}";
        assert_eq!(line_of(json, "/States/A/Next"), Some(6));
        assert_eq!(line_of(json, "/StartAt"), Some(2));
        assert_eq!(line_of(json, "/"), Some(1));
        let catch =
            "{\n  \"States\": {\"A\": {\n    \"Catch\": [\n      {},\n      {\"Next\": \"B\"}]}}}";
        assert_eq!(line_of(catch, "/States/A/Catch[1]/Next"), Some(5));
        let yaml = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Next: B\n";
        assert_eq!(line_of(yaml, "/States/A/Next"), Some(5));
    }
}
