//! The steps up to the switch: build (or take) the image, push it, start the
//! release's containers beside the live ones, wait until they are healthy,
//! and make the release live.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as Json;
use windlass_asl::Failure;
use windlass_proxy::Release as ProxyRelease;
use windlass_store::releases::{Live, Outcome};

use super::{
    errors, output, parse_upstreams, store_failure, ContainersOutput, ImageOutput, Inner, Input,
    Mode, UpstreamsOutput,
};
use crate::backend::{BuildSpec, Error, RunState, RELEASE_LABEL, SERVICE_LABEL};
use crate::compose::{FailureAction, Order, Service};
use crate::plan::{container_spec, health_wait};
use crate::probe::{self, Check, WaitConfig};

/// The local tag every release's image gets, which pins it while retained.
pub(crate) fn release_tag(service: &str, release: &str) -> String {
    format!("windlass/{service}:{release}")
}

/// Whether an image reference names a registry (`host:port/...`,
/// `example.com/...`, `localhost/...`), so a built image is pushed there.
fn registry_repo(image: &str) -> Option<&str> {
    let (repo, _) = crate::backend::split_reference(image);
    let (host, _) = repo.split_once('/')?;
    (host.contains('.') || host.contains(':') || host == "localhost").then_some(repo)
}

pub(crate) async fn build(ctx: &Inner, input: &Input) -> Result<Json, Failure> {
    let release = ctx.release(&input.service, &input.release)?;
    let service = ctx.service(&release)?;
    let tag = release_tag(&input.service, &input.release);
    let labels = BTreeMap::from([
        (SERVICE_LABEL.to_owned(), input.service.clone()),
        (RELEASE_LABEL.to_owned(), input.release.clone()),
    ]);
    let (digest, push) = if let Some(build) = &service.build {
        let args = build
            .args
            .iter()
            .filter_map(|(k, v)| {
                v.clone()
                    .or_else(|| ctx.config.env.get(k).cloned())
                    .map(|v| (k.clone(), v))
            })
            .collect();
        let spec = BuildSpec {
            context: build.context.clone(),
            dockerfile: build.dockerfile.clone(),
            args,
            tag: tag.clone(),
            labels,
        };
        let id = ctx
            .backend
            .build_image(&spec)
            .await
            .map_err(|e| Failure::new(errors::BUILD, e.to_string()))?;
        let push = match service.image.as_deref().and_then(registry_repo) {
            Some(repo) => {
                let target = format!("{repo}:{}", input.release);
                ctx.backend
                    .tag_image(&tag, &target)
                    .await
                    .map_err(|e| Failure::new(errors::BUILD, e.to_string()))?;
                Some(target)
            }
            None => None,
        };
        (id, push)
    } else {
        let image = service.image.as_deref().ok_or_else(|| {
            Failure::new(
                errors::INPUT,
                format!("service {} has neither image nor build", input.service),
            )
        })?;
        let digests = match ctx.backend.image_digests(image).await {
            Ok(digests) => digests,
            Err(_) => {
                ctx.backend
                    .pull_image(image, ctx.config.credentials.for_image(image))
                    .await
                    .map_err(|e| {
                        Failure::new(
                            errors::IMAGE,
                            format!(
                                "image {image} is not on this machine and cannot be pulled: {e}"
                            ),
                        )
                    })?;
                ctx.backend
                    .image_digests(image)
                    .await
                    .map_err(|e| Failure::new(errors::IMAGE, e.to_string()))?
            }
        };
        ctx.backend
            .tag_image(image, &tag)
            .await
            .map_err(|e| Failure::new(errors::IMAGE, e.to_string()))?;
        let digest = digests
            .into_iter()
            .next()
            .unwrap_or_else(|| image.to_owned());
        (digest, None)
    };
    ctx.releases
        .set_image(&input.service, &input.release, &tag, &digest)
        .map_err(store_failure)?;
    output(&ImageOutput {
        reference: tag,
        digest,
        push,
    })
}

pub(crate) async fn push(ctx: &Inner, input: &Input) -> Result<Json, Failure> {
    let image = input
        .image
        .as_ref()
        .ok_or_else(|| Failure::new(errors::INPUT, "push needs $.image from the build step"))?;
    let Some(target) = &image.push else {
        return output(image);
    };
    ctx.backend
        .push_image(target, ctx.config.credentials.for_image(target))
        .await
        .map_err(|e| Failure::new(errors::PUSH, e.to_string()))?;
    let (repo, _) = crate::backend::split_reference(target);
    let digest = ctx
        .backend
        .image_digests(target)
        .await
        .map_err(|e| Failure::new(errors::PUSH, e.to_string()))?
        .into_iter()
        .find(|d| d.starts_with(&format!("{repo}@")))
        .unwrap_or_else(|| image.digest.clone());
    ctx.releases
        .set_image(&input.service, &input.release, &image.reference, &digest)
        .map_err(store_failure)?;
    output(&ImageOutput {
        reference: image.reference.clone(),
        digest,
        push: Some(target.clone()),
    })
}

pub(crate) async fn start(ctx: &Inner, input: &Input) -> Result<Json, Failure> {
    let release = ctx.release(&input.service, &input.release)?;
    let service = ctx.service(&release)?;
    let image = release.image.clone().ok_or_else(|| {
        Failure::new(
            errors::INPUT,
            format!("release {} has no image: it was never built", release.id),
        )
    })?;
    // The proxy first: a taken address must fail before anything runs. A
    // service that publishes no port has no proxy (a worker, say).
    if let Some(address) = service.proxy_address() {
        ctx.proxies
            .ensure(&input.service, address)
            .await
            .map_err(|e| Failure::new(errors::PROXY, e))?;
    }
    let replicas = service.deploy.replicas.unwrap_or(1).max(1);
    let pacing = Pacing::of(&service, input.mode, replicas);
    if pacing.order == Order::StopFirst && input.mode == Mode::Deploy {
        // Compose's stop-first: the release that serves stops before the new
        // one starts (requests fail meanwhile); a rollback starts it again.
        if let Some(previous) = input.previous.as_deref().filter(|p| *p != input.release) {
            for container in ctx.containers(&input.service, previous).await? {
                super::after::stop(ctx, &input.service, &service, previous, &container.id).await?;
            }
        }
    }
    let existing = ctx.containers(&input.service, &input.release).await?;
    let (_, health) = wait_config(&service);
    let mut ids = Vec::new();
    let mut failed = Vec::new();
    let batches: Vec<Vec<u32>> = (0..replicas)
        .collect::<Vec<_>>()
        .chunks(pacing.batch)
        .map(<[u32]>::to_vec)
        .collect();
    for (index, batch) in batches.iter().enumerate() {
        let mut started = Vec::new();
        for &replica in batch {
            let id = start_replica(ctx, input, &service, &image, replica, &existing).await?;
            started.push(id.clone());
            ids.push(id);
        }
        if index + 1 == batches.len() {
            break;
        }
        // update_config.parallelism: the next batch starts once this one is
        // healthy, update_config.delay after it.
        for id in started {
            if let Err(e) = probe::wait_healthy(ctx.backend.as_ref(), &id, &health).await {
                failed.push(e.to_string());
            }
        }
        pacing.check(&input.release, replicas, &failed)?;
        tokio::time::sleep(pacing.delay).await;
    }
    output(&ContainersOutput { ids })
}

/// Creates (or finds, after a crash) and starts one replica.
async fn start_replica(
    ctx: &Inner,
    input: &Input,
    service: &Service,
    image: &str,
    replica: u32,
    existing: &[crate::backend::Container],
) -> Result<String, Failure> {
    let spec = container_spec(
        &input.service,
        service,
        &input.release,
        replica,
        image,
        |k| ctx.config.env.get(k).cloned(),
    );
    let found = existing
        .iter()
        .find(|c| c.name.trim_start_matches('/') == spec.name);
    let id = match found {
        Some(c) if c.state == RunState::Running => c.id.clone(),
        Some(c) if c.state == RunState::Created => c.id.clone(),
        Some(c) => {
            // Exited or worse: start afresh rather than reuse its state.
            remove(ctx, &c.id).await?;
            create(ctx, &spec).await?
        }
        None => create(ctx, &spec).await?,
    };
    if found.is_none_or(|c| c.id != id) {
        join_networks(ctx, service, &id).await?;
    }
    let current = ctx
        .backend
        .inspect_container(&id)
        .await
        .map_err(|e| Failure::new(errors::START, e.to_string()))?;
    if current.state != RunState::Running {
        ctx.backend
            .start_container(&id)
            .await
            .map_err(|e| Failure::new(errors::START, e.to_string()))?;
    }
    Ok(id)
}

/// The service's Compose networks (Docker's `default` aside).
fn networks(service: &Service) -> impl Iterator<Item = (&String, &crate::compose::ServiceNetwork)> {
    service.networks.0.iter().filter(|(n, _)| *n != "default")
}

/// Attaches a new container to the service's Compose networks, creating
/// them when missing, without the service's names: only the live release
/// answers to those (see `route_names`).
pub(crate) async fn join_networks(ctx: &Inner, service: &Service, id: &str) -> Result<(), Failure> {
    let failed = |e: Error| Failure::new(errors::START, e.to_string());
    for (network, _) in networks(service) {
        ctx.backend
            .ensure_network(network, &BTreeMap::new())
            .await
            .map_err(failed)?;
        ctx.backend
            .connect_network(network, id, &[])
            .await
            .map_err(failed)?;
    }
    Ok(())
}

/// How a release's replicas are started and how many may fail: Compose's
/// `deploy.update_config` for a deploy, `deploy.rollback_config` when a
/// rollback starts an older release again. A field left out takes
/// windlass's blue/green default, not Docker's: every replica at once
/// (parallelism 0), no delay, start-first, failure_action rollback (pause
/// for rollback_config), max_failure_ratio 0.
pub(crate) struct Pacing {
    /// Replicas started at a time.
    pub batch: usize,
    pub delay: Duration,
    pub failure_action: FailureAction,
    pub max_failure_ratio: f64,
    pub order: Order,
    /// Which Compose key these come from, for messages.
    pub key: &'static str,
}

impl Pacing {
    pub(crate) fn of(service: &Service, mode: Mode, replicas: u32) -> Pacing {
        let (config, key, action) = match mode {
            Mode::Deploy => (
                service.deploy.update_config.as_ref(),
                "deploy.update_config",
                FailureAction::Rollback,
            ),
            Mode::Rollback => (
                service.deploy.rollback_config.as_ref(),
                "deploy.rollback_config",
                FailureAction::Pause,
            ),
        };
        let parallelism = config.and_then(|c| c.parallelism).unwrap_or(0);
        Pacing {
            batch: if parallelism == 0 {
                replicas.max(1) as usize
            } else {
                parallelism as usize
            },
            delay: config.and_then(|c| c.delay).unwrap_or_default(),
            failure_action: config.and_then(|c| c.failure_action).unwrap_or(action),
            max_failure_ratio: config
                .and_then(|c| c.max_failure_ratio)
                .unwrap_or(0.0)
                .clamp(0.0, 1.0),
            order: config.and_then(|c| c.order).unwrap_or(Order::StartFirst),
            key,
        }
    }

    /// Fails when more of `replicas` failed than allowed: any share but all
    /// with failure_action continue, else max_failure_ratio of them. The
    /// failure is `Deploy.Paused` under failure_action pause.
    pub(crate) fn check(
        &self,
        release: &str,
        replicas: u32,
        failed: &[String],
    ) -> Result<(), Failure> {
        let replicas = replicas.max(1) as usize;
        let allowed = match self.failure_action {
            FailureAction::Continue => replicas - 1,
            _ => ((self.max_failure_ratio * replicas as f64) + 1e-9).floor() as usize,
        }
        .min(replicas - 1);
        if failed.len() <= allowed {
            return Ok(());
        }
        let name = match self.failure_action {
            FailureAction::Pause => errors::PAUSED,
            _ => errors::UNHEALTHY,
        };
        let first = failed.first().map_or("", String::as_str);
        let detail = if replicas == 1 {
            format!("release {release}: {first}")
        } else {
            format!(
                "release {release}: {} of {replicas} replicas did not become healthy, more than {}.max_failure_ratio {} allows; first: {first}",
                failed.len(),
                self.key,
                self.max_failure_ratio
            )
        };
        Err(Failure::new(name, detail))
    }
}

async fn create(ctx: &Inner, spec: &crate::backend::ContainerSpec) -> Result<String, Failure> {
    ctx.backend.create_container(spec).await.map_err(|e| {
        let name = match e {
            Error::NotFound { .. } => errors::IMAGE,
            _ => errors::START,
        };
        Failure::new(name, e.to_string())
    })
}

pub(crate) async fn remove(ctx: &Inner, id: &str) -> Result<(), Failure> {
    ctx.backend
        .remove_container(id)
        .await
        .map_err(|e| Failure::new(errors::ENGINE, e.to_string()))
}

/// How to tell the service's containers are healthy, and the container port
/// the proxy routes to (none for a service that publishes no port).
pub(crate) fn wait_config(service: &Service) -> (Option<u16>, WaitConfig) {
    let config = health_wait(service).unwrap_or_else(|| WaitConfig::new(Check::Running));
    (service.routed_port(), config)
}

pub(crate) async fn wait_healthy(ctx: &Inner, input: &Input) -> Result<Json, Failure> {
    let release = ctx.release(&input.service, &input.release)?;
    let service = ctx.service(&release)?;
    let (port, config) = wait_config(&service);
    let ids = match &input.containers {
        Some(containers) => containers.ids.clone(),
        None => ctx
            .containers(&input.service, &input.release)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect(),
    };
    let replicas = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    let pacing = Pacing::of(&service, input.mode, replicas);
    let mut addresses = Vec::new();
    let mut failed = Vec::new();
    let mut unhealthy = Vec::new();
    for id in ids {
        let container = match probe::wait_healthy(ctx.backend.as_ref(), &id, &config).await {
            Ok(container) => container,
            Err(e) => {
                failed.push(e.to_string());
                unhealthy.push(id);
                continue;
            }
        };
        let Some(port) = port else {
            continue;
        };
        let address = container.published.get(&port).ok_or_else(|| {
            Failure::new(
                errors::START,
                format!("container {id} publishes no port {port} on 127.0.0.1"),
            )
        })?;
        addresses.push(address.to_string());
    }
    pacing.check(&input.release, replicas, &failed)?;
    // Replicas that failed within the share allowed never take traffic.
    for id in unhealthy {
        ctx.backend
            .stop_container(&id, Duration::from_secs(1))
            .await
            .map_err(|e| Failure::new(errors::ENGINE, e.to_string()))?;
        remove(ctx, &id).await?;
    }
    output(&UpstreamsOutput { addresses })
}

pub(crate) async fn switch(ctx: &Inner, input: &Input) -> Result<Json, Failure> {
    let release = ctx.release(&input.service, &input.release)?;
    let service = ctx.service(&release)?;
    let addresses = input
        .upstreams
        .as_ref()
        .map(|u| u.addresses.clone())
        .ok_or_else(|| Failure::new(errors::INPUT, "switch needs $.upstreams from wait-healthy"))?;
    let before = make_live(ctx, &input.service, &service, &input.release, &addresses).await?;
    let switched = ctx.now();
    let mut rollback_millis = None;
    if input.mode == Mode::Rollback {
        // An explicit rollback: the release it left was rolled back.
        rollback_millis = input.requested_millis.map(|at| switched - at);
        if let Some(previous) = input.previous.as_deref().filter(|p| *p != input.release) {
            ctx.releases
                .set_outcome(
                    &input.service,
                    previous,
                    Outcome::RolledBack,
                    rollback_millis,
                    Some(&format!("rolled back to {} on request", input.release)),
                )
                .map_err(store_failure)?;
        }
        ctx.releases
            .set_outcome(&input.service, &input.release, Outcome::Live, None, None)
            .map_err(store_failure)?;
    }
    Ok(serde_json::json!({
        "previous": before,
        "at_millis": switched,
        "rollback_millis": rollback_millis,
    }))
}

/// Records `release` as live, then routes the proxy to it; returns the
/// release that was live before. The store is written first so that a crash
/// in between restores the proxy to what the store says.
pub(crate) async fn make_live(
    ctx: &Inner,
    name: &str,
    service: &Service,
    release: &str,
    addresses: &[String],
) -> Result<Option<String>, Failure> {
    let upstreams = parse_upstreams(addresses)?;
    let Some(address) = service.proxy_address() else {
        // No proxy (the service publishes no port): going live is the
        // store's record, and the previous release stops at retire.
        let before = ctx.releases.live(name).map_err(store_failure)?;
        ctx.releases
            .set_live(&Live {
                service: name.to_owned(),
                release: release.to_owned(),
                address: String::new(),
                upstreams: Vec::new(),
                since_millis: ctx.now(),
            })
            .map_err(store_failure)?;
        let before = before.map(|l| l.release);
        route_names(ctx, name, service, release, before.as_deref()).await?;
        return Ok(before);
    };
    let proxy = ctx
        .proxies
        .ensure(name, address)
        .await
        .map_err(|e| Failure::new(errors::PROXY, e))?;
    ctx.releases
        .set_live(&Live {
            service: name.to_owned(),
            release: release.to_owned(),
            address: proxy.local_addr().to_string(),
            upstreams: addresses.to_vec(),
            since_millis: ctx.now(),
        })
        .map_err(store_failure)?;
    let before = proxy
        .switch(ProxyRelease::new(release, upstreams))
        .map_err(|e| Failure::new(errors::PROXY, e.to_string()))?;
    route_names(ctx, name, service, release, before.as_deref()).await?;
    Ok(before)
}

/// Gives the service's names on its Compose networks (the service name and
/// the `aliases` listed) to the containers of the live release and takes
/// them from the release live before, so that other services reach one
/// release by name, as they reach one through the proxy. Docker cannot
/// change a container's aliases in place: each is detached from the network
/// and attached again (these networks carry no published port). Safe to
/// repeat after a crash.
async fn route_names(
    ctx: &Inner,
    name: &str,
    service: &Service,
    live: &str,
    before: Option<&str>,
) -> Result<(), Failure> {
    let named: Vec<(&String, Vec<String>)> = networks(service)
        .map(|(network, options)| {
            let mut names = vec![name.to_owned()];
            names.extend(options.aliases.iter().cloned());
            (network, names)
        })
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let engine = |e: Error| Failure::new(errors::ENGINE, e.to_string());
    let mut moves: Vec<(String, bool)> = ctx
        .containers(name, live)
        .await?
        .into_iter()
        .map(|c| (c.id, true))
        .collect();
    if let Some(before) = before.filter(|b| *b != live) {
        let old = ctx.containers(name, before).await?;
        moves.extend(old.into_iter().map(|c| (c.id, false)));
    }
    for (id, gets_names) in moves {
        for (network, names) in &named {
            ctx.backend
                .disconnect_network(network, &id)
                .await
                .map_err(engine)?;
            let aliases: &[String] = if gets_names { names } else { &[] };
            ctx.backend
                .connect_network(network, &id, aliases)
                .await
                .map_err(engine)?;
        }
    }
    Ok(())
}

/// The grace a container gets to stop.
pub(crate) fn stop_grace(service: &Service) -> Duration {
    service.stop_grace_period.unwrap_or(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::registry_repo;

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

#[cfg(test)]
mod pacing_tests {
    use std::path::Path;

    use super::*;

    fn pacing(update_config: &str, replicas: u32) -> Pacing {
        let text = format!("services:\n  web:\n    image: web\n    deploy:\n      replicas: {replicas}\n      update_config: {update_config}\n");
        let project = crate::compose::parse(&text, Path::new("compose.yaml")).expect("valid");
        Pacing::of(&project.services["web"], Mode::Deploy, replicas)
    }

    fn failures(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("replica {i} exited")).collect()
    }

    #[test]
    fn update_config_sets_batches_and_the_share_that_may_fail() {
        let all_at_once = pacing("{}", 4);
        assert_eq!(
            (all_at_once.batch, all_at_once.order),
            (4, Order::StartFirst)
        );
        assert!(all_at_once.check("r1", 4, &failures(0)).is_ok());
        let error = all_at_once
            .check("r1", 4, &failures(1))
            .expect_err("none may fail");
        assert_eq!(error.error, errors::UNHEALTHY);
        assert!(error.cause.contains("1 of 4 replicas"), "{}", error.cause);

        let paced = pacing(
            "{parallelism: 2, delay: 1s, max_failure_ratio: 0.5, order: stop-first}",
            4,
        );
        assert_eq!(
            (paced.batch, paced.delay, paced.order),
            (2, Duration::from_secs(1), Order::StopFirst)
        );
        assert!(paced.check("r1", 4, &failures(2)).is_ok());
        assert!(paced.check("r1", 4, &failures(3)).is_err());

        let pause = pacing("{failure_action: pause}", 1);
        assert_eq!(
            pause
                .check("r1", 1, &failures(1))
                .expect_err("paused")
                .error,
            errors::PAUSED
        );

        // continue tolerates any share but all: something must take traffic.
        let carry_on = pacing("{failure_action: continue}", 3);
        assert!(carry_on.check("r1", 3, &failures(2)).is_ok());
        assert!(carry_on.check("r1", 3, &failures(3)).is_err());
    }
}
