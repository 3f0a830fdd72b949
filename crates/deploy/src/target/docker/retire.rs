//! Retiring: stopping every release of a service but the live one and the
//! warm standby before it, and letting go of images beyond
//! `x-windlass.retain`.

use std::collections::BTreeSet;
use std::time::Duration;

use windlass_asl::Failure;

use super::DockerTarget;
use crate::backend::RELEASE_LABEL;
use crate::compose::Service;
use crate::failures;
use crate::target::{ReleaseContext, Retired};
use windlass_store::releases::ServiceKey;

/// Stops and removes every release of the service but the live one and the
/// one before it, which stays running so that a rollback is a traffic flip.
pub(super) async fn retire(
    target: &DockerTarget,
    release: &ReleaseContext,
) -> Result<Retired, Failure> {
    let service = &release.spec;
    let mut keep = BTreeSet::from([release.id().to_owned()]);
    // The previous release stays warm behind the proxy, for a rollback that
    // is a flip. A service without a proxy (a worker) would run twice: its
    // previous release stops, and a rollback starts it again from its image.
    if service.has_proxy() {
        keep.extend(release.previous.clone());
    }
    if let Some(live) = target
        .releases
        .live(&release.key)
        .map_err(failures::store)?
    {
        keep.insert(live.release);
    }
    // This app's service of this installation only: another app's service
    // of the same name is not this one's to retire.
    let labels = crate::backend::key_labels(target.installation()?, &release.key);
    let containers = target
        .backend
        .list_containers(&labels)
        .await
        .map_err(failures::engine)?;
    let mut retired = BTreeSet::new();
    for container in containers {
        let Some(of) = container.labels.get(RELEASE_LABEL) else {
            continue;
        };
        if keep.contains(of) {
            continue;
        }
        stop(target, &release.key, service, of, &container.id).await?;
        retired.insert(of.clone());
    }
    for id in &retired {
        target.proxies.forget(&release.key, id).await;
    }
    let retain = service.windlass.retain.unwrap_or(DEFAULT_RETAIN).max(1);
    let pruned = prune(target, &release.key, &keep, retain).await?;
    Ok(Retired {
        kept: keep.into_iter().collect(),
        retired: retired.into_iter().collect(),
        pruned,
    })
}

/// How many releases keep their image for `windlass rollback` when
/// `x-windlass.retain` does not say (Swarm keeps 5 tasks of history too).
pub const DEFAULT_RETAIN: u32 = 5;

/// Lets go of the images of releases beyond the newest `retain` that have
/// one (never the live release or the one kept warm): removes their
/// per-release tag and records them as pruned. An image that cannot be
/// removed stays retained and is tried again at the next deploy.
async fn prune(
    target: &DockerTarget,
    service: &ServiceKey,
    keep: &BTreeSet<String>,
    retain: u32,
) -> Result<Vec<String>, Failure> {
    let releases = target.releases.list(service).map_err(failures::store)?;
    let mut pruned = Vec::new();
    let with_image = releases
        .iter()
        .filter(|r| r.pruned_millis.is_none())
        .filter_map(|r| r.image.as_ref().map(|image| (r, image)));
    for (release, image) in with_image.skip(retain as usize) {
        if keep.contains(&release.id) {
            continue;
        }
        if let Err(e) = target.backend.remove_image(image).await {
            tracing::warn!(%e, release = %release.id, "cannot let go of a pruned release's image; kept for now");
            continue;
        }
        target
            .releases
            .set_pruned(service, &release.id, target.now())
            .map_err(failures::store)?;
        pruned.push(release.id.clone());
    }
    Ok(pruned)
}

/// Lets the release's requests in flight finish, then stops (after its
/// `pre_stop` commands) and removes one of its containers.
pub(super) async fn stop(
    target: &DockerTarget,
    name: &ServiceKey,
    service: &Service,
    release: &str,
    id: &str,
) -> Result<(), Failure> {
    if let Err(e) = target
        .proxies
        .drain(name, release, target.config.drain_timeout)
        .await
    {
        tracing::warn!(%e, "stopping the release anyway");
    }
    super::lifecycle::stop(target, service, id, stop_grace(service)).await?;
    target.remove(id).await
}

/// The grace a container gets to stop.
pub(super) fn stop_grace(service: &Service) -> Duration {
    service.stop_grace_period.unwrap_or(Duration::from_secs(10))
}
