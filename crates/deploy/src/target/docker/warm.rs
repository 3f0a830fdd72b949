//! Whether a release is a warm standby, one that can take traffic at once:
//! all its replicas run, publish the routed port, and pass one look of the
//! service's health check now. An explicit rollback to such a release is a
//! flip; any other release is started and waited for first.

use windlass_asl::Failure;

use super::health::wait_config;
use super::DockerTarget;
use crate::backend::{Container, Health, RunState};
use crate::probe::{self, Check, WaitConfig};
use crate::target::{ReleaseContext, Upstreams};

pub(super) async fn warm(
    target: &DockerTarget,
    release: &ReleaseContext,
) -> Result<Option<Upstreams>, Failure> {
    // A service that cannot run twice was stopped when the next one
    // started; a worker's previous release is stopped by `retire`.
    if release.spec.must_run_alone().is_some() {
        return Ok(None);
    }
    let (port, config) = wait_config(&release.spec);
    let Some(port) = port else {
        return Ok(None);
    };
    let containers = target.glance(&release.service, release.id()).await?;
    if containers.is_empty() {
        return Ok(None);
    }
    let looks = containers
        .iter()
        .map(|container| healthy_now(target, container, port, &config));
    let addresses: Option<Vec<String>> = futures_util::future::join_all(looks)
        .await
        .into_iter()
        .collect();
    Ok(addresses.map(|addresses| Upstreams { addresses }))
}

/// The container's published address if it runs and passes one look of
/// the health check now.
async fn healthy_now(
    target: &DockerTarget,
    container: &Container,
    port: u16,
    config: &WaitConfig,
) -> Option<String> {
    // Docker's own healthcheck, when it has one, must not disagree.
    if container.state != RunState::Running || container.health == Health::Unhealthy {
        return None;
    }
    let address = *container.published.get(&port)?;
    let healthy = match &config.check {
        Check::Http { path, .. } => matches!(
            tokio::time::timeout(config.probe_timeout, probe::http_status(address, path)).await,
            Ok(Ok(status)) if (200..300).contains(&status)
        ),
        Check::Docker => container.health == Health::Healthy,
        Check::Running => true,
        // A job serves nothing: never a warm flip.
        Check::Completes => false,
        // A TCP probe must see the connection served, which takes a settle
        // time: the probe's own single look.
        Check::Tcp { .. } => {
            let once = WaitConfig {
                deadline: std::time::Duration::ZERO,
                ..config.clone()
            };
            probe::wait_healthy(target.backend.as_ref(), &container.id, &once)
                .await
                .is_ok()
        }
    };
    healthy.then(|| address.to_string())
}
