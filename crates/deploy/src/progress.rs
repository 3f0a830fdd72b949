//! What a long step is doing right now, per service: the build's current
//! Dockerfile step, a pull's or push's layer, what the health probe last
//! saw. Kept in memory only (it says how a step goes, not what happened:
//! the history says that), written by the target, read by the agent's
//! execution view, printed by `windlass deploy` as it changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use windlass_store::releases::ServiceKey;

/// The latest note of each service, and whether its latest start was
/// stop-first; cheap to clone.
#[derive(Clone, Default)]
pub struct Notes(Arc<Mutex<HashMap<ServiceKey, Note>>>);

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
    fn with(&self, service: &ServiceKey, change: impl FnOnce(&mut Note)) {
        let mut notes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        change(notes.entry(service.clone()).or_default());
    }

    pub fn set(&self, service: &ServiceKey, text: impl Into<String>) {
        let text = text.into();
        self.with(service, |note| note.text = Some(text));
    }

    pub fn clear(&self, service: &ServiceKey) {
        self.with(service, |note| note.text = None);
    }

    /// Says whether the service's release now starting starts stop-first.
    pub fn starting(&self, service: &ServiceKey, stop_first: bool) {
        self.with(service, |note| note.stop_first = stop_first);
    }

    pub fn of(&self, service: &ServiceKey) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(service)
            .and_then(|note| note.text.clone())
    }

    /// Every service's note.
    pub fn all(&self) -> Vec<(ServiceKey, Note)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A function that notes for `service`, for the backend's long calls.
    pub fn for_service(&self, service: &ServiceKey) -> impl Fn(&str) + Send + Sync + 'static {
        let notes = self.clone();
        let service = service.clone();
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
    use windlass_store::releases::ServiceKey;

    fn web_key() -> ServiceKey {
        ServiceKey::new("shop", "web").expect("a key")
    }

    fn db_key() -> ServiceKey {
        ServiceKey::new("shop", "db").expect("a key")
    }

    #[test]
    fn the_latest_note_of_a_service_is_kept() {
        let notes = Notes::default();
        let web = notes.for_service(&web_key());
        web("Step 1/3 : FROM scratch\n");
        web("Step 2/3 : COPY app /app");
        assert_eq!(
            notes.of(&web_key()).as_deref(),
            Some("Step 2/3 : COPY app /app")
        );
        assert_eq!(notes.of(&db_key()), None);
        web(&"x".repeat(300));
        assert_eq!(notes.of(&web_key()).map(|n| n.len()), Some(123));
        notes.clear(&web_key());
        assert_eq!(notes.of(&web_key()), None);
    }

    #[test]
    fn stop_first_outlives_the_notes_until_the_service_starts_again() {
        let notes = Notes::default();
        notes.starting(&db_key(), true);
        notes.set(&db_key(), "release r1 stops first");
        notes.set(&db_key(), "not healthy yet");
        notes.clear(&db_key());
        assert!(notes.all()[0].1.stop_first);
        notes.starting(&db_key(), false);
        assert!(!notes.all()[0].1.stop_first);
    }
}
