//! Timing marks of a rollback's path, for finding where its time goes:
//! with `WINDLASS_TIMING=1` in the agent's environment, each explicit
//! rollback prints one line to the agent's stderr (its log) once its
//! traffic moved, naming each stage and when it ended (milliseconds from
//! the request's arrival: stages may overlap), and when
//! the request arrived (microseconds since the Unix epoch, so that the
//! caller can add its own process start). Without the variable nothing is
//! recorded.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The variable that turns the marks on.
pub const VARIABLE: &str = "WINDLASS_TIMING";

/// The prefix of the printed line.
pub const PREFIX: &str = "windlass timing:";

struct Marks {
    arrived_unix_micros: u128,
    arrived: Instant,
    marks: Vec<(&'static str, Instant)>,
}

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os(VARIABLE).is_some_and(|v| v != "0" && !v.is_empty()))
}

fn table() -> &'static Mutex<HashMap<String, Marks>> {
    static TABLE: OnceLock<Mutex<HashMap<String, Marks>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

/// The request for `key` (an app or service and the release it goes back
/// to) arrived now.
pub fn arrived(key: &str) {
    if !enabled() {
        return;
    }
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    table()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(
            key.to_owned(),
            Marks {
                arrived_unix_micros: unix,
                arrived: Instant::now(),
                marks: Vec::new(),
            },
        );
}

/// The marks of `from` are `to`'s from now on (the release a rollback goes
/// to is known once the request is checked).
pub fn rename(from: &str, to: &str) {
    if !enabled() || from == to {
        return;
    }
    let mut table = table().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(marks) = table.remove(from) {
        table.insert(to.to_owned(), marks);
    }
}

/// Stage `stage` of `key`'s rollback ended now.
pub fn mark(key: &str, stage: &'static str) {
    if !enabled() {
        return;
    }
    if let Some(marks) = table()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(key)
    {
        marks.marks.push((stage, Instant::now()));
    }
}

/// Stage `stage` ended now for every rollback being timed (for a stage
/// deep in the target, which does not know the key; rollbacks are timed
/// one at a time).
pub fn mark_open(stage: &'static str) {
    if !enabled() {
        return;
    }
    let now = Instant::now();
    for marks in table()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .values_mut()
    {
        marks.marks.push((stage, now));
    }
}

/// The last stage: prints `key`'s line and forgets it.
pub fn finish(key: &str, stage: &'static str) {
    if !enabled() {
        return;
    }
    mark(key, stage);
    let Some(marks) = table()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(key)
    else {
        return;
    };
    eprintln!("{}", line(key, &marks));
}

fn line(key: &str, marks: &Marks) -> String {
    let mut text = format!(
        "{PREFIX} {key} arrived_unix_micros={}",
        marks.arrived_unix_micros
    );
    for (stage, at) in &marks.marks {
        let since = at.saturating_duration_since(marks.arrived);
        text.push_str(&format!(" {stage}={:.2}", since.as_secs_f64() * 1000.0));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_each_stage_with_its_end_from_the_arrival() {
        let arrived = Instant::now();
        let marks = Marks {
            arrived_unix_micros: 1_700_000_000_000_000,
            arrived,
            marks: vec![
                ("locks", arrived + std::time::Duration::from_micros(1500)),
                ("commit", arrived + std::time::Duration::from_micros(4000)),
            ],
        };
        assert_eq!(
            line("app a1", &marks),
            "windlass timing: app a1 arrived_unix_micros=1700000000000000 locks=1.50 commit=4.00"
        );
    }
}
