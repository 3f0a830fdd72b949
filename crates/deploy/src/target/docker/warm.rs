//! Whether a release is a warm standby, one that can take traffic at once:
//! all its replicas run, publish every port, and pass one look of the
//! service's health check now. An explicit rollback to such a release is a
//! flip; any other release is started and waited for first.
//!
//! The look can be started ahead ([`LooksAhead`]): the agent starts it when
//! the rollback is asked for, so that its probes run while the execution's
//! first commit is written, and the step takes that look if it began at
//! most [`FRESH`] before. A look is only read: taking one made a few
//! milliseconds earlier is the same as making it at the step, which flips
//! a few milliseconds after its own look too.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use windlass_asl::Failure;
use windlass_store::releases::ServiceKey;

use super::health::wait_config;
use super::{replicas, DockerTarget};
use crate::backend::{Backend, Container, Health, RunState};
use crate::failures;
use crate::probe::{self, Check, WaitConfig};
use crate::target::{ReleaseContext, Upstreams};

/// How old a look started ahead may be when the step takes it; an older
/// one is dropped and the step looks again.
pub const FRESH: Duration = Duration::from_millis(500);

type Look = Shared<BoxFuture<'static, Result<Option<Upstreams>, Failure>>>;

/// Looks started ahead, per service and release; each is taken once.
#[derive(Default)]
pub(super) struct LooksAhead {
    looks: Mutex<HashMap<(ServiceKey, String), (Instant, Look)>>,
}

impl LooksAhead {
    /// Starts the look of `release` (its replicas labelled `labels`) now,
    /// in a task of its own.
    pub(super) fn start(
        &self,
        backend: Arc<dyn Backend>,
        labels: BTreeMap<String, String>,
        release: ReleaseContext,
    ) {
        let key = (release.key.clone(), release.id().to_owned());
        let task = tokio::spawn(async move { look(backend.as_ref(), &labels, &release).await });
        let look = async move {
            task.await.unwrap_or_else(|e| {
                Err(Failure::new(
                    failures::ENGINE,
                    format!("the warm look started ahead did not finish: {e}"),
                ))
            })
        }
        .boxed()
        .shared();
        let mut looks = self.looks.lock().unwrap_or_else(PoisonError::into_inner);
        looks.retain(|_, (began, _)| began.elapsed() <= FRESH);
        looks.insert(key, (Instant::now(), look));
    }

    /// The look of `release` started at most [`FRESH`] ago, taken.
    fn take(&self, release: &ReleaseContext) -> Option<Look> {
        let key = (release.key.clone(), release.id().to_owned());
        let (began, look) = self
            .looks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key)?;
        (began.elapsed() <= FRESH).then_some(look)
    }
}

pub(super) async fn warm(
    target: &DockerTarget,
    release: &ReleaseContext,
) -> Result<Option<Upstreams>, Failure> {
    if let Some(ahead) = target.looks_ahead.take(release) {
        return ahead.await;
    }
    let labels = target.release_labels(&release.key, release.id())?;
    look(target.backend.as_ref(), &labels, release).await
}

/// One look of the release's replicas and their health now.
async fn look(
    backend: &dyn Backend,
    labels: &BTreeMap<String, String>,
    release: &ReleaseContext,
) -> Result<Option<Upstreams>, Failure> {
    // A service that cannot run twice was stopped when the next one
    // started; a worker's previous release is stopped by `retire`.
    if release.spec.must_run_alone().is_some() {
        return Ok(None);
    }
    // A worker (no published port) is stopped at retire. A service of UDP
    // ports only has no routed port: its health check is Docker's or running.
    if !release.spec.has_proxy() {
        return Ok(None);
    }
    let (port, config) = wait_config(&release.spec);
    let containers = replicas(backend.glance_containers(labels).await)?;
    if containers.is_empty() {
        return Ok(None);
    }
    let looks = containers
        .iter()
        .map(|container| healthy_now(backend, &release.spec, container, port, &config));
    let all_healthy = futures_util::future::join_all(looks)
        .await
        .into_iter()
        .all(|healthy| healthy);
    if !all_healthy {
        return Ok(None);
    }
    // Every replica publishes every port (looked at above).
    super::ports::upstreams(&release.spec, &containers).map(Some)
}

/// Whether the container runs, publishes every port the service's proxies
/// route to, and passes one look of the health check now.
async fn healthy_now(
    backend: &dyn Backend,
    service: &crate::compose::Service,
    container: &Container,
    port: Option<u16>,
    config: &WaitConfig,
) -> bool {
    // Docker's own healthcheck, when it has one, must not disagree.
    if container.state != RunState::Running
        || container.health == Health::Unhealthy
        || !super::ports::publishes_all(service, container)
    {
        return false;
    }
    let address = port.and_then(|port| container.published_at(port, false));
    let healthy = match &config.check {
        Check::Http { path, .. } => match address {
            Some(address) => matches!(
                tokio::time::timeout(config.probe_timeout, probe::http_status(address, path)).await,
                Ok(Ok(status)) if (200..300).contains(&status)
            ),
            None => false,
        },
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
            probe::wait_healthy(backend, &container.id, &once)
                .await
                .is_ok()
        }
    };
    healthy
}
