//! What a long step is doing right now, per service: the build's current
//! Dockerfile step, a pull's or push's layer, what the health probe last
//! saw. Kept in memory only (it says how a step goes, not what happened:
//! the history says that), written by the target, read by the agent's
//! execution view, printed by `windlass deploy` as it changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The latest note of each service, and whether its latest start was
/// stop-first; cheap to clone.
#[derive(Clone, Default)]
pub struct Notes(Arc<Mutex<HashMap<String, Note>>>);

/// What [`Notes`] keeps of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Note {
    /// What its step does now; `None` between long steps.
    pub text: Option<String>,
    /// Its release started in place of the live one (`order: stop-first`
    /// or a service that cannot run twice): the proxy holds its traffic
    /// until the switch. Kept until the service starts again.
    pub stop_first: bool,
}

impl Notes {
    fn with(&self, service: &str, change: impl FnOnce(&mut Note)) {
        let mut notes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        change(notes.entry(service.to_owned()).or_default());
    }

    pub fn set(&self, service: &str, text: impl Into<String>) {
        let text = text.into();
        self.with(service, |note| note.text = Some(text));
    }

    pub fn clear(&self, service: &str) {
        self.with(service, |note| note.text = None);
    }

    /// Says whether the service's release now starting starts stop-first.
    pub fn starting(&self, service: &str, stop_first: bool) {
        self.with(service, |note| note.stop_first = stop_first);
    }

    pub fn of(&self, service: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(service)
            .and_then(|note| note.text.clone())
    }

    /// Every service's note.
    pub fn all(&self) -> Vec<(String, Note)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A function that notes for `service`, for the backend's long calls.
    pub fn for_service(&self, service: &str) -> impl Fn(&str) + Send + Sync + 'static {
        let notes = self.clone();
        let service = service.to_owned();
        move |text: &str| notes.set(&service, shortened(text.trim()))
    }
}

/// A note fits a line: long ones (a `RUN` step) end with `...`.
fn shortened(text: &str) -> String {
    const MAX: usize = 120;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::Notes;

    #[test]
    fn the_latest_note_of_a_service_is_kept() {
        let notes = Notes::default();
        let web = notes.for_service("web");
        web("Step 1/3 : FROM scratch\n");
        web("Step 2/3 : COPY app /app");
        assert_eq!(notes.of("web").as_deref(), Some("Step 2/3 : COPY app /app"));
        assert_eq!(notes.of("db"), None);
        web(&"x".repeat(300));
        assert_eq!(notes.of("web").map(|n| n.len()), Some(123));
        notes.clear("web");
        assert_eq!(notes.of("web"), None);
    }

    #[test]
    fn stop_first_outlives_the_notes_until_the_service_starts_again() {
        let notes = Notes::default();
        notes.starting("db", true);
        notes.set("db", "release r1 stops first");
        notes.set("db", "not healthy yet");
        notes.clear("db");
        assert!(notes.all()[0].1.stop_first);
        notes.starting("db", false);
        assert!(!notes.all()[0].1.stop_first);
    }
}
