//! The release's image: built from the service's `build`, or the image it
//! names, as its `pull_policy` decides (`pull`), tagged
//! `windlass/INSTALLATION/APP/SERVICE:RELEASE` so that it stays while the
//! release is retained (and no other app's or state folder's release of a
//! service of the same name shares the tag), and pushed to the repository
//! `image` names only when `x-windlass.push` asks.

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

pub(super) async fn prepare(
    target: &DockerTarget,
    release: &ReleaseContext,
) -> Result<Image, Failure> {
    let tag = release_tag(target.installation()?, &release.key, release.id());
    let mut image = match super::pull::source(target, release).await? {
        super::pull::Source::Build => build(target, release, &tag).await?,
        super::pull::Source::Image(image) => take(target, &image, &tag).await?,
    };
    // Pushed only when asked, wherever the image came from: `image` alone
    // names where a pull may come from, as in Compose.
    if let (true, Some(named)) = (release.spec.windlass.push, &release.spec.image) {
        let (repo, _) = split_reference(named);
        let to = format!("{repo}:{}", release.id());
        target
            .backend
            .tag_image(&tag, &to)
            .await
            .map_err(|e| Failure::new(failures::PUSH, e.to_string()))?;
        image.push = Some(to);
    }
    Ok(image)
}

/// Builds the service's image and tags it as `image` too, as Compose names
/// a built image.
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
    if let Some(image) = &release.spec.image {
        target.backend.tag_image(tag, image).await.map_err(failed)?;
    }
    Ok(Image {
        reference: tag.to_owned(),
        digest: id,
        push: None,
    })
}

/// Takes the engine's image the service names (pulled by then if it was to be).
async fn take(target: &DockerTarget, image: &str, tag: &str) -> Result<Image, Failure> {
    let unavailable = |e: crate::backend::Error| Failure::new(failures::IMAGE, e.to_string());
    let digests = target
        .backend
        .image_digests(image)
        .await
        .map_err(unavailable)?;
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
}
