//! The parsed form of a JSONPath.

use std::fmt;

use serde_json::Value as Json;

/// What a path starts from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Root {
    /// `$`: the state's input.
    Input,
    /// `$$`: the context object.
    Context,
    /// `$name`: an ASL variable.
    Variable(String),
    /// `@`: the element a filter is testing.
    Current,
}

/// One step of a path.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Segment {
    /// `.a`, `['a']` or `['a','b']`.
    Names(Vec<String>),
    /// `.*` or `[*]`.
    Wildcard,
    /// `[0]`, `[-1]` or `[0,2]`.
    Indexes(Vec<i64>),
    /// `[1:5]`, `[-2:]`, `[:3]`, `[::2]`.
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: Option<i64>,
    },
    /// `[?(...)]`.
    Filter(Box<Filter>),
    /// `..x`, `..*`, `..[...]`: the inner step applied at every depth.
    Scan(Box<Segment>),
}

impl Segment {
    /// Whether the step selects at most one value (Jayway's "definite").
    pub(crate) fn is_definite(&self) -> bool {
        match self {
            Segment::Names(names) => names.len() == 1,
            Segment::Indexes(indexes) => indexes.len() == 1,
            _ => false,
        }
    }
}

/// A function ending a path, as Jayway offers them (`$.a.length()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Function {
    Length,
    Min,
    Max,
    Avg,
    Sum,
    Stddev,
    Keys,
    First,
    Last,
}

impl Function {
    pub(crate) fn from_name(name: &str) -> Option<Function> {
        Some(match name {
            "length" | "size" => Function::Length,
            "min" => Function::Min,
            "max" => Function::Max,
            "avg" => Function::Avg,
            "sum" => Function::Sum,
            "stddev" => Function::Stddev,
            "keys" => Function::Keys,
            "first" => Function::First,
            "last" => Function::Last,
            _ => return None,
        })
    }
}

/// A whole path.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Path {
    pub root: Root,
    pub segments: Vec<Segment>,
    pub function: Option<Function>,
}

impl Path {
    /// A definite path yields one value; any other yields an array of matches.
    pub(crate) fn is_definite(&self) -> bool {
        match self.merged_names() {
            Some(_) => self.segments[..self.segments.len() - 1]
                .iter()
                .all(Segment::is_definite),
            None => self.segments.iter().all(Segment::is_definite),
        }
    }

    /// Jayway's merge case: a definite path ending in `['a','b']` yields one
    /// object holding those of the properties that exist.
    pub(crate) fn merged_names(&self) -> Option<&[String]> {
        match self.segments.last() {
            Some(Segment::Names(names)) if names.len() > 1 => Some(names),
            _ => None,
        }
    }
}

/// A filter expression inside `[?( )]`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare(Operand, CompareOp, Operand),
    /// `[?(@.x)]`: the path exists.
    Exists(Operand),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    Path(Box<Path>),
    Literal(Json),
    Regex { pattern: String, flags: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Regex,
    In,
    Nin,
    SubsetOf,
    AnyOf,
    NoneOf,
    Size,
    Empty,
    Contains,
}

/// Jayway's normalized form of a path prefix, used in its error messages:
/// `$['a'][0][*]`.
pub(crate) struct Normalized<'a>(pub &'a [Segment]);

impl fmt::Display for Normalized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for segment in self.0 {
            write_segment(f, segment)?;
        }
        Ok(())
    }
}

fn write_segment(f: &mut fmt::Formatter<'_>, segment: &Segment) -> fmt::Result {
    match segment {
        Segment::Names(names) => {
            let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
            write!(f, "[{}]", quoted.join(","))
        }
        Segment::Wildcard => f.write_str("[*]"),
        Segment::Indexes(indexes) => {
            let text: Vec<String> = indexes.iter().map(i64::to_string).collect();
            write!(f, "[{}]", text.join(","))
        }
        Segment::Slice { start, end, .. } => {
            let show = |n: &Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
            write!(f, "[{}:{}]", show(start), show(end))
        }
        Segment::Filter(_) => f.write_str("[?]"),
        Segment::Scan(inner) => {
            f.write_str("..")?;
            write_segment(f, inner)
        }
    }
}
