//! What happened to a release, and when: it went live, a rollback took it
//! out, a newer deploy retired it, its deploy failed, its image was pruned.
//! A release keeps every such event, oldest first, so that going live
//! once is never forgotten by what happens later: a release that went
//! live stays a rollback target while it is retained, however often it
//! was rolled back from since.
//!
//! Service releases and app releases keep the same events. The old
//! one-word `outcome` is kept beside them as the latest state (what
//! `deploying`, `live`, `rolled-back` or `failed` the release is in), and
//! is written with each event by [`super::Releases::record`].

use serde::{Deserialize, Serialize};

use super::Outcome;

/// One thing that happened to a release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When, in milliseconds since the epoch; `None` for what a store
    /// recorded before it kept events (its date was not kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_millis: Option<i64>,
    #[serde(flatten)]
    pub what: Happened,
}

/// What happened (JSON: `{"event": "went-live", ...}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Happened {
    /// It took traffic: its deploy passed its watch, or a rollback went
    /// back to it.
    WentLive,
    /// A rollback took it out: its own deploy failed after it was started,
    /// or a later rollback went back to another release.
    RolledBack {
        /// The release that took its place, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        /// From the decision to roll back to the traffic flip (`None`
        /// when no traffic was flipped).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rollback_millis: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A newer release's deploy went live in its place (it may still run
    /// warm, and stays a rollback target).
    Retired { by: String },
    /// Its deploy failed before it took traffic.
    Failed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Its image was let go (`x-windlass.retain`): it cannot be rolled back
    /// to any more.
    Pruned,
}

impl Event {
    pub fn at(at_millis: i64, what: Happened) -> Event {
        Event {
            at_millis: Some(at_millis),
            what,
        }
    }

    /// The state a release is in after this event, for the one-word
    /// `outcome` (`None`: the event leaves it as it was).
    pub fn outcome(&self) -> Option<Outcome> {
        match self.what {
            Happened::WentLive => Some(Outcome::Live),
            Happened::RolledBack { .. } => Some(Outcome::RolledBack),
            Happened::Failed { .. } => Some(Outcome::Failed),
            Happened::Retired { .. } | Happened::Pruned => None,
        }
    }

    /// The event's words without its date: `went live`, `rolled back to
    /// r1`, `retired by r3`, `failed`, `pruned`.
    pub fn words(&self) -> String {
        match &self.what {
            Happened::WentLive => "went live".into(),
            Happened::RolledBack { to: Some(to), .. } => format!("rolled back to {to}"),
            Happened::RolledBack { to: None, .. } => "rolled back".into(),
            Happened::Retired { by } => format!("retired by {by}"),
            Happened::Failed { .. } => "failed".into(),
            Happened::Pruned => "pruned".into(),
        }
    }
}

/// Whether `history` holds a time the release took traffic as a release
/// that passed its deploy (or was rolled back to).
pub fn went_live(history: &[Event]) -> bool {
    history.iter().any(|e| e.what == Happened::WentLive)
}

/// Whether the release took traffic at all: it went live, or its own
/// deploy was rolled back after the switch (the rollback flipped traffic
/// away from it, so it has a rollback time).
pub fn took_traffic(history: &[Event]) -> bool {
    went_live(history)
        || history.iter().any(|e| {
            matches!(
                e.what,
                Happened::RolledBack {
                    rollback_millis: Some(_),
                    ..
                }
            )
        })
}

/// The events a release of a store of before events is taken to have had,
/// from its one-word outcome (dates unknown, but for `pruned_millis`).
pub(super) fn from_outcome(
    outcome: Outcome,
    rollback_millis: Option<i64>,
    detail: Option<&str>,
) -> Vec<Event> {
    let undated = |what| Event {
        at_millis: None,
        what,
    };
    let rolled_back = || {
        undated(Happened::RolledBack {
            to: None,
            rollback_millis,
            detail: detail.map(str::to_owned),
        })
    };
    match outcome {
        Outcome::Deploying => Vec::new(),
        Outcome::Live => vec![undated(Happened::WentLive)],
        // A release a later rollback left had gone live: that rollback
        // wrote "rolled back to rN on request" (an app's too) or, on ECS,
        // "windlass rollback to rN".
        Outcome::RolledBack if detail.is_some_and(left_by_a_rollback) => {
            vec![undated(Happened::WentLive), rolled_back()]
        }
        Outcome::RolledBack => vec![rolled_back()],
        Outcome::Failed => vec![undated(Happened::Failed {
            detail: detail.map(str::to_owned),
        })],
    }
}

fn left_by_a_rollback(detail: &str) -> bool {
    (detail.starts_with("rolled back to ") && detail.ends_with(" on request"))
        || detail.starts_with("windlass rollback to ")
}

#[cfg(test)]
mod tests {
    use super::super::{NewRelease, Releases, ServiceKey, SqliteReleases};
    use super::*;

    #[test]
    fn events_read_and_write_as_tagged_json() {
        let event = Event::at(
            5,
            Happened::RolledBack {
                to: Some("r1".into()),
                rollback_millis: Some(12),
                detail: None,
            },
        );
        let text = serde_json::to_string(&event).expect("JSON");
        assert_eq!(
            text,
            r#"{"at_millis":5,"event":"rolled-back","to":"r1","rollback_millis":12}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&text).expect("reads"), event);
        let undated: Event = serde_json::from_str(r#"{"event":"went-live"}"#).expect("reads");
        assert_eq!(undated.at_millis, None);
    }

    #[test]
    fn a_release_a_rollback_left_had_gone_live() {
        let left = from_outcome(
            Outcome::RolledBack,
            Some(3),
            Some("rolled back to r1 on request"),
        );
        assert!(went_live(&left));
        let failed_watch = from_outcome(Outcome::RolledBack, Some(3), Some("Deploy.Unhealthy: x"));
        assert!(!went_live(&failed_watch) && took_traffic(&failed_watch));
        let before_switch = from_outcome(Outcome::RolledBack, None, Some("Deploy.Build: x"));
        assert!(!took_traffic(&before_switch));
    }

    fn new(created_millis: i64) -> NewRelease {
        NewRelease {
            service: "shop/web".parse().expect("a key"),
            compose_file: "compose.yaml".into(),
            compose_text: "services: {}".into(),
            by: "me@here".into(),
            created_millis,
            fingerprint: None,
        }
    }

    /// r1 -> r2, a rollback to r1, a rollback to r2: r1 went live, was
    /// rolled back from, and stays a rollback target; each event keeps
    /// its date, and the outcome word is the latest state.
    #[test]
    fn a_release_keeps_every_event_in_order() -> crate::Result<()> {
        let store = SqliteReleases::in_memory()?;
        let web: ServiceKey = "shop/web".parse().expect("a key");
        store.create(new(1))?;
        store.create(new(2))?;
        let rolled_back = |to: &str, millis| Happened::RolledBack {
            to: Some(to.into()),
            rollback_millis: Some(millis),
            detail: Some(format!("rolled back to {to} on request")),
        };
        store.record(&web, "r1", &Event::at(10, Happened::WentLive))?;
        store.record(&web, "r2", &Event::at(20, Happened::WentLive))?;
        store.record(
            &web,
            "r1",
            &Event::at(20, Happened::Retired { by: "r2".into() }),
        )?;
        store.record(&web, "r2", &Event::at(30, rolled_back("r1", 4)))?;
        store.record(&web, "r1", &Event::at(30, Happened::WentLive))?;
        store.record(&web, "r1", &Event::at(40, rolled_back("r2", 5)))?;
        store.record(&web, "r2", &Event::at(40, Happened::WentLive))?;
        let r1 = store.get(&web, "r1")?.expect("r1");
        let words: Vec<(Option<i64>, String)> = r1
            .history
            .iter()
            .map(|e| (e.at_millis, e.words()))
            .collect();
        assert_eq!(
            words,
            [
                (Some(10), "went live".to_owned()),
                (Some(20), "retired by r2".to_owned()),
                (Some(30), "went live".to_owned()),
                (Some(40), "rolled back to r2".to_owned()),
            ]
        );
        assert_eq!(r1.outcome, Outcome::RolledBack);
        assert_eq!(r1.rollback_millis, Some(5));
        assert!(r1.is_rollback_target(), "r1 went live and is retained");
        store.set_pruned(&web, "r1", 50)?;
        let r1 = store.get(&web, "r1")?.expect("r1");
        assert!(!r1.is_rollback_target(), "pruned");
        assert_eq!(
            r1.history.last().map(Event::words).as_deref(),
            Some("pruned")
        );
        let r2 = store.get(&web, "r2")?.expect("r2");
        assert_eq!(r2.outcome, Outcome::Live);
        Ok(())
    }

    /// A database of before histories: each row's history is read from its
    /// outcome once, when the store is opened; a release a rollback left
    /// is known to have gone live.
    #[test]
    fn an_older_database_gains_histories_from_its_outcomes() -> crate::Result<()> {
        let dir = std::env::temp_dir().join(format!("windlass-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
        let path = dir.join("old.db");
        let _ = std::fs::remove_file(&path);
        {
            let conn = rusqlite::Connection::open(&path)?;
            conn.execute_batch(super::super::SCHEMA)?;
            conn.execute_batch(super::super::apps::SCHEMA)?;
            conn.execute_batch(
                "ALTER TABLE releases ADD COLUMN pruned_millis INTEGER;
                 INSERT INTO releases (service, seq, id, compose_file, compose_text, created_millis, by, outcome, rollback_millis, detail, pruned_millis) VALUES
                   ('shop/web', 1, 'r1', 'c.yaml', '', 1, 'me', 'rolled-back', 7, 'rolled back to r2 on request', NULL),
                   ('shop/web', 2, 'r2', 'c.yaml', '', 2, 'me', 'live', NULL, NULL, NULL),
                   ('shop/web', 3, 'r3', 'c.yaml', '', 3, 'me', 'rolled-back', 9, 'Deploy.Unhealthy: no answer', NULL),
                   ('shop/web', 4, 'r4', 'c.yaml', '', 4, 'me', 'failed', NULL, 'Deploy.Build: x', NULL),
                   ('shop/web', 5, 'r5', 'c.yaml', '', 5, 'me', 'live', NULL, NULL, 60);
                 INSERT INTO app_releases (app, seq, id, services, created_millis, by, outcome, detail) VALUES
                   ('shop', 1, 'a1', '[]', 1, 'me', 'rolled-back', 'rolled back to a2 on request');",
            )?;
        }
        let store = SqliteReleases::open(&path)?;
        let web: ServiceKey = "shop/web".parse().expect("a key");
        let list = store.list(&web)?;
        let targets: Vec<(&str, bool, bool)> = list
            .iter()
            .map(|r| (r.id.as_str(), r.is_rollback_target(), r.took_traffic()))
            .collect();
        assert_eq!(
            targets,
            [
                ("r5", false, true),
                ("r4", false, false),
                ("r3", false, true),
                ("r2", true, true),
                ("r1", true, true),
            ]
        );
        assert_eq!(
            list[0].history.last(),
            Some(&Event::at(60, Happened::Pruned))
        );
        let a1 = store.app_release("shop", "a1")?.expect("a1");
        assert!(a1.went_live());
        drop(store);
        // Opened again: nothing is added twice.
        let again = SqliteReleases::open(&path)?;
        assert_eq!(again.list(&web)?, list);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
