//! Timestamps as Step Functions writes them.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the epoch as an ISO-8601 UTC timestamp with
/// milliseconds, e.g. `2024-11-04T11:02:43.123Z`.
pub fn format_timestamp(millis: i64) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return String::from("1970-01-01T00:00:00.000Z");
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Parses an RFC 3339 timestamp into milliseconds since the epoch.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    // ISO-8601 extended offset date-time: the date and time are joined by `T`.
    if text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let at = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}
