//! Scalars on the wire: timestamps, numbers and booleans as each protocol
//! writes them.

use serde_json::Value as Json;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::OffsetDateTime;

/// A value's JSON type, for messages.
pub fn describe(value: &Json) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(_) => "a boolean".into(),
        Json::Number(_) => "a number".into(),
        Json::String(_) => "a string".into(),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

/// A timestamp parameter (ISO 8601 text or epoch seconds) as a date.
pub fn timestamp(value: &Json) -> Option<OffsetDateTime> {
    match value {
        Json::Number(n) => {
            let seconds = n.as_f64()?;
            OffsetDateTime::from_unix_timestamp_nanos((seconds * 1e9) as i128).ok()
        }
        Json::String(text) => OffsetDateTime::parse(text, &Rfc3339)
            .or_else(|_| OffsetDateTime::parse(text, &Rfc2822))
            .ok()
            .or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .and_then(|s| timestamp(&Json::from(s)))
            }),
        _ => None,
    }
}

/// A date as Step Functions returns timestamps: ISO 8601 in UTC.
pub fn iso(date: OffsetDateTime) -> String {
    date.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// `Wed, 02 Dec 2026 06:35:49 GMT`, for headers.
pub fn http_date(date: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    date.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// A timestamp read from an answer (epoch seconds, ISO 8601 or an HTTP
/// date) as ISO 8601 text; text that is none of these stays as it is.
pub fn timestamp_out(value: &Json) -> Json {
    if let Json::String(text) = value {
        if let Ok(date) = OffsetDateTime::parse(text, &Rfc3339) {
            return Json::String(iso(date));
        }
        let http = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        if let Ok(date) = time::PrimitiveDateTime::parse(text, &http) {
            return Json::String(iso(date.assume_utc()));
        }
    }
    match timestamp(value) {
        Some(date) if value.is_number() => Json::String(iso(date)),
        _ => value.clone(),
    }
}

/// A scalar as text, for query strings, headers and forms.
pub fn scalar_text(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// Text read from XML or a header as the JSON scalar its shape names.
pub fn scalar_in(kind: &str, text: &str) -> Json {
    match kind {
        "integer" | "long" | "short" | "byte" => text
            .trim()
            .parse::<i64>()
            .map(Json::from)
            .unwrap_or_else(|_| Json::String(text.into())),
        "float" | "double" => text
            .trim()
            .parse::<f64>()
            .map(Json::from)
            .unwrap_or_else(|_| Json::String(text.into())),
        "boolean" => Json::Bool(text.trim() == "true"),
        "timestamp" => timestamp_out(&Json::String(text.trim().into())),
        _ => Json::String(text.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_and_out() {
        let date = timestamp(&Json::from(1_700_000_000)).expect("epoch");
        assert_eq!(iso(date), "2023-11-14T22:13:20Z");
        assert_eq!(http_date(date), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(
            timestamp_out(&Json::String("Tue, 14 Nov 2023 22:13:20 GMT".into())),
            Json::String("2023-11-14T22:13:20Z".into())
        );
        assert_eq!(
            timestamp_out(&Json::from(1_700_000_000.5)),
            Json::String("2023-11-14T22:13:20.5Z".into())
        );
    }
}
