//! Where a release's image comes from, by the service's `pull_policy`, as
//! Docker Compose decides it: first whether to pull the image `image`
//! names (`always`; `missing` and `daily`/`weekly`/`every_N` when the
//! engine lacks it or its copy is older than that; never for `never` and
//! `build`), a failed pull being no error when the service can be built;
//! then whether to build (`build`: every time; else when the engine still
//! lacks the image). A service with `build` and no `image` is built at
//! every deploy (Compose's `up --build`): nothing else names its image.

use windlass_asl::Failure;

use super::DockerTarget;
use crate::compose::PullPolicy;
use crate::failures;
use crate::target::ReleaseContext;

/// What the engine has of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    Missing,
    /// Present, tagged at this time (ms since the epoch) when known.
    Present(Option<i64>),
}

/// Whether to pull before anything else.
pub fn must_pull(policy: PullPolicy, local: Local, now_millis: i64) -> bool {
    match (policy, local) {
        (PullPolicy::Always, _) => true,
        (PullPolicy::Never | PullPolicy::Build, _) => false,
        (PullPolicy::Missing, local) => local == Local::Missing,
        (PullPolicy::Refresh(_), Local::Missing | Local::Present(None)) => true,
        (PullPolicy::Refresh(every), Local::Present(Some(tagged))) => {
            let every = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
            now_millis.saturating_sub(tagged) > every
        }
    }
}

/// Where the release's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Build it (and tag it as `image`, when the service names one).
    Build,
    /// The engine's image of this name, pulled or not.
    Image(String),
}

/// Decides, pulling on the way when the policy says so.
pub(super) async fn source(
    target: &DockerTarget,
    release: &ReleaseContext,
) -> Result<Source, Failure> {
    let spec = &release.spec;
    let buildable = spec.build.is_some();
    let Some(image) = spec.image.as_deref() else {
        return match buildable {
            true => Ok(Source::Build),
            false => Err(failures::input(format!(
                "service {} has neither image nor build",
                release.service
            ))),
        };
    };
    let policy = spec.pull_policy;
    if policy == PullPolicy::Build {
        return match buildable {
            true => Ok(Source::Build),
            false => Err(failures::input(format!("service {} has `pull_policy: build` and no `build`: add one, or pull with `missing` or `always`", release.service))),
        };
    }
    let local = match target.backend.image_tagged_millis(image).await {
        Ok(tagged) => Local::Present(tagged),
        Err(_) => Local::Missing,
    };
    let mut present = local != Local::Missing;
    if must_pull(policy, local, target.clock.now_millis()) {
        let note = target.notes.for_service(&release.service);
        let pulled = target
            .backend
            .pull_image_noting(image, target.config.credentials.for_image(image), &note)
            .await;
        target.notes.clear(&release.service);
        match pulled {
            Ok(()) => present = true,
            Err(err) if buildable => {
                tracing::info!(service = %release.service, %image, %err, "the pull failed; the service has `build`, so it is built");
            }
            Err(err) if present => {
                tracing::warn!(service = %release.service, %image, %err, "the pull failed; the engine's image is used");
            }
            Err(err) => {
                return Err(Failure::new(
                    failures::IMAGE,
                    format!("image {image} is not on this machine and cannot be pulled: {err}"),
                ))
            }
        }
    }
    match (present, buildable) {
        (true, _) => Ok(Source::Image(image.to_owned())),
        (false, true) => Ok(Source::Build),
        (false, false) => Err(Failure::new(
            failures::IMAGE,
            format!("image {image} is not on this machine, and `pull_policy: never` keeps windlass from pulling it: pull it, or allow a pull with `missing`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn pulls_as_compose_decides() {
        let daily = PullPolicy::Refresh(Duration::from_secs(24 * 3600));
        let now = 100 * HOUR;
        let cases = [
            (PullPolicy::Missing, Local::Missing, true),
            (PullPolicy::Missing, Local::Present(None), false),
            (PullPolicy::Always, Local::Present(Some(now)), true),
            (PullPolicy::Always, Local::Missing, true),
            (PullPolicy::Never, Local::Missing, false),
            (PullPolicy::Build, Local::Missing, false),
            (daily, Local::Missing, true),
            (daily, Local::Present(None), true),
            (daily, Local::Present(Some(now - 23 * HOUR)), false),
            (daily, Local::Present(Some(now - 25 * HOUR)), true),
        ];
        for (policy, local, pull) in cases {
            assert_eq!(must_pull(policy, local, now), pull, "{policy} {local:?}");
        }
    }
}
