//! Conversions between `serde_json::Value` and jsonata-core's `JValue`.
//!
//! JSONata numbers are doubles; Step Functions writes a whole number that fits
//! in a 64-bit integer as an integer and anything else as a double, and writes
//! the non-finite numbers as the strings JavaScript names them by. Key order is
//! kept both ways, and JSONata's `undefined` stays distinct from `null`.

use indexmap::IndexMap;
use jsonata_core::value::{JArray, JValue};
use serde_json::{Map, Number, Value as Json};

/// A JSONata value that has no JSON form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unrepresentable {
    /// A function (lambda, built-in or regex).
    Function,
}

/// Converts JSON into a JSONata value.
pub(crate) fn to_jvalue(value: &Json) -> JValue {
    match value {
        Json::Null => JValue::Null,
        Json::Bool(b) => JValue::Bool(*b),
        Json::Number(n) => JValue::Number(n.as_f64().unwrap_or(0.0)),
        Json::String(s) => JValue::String(s.as_str().into()),
        Json::Array(items) => {
            let mut flat = true;
            let items = items
                .iter()
                .map(|item| {
                    flat &= !item.is_array();
                    to_jvalue(item)
                })
                .collect();
            JValue::Array(JArray::new_flat(items, flat))
        }
        Json::Object(fields) => {
            let mut map = IndexMap::with_capacity(fields.len());
            for (key, field) in fields {
                map.insert(key.clone(), to_jvalue(field));
            }
            JValue::object(map)
        }
    }
}

/// Converts a JSONata result into JSON: `Ok(None)` for `undefined`.
///
/// Undefined items of arrays and fields of objects are left out, as
/// `JSON.stringify` leaves them out.
pub(crate) fn to_json(value: &JValue) -> Result<Option<Json>, Unrepresentable> {
    Ok(Some(match value {
        JValue::Undefined => return Ok(None),
        JValue::Null => Json::Null,
        JValue::Bool(b) => Json::Bool(*b),
        JValue::Number(n) => number(*n),
        JValue::String(s) => Json::String(s.to_string()),
        JValue::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter() {
                if let Some(item) = to_json(item)? {
                    out.push(item);
                }
            }
            Json::Array(out)
        }
        JValue::Object(fields) => {
            let mut out = Map::with_capacity(fields.len());
            for (key, field) in fields.iter() {
                if let Some(field) = to_json(field)? {
                    out.insert(key.clone(), field);
                }
            }
            Json::Object(out)
        }
        JValue::Lambda(_) | JValue::Builtin { .. } | JValue::Regex { .. } => {
            return Err(Unrepresentable::Function)
        }
    }))
}

/// The JSON form of a JSONata number.
pub(crate) fn number(n: f64) -> Json {
    // 2^63 as a double: the first whole number that no longer fits an i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() {
        Json::String("NaN".into())
    } else if n.is_infinite() {
        Json::String(if n > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else if n.fract() == 0.0 && (-LIMIT..LIMIT).contains(&n) {
        // `as` is exact here: the value is whole and in range; -0 becomes 0.
        Json::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map_or(Json::Null, Json::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_keep_integers_order_and_nulls() {
        let value =
            json!({"z": 1, "a": [1.5, null, {"k": -0.0}], "m": "s", "big": 12345678901234_i64});
        let back = to_json(&to_jvalue(&value))
            .expect("representable")
            .expect("defined");
        assert_eq!(
            serde_json::to_string(&back).expect("json"),
            r#"{"z":1,"a":[1.5,null,{"k":0}],"m":"s","big":12345678901234}"#
        );
    }

    #[test]
    fn undefined_and_non_finite_numbers() {
        assert_eq!(to_json(&JValue::Undefined), Ok(None));
        assert_eq!(number(f64::INFINITY), json!("Infinity"));
        assert_eq!(number(f64::NEG_INFINITY), json!("-Infinity"));
        assert_eq!(number(f64::NAN), json!("NaN"));
        assert_eq!(number(1e300), json!(1e300));
    }
}
