//! Apps on the services page: each app's releases (`a1`, `a2`, ...) with
//! the service release each holds, the app release that serves now and the
//! one an app rollback goes back to.
//!
//! Which release serves and which a rollback goes to is the store's rule
//! ([`Releases::app_state`]), which the agent's `rollback_app` and
//! `windlass releases` use too, so the page's button says where it goes.

use serde::Serialize;
use windlass_store::releases::{AppRelease, Event, Releases};

use crate::Error;

/// An app (a Compose file's services, deployed together) and its releases.
#[derive(Debug, PartialEq, Serialize)]
pub struct AppView {
    pub app: String,
    /// The app release that serves ([`windlass_store::releases::AppState`]).
    pub live: Option<String>,
    /// The app release a rollback of the app goes back to.
    pub warm: Option<String>,
    /// Why the page's rollback button is off, when it is (its tooltip).
    pub rollback_off: Option<String>,
    pub releases: Vec<AppReleaseView>,
}

#[derive(Debug, PartialEq, Serialize)]
pub struct AppReleaseView {
    pub id: String,
    pub outcome: String,
    /// What happened to it and when, oldest first.
    pub history: Vec<Event>,
    pub created_millis: i64,
    pub by: String,
    /// (service, its release in this app release, whether this one deployed it).
    pub services: Vec<(String, String, bool)>,
    pub rollback_millis: Option<i64>,
    pub detail: Option<String>,
    pub execution: Option<String>,
}

/// Every app of `releases`.
pub(super) fn apps(releases: &dyn Releases) -> Result<Vec<AppView>, Error> {
    let mut apps = Vec::new();
    for app in releases.apps()? {
        let list = releases.app_releases(&app)?;
        let state = releases.app_state(&app)?;
        apps.push(AppView {
            app,
            live: state.live,
            warm: state.rollback_target,
            rollback_off: None,
            releases: list.into_iter().map(view).collect(),
        });
    }
    Ok(apps)
}

fn view(r: AppRelease) -> AppReleaseView {
    AppReleaseView {
        outcome: r.outcome.as_str().to_string(),
        history: r.history,
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
