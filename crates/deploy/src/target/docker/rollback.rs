//! Rolling back: the release that was live before takes traffic again (a
//! flip when its containers still run; started again from its pinned image
//! otherwise), then the failed release's containers go.

use windlass_asl::Failure;

use super::DockerTarget;
use crate::backend::RunState;
use crate::failures;
use crate::target::{CaughtFailure, ReleaseContext, RolledBack, Upstreams};

pub(super) async fn roll_back(
    target: &DockerTarget,
    release: &ReleaseContext,
    failure: Option<&CaughtFailure>,
) -> Result<RolledBack, Failure> {
    let decided = target.now();
    let proxy_failed = |e: String| Failure::new(failures::PROXY, e);
    // A rollout's canary takes its share back first, at once: the live
    // release never stopped, so this alone puts all traffic back on it.
    if target
        .proxies
        .end_canary(&release.key)
        .await
        .map_err(proxy_failed)?
        .is_some()
    {
        tracing::info!(service = %release.key, release = %release.id(), "the canary's share went back to the live release");
    }
    let live_now = target
        .proxies
        .live(&release.key)
        .await
        .map_err(proxy_failed)?;
    let mut flip_millis = None;
    // update_config.failure_action pause: the release is left running,
    // never switched to, for a person to look at.
    let paused = failure.is_some_and(|f| f.error == failures::PAUSED);
    let alone = super::start::runs_alone(release, &image_volumes(target, release).await).is_some();
    if alone && !paused {
        // Only one of them can exist: this one goes before the one before
        // it comes back (the proxy holds traffic meanwhile).
        stop_all(target, release).await?;
    }
    match &release.previous {
        Some(previous) if live_now.as_deref() != Some(previous.as_str()) => {
            let before = target.other(release, previous)?;
            let upstreams = running_upstreams(target, &before).await?;
            super::live::make_live(target, &before, &upstreams).await?;
            flip_millis = Some(target.now() - decided);
        }
        Some(_) => {}
        None => {
            // The first release of the service failed: nothing was live before.
            target
                .releases
                .clear_live(&release.key)
                .map_err(failures::store)?;
            if target
                .proxies
                .clear(&release.key)
                .await
                .map_err(proxy_failed)?
                .is_some()
            {
                flip_millis = Some(target.now() - decided);
            }
        }
    }
    if !paused && !alone {
        stop_all(target, release).await?;
    }
    target.proxies.forget(&release.key, release.id()).await;
    Ok(RolledBack {
        live: release.previous.clone(),
        flip_millis,
    })
}

/// The `VOLUME`s of the release's image that no mount of its service
/// covers; none when it has no image (its build failed) or the engine has
/// lost it (then none of its containers can run either).
async fn image_volumes(target: &DockerTarget, release: &ReleaseContext) -> Vec<String> {
    let Some(image) = &release.record.image else {
        return Vec::new();
    };
    match target.backend.image_volumes(image).await {
        Ok(paths) => crate::plan::uncovered_image_volumes(&release.spec, &paths),
        Err(e) => {
            tracing::warn!(service = %release.key, release = %release.id(), error = %e, "cannot read the image's volumes");
            Vec::new()
        }
    }
}

/// Stops and removes the release's containers.
async fn stop_all(target: &DockerTarget, release: &ReleaseContext) -> Result<(), Failure> {
    for container in target.containers(&release.key, release.id()).await? {
        super::retire::stop(
            target,
            &release.key,
            &release.spec,
            release.id(),
            &container.id,
        )
        .await?;
    }
    Ok(())
}

/// The published addresses of a release's containers, starting them again
/// from the release's pinned image when they no longer run.
async fn running_upstreams(
    target: &DockerTarget,
    release: &ReleaseContext,
) -> Result<Upstreams, Failure> {
    let containers = target.containers(&release.key, release.id()).await?;
    let all_run = !containers.is_empty()
        && containers
            .iter()
            .all(|c| c.state == RunState::Running && super::ports::publishes_all(&release.spec, c));
    // A job whose run completed is not run again to go back to it.
    let completed = release.spec.runs_to_completion
        && !containers.is_empty()
        && containers
            .iter()
            .all(|c| c.state == RunState::Exited { code: 0 });
    if completed {
        return Ok(Upstreams::default());
    }
    if all_run {
        return super::ports::upstreams(&release.spec, &containers);
    }
    let replicas = super::start::start(target, release).await?;
    super::health::wait_healthy(target, release, Some(&replicas)).await
}
