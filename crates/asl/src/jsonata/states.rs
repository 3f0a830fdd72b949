//! The bindings of `$states` and the ASL variables, converted only as far
//! as an expression can see.
//!
//! Converting JSON to JSONata values costs an allocation per string and
//! object, and the context object holds the execution input a second time.
//! So an expression that only ever writes `$states.input.order...` gets a
//! `$states` holding just `input`, and an `input` holding just `order`: the
//! parts it cannot reach are left out, which no JSONata expression can
//! observe. Anything less plain (`$states` alone, `$states.input[0]`,
//! `$keys($var)`, the parent operator `%`) gets the whole value.

use indexmap::IndexMap;
use jsonata_core::value::JValue;
use serde_json::Value as Json;

use super::convert::to_jvalue;
use crate::Scope;

/// The fields of `$states`, in the order they are bound.
const FIELDS: [&str; 4] = ["input", "context", "result", "errorOutput"];

/// How much of a value (a variable, or a key of one) an expression can reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Reach {
    #[default]
    None,
    /// Only these keys of it, each as far as its own reach, when it is an object.
    Keys(Vec<(Box<str>, Reach)>),
    Whole,
}

impl Reach {
    /// Adds the reach of one mention, `text` being what follows the name
    /// of this value: a chain of `.name` steps narrows it, anything else
    /// needs all of it.
    fn add(&mut self, text: &str, parent_operator: bool) {
        if *self == Reach::Whole {
            return;
        }
        let Some((key, after)) = step(text).filter(|_| !parent_operator) else {
            *self = Reach::Whole;
            return;
        };
        if *self == Reach::None {
            *self = Reach::Keys(Vec::new());
        }
        if let Reach::Keys(keys) = self {
            let index = match keys.iter().position(|(known, _)| &**known == key) {
                Some(index) => index,
                None => {
                    keys.push((key.into(), Reach::None));
                    keys.len() - 1
                }
            };
            keys[index].1.add(after, parent_operator);
        }
    }
}

/// Every `$name` an expression mentions (`$states` included), once each,
/// with how much of its value the expression can reach. It over-approximates:
/// a mention in a string literal only costs a conversion.
pub(crate) fn mentions(source: &str) -> Box<[(Box<str>, Reach)]> {
    let mut found: Vec<(Box<str>, Reach)> = Vec::new();
    let parent_operator = source.contains('%');
    let mut rest = source;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        rest = after;
        if name.is_empty() {
            continue;
        }
        let index = match found.iter().position(|(known, _)| &**known == name) {
            Some(index) => index,
            None => {
                found.push((name.into(), Reach::None));
                found.len() - 1
            }
        };
        found[index].1.add(after, parent_operator);
    }
    found.into_boxed_slice()
}

/// `.name` at the start of `text`: the plain name and what follows it.
fn step(text: &str) -> Option<(&str, &str)> {
    let after = text.strip_prefix('.')?;
    let end = after
        .find(|c: char| !is_name_char(c))
        .unwrap_or(after.len());
    let name = &after[..end];
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
    plain.then_some((name, &after[end..]))
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// What one template evaluation converts once and shares between its expressions.
pub(crate) struct Session<'s, 'a> {
    pub scope: &'s Scope<'a>,
    /// Whole conversions made so far, by the address of the JSON value.
    converted: Vec<(*const Json, JValue)>,
}

impl<'s, 'a> Session<'s, 'a> {
    pub fn new(scope: &'s Scope<'a>) -> Self {
        Session {
            scope,
            converted: Vec::new(),
        }
    }

    /// `$states` (`input` and `context`, and `result` and `errorOutput` when
    /// present) with as much of each field as `reach` says.
    pub fn states(&mut self, reach: &Reach) -> JValue {
        let scope = self.scope;
        let values = [
            Some(scope.input),
            Some(scope.context),
            scope.result,
            scope.error_output,
        ];
        let mut states = IndexMap::with_capacity(4);
        for (field, value) in FIELDS.iter().zip(values) {
            let Some(value) = value else { continue };
            let converted = match reach {
                Reach::None => continue,
                Reach::Whole => self.whole(value),
                Reach::Keys(keys) => match keys.iter().find(|(key, _)| &**key == *field) {
                    Some((_, reach)) => self.convert(value, reach),
                    None => continue,
                },
            };
            states.insert((*field).to_string(), converted);
        }
        JValue::object(states)
    }

    /// As much of `value` as `reach` says.
    pub fn convert(&mut self, value: &'a Json, reach: &Reach) -> JValue {
        match (reach, value) {
            (Reach::Keys(keys), Json::Object(object)) => {
                let mut out = IndexMap::with_capacity(keys.len());
                for (key, reach) in keys {
                    if let Some(value) = object.get(&**key) {
                        out.insert(key.to_string(), self.convert(value, reach));
                    }
                }
                JValue::object(out)
            }
            _ => self.whole(value),
        }
    }

    /// All of `value`, converted once per session. The scope outlives the
    /// session and is not changed during it, so an address names one value.
    fn whole(&mut self, value: &'a Json) -> JValue {
        let address: *const Json = value;
        if let Some((_, converted)) = self.converted.iter().find(|(known, _)| *known == address) {
            return converted.clone();
        }
        let converted = to_jvalue(value);
        self.converted.push((address, converted.clone()));
        converted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Reach {
        Reach::Keys(
            names
                .iter()
                .map(|name| ((*name).into(), Reach::Whole))
                .collect(),
        )
    }

    fn under(key: &str, reach: Reach) -> Reach {
        Reach::Keys(vec![(key.into(), reach)])
    }

    #[test]
    fn reach_is_read_from_the_text() {
        let cases: Vec<(&str, Vec<(&str, Reach)>)> = vec![
            ("1 + 1", vec![]),
            (
                "$states.input.a + $states.input.b",
                vec![("states", under("input", keys(&["a", "b"])))],
            ),
            (
                "$states.input.a.b + $states.input.a.c[0] + $states.input.d",
                vec![(
                    "states",
                    under(
                        "input",
                        Reach::Keys(vec![
                            ("a".into(), keys(&["b", "c"])),
                            ("d".into(), Reach::Whole),
                        ]),
                    ),
                )],
            ),
            (
                "$states.input.a.b and $states.input.a",
                vec![("states", under("input", keys(&["a"])))],
            ),
            (
                "$states.input.a = $states.context.State.Name",
                vec![(
                    "states",
                    Reach::Keys(vec![
                        ("input".into(), keys(&["a"])),
                        ("context".into(), under("State", keys(&["Name"]))),
                    ]),
                )],
            ),
            ("$states.input", vec![("states", keys(&["input"]))]),
            (
                "$states.input.a and $states.input[0]",
                vec![("states", keys(&["input"]))],
            ),
            (
                "$keys($states)",
                vec![("keys", Reach::Whole), ("states", Reach::Whole)],
            ),
            ("$states.result.x.%.y", vec![("states", Reach::Whole)]),
            (
                "$states.input.`odd key`",
                vec![("states", keys(&["input"]))],
            ),
            ("$statesX.input", vec![("statesX", keys(&["input"]))]),
            (
                "$order.total > $limit",
                vec![("order", keys(&["total"])), ("limit", Reach::Whole)],
            ),
            (
                "($x := $v; $x.a)",
                vec![("x", Reach::Whole), ("v", Reach::Whole)],
            ),
            ("$$.a + $.b", vec![]),
        ];
        for (source, expected) in cases {
            let expected: Vec<(Box<str>, Reach)> =
                expected.into_iter().map(|(n, r)| (n.into(), r)).collect();
            assert_eq!(&*mentions(source), &expected[..], "{source}");
        }
    }
}
