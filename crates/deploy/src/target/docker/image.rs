//! The release's image: built from the service's `build`, or the image it
//! names (pulled when missing), tagged
//! `windlass/INSTALLATION/APP/SERVICE:RELEASE` so that it stays while the
//! release is retained (and no other app's or state folder's release of a
//! service of the same name shares the tag), and pushed when its name says
//! a registry.

use windlass_asl::Failure;
use windlass_store::releases::{Installation, ServiceKey};

use super::DockerTarget;
use crate::backend::split_reference;
use crate::failures;
use crate::target::{Image, ReleaseContext};

/// The local tag every release's image gets, which pins it while retained:
/// `windlass/INSTALLATION/APP/SERVICE:RELEASE` (an ECS service's app is
/// `ecs/CLUSTER`, one more path component).
pub fn release_tag(installation: &Installation, key: &ServiceKey, release: &str) -> String {
    format!(
        "windlass/{installation}/{}/{}:{release}",
        key.app(),
        key.service()
    )
}

/// Whether an image reference names a registry (`host:port/...`,
/// `example.com/...`, `localhost/...`), so a built image is pushed there.
fn registry_repo(image: &str) -> Option<&str> {
    let (repo, _) = split_reference(image);
    let (host, _) = repo.split_once('/')?;
    (host.contains('.') || host.contains(':') || host == "localhost").then_some(repo)
}

pub(super) async fn prepare(
    target: &DockerTarget,
    release: &ReleaseContext,
) -> Result<Image, Failure> {
    let tag = release_tag(target.installation()?, &release.key, release.id());
    let image = match &release.spec.build {
        Some(_) => build(target, release, &tag).await?,
        None => take(target, release, &tag).await?,
    };
    Ok(image)
}

/// Builds the service's image and tags it for its registry when it names one.
async fn build(
    target: &DockerTarget,
    release: &ReleaseContext,
    tag: &str,
) -> Result<Image, Failure> {
    let failed = |e: crate::backend::Error| Failure::new(failures::BUILD, e.to_string());
    let labels = target.release_labels(&release.key, release.id())?;
    let Some((spec, options)) = crate::plan::build_spec(&release.spec, tag, labels, |k| {
        target.config.env.get(k).cloned()
    }) else {
        return Err(failures::input(format!(
            "service {} has no build: nothing to build",
            release.service
        )));
    };
    let note = target.notes.for_service(&release.key);
    let built = target
        .backend
        .build_image_noting(&spec, &options, &note)
        .await;
    target.notes.clear(&release.key);
    let id = built.map_err(failed)?;
    let push = match release.spec.image.as_deref().and_then(registry_repo) {
        Some(repo) => {
            let to = format!("{repo}:{}", release.id());
            target.backend.tag_image(tag, &to).await.map_err(failed)?;
            Some(to)
        }
        None => None,
    };
    Ok(Image {
        reference: tag.to_owned(),
        digest: id,
        push,
    })
}

/// Takes the image the service names, pulling it when the engine lacks it.
async fn take(
    target: &DockerTarget,
    release: &ReleaseContext,
    tag: &str,
) -> Result<Image, Failure> {
    let unavailable = |e: crate::backend::Error| Failure::new(failures::IMAGE, e.to_string());
    let image = release.spec.image.as_deref().ok_or_else(|| {
        failures::input(format!(
            "service {} has neither image nor build",
            release.service
        ))
    })?;
    let digests = match target.backend.image_digests(image).await {
        Ok(digests) => digests,
        Err(_) => {
            let note = target.notes.for_service(&release.key);
            let pulled = target
                .backend
                .pull_image_noting(image, target.config.credentials.for_image(image), &note)
                .await;
            target.notes.clear(&release.key);
            pulled.map_err(|e| {
                Failure::new(
                    failures::IMAGE,
                    format!("image {image} is not on this machine and cannot be pulled: {e}"),
                )
            })?;
            target
                .backend
                .image_digests(image)
                .await
                .map_err(unavailable)?
        }
    };
    target
        .backend
        .tag_image(image, tag)
        .await
        .map_err(unavailable)?;
    let digest = digests
        .into_iter()
        .next()
        .unwrap_or_else(|| image.to_owned());
    Ok(Image {
        reference: tag.to_owned(),
        digest,
        push: None,
    })
}

pub(super) async fn push(
    target: &DockerTarget,
    release: &ReleaseContext,
    image: &Image,
) -> Result<Image, Failure> {
    let Some(to) = &image.push else {
        return Ok(image.clone());
    };
    let failed = |e: crate::backend::Error| Failure::new(failures::PUSH, e.to_string());
    let note = target.notes.for_service(&release.key);
    let pushed = target
        .backend
        .push_image_noting(to, target.config.credentials.for_image(to), &note)
        .await;
    target.notes.clear(&release.key);
    pushed.map_err(failed)?;
    let (repo, _) = split_reference(to);
    let digest = target
        .backend
        .image_digests(to)
        .await
        .map_err(failed)?
        .into_iter()
        .find(|d| d.starts_with(&format!("{repo}@")))
        .unwrap_or_else(|| image.digest.clone());
    Ok(Image {
        reference: image.reference.clone(),
        digest,
        push: Some(to.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_tags_name_the_installation_and_the_app() {
        let key = ServiceKey::new("shop", "web").expect("a key");
        let installation = Installation::from("0a1b2c3d");
        assert_eq!(
            release_tag(&installation, &key, "r2"),
            "windlass/0a1b2c3d/shop/web:r2"
        );
    }

    #[test]
    fn images_on_a_registry_are_pushed() {
        assert_eq!(
            registry_repo("127.0.0.1:5000/web:v1"),
            Some("127.0.0.1:5000/web")
        );
        assert_eq!(
            registry_repo("registry.example.com/team/web"),
            Some("registry.example.com/team/web")
        );
        assert_eq!(registry_repo("team/web:v1"), None);
        assert_eq!(registry_repo("web"), None);
    }
}
