//! `expected.timeline`: the history a case expects, as `[seconds, "Type"]`
//! pairs, seconds counted on the virtual clock from the execution's start.
//! It asserts the order of events and when they happen (retry backoff,
//! timeouts, heartbeats). Seconds may be a `[low, high]` range where the
//! time is random (JitterStrategy FULL).

use serde_json::Value as Json;
use windlass_engine::HistoryEvent;

/// Compares the recorded history with the expected timeline; the error
/// names the first difference.
pub(crate) fn check(
    expected: &[Json],
    history: &[HistoryEvent],
    start_millis: i64,
) -> Result<(), String> {
    for (index, want) in expected.iter().enumerate() {
        let (when, kind) =
            entry(want).ok_or_else(|| format!("timeline[{index}] is not [seconds, \"Type\"]"))?;
        let Some(event) = history.get(index) else {
            return Err(format!(
                "history ended after {index} events; expected {kind} next"
            ));
        };
        let seconds = (event.timestamp_millis - start_millis) as f64 / 1000.0;
        if event.kind != kind || !when.contains(seconds) {
            return Err(format!(
                "history event {} is {} at {seconds}s; expected {kind} at {when}",
                index + 1,
                event.kind
            ));
        }
    }
    if let Some(extra) = history.get(expected.len()) {
        let seconds = (extra.timestamp_millis - start_millis) as f64 / 1000.0;
        return Err(format!(
            "history goes on past the timeline: {} at {seconds}s",
            extra.kind
        ));
    }
    Ok(())
}

/// When an event is expected: an exact second or a range.
#[derive(Clone, Copy)]
struct When {
    low: f64,
    high: f64,
}

impl When {
    fn contains(self, seconds: f64) -> bool {
        // Milliseconds are whole; allow for the float division.
        self.low - 1e-6 <= seconds && seconds <= self.high + 1e-6
    }
}

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.low == self.high {
            write!(f, "{}s", self.low)
        } else {
            write!(f, "{}s..{}s", self.low, self.high)
        }
    }
}

fn entry(value: &Json) -> Option<(When, &str)> {
    let [when, kind] = value.as_array()?.as_slice() else {
        return None;
    };
    let when = match when {
        Json::Number(n) => {
            let at = n.as_f64()?;
            When { low: at, high: at }
        }
        Json::Array(range) => match range.as_slice() {
            [low, high] => When {
                low: low.as_f64()?,
                high: high.as_f64()?,
            },
            _ => return None,
        },
        _ => return None,
    };
    Some((when, kind.as_str()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(kind: &str, millis: i64) -> HistoryEvent {
        HistoryEvent {
            id: 1,
            previous_event_id: 0,
            timestamp_millis: millis,
            kind: kind.to_string().into(),
            details: Json::Null,
        }
    }

    #[test]
    fn matches_types_and_times() {
        let history = [
            event("ExecutionStarted", 1000),
            event("WaitStateEntered", 1000),
            event("WaitStateExited", 4500),
        ];
        let timeline = [
            json!([0, "ExecutionStarted"]),
            json!([0, "WaitStateEntered"]),
            json!([[2, 3], "WaitStateExited"]),
        ];
        assert_eq!(
            check(&timeline, &history[..2], 1000).map_err(|e| e.contains("ended after 2")),
            Err(true)
        );
        let exact = [
            json!([0, "ExecutionStarted"]),
            json!([0, "WaitStateEntered"]),
            json!([3.5, "WaitStateExited"]),
        ];
        assert_eq!(check(&exact, &history, 1000), Ok(()));
        let error = check(&timeline, &history, 1000).expect_err("3.5s is outside 2..3");
        assert!(
            error.contains("WaitStateExited at 3.5s; expected WaitStateExited at 2s..3s"),
            "{error}"
        );
        let error = check(&timeline[..1], &history, 1000).expect_err("too short");
        assert!(error.contains("goes on past"), "{error}");
        assert!(check(&[json!("x")], &history, 1000).is_err());
    }
}
