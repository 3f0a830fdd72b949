//! The environments of an app side by side, for `windlass releases`: which
//! app release serves in each, and per service which release and image
//! digest runs where, and where a promoted image came from (the
//! `x-windlass-origin` its release's pinned text holds).

use std::collections::{BTreeMap, BTreeSet};

use windlass_deploy::compose::{origin_of, Origin, OriginImage};
use windlass_store::releases::{split_app, AppRelease, Releases, ServiceKey, SqliteReleases};

use super::which::AppArgs;

/// The apps `which` asks for: `--app` (in every environment, or in
/// `--env`'s), `--env` alone (every app's in it), else all.
pub fn shown(apps: Vec<String>, which: &AppArgs) -> Vec<String> {
    apps.into_iter()
        .filter(|app| {
            let (base, env) = split_app(app);
            which.app.as_deref().is_none_or(|a| a == base)
                && which.env.as_ref().is_none_or(|e| env == Some(e.as_str()))
        })
        .collect()
}

/// Why `which` (`--app`, `--env`) matches none of the apps deployed, `apps`,
/// when it names one and some app is deployed: the refusal's message.
pub fn none_shown(apps: &[String], which: &AppArgs) -> Option<String> {
    if apps.is_empty() || (which.app.is_none() && which.env.is_none()) {
        return None;
    }
    if !shown(apps.to_vec(), which).is_empty() {
        return None;
    }
    let asked = match (&which.app, &which.env) {
        (Some(app), Some(env)) => format!("no app {app} was deployed in environment {env}"),
        (Some(app), None) => format!("no app {app} was deployed"),
        (None, Some(env)) => format!("no app was deployed in environment {env}"),
        (None, None) => return None,
    };
    let mut deployed = apps.to_vec();
    deployed.sort();
    deployed.dedup();
    Some(format!("{asked}; deployed: {}", deployed.join(", ")))
}

/// Where an app release's images came from, when it was a promotion (read
/// from the first service it deployed).
pub fn app_origin(store: &SqliteReleases, release: &AppRelease) -> Option<Origin> {
    let member = release.services.iter().find(|m| m.changed)?;
    let key = ServiceKey::new(release.app.clone(), member.service.clone()).ok()?;
    let text = store.get(&key, &member.release).ok()??.compose_text;
    origin_of(&text)
}

/// One line on where a service release's image came from.
pub fn came_from(origin: &Origin, image: &OriginImage) -> String {
    let app_release = origin
        .app_release
        .as_deref()
        .map(|a| format!(", app release {a}"))
        .unwrap_or_default();
    format!(
        "promoted from {} ({} release {}{app_release}): {}",
        origin.environment, origin.app, image.release, image.digest
    )
}

/// For each app shown in more than one environment, a table: a column per
/// environment, the app release serving there, and per service its live
/// release and image digest (and its origin when promoted).
pub fn side_by_side(store: &SqliteReleases, apps: &[String]) -> anyhow::Result<()> {
    let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for app in apps {
        groups.entry(split_app(app).0).or_default().push(app);
    }
    for (base, members) in groups {
        if members.len() < 2 || members.iter().all(|a| split_app(a).1.is_none()) {
            continue;
        }
        let mut services = BTreeSet::new();
        let mut columns = Vec::new();
        for app in &members {
            let mut cells = BTreeMap::new();
            for key in store.keys_of(app)? {
                services.insert(key.service().to_owned());
                cells.insert(key.service().to_owned(), cell(store, &key)?);
            }
            let serving = store.app_state(app)?.live;
            let name = split_app(app).1.unwrap_or("(no --env)").to_owned();
            columns.push((name, serving, cells));
        }
        println!();
        println!("environments of app {base}, side by side (what runs where):");
        let mut header = format!("  {:<16}", "SERVICE");
        let mut serving = format!("  {:<16}", "(app release)");
        for (name, live, _) in &columns {
            header.push_str(&format!(" {name:<40}"));
            let live = live.as_deref().unwrap_or("none");
            serving.push_str(&format!(" {live:<40}"));
        }
        println!("{}", header.trim_end());
        println!("{}", serving.trim_end());
        for service in &services {
            let mut line = format!("  {service:<16}");
            for (_, _, cells) in &columns {
                let text = cells.get(service).map(String::as_str).unwrap_or("-");
                line.push_str(&format!(" {text:<40}"));
            }
            println!("{}", line.trim_end());
        }
    }
    Ok(())
}

/// A service's live release and short digest, with `< ENV RELEASE` when
/// its image was promoted from there.
fn cell(store: &SqliteReleases, key: &ServiceKey) -> anyhow::Result<String> {
    let Some(live) = store.live(key)? else {
        return Ok("not live".into());
    };
    let Some(release) = store.get(key, &live.release)? else {
        return Ok(live.release);
    };
    let digest = release.digest.as_deref().unwrap_or("-");
    let short = digest.rsplit(':').next().unwrap_or(digest);
    let mut text = format!("{} {}", release.id, &short[..short.len().min(12)]);
    if let Some(origin) = origin_of(&release.compose_text) {
        if let Some(image) = origin.services.get(key.service()) {
            text.push_str(&format!(" < {} {}", origin.environment, image.release));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `status --app nosuch` said "no service is deployed" (exit 0) and
    /// `releases --app nosuch` "no app was deployed" with two apps live:
    /// an app or environment no app matches is refused, with those there.
    #[test]
    fn an_app_none_matches_is_named_with_the_apps_there() {
        let apps = vec![
            "n8n".to_owned(),
            "listmonk".to_owned(),
            "n8n".to_owned(),
            "shop.staging".to_owned(),
        ];
        let which = |app: Option<&str>, env: Option<&str>| AppArgs {
            app: app.map(str::to_owned),
            files: Vec::new(),
            env: env.map(|e| e.parse().expect("an environment")),
        };
        assert_eq!(
            none_shown(&apps, &which(Some("nosuch"), None)).as_deref(),
            Some("no app nosuch was deployed; deployed: listmonk, n8n, shop.staging")
        );
        assert_eq!(
            none_shown(&apps, &which(None, Some("prod"))).as_deref(),
            Some("no app was deployed in environment prod; deployed: listmonk, n8n, shop.staging")
        );
        assert!(none_shown(&apps, &which(Some("n8n"), None)).is_none());
        assert!(none_shown(&apps, &which(Some("shop"), Some("staging"))).is_none());
        assert!(none_shown(&apps, &which(None, None)).is_none());
        // Nothing deployed at all is said as before ("no app was deployed").
        assert!(none_shown(&[], &which(Some("nosuch"), None)).is_none());
    }
}
