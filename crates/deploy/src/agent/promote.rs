//! What `deploy --env production --from staging` runs: the image of each
//! service's live release in the environment promoted from, read from the
//! store (the live pointers say what serves there, whatever app release
//! named it), with the app release that serves there for the record.

use std::collections::BTreeMap;
use std::path::Path;

use windlass_store::releases::{Environment, Releases, SqliteReleases};

use super::{database, Error};
use crate::compose::{Origin, OriginImage};

/// The images environment `from` of app `app` (its name without an
/// environment) runs now; refused when none of its services is live or a
/// live release has no image recorded.
pub fn origin(releases: &dyn Releases, app: &str, from: &Environment) -> Result<Origin, Error> {
    let source = from.app(app);
    let mut services = BTreeMap::new();
    for key in releases.keys_of(&source)? {
        let Some(live) = releases.live(&key)? else {
            continue;
        };
        let release = releases
            .get(&key, &live.release)?
            .ok_or_else(|| Error::NoRelease {
                service: format!("service {key}"),
                release: live.release.clone(),
            })?;
        let Some(image) = image_of(release.image.as_deref(), release.digest.as_deref()) else {
            return Err(Error::NothingToPromote(format!(
                "{key}'s live release {} has no image recorded",
                release.id
            )));
        };
        services.insert(
            key.service().to_owned(),
            OriginImage {
                release: release.id,
                digest: release.digest.unwrap_or_else(|| image.clone()),
                image,
            },
        );
    }
    if services.is_empty() {
        return Err(Error::NothingToPromote(format!(
            "environment {from} of app {app} ({source}) has no live release: deploy it there first (windlass deploy --env {from})"
        )));
    }
    Ok(Origin {
        environment: from.to_string(),
        app_release: releases.app_state(&source)?.live,
        app: source,
        services,
    })
}

/// [`origin`] from the store of state folder `dir`, opened read-only beside
/// its agent.
pub fn origin_in(dir: &Path, app: &str, from: &Environment) -> Result<Origin, Error> {
    let db = database(dir);
    if !db.exists() {
        return Err(Error::NothingToPromote(format!(
            "nothing was deployed from {} yet, so environment {from} has no live release",
            dir.display()
        )));
    }
    origin(&SqliteReleases::open_read_only(&db)?, app, from)
}

/// The exact image of a release: its registry digest (`REPO@sha256:...`)
/// or engine image id (`sha256:...`), else the release's own tag, which
/// pins its image while the release is retained.
fn image_of(tag: Option<&str>, digest: Option<&str>) -> Option<String> {
    match digest {
        Some(d) if d.starts_with("sha256:") || d.contains("@sha256:") => Some(d.to_owned()),
        _ => tag.or(digest).map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use windlass_store::releases::{Live, NewRelease, ServiceKey};

    use super::*;

    #[test]
    fn the_live_releases_images_are_promoted() {
        let store = SqliteReleases::in_memory().expect("store");
        let staging: Environment = "staging".parse().expect("env");
        let none = origin(&store, "shop", &staging).expect_err("nothing live");
        assert!(none.to_string().contains("no live release"), "{none}");
        let key = ServiceKey::new("shop.staging", "web").expect("key");
        let release = store
            .create(NewRelease {
                service: key.clone(),
                compose_file: "/shop/compose.yaml".into(),
                compose_text: "name: shop\n".into(),
                by: "test".into(),
                created_millis: 1,
                fingerprint: None,
            })
            .expect("release");
        store
            .set_image(
                &key,
                &release.id,
                "windlass/i/shop.staging/web:r1",
                "sha256:ab",
            )
            .expect("image");
        store
            .set_live(&Live {
                service: key,
                release: release.id,
                address: "127.0.0.1:1".into(),
                upstreams: Vec::new(),
                ports: Vec::new(),
                since_millis: 1,
            })
            .expect("live");
        let found = origin(&store, "shop", &staging).expect("an origin");
        assert_eq!(found.app, "shop.staging");
        assert_eq!(found.services["web"].image, "sha256:ab");
        assert_eq!(found.services["web"].release, "r1");
        assert_eq!(
            image_of(Some("t:r1"), Some("reg/web@sha256:cd")).as_deref(),
            Some("reg/web@sha256:cd")
        );
        assert_eq!(
            image_of(Some("t:r1"), Some("web:1")).as_deref(),
            Some("t:r1")
        );
    }
}
