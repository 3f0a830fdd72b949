//! Waiting until a release's replicas are healthy, and reading the
//! addresses they publish on 127.0.0.1 for the proxies, every port's.

use std::time::Duration;

use windlass_asl::Failure;

use super::pacing::Pacing;
use super::DockerTarget;
use crate::compose::Service;
use crate::plan::health_wait;
use crate::probe::{self, Check, WaitConfig};
use crate::target::{ReleaseContext, Replicas, Upstreams};

/// How to tell the service's containers are healthy, and the container port
/// the proxy routes to (none for a service that publishes no port).
pub(super) fn wait_config(service: &Service) -> (Option<u16>, WaitConfig) {
    let config = health_wait(service).unwrap_or_else(|| WaitConfig::new(Check::Running));
    (service.routed_port(), config)
}

pub(super) async fn wait_healthy(
    target: &DockerTarget,
    release: &ReleaseContext,
    replicas: Option<&Replicas>,
) -> Result<Upstreams, Failure> {
    let (_, config) = wait_config(&release.spec);
    let ids = match replicas {
        Some(replicas) => replicas.ids.clone(),
        None => target
            .containers(&release.key, release.id())
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect(),
    };
    let count = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    let pacing = Pacing::of(&release.spec, release.mode, count);
    let mut healthy = Vec::new();
    let mut failed = Vec::new();
    let mut unhealthy = Vec::new();
    for id in ids {
        let note = target.notes.for_service(&release.key);
        let waited = probe::wait_healthy_noting(target.backend.as_ref(), &id, &config, &note).await;
        target.notes.clear(&release.key);
        let container = match waited {
            Ok(container) => container,
            Err(e) => {
                failed.push(e.to_string());
                unhealthy.push(id);
                continue;
            }
        };
        healthy.push(container);
    }
    pacing.check(&release.label(), count, &failed)?;
    // Replicas that failed within the share allowed never take traffic.
    for id in unhealthy {
        super::lifecycle::stop(target, &release.spec, &id, Duration::from_secs(1)).await?;
        target.remove(&id).await?;
    }
    // Every published port's upstreams, from the replicas that take traffic.
    super::ports::upstreams(&release.spec, &healthy)
}
