//! Which release a rollback goes back to, and which app release serves:
//! one rule each, here, for the agent (`windlass rollback`), `windlass
//! releases` and the dashboard.
//!
//! A service's rollback goes to the newest release older than its live one
//! that went live and is retained (its image not pruned), whatever
//! happened to it since: a release a rollback left stays a target.
//!
//! An app release *serves* when every service release it names is its
//! service's live one: after a service was rolled back (or deployed) alone,
//! the app release whose services all run may be an older one than the
//! newest deployed. When none matches (the services run a mix no app
//! release names), the newest app release that went live is taken as the
//! app's, and `exact` says it is not what runs.
//!
//! When no service runs a release (`windlass down` took the app down),
//! no app release serves.
//!
//! The *rollback target* is the newest other app release that went live,
//! no newer than the serving one, and that would change something (not
//! every service of it is already live): going back to what already runs
//! is no rollback.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{AppRelease, Release};

/// The release a rollback of a service goes to when none is named, of
/// `releases` (newest first) while `live` serves.
pub fn rollback_target<'a>(releases: &'a [Release], live: &str) -> Option<&'a Release> {
    releases
        .iter()
        .skip_while(|r| r.id != live)
        .skip(1)
        .find(|r| r.is_rollback_target())
}

/// Where an app stands among its releases.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppState {
    /// The app release that serves (see the module's rule), if any went
    /// live.
    pub live: Option<String>,
    /// Whether every service of `live` runs its release in it (false: the
    /// services run a mix, and `live` is the newest that went live).
    pub exact: bool,
    /// The app release a rollback of the app without `--to` goes to.
    pub rollback_target: Option<String>,
}

impl AppState {
    /// The state of an app whose releases are `releases` (newest first)
    /// and whose services run `live` (service name to its live release).
    pub fn of(releases: &[AppRelease], live: &HashMap<String, String>) -> AppState {
        let runs = |r: &AppRelease| {
            r.services
                .iter()
                .all(|m| live.get(&m.service) == Some(&m.release))
        };
        // No service runs a release (the app was taken down): none serves,
        // and `releases` must not mark one as serving now.
        if live.is_empty() {
            return AppState::default();
        }
        let went_live = || releases.iter().filter(|r| r.went_live());
        let (serving, exact) = match went_live().find(|r| runs(r)) {
            Some(r) => (r, true),
            None => match went_live().next() {
                Some(r) => (r, false),
                None => return AppState::default(),
            },
        };
        // Releases are newest first: those after the serving one are older.
        let rollback_target = releases
            .iter()
            .skip_while(|r| r.id != serving.id)
            .skip(1)
            .find(|r| r.went_live() && !runs(r))
            .map(|r| r.id.clone());
        AppState {
            live: Some(serving.id.clone()),
            exact,
            rollback_target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::history::{Event, Happened};
    use super::super::{Member, Outcome, Release};
    use super::*;

    fn release(id: &str, events: &[Happened], services: &[(&str, &str)]) -> AppRelease {
        AppRelease {
            app: "shop".into(),
            id: id.into(),
            services: services
                .iter()
                .map(|(s, r)| Member {
                    service: s.to_string(),
                    release: r.to_string(),
                    changed: true,
                })
                .collect(),
            created_millis: 1,
            by: "test".into(),
            outcome: Outcome::Live,
            rollback_millis: None,
            detail: None,
            execution: None,
            history: events
                .iter()
                .map(|what| Event::at(1, what.clone()))
                .collect(),
        }
    }

    fn runs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(s, r)| (s.to_string(), r.to_string()))
            .collect()
    }

    struct Case {
        name: &'static str,
        /// Newest first.
        releases: Vec<AppRelease>,
        /// What each service runs.
        live: HashMap<String, String>,
        want: (Option<&'static str>, bool, Option<&'static str>),
    }

    fn service_release(id: &str, events: &[Happened], pruned: bool) -> Release {
        Release {
            service: "shop/web".parse().expect("a key"),
            id: id.into(),
            compose_file: "compose.yaml".into(),
            compose_text: String::new(),
            image: None,
            digest: None,
            created_millis: 1,
            by: "test".into(),
            outcome: Outcome::Live,
            rollback_millis: None,
            detail: None,
            execution: None,
            history: events.iter().map(|w| Event::at(1, w.clone())).collect(),
            pruned_millis: pruned.then_some(2),
            fingerprint: None,
        }
    }

    /// A service's rollback goes to the newest older release that went
    /// live and is kept, whatever happened to it since.
    #[test]
    fn a_service_rollback_target() {
        let left = |to: &str| Happened::RolledBack {
            to: Some(to.into()),
            rollback_millis: Some(1),
            detail: None,
        };
        let failed_watch = Happened::RolledBack {
            to: Some("r2".into()),
            rollback_millis: Some(1),
            detail: None,
        };
        let list = vec![
            service_release("r5", &[Happened::WentLive], false),
            service_release("r4", &[failed_watch], false),
            service_release("r3", &[Happened::WentLive, left("r2")], false),
            service_release(
                "r2",
                &[Happened::WentLive, left("r1"), Happened::WentLive],
                false,
            ),
            service_release("r1", &[Happened::WentLive, Happened::Pruned], true),
        ];
        let target = |live| rollback_target(&list, live).map(|r| r.id.as_str());
        assert_eq!(target("r5"), Some("r3"), "r4 never passed its deploy");
        assert_eq!(target("r3"), Some("r2"));
        assert_eq!(target("r2"), None, "r1 is pruned");
        assert_eq!(target("r9"), None, "no such live release");
    }

    #[test]
    fn the_serving_app_release_and_the_rollback_target() {
        let live = || vec![Happened::WentLive];
        let left = || {
            vec![
                Happened::WentLive,
                Happened::RolledBack {
                    to: Some("a1".into()),
                    rollback_millis: Some(3),
                    detail: None,
                },
            ]
        };
        let a1 = || release("a1", &live(), &[("web", "r1"), ("api", "r1")]);
        let a2 = || release("a2", &live(), &[("web", "r2"), ("api", "r2")]);
        // a2 deployed web only, and kept api's r1.
        let a2_web = || release("a2", &live(), &[("web", "r2"), ("api", "r1")]);
        let both = |r| runs(&[("web", r), ("api", r)]);
        let cases = vec![
            Case {
                name: "two deploys",
                releases: vec![a2(), a1()],
                live: both("r2"),
                want: (Some("a2"), true, Some("a1")),
            },
            Case {
                name: "a service rolled back alone to where a1 was: a1 serves",
                releases: vec![a2_web(), a1()],
                live: both("r1"),
                want: (Some("a1"), true, None),
            },
            Case {
                name: "a service rolled back alone to a mix: a2 is taken, a1 still changes api",
                releases: vec![a2(), a1()],
                live: runs(&[("web", "r1"), ("api", "r2")]),
                want: (Some("a2"), false, Some("a1")),
            },
            Case {
                name: "an app release rolled back from went live and serves again",
                releases: vec![
                    release("a2", &left(), &[("web", "r2"), ("api", "r2")]),
                    a1(),
                ],
                live: both("r2"),
                want: (Some("a2"), true, Some("a1")),
            },
            Case {
                name: "rolled back from a2: a1 serves, a2 is newer, nothing earlier",
                releases: vec![
                    release("a2", &left(), &[("web", "r2"), ("api", "r2")]),
                    a1(),
                ],
                live: both("r1"),
                want: (Some("a1"), true, None),
            },
            Case {
                name: "a failed deploy is neither",
                releases: vec![
                    release(
                        "a3",
                        &[Happened::Failed { detail: None }],
                        &[("web", "r3"), ("api", "r2")],
                    ),
                    a2(),
                    a1(),
                ],
                live: both("r2"),
                want: (Some("a2"), true, Some("a1")),
            },
            Case {
                name: "taken down (`windlass down`): nothing serves",
                releases: vec![a2(), a1()],
                live: runs(&[]),
                want: (None, false, None),
            },
            Case {
                name: "nothing deployed yet",
                releases: Vec::new(),
                live: runs(&[]),
                want: (None, false, None),
            },
        ];
        for case in cases {
            let state = AppState::of(&case.releases, &case.live);
            let got = (
                state.live.as_deref(),
                state.exact,
                state.rollback_target.as_deref(),
            );
            assert_eq!(got, case.want, "{}", case.name);
        }
    }
}
