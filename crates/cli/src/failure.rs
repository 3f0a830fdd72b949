//! What a command that did not do what was asked said, kept so that under
//! `--json` the process ends with one JSON object on stdout a script can
//! parse (`{"error": {"message", "code", "exit", ...}}`), printed in one
//! place ([`finish`], from `main`), whichever command and path refused.
//! Every line still goes to stderr as it is said.

use std::fmt::Display;
use std::sync::{Mutex, PoisonError};

use serde_json::json;

use crate::exit;

#[derive(Default)]
struct Said {
    json: bool,
    /// The command printed its own JSON answer (`validate --json`'s
    /// report of an invalid file): no second object.
    answered: bool,
    /// The `windlass: ...` lines, in order: the last says why it stopped.
    messages: Vec<String>,
    /// The Compose file's diagnostics (`file:line:column: ...`).
    problems: Vec<String>,
}

static SAID: Mutex<Said> = Mutex::new(Said {
    json: false,
    answered: false,
    messages: Vec::new(),
    problems: Vec::new(),
});

fn with<T>(f: impl FnOnce(&mut Said) -> T) -> T {
    f(&mut SAID.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The command was given `--json`.
pub fn json(on: bool) {
    with(|said| said.json = on);
}

/// The command printed its own JSON answer, which says what was wrong.
pub fn answered() {
    with(|said| said.answered = true);
}

/// Prints `windlass: MESSAGE` to stderr and keeps it.
pub fn tell(message: impl Display) {
    let message = message.to_string();
    eprintln!("windlass: {message}");
    with(|said| said.messages.push(message));
}

/// Keeps `message` without printing it (clap printed its own).
pub fn with_message(message: impl Display) {
    let message = message.to_string();
    with(|said| said.messages.push(message));
}

/// Prints a Compose file's diagnostic to stderr and keeps it.
pub fn problem(line: impl Display) {
    let line = line.to_string();
    eprintln!("{line}");
    with(|said| said.problems.push(line));
}

/// `windlass: ...` on stderr, kept for `--json`'s error object.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::failure::tell(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// The word a script matches for an exit code that means the command did
/// not do what was asked; `None` for the others (0, and the outcomes a
/// deploy reports in its own JSON: failed, timed out, aborted, rolled
/// back).
pub fn kind(code: u8) -> Option<&'static str> {
    Some(match code {
        exit::INVALID => "invalid",
        exit::USAGE => "usage",
        exit::REFUSED => "refused",
        exit::BUSY => "busy",
        exit::ERROR => "error",
        exit::INTERRUPTED => "interrupted",
        _ => return None,
    })
}

/// The error object for `code`, when `--json` was given and the code says
/// the command did not do what was asked.
pub fn error_object(code: u8) -> Option<serde_json::Value> {
    let kind = kind(code)?;
    with(|said| {
        if !said.json || said.answered {
            return None;
        }
        let message = said
            .messages
            .last()
            .cloned()
            .or_else(|| said.problems.last().cloned())
            .unwrap_or_else(|| format!("exit {code}: see stderr"));
        let mut error = json!({ "message": message, "code": kind, "exit": code });
        if said.messages.len() > 1 {
            error["messages"] = json!(said.messages);
        }
        if !said.problems.is_empty() {
            error["problems"] = json!(said.problems);
        }
        Some(json!({ "error": error }))
    })
}

/// Prints the error object on stdout when there is one (see
/// [`error_object`]); `main` calls it once, as the process ends.
pub fn finish(code: u8) {
    if let Some(object) = error_object(code) {
        println!(
            "{}",
            serde_json::to_string_pretty(&object).unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_object_names_the_kind_exit_and_last_message() {
        json(true);
        tell("the agent answers again");
        say!("app {} has no release a9", "shop");
        problem("compose.yaml:3:5: services.web.enviroment: unknown field");
        let object = error_object(exit::REFUSED).expect("an object");
        assert_eq!(object["error"]["message"], "app shop has no release a9");
        assert_eq!(object["error"]["code"], "refused");
        assert_eq!(object["error"]["exit"], 7);
        assert_eq!(
            object["error"]["messages"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(
            object["error"]["problems"][0],
            "compose.yaml:3:5: services.web.enviroment: unknown field"
        );
        assert_eq!(error_object(exit::OK), None);
        assert_eq!(
            error_object(exit::ROLLED_BACK),
            None,
            "a deploy reports its own outcome"
        );
    }
}
