//! The release's image on a Swarm: every node pulls it, so it is an image
//! in a registry, pinned by digest. A service with `build` is built as
//! Compose users build for a stack (`docker compose build && docker compose
//! push` with `DOCKER_HOST` at a manager): on the manager's engine, with the
//! Docker target's BuildKit build (its steps noted as progress, a failed
//! step reported at its Dockerfile's file:line), tagged as the service's
//! `image` and `REPO:APP-RELEASE`, pushed to that registry (with the registry
//! credentials windlass finds) and pinned by the digest the push gives. The
//! release record keeps that digest, so a rollback or a promotion runs the
//! same bytes without building again. A step run again (after a crash)
//! builds to the same tags and pushes again, which changes nothing.
//!
//! `pull_policy`, where it applies: `build` builds at every deploy; any
//! other policy takes the registry's `image` when the registry has it (the
//! nodes pull every release from there, so `missing`, `always` and
//! `daily` all read the registry now) and builds only when it lacks it.

use windlass_asl::Failure;

use super::SwarmTarget;
use crate::backend::split_reference;
use crate::compose::{PullPolicy, Service};
use crate::failures;
use crate::target::{Image, ReleaseContext};

/// Why `service` cannot be built for a Swarm as written, if it cannot: a
/// built image must be pushed where every node pulls from, and only the
/// service's `image` can say where (`registry.example.com/team/web`).
pub fn unbuildable(name: &str, service: &Service) -> Option<String> {
    service.build.as_ref()?;
    let fix =
        "a registry every Swarm node pulls from, e.g. `image: registry.example.com/team/NAME`";
    match service.image.as_deref() {
        None => Some(format!(
            "services.{name}.image: service {name} is built (`build`) for the Swarm target, and every node pulls its image: name where windlass pushes it with `image`, in {fix}"
        )),
        Some(image) if crate::credentials::registry_host(image).is_none() => Some(format!(
            "services.{name}.image: {image} names no registry (it would be pushed to Docker Hub's library): service {name} is built for the Swarm target, so its `image` must be in {fix}"
        )),
        Some(_) => None,
    }
}

/// The release's image, pinned by digest: the registry's `image`, or
/// built and pushed (the push is the workflow's next step, [`push`]).
pub(super) async fn prepare(
    target: &SwarmTarget,
    release: &ReleaseContext,
) -> Result<Image, Failure> {
    if let Some(why) = unbuildable(&release.service, &release.spec) {
        return Err(failures::input(format!("{}: {why}", release.label())));
    }
    let Some(image) = release.spec.image.clone() else {
        return Err(failures::input(format!(
            "{}: every Swarm node pulls the release's image: give the service an `image` in a registry the nodes reach, or a `build` and an `image` to push it to",
            release.label()
        )));
    };
    if image.contains("@sha256:") {
        return Ok(Image {
            digest: image.clone(),
            reference: image,
            push: None,
        });
    }
    let buildable = release.spec.build.is_some();
    if release.spec.pull_policy == PullPolicy::Build {
        if !buildable {
            return Err(failures::input(format!(
                "{}: `pull_policy: build` and no `build`: add one, or take the registry's image with `missing`",
                release.label()
            )));
        }
        return build(target, release, &image).await;
    }
    match registry_image(target, release, &image).await {
        Ok(pinned) => Ok(pinned),
        Err(err) if buildable => {
            tracing::info!(service = %release.service, %image, cause = %err.cause, "the registry has no such image; the service has `build`, so it is built");
            build(target, release, &image).await
        }
        Err(err) => Err(err),
    }
}

/// The image the registry has under `image`, pinned by the digest it gives
/// the manager now.
async fn registry_image(
    target: &SwarmTarget,
    release: &ReleaseContext,
    image: &str,
) -> Result<Image, Failure> {
    let found = target
        .docker
        .inspect_registry_image(image, None)
        .await
        .map_err(|e| {
            Failure::new(
                failures::IMAGE,
                format!(
                    "{}: the manager cannot read {image} from its registry: {e}",
                    release.label()
                ),
            )
        })?;
    let digest = found.descriptor.digest.ok_or_else(|| {
        Failure::new(
            failures::IMAGE,
            format!("{image}: the registry gave no digest"),
        )
    })?;
    let repository = repository_of(image);
    Ok(Image {
        reference: format!("{image}@{digest}"),
        digest: format!("{repository}@{digest}"),
        push: None,
    })
}

/// Builds the service's image on the manager, tagged as `image` and as
/// `REPO:APP-RELEASE`, which the push step pushes.
async fn build(
    target: &SwarmTarget,
    release: &ReleaseContext,
    image: &str,
) -> Result<Image, Failure> {
    let failed = |e: crate::backend::Error| Failure::new(failures::BUILD, e.to_string());
    let labels = crate::backend::release_labels(target.installation()?, &release.key, release.id());
    let per_release = release_reference(image, release.key.app(), release.id());
    // Build arguments without a value stay unset: the deploying command
    // pinned the values it had into the text.
    let Some((spec, options)) =
        crate::plan::build_spec(&release.spec, &per_release, labels, |_| None)
    else {
        return Err(failures::input(format!(
            "{}: no `build`: nothing to build",
            release.label()
        )));
    };
    let note = target.notes.for_service(&release.key);
    let built = target
        .builder
        .build_image_noting(&spec, &options, &note)
        .await;
    target.notes.clear(&release.key);
    let id = built.map_err(|e| {
        Failure::new(
            failures::BUILD,
            format!("{} (built on the Swarm manager): {e}", release.label()),
        )
    })?;
    target
        .builder
        .tag_image(&per_release, image)
        .await
        .map_err(failed)?;
    Ok(Image {
        reference: per_release.clone(),
        digest: id,
        push: Some(per_release),
    })
}

/// `REPO:APP-RELEASE` of `image` (`registry:5000/web:2` of app
/// `shop.production` -> `registry:5000/web:shop.production-r3`): the app
/// in the tag keeps two apps (or environments) that push to one
/// repository from taking each other's tags.
fn release_reference(image: &str, app: &str, release: &str) -> String {
    let (repo, _) = split_reference(image);
    format!("{repo}:{app}-{release}")
}

/// Pushes a built image (its per-release tag, then the service's `image`
/// name, which then names the newest build as `docker compose push` leaves
/// it) and pins the release to the digest the registry gave.
pub(super) async fn push(
    target: &SwarmTarget,
    release: &ReleaseContext,
    image: &Image,
) -> Result<Image, Failure> {
    let Some(to) = &image.push else {
        return Ok(image.clone());
    };
    let failed = |what: &str, e: crate::backend::Error| {
        Failure::new(
            failures::PUSH,
            format!("{}: the Swarm manager pushing {what}: {e}", release.label()),
        )
    };
    let mut names = vec![to.clone()];
    names.extend(release.spec.image.clone().filter(|named| named != to));
    for name in &names {
        let note = target.notes.for_service(&release.key);
        let pushed = target
            .builder
            .push_image_noting(name, target.config.credentials.for_image(name), &note)
            .await;
        target.notes.clear(&release.key);
        pushed.map_err(|e| failed(name, e))?;
    }
    let (repo, _) = split_reference(to);
    let digest = target
        .builder
        .image_digests(to)
        .await
        .map_err(|e| failed(to, e))?
        .into_iter()
        .find(|d| d.starts_with(&format!("{repo}@")))
        .ok_or_else(|| {
            Failure::new(
                failures::PUSH,
                format!(
                    "{}: {to} was pushed, but the manager's engine has no digest of it from {repo}",
                    release.label()
                ),
            )
        })?;
    Ok(Image {
        reference: digest.clone(),
        digest,
        push: Some(to.clone()),
    })
}

/// `host:5000/name:tag` without its tag.
pub(super) fn repository_of(image: &str) -> &str {
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].find(':') {
        Some(colon) => &image[..last_slash + colon],
        None => image,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(text: &str) -> Service {
        let dir = std::env::temp_dir().join(format!("windlass-swarm-image-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("folder");
        std::fs::write(dir.join("Dockerfile"), "FROM scratch\n").expect("Dockerfile");
        let project = crate::compose::parse_pinned(
            &format!("services:\n  web:\n{text}"),
            &dir.join("compose.yaml"),
        );
        let _ = std::fs::remove_dir_all(&dir);
        let project = project.expect("compose");
        project.services["web"].clone()
    }

    #[test]
    fn a_built_service_must_name_a_registry_image() {
        let none = unbuildable("web", &service("    build: .\n")).expect("refused");
        assert!(
            none.starts_with("services.web.image: service web is built"),
            "{none}"
        );
        let hub =
            unbuildable("web", &service("    build: .\n    image: web:1\n")).expect("refused");
        assert!(hub.contains("web:1 names no registry"), "{hub}");
        assert_eq!(
            unbuildable(
                "web",
                &service("    build: .\n    image: registry:5000/web\n")
            ),
            None
        );
        assert_eq!(unbuildable("web", &service("    image: web:1\n")), None);
    }

    #[test]
    fn the_release_tag_replaces_the_image_tag() {
        assert_eq!(
            release_reference("registry:5000/team/web:2", "shop.production", "r3"),
            "registry:5000/team/web:shop.production-r3"
        );
        assert_eq!(
            release_reference("registry:5000/web", "shop", "r1"),
            "registry:5000/web:shop-r1"
        );
        assert_eq!(repository_of("registry:5000/web:2"), "registry:5000/web");
        assert_eq!(repository_of("registry:5000/app"), "registry:5000/app");
        assert_eq!(repository_of("app:v1"), "app");
    }
}
