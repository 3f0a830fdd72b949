//! Apps on the services page: each app's releases (`a1`, `a2`, ...) with
//! the service release each holds, the app release that serves now and the
//! one an app rollback goes back to.
//!
//! Which release serves and which a rollback goes to is the agent's
//! decision (`windlass-deploy`'s `rollback_app`); the page shows the same
//! rule, read from the same store, so its button says where it goes. If
//! they ever disagree, the agent's answer (its execution, or its refusal)
//! is what the page shows after the click.

use std::collections::HashMap;

use serde::Serialize;
use windlass_store::releases::{AppRelease, Outcome, Releases, ServiceKey};

use crate::Error;

/// An app (a Compose file's services, deployed together) and its releases.
#[derive(Debug, PartialEq, Serialize)]
pub struct AppView {
    pub app: String,
    /// The app release that serves: the newest that went live whose every
    /// service release is live, else the newest that went live.
    pub live: Option<String>,
    /// The app release a rollback of the app goes back to: the newest
    /// other one, no newer than the live one, that went live.
    pub warm: Option<String>,
    /// Why the page's rollback button is off, when it is (its tooltip).
    pub rollback_off: Option<String>,
    pub releases: Vec<AppReleaseView>,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct AppReleaseView {
    pub id: String,
    pub outcome: String,
    pub created_millis: i64,
    pub by: String,
    /// (service, its release in this app release, whether this one deployed it).
    pub services: Vec<(String, String, bool)>,
    pub rollback_millis: Option<i64>,
    pub detail: Option<String>,
    pub execution: Option<String>,
}

/// Every app of `releases`, given each service's live release.
pub(super) fn apps(
    releases: &dyn Releases,
    lives: &HashMap<ServiceKey, String>,
) -> Result<Vec<AppView>, Error> {
    let mut apps = Vec::new();
    for app in releases.apps()? {
        let list = releases.app_releases(&app)?;
        // The app's own services only: another app may have one of the
        // same name.
        let live: HashMap<String, String> = lives
            .iter()
            .filter(|(key, _)| key.app() == app)
            .map(|(key, release)| (key.service().to_owned(), release.clone()))
            .collect();
        let (serving, warm) = serving_and_warm(&list, &live);
        apps.push(AppView {
            app,
            live: serving,
            warm,
            rollback_off: None,
            releases: list.into_iter().map(view).collect(),
        });
    }
    Ok(apps)
}

/// The live and the warm app release of `releases` (newest first).
fn serving_and_warm(
    releases: &[AppRelease],
    live: &HashMap<String, String>,
) -> (Option<String>, Option<String>) {
    let went_live = || releases.iter().filter(|r| r.outcome == Outcome::Live);
    let all_live = |r: &&AppRelease| {
        r.services
            .iter()
            .all(|m| live.get(&m.service) == Some(&m.release))
    };
    let Some(serving) = went_live().find(all_live).or_else(|| went_live().next()) else {
        return (None, None);
    };
    let warm = went_live()
        .find(|r| r.id != serving.id && r.created_millis <= serving.created_millis)
        .map(|r| r.id.clone());
    (Some(serving.id.clone()), warm)
}

fn view(r: AppRelease) -> AppReleaseView {
    AppReleaseView {
        outcome: r.outcome.as_str().to_string(),
        services: r
            .services
            .into_iter()
            .map(|m| (m.service, m.release, m.changed))
            .collect(),
        id: r.id,
        created_millis: r.created_millis,
        by: r.by,
        rollback_millis: r.rollback_millis,
        detail: r.detail,
        execution: r.execution,
    }
}

#[cfg(test)]
mod tests {
    use windlass_store::releases::Member;

    use super::*;

    fn release(id: &str, created: i64, outcome: Outcome, services: &[(&str, &str)]) -> AppRelease {
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
            created_millis: created,
            by: "test".into(),
            outcome,
            rollback_millis: None,
            detail: None,
            execution: None,
        }
    }

    fn live(pairs: &[(&str, &str)]) -> HashMap<String, String> {
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
        want_live: Option<&'static str>,
        want_warm: Option<&'static str>,
    }

    /// The live and warm app releases the page must show.
    #[test]
    fn the_live_and_warm_app_releases() {
        let a1 = || release("a1", 1, Outcome::Live, &[("web", "r1"), ("api", "r1")]);
        let a2 = || release("a2", 2, Outcome::Live, &[("web", "r2"), ("api", "r2")]);
        let both = |r| live(&[("web", r), ("api", r)]);
        let cases = vec![
            Case {
                name: "two deploys",
                releases: vec![a2(), a1()],
                live: both("r2"),
                want_live: Some("a2"),
                want_warm: Some("a1"),
            },
            Case {
                name: "rolled back to a1: nothing earlier",
                releases: vec![
                    release(
                        "a2",
                        2,
                        Outcome::RolledBack,
                        &[("web", "r2"), ("api", "r2")],
                    ),
                    a1(),
                ],
                live: both("r1"),
                want_live: Some("a1"),
                want_warm: None,
            },
            Case {
                name: "a failed deploy is neither",
                releases: vec![
                    release("a3", 3, Outcome::Failed, &[("web", "r3"), ("api", "r2")]),
                    a2(),
                    a1(),
                ],
                live: both("r2"),
                want_live: Some("a2"),
                want_warm: Some("a1"),
            },
            Case {
                name: "a service rolled back alone: the newest that went live serves",
                releases: vec![a2(), a1()],
                live: live(&[("web", "r1"), ("api", "r2")]),
                want_live: Some("a2"),
                want_warm: Some("a1"),
            },
            Case {
                name: "after a rollback --to a1 of three, a3 stays newer than the live one",
                releases: vec![
                    release("a3", 3, Outcome::Live, &[("web", "r3"), ("api", "r3")]),
                    a2(),
                    a1(),
                ],
                live: both("r1"),
                want_live: Some("a1"),
                want_warm: None,
            },
            Case {
                name: "nothing deployed yet",
                releases: Vec::new(),
                live: live(&[]),
                want_live: None,
                want_warm: None,
            },
        ];
        for case in cases {
            let (live, warm) = serving_and_warm(&case.releases, &case.live);
            assert_eq!(live.as_deref(), case.want_live, "{}: live", case.name);
            assert_eq!(warm.as_deref(), case.want_warm, "{}: warm", case.name);
        }
    }
}
