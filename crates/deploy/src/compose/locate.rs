//! Where a field was written: a field path (`services.web.volumes[1]`) and a
//! line scan over block-style YAML that follows it, keys and sequence items
//! alike. The YAML library keeps no positions on its values, so this is how
//! a problem found after reading gets its line and column.

use std::fmt;

/// One step of a field path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the top of a Compose file to a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    pub fn root() -> FieldPath {
        FieldPath(Vec::new())
    }

    /// The path of `keys`, each a mapping key.
    pub fn of(keys: &[&str]) -> FieldPath {
        FieldPath(keys.iter().map(|k| Segment::Key((*k).to_owned())).collect())
    }

    pub fn key(&self, key: &str) -> FieldPath {
        let mut path = self.clone();
        path.0.push(Segment::Key(key.to_owned()));
        path
    }

    pub fn index(&self, index: usize) -> FieldPath {
        let mut path = self.clone();
        path.0.push(Segment::Index(index));
        path
    }

    /// Appends a path as the YAML library prints it (`a.b[2].c`).
    pub fn join_printed(&self, printed: &str) -> FieldPath {
        let mut path = self.clone();
        for part in printed.split('.').filter(|p| !p.is_empty()) {
            let mut rest = part;
            if let Some(open) = rest.find('[') {
                if open > 0 {
                    path.0.push(Segment::Key(rest[..open].to_owned()));
                }
                rest = &rest[open..];
                while let Some(inner) = rest.strip_prefix('[') {
                    let Some((number, after)) = inner.split_once(']') else {
                        break;
                    };
                    match number.parse() {
                        Ok(i) => path.0.push(Segment::Index(i)),
                        Err(_) => path.0.push(Segment::Key(number.to_owned())),
                    }
                    rest = after;
                }
            } else {
                path.0.push(Segment::Key(rest.to_owned()));
            }
        }
        path
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

struct Line<'a> {
    number: usize,
    indent: usize,
    content: &'a str,
}

/// The line and column (from 1) of `path` in `text`, and how many of its
/// segments were found: the deepest ancestor found when the whole path is
/// not (a flow mapping, a value from an anchor), the top of the file when
/// nothing is.
pub fn locate(text: &str, path: &FieldPath) -> (usize, usize, usize) {
    let lines: Vec<Line<'_>> = text
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let content = line.trim_start();
            (!content.is_empty() && !content.starts_with('#') && content != "---").then(|| Line {
                number: i + 1,
                indent: line.len() - content.len(),
                content,
            })
        })
        .collect();
    let mut found = (1, 1, 0);
    let mut start = 0;
    // Lines of the current block are indented deeper than this column.
    let mut end: Option<usize> = None;
    // After a sequence item, its first key is on the item's own line.
    let mut item: Option<usize> = None;
    for (depth, segment) in path.0.iter().enumerate() {
        let hit = match segment {
            Segment::Key(key) => find_key(&lines, start, end, item, key),
            Segment::Index(index) => find_item(&lines, start, end, item, *index),
        };
        let Some((at, column, is_item)) = hit else {
            break;
        };
        found = (lines[at].number, column + 1, depth + 1);
        end = Some(column);
        if is_item {
            start = at;
            item = Some(column);
        } else {
            start = at + 1;
            item = None;
        }
    }
    found
}

/// The key column and text of a line, past any `- ` of sequence items.
fn key_part<'a>(line: &Line<'a>, item: Option<usize>, first: bool) -> (usize, &'a str) {
    match item {
        Some(dash) if first => (dash + 2, line.content[1..].trim_start()),
        _ => (line.indent, line.content),
    }
}

fn find_key(
    lines: &[Line<'_>],
    start: usize,
    end: Option<usize>,
    item: Option<usize>,
    key: &str,
) -> Option<(usize, usize, bool)> {
    let mut level = None;
    for (at, line) in lines.iter().enumerate().skip(start) {
        let first = at == start && item.is_some();
        if !first && end.is_some_and(|end| line.indent <= end) {
            return None;
        }
        let (column, text) = key_part(line, item, first);
        if *level.get_or_insert(column) != column {
            continue;
        }
        let written = text
            .strip_prefix(key)
            .or_else(|| text.strip_prefix(&format!("\"{key}\"")))
            .or_else(|| text.strip_prefix(&format!("'{key}'")));
        if written.is_some_and(|rest| rest.trim_start().starts_with(':')) {
            return Some((at, column, false));
        }
    }
    None
}

fn find_item(
    lines: &[Line<'_>],
    start: usize,
    end: Option<usize>,
    item: Option<usize>,
    index: usize,
) -> Option<(usize, usize, bool)> {
    let mut column = None;
    let mut count = 0;
    for (at, line) in lines.iter().enumerate().skip(start) {
        if at == start && item.is_some() {
            continue;
        }
        let dash = line.content == "-" || line.content.starts_with("- ");
        // A sequence may sit at its key's own indent (`ports:` then `- 80`).
        if end.is_some_and(|end| line.indent < end || (line.indent == end && !dash)) {
            return None;
        }
        if !dash || *column.get_or_insert(line.indent) != line.indent {
            continue;
        }
        if count == index {
            return Some((at, line.indent, true));
        }
        count += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "services:\n  web:\n    image: web\n    ports:\n    - \"80\"\n    - target: 81\n      published: 8081\n  db:\n    volumes:\n      - data:/var/lib\n      - type: bind\n        source: ./x\n";

    fn at(path: &str) -> (usize, usize, usize) {
        locate(TEXT, &FieldPath::root().join_printed(path))
    }

    #[test]
    fn follows_keys_and_items() {
        assert_eq!(at("services.web.image"), (3, 5, 3));
        assert_eq!(at("services.web.ports[1]"), (6, 5, 4));
        assert_eq!(at("services.web.ports[1].published"), (7, 7, 5));
        assert_eq!(at("services.web.ports[1].target"), (6, 7, 5));
        assert_eq!(at("services.db.volumes[1].source"), (12, 9, 5));
        assert_eq!(at("services.db.volumes[0]"), (10, 7, 4));
    }

    #[test]
    fn stops_at_the_deepest_ancestor() {
        assert_eq!(at("services.web.missing"), (2, 3, 2));
        assert_eq!(at("services.db.image"), (8, 3, 2));
        assert_eq!(at("nothing"), (1, 1, 0));
    }

    #[test]
    fn prints_paths() {
        let path = FieldPath::of(&["services", "web", "ports"]).index(2);
        assert_eq!(path.to_string(), "services.web.ports[2]");
        assert_eq!(FieldPath::root().join_printed("a.b[2].c"), path_abc());
    }

    fn path_abc() -> FieldPath {
        FieldPath::of(&["a", "b"]).index(2).key("c")
    }
}
