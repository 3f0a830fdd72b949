//! Apps on the services page: each app's releases (`a1`, `a2`, ...) with
//! the service release each holds, the app release that serves now and the
//! one an app rollback goes back to.
//!
//! Which release serves and which a rollback goes to is the store's rule
//! ([`Releases::app_state`]), which the agent's `rollback_app` and
//! `windlass releases` use too, so the page's button says where it goes.

use serde::Serialize;
use windlass_store::releases::{
    origin_of, split_app, AppRelease, Event, Origin, Releases, ServiceKey,
};

use crate::Error;

/// An app (a Compose file's services, deployed together) and its releases.
#[derive(Debug, PartialEq, Serialize)]
pub struct AppView {
    pub app: String,
    /// The app's name without its environment (`shop` of `shop.staging`),
    /// and the environment (`--env`), when it was deployed in one: the page
    /// shows an app's environments side by side.
    pub base: String,
    pub environment: Option<String>,
    /// The app release that serves ([`windlass_store::releases::AppState`]).
    pub live: Option<String>,
    /// The app release a rollback of the app goes back to.
    pub warm: Option<String>,
    /// Why the page's rollback button is off, when it is (its tooltip).
    pub rollback_off: Option<String>,
    /// Where its services run: `docker`, `swarm` or `ecs` (its services'
    /// [`super::Place`]).
    pub target: &'static str,
    pub releases: Vec<AppReleaseView>,
    /// While its rollout runs (a canary in a proxy, or a deploy at a gate):
    /// what the page shows of it and answers it with.
    pub rollout: Option<super::RolloutView>,
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
    /// Where its images came from, when it was a promotion (`deploy --from`).
    pub origin: Option<Origin>,
}

/// Every app of `releases`.
pub(super) fn apps(releases: &dyn Releases) -> Result<Vec<AppView>, Error> {
    let mut apps = Vec::new();
    for app in releases.apps()? {
        let list = releases.app_releases(&app)?;
        let state = releases.app_state(&app)?;
        let (base, environment) = split_app(&app);
        let (base, environment) = (base.to_owned(), environment.map(str::to_owned));
        let views = list
            .into_iter()
            .map(|r| {
                let origin = origin(releases, &r);
                view(r, origin)
            })
            .collect();
        apps.push(AppView {
            app,
            base,
            environment,
            live: state.live,
            warm: state.rollback_target,
            rollback_off: None,
            target: super::Place::Docker.as_str(),
            releases: views,
            rollout: None,
        });
    }
    Ok(apps)
}

/// Where an app release's images came from, read from the pinned text of
/// the first service release it deployed.
fn origin(releases: &dyn Releases, release: &AppRelease) -> Option<Origin> {
    let member = release.services.iter().find(|m| m.changed)?;
    let key = ServiceKey::new(release.app.clone(), member.service.clone()).ok()?;
    let text = releases.get(&key, &member.release).ok()??.compose_text;
    origin_of(&text)
}

fn view(r: AppRelease, origin: Option<Origin>) -> AppReleaseView {
    AppReleaseView {
        origin,
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
