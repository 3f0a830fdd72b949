//! Values written as compose-go writes them: Go's `time.Duration` text
//! (`1m0s`, `500ms`), sizes as a decimal string of bytes, file modes as
//! four octal digits, and maps with their keys sorted (Go's YAML and JSON
//! encoders sort map keys).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

/// A duration as Go's `time.Duration.String()` prints it.
pub(crate) fn duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", fraction(nanos, 1_000_000));
    }
    let seconds = d.as_secs();
    let (hours, minutes, rest) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let seconds = fraction(
        u128::from(rest) * 1_000_000_000 + u128::from(d.subsec_nanos()),
        1_000_000_000,
    );
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

/// `value / unit` with its fraction, trailing zeros dropped: 1500/1000 is "1.5".
fn fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let rest = value % unit;
    if rest == 0 {
        return whole.to_string();
    }
    let width = unit.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A size in bytes, as compose-go's `UnitBytes` prints it.
pub(crate) fn bytes(n: u64) -> Value {
    Value::String(n.to_string())
}

/// A file mode, as compose-go's `FileMode` prints it: `"0440"`.
pub(crate) fn mode(mode: u32) -> Value {
    Value::String(format!("0{mode:o}"))
}

/// A map of optional strings: `KEY: null` for a key without a value.
pub(crate) fn optional_map(map: &BTreeMap<String, Option<String>>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
            .collect(),
    )
}

/// A map of strings; a key without a value is the empty string (labels).
pub(crate) fn string_map<'a>(
    map: impl IntoIterator<Item = (&'a String, &'a Option<String>)>,
) -> Value {
    let sorted: BTreeMap<&String, String> = map
        .into_iter()
        .map(|(k, v)| (k, v.clone().unwrap_or_default()))
        .collect();
    Value::Object(
        sorted
            .into_iter()
            .map(|(k, v)| (k.clone(), Value::String(v)))
            .collect(),
    )
}

/// A map of strings to strings, sorted.
pub(crate) fn plain_map(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A list of strings.
pub(crate) fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

/// An object built in the order fields are put, leaving out the empty
/// ones as compose-go's `omitempty` does.
#[derive(Default)]
pub(crate) struct Object(pub Map<String, Value>);

impl Object {
    /// Puts `value` unless it is empty (null, false, "", [] or {}).
    pub fn put(&mut self, key: &str, value: Value) -> &mut Self {
        let empty = match &value {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            Value::Number(_) => false,
        };
        if !empty {
            self.0.insert(key.to_owned(), value);
        }
        self
    }

    /// Puts `value` when there is one, even if it is empty.
    pub fn put_some(&mut self, key: &str, value: Option<Value>) -> &mut Self {
        if let Some(value) = value {
            self.0.insert(key.to_owned(), value);
        }
        self
    }

    /// Puts the `x-` extensions last, sorted, as compose-go's inline
    /// `Extensions` map prints.
    pub fn extend(&mut self, extensions: &crate::compose::Extensions) -> &mut Self {
        for (key, value) in extensions {
            self.0.insert(key.clone(), value.clone());
        }
        self
    }

    pub fn value(self) -> Value {
        Value::Object(self.0)
    }
}

/// `Some(text)` as a JSON string.
pub(crate) fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |t| Value::String(t.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_prints_them() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(10), "10s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(120), "2m0s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(5400), "1h30m0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_micros(5), "5µs"),
            (Duration::from_nanos(7), "7ns"),
        ];
        for (d, text) in cases {
            assert_eq!(duration(d), text, "{d:?}");
        }
    }

    #[test]
    fn modes_and_sizes() {
        assert_eq!(mode(0o440), Value::String("0440".into()));
        assert_eq!(mode(0o4755), Value::String("04755".into()));
        assert_eq!(bytes(52_428_800), Value::String("52428800".into()));
    }
}
