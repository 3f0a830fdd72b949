//! A rollout's steps on the Docker target: each new release becomes its
//! service's canary in the proxy daemon with the step's weight (every
//! service of the app in one call, so their traffic moves together), and
//! both releases' counters are read from the daemon's view. The store's
//! live pointer does not move until the switch: a canary is only the
//! proxies' (their state file keeps it across a restart of either process).

use windlass_asl::Failure;
use windlass_proxy::daemon::api::{CanaryRelease, ServiceView};
use windlass_proxy::{Sticky, Weight};

use super::{ports, DockerTarget};
use crate::failures;
use crate::target::weights::{Counters, Shares};
use crate::target::{ReleaseContext, Upstreams};

fn proxy_failed(e: String) -> Failure {
    Failure::new(failures::PROXY, e)
}

pub(super) async fn set_weight(
    target: &DockerTarget,
    releases: &[(ReleaseContext, Upstreams)],
    weight: Weight,
    sticky: Option<&Sticky>,
) -> Result<Vec<Shares>, Failure> {
    let mut canaries = Vec::new();
    let mut weighed = Vec::new();
    for (release, upstreams) in releases {
        let Some(spec) = ports::spec(&release.spec) else {
            continue;
        };
        target
            .proxies
            .ensure(&release.key, &spec)
            .await
            .map_err(proxy_failed)?;
        let live = target
            .proxies
            .live(&release.key)
            .await
            .map_err(proxy_failed)?;
        // A first release has nothing beside which to take a share; a
        // release already live (a step run again after the switch) has
        // all of it.
        if live.is_none() || live.as_deref() == Some(release.id()) {
            continue;
        }
        let canary = CanaryRelease {
            canary: ports::live_release(&release.spec, release.id(), upstreams)?,
            weight,
            sticky: sticky.cloned(),
        };
        canaries.push((release.key.clone(), Some(canary)));
        weighed.push(release.clone());
    }
    target
        .proxies
        .set_canaries(canaries)
        .await
        .map_err(proxy_failed)?;
    shares(target, &weighed).await
}

/// Both releases' counters of each service whose canary `release` is.
pub(super) async fn shares(
    target: &DockerTarget,
    releases: &[ReleaseContext],
) -> Result<Vec<Shares>, Failure> {
    let mut out = Vec::new();
    for release in releases {
        let view = target
            .proxies
            .service_view(&release.key)
            .await
            .map_err(proxy_failed)?;
        if let Some(shares) = view.as_ref().and_then(|v| shares_of(v, release)) {
            out.push(shares);
        }
    }
    Ok(out)
}

fn shares_of(view: &ServiceView, release: &ReleaseContext) -> Option<Shares> {
    let canary = view.canary.as_ref()?;
    if canary.canary.release != release.id() {
        return None;
    }
    let live = view.live.as_ref()?;
    let counters = |id: &str| {
        view.releases
            .iter()
            .find(|r| r.release == id)
            .map_or_else(|| Counters::empty(id), Counters::of)
    };
    Some(Shares {
        service: release.key.service().to_owned(),
        live: counters(&live.release),
        canary: counters(release.id()),
    })
}
