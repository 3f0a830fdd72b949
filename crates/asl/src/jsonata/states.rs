//! The `$states` binding, converted only as far as an expression can see.
//!
//! Converting JSON to JSONata values costs an allocation per string and
//! object, and the context object holds the execution input a second time.
//! So an expression that only ever writes `$states.input.order...` gets a
//! `$states` holding just `input`, and an `input` holding just `order`: the
//! parts it cannot reach are left out, which no JSONata expression can
//! observe. Anything less plain (`$states` alone, `$states.input[0]`, the
//! parent operator `%`) gets the whole value.

use indexmap::IndexMap;
use jsonata_core::value::JValue;
use serde_json::Value as Json;

use super::convert::to_jvalue;
use crate::Scope;

/// The fields of `$states`, in the order they are bound.
const FIELDS: [&str; 4] = ["input", "context", "result", "errorOutput"];

/// How much of a value (a `$states` field, or a key of one) an expression can reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Reach {
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

/// How much of each `$states` field an expression can reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StatesUse {
    fields: [Reach; 4],
}

impl StatesUse {
    /// Reads the reach from the text. It over-approximates: a mention in a
    /// string literal only costs a conversion.
    pub fn of(source: &str) -> StatesUse {
        let mut reach = StatesUse::default();
        let parent_operator = source.contains('%');
        let mut rest = source;
        while let Some(at) = rest.find("$states") {
            rest = &rest[at + "$states".len()..];
            if rest.starts_with(is_name_char) {
                continue; // `$statesX`, another variable
            }
            let Some((field, after)) = step(rest) else {
                reach.fields = [Reach::Whole, Reach::Whole, Reach::Whole, Reach::Whole];
                continue;
            };
            // A field `$states` never has is undefined either way.
            if let Some(index) = FIELDS.iter().position(|known| *known == field) {
                reach.fields[index].add(after, parent_operator);
            }
        }
        reach
    }

    /// Whether the expression mentions `$states` at all.
    pub fn any(&self) -> bool {
        self.fields.iter().any(|reach| *reach != Reach::None)
    }
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

    /// `$states` with as much of each field as `reach` says.
    pub fn states(&mut self, reach: &StatesUse) -> JValue {
        let scope = self.scope;
        let values = [
            Some(scope.input),
            Some(scope.context),
            scope.result,
            scope.error_output,
        ];
        let mut states = IndexMap::with_capacity(4);
        for ((field, value), reach) in FIELDS.iter().zip(values).zip(&reach.fields) {
            if let (Some(value), false) = (value, *reach == Reach::None) {
                states.insert((*field).to_string(), self.convert(value, reach));
            }
        }
        JValue::object(states)
    }

    /// As much of `value` as `reach` says.
    fn convert(&mut self, value: &'a Json, reach: &Reach) -> JValue {
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

    #[test]
    fn reach_is_read_from_the_text() {
        let cases: Vec<(&str, [Reach; 4])> = vec![
            (
                "1 + 1",
                [Reach::None, Reach::None, Reach::None, Reach::None],
            ),
            (
                "$states.input.a + $states.input.b",
                [keys(&["a", "b"]), Reach::None, Reach::None, Reach::None],
            ),
            (
                "$states.input.a.b + $states.input.a.c[0] + $states.input.d",
                [
                    Reach::Keys(vec![
                        ("a".into(), keys(&["b", "c"])),
                        ("d".into(), Reach::Whole),
                    ]),
                    Reach::None,
                    Reach::None,
                    Reach::None,
                ],
            ),
            (
                "$states.input.a.b and $states.input.a",
                [keys(&["a"]), Reach::None, Reach::None, Reach::None],
            ),
            (
                "$states.input.a = $states.context.State.Name",
                [
                    keys(&["a"]),
                    Reach::Keys(vec![("State".into(), keys(&["Name"]))]),
                    Reach::None,
                    Reach::None,
                ],
            ),
            (
                "$states.input",
                [Reach::Whole, Reach::None, Reach::None, Reach::None],
            ),
            (
                "$states.input.a and $states.input[0]",
                [Reach::Whole, Reach::None, Reach::None, Reach::None],
            ),
            (
                "$keys($states)",
                [Reach::Whole, Reach::Whole, Reach::Whole, Reach::Whole],
            ),
            (
                "$states.result.x.%.y",
                [Reach::None, Reach::None, Reach::Whole, Reach::None],
            ),
            (
                "$states.errorOutput.Cause",
                [Reach::None, Reach::None, Reach::None, keys(&["Cause"])],
            ),
            (
                "$states.input.`odd key`",
                [Reach::Whole, Reach::None, Reach::None, Reach::None],
            ),
            (
                "$statesX.input",
                [Reach::None, Reach::None, Reach::None, Reach::None],
            ),
        ];
        for (source, fields) in cases {
            assert_eq!(StatesUse::of(source), StatesUse { fields }, "{source}");
        }
    }
}
