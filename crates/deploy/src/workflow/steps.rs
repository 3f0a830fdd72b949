//! The steps up to the switch: build (or take) the image, push it, start the
//! release's containers beside the live ones, wait until they are healthy,
//! and make the release live.

use std::collections::BTreeMap;
use std::net::SocketAddr;
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
use crate::compose::Service;
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
                    .pull_image(image, ctx.config.registry_auth.as_ref())
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
        .push_image(target, ctx.config.registry_auth.as_ref())
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
    // The proxy first: a taken address must fail before anything runs.
    let address = proxy_address(&input.service, &service)?;
    ctx.proxies
        .ensure(&input.service, address)
        .await
        .map_err(|e| Failure::new(errors::PROXY, e))?;
    let existing = ctx.containers(&input.service, &input.release).await?;
    let replicas = service.deploy.replicas.unwrap_or(1).max(1);
    let mut ids = Vec::new();
    for replica in 0..replicas {
        let spec = container_spec(
            &input.service,
            &service,
            &input.release,
            replica,
            &image,
            |k| ctx.config.env.get(k).cloned(),
        );
        if let Some(network) = &spec.network {
            ctx.backend
                .ensure_network(network, &BTreeMap::new())
                .await
                .map_err(|e| Failure::new(errors::START, e.to_string()))?;
        }
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
        ids.push(id);
    }
    output(&ContainersOutput { ids })
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

pub(crate) fn proxy_address(name: &str, service: &Service) -> Result<SocketAddr, Failure> {
    service.proxy_address().ok_or_else(|| {
        Failure::new(
            errors::INPUT,
            format!("service {name} has no address for windlass's proxy: publish a port (ports: [\"8080:80\"]) or set x-windlass.address"),
        )
    })
}

/// How to tell the service's containers are healthy.
pub(crate) fn wait_config(name: &str, service: &Service) -> Result<(u16, WaitConfig), Failure> {
    let port = service.routed_port().ok_or_else(|| {
        Failure::new(
            errors::INPUT,
            format!(
                "service {name} has no port to route to: list one in ports or set x-windlass.port"
            ),
        )
    })?;
    let config = health_wait(service).unwrap_or_else(|| WaitConfig::new(Check::Tcp { port }));
    Ok((port, config))
}

pub(crate) async fn wait_healthy(ctx: &Inner, input: &Input) -> Result<Json, Failure> {
    let release = ctx.release(&input.service, &input.release)?;
    let service = ctx.service(&release)?;
    let (port, config) = wait_config(&input.service, &service)?;
    let ids = match &input.containers {
        Some(containers) => containers.ids.clone(),
        None => ctx
            .containers(&input.service, &input.release)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect(),
    };
    let mut addresses = Vec::new();
    for id in ids {
        let container = probe::wait_healthy(ctx.backend.as_ref(), &id, &config)
            .await
            .map_err(|e| {
                Failure::new(errors::UNHEALTHY, format!("release {}: {e}", input.release))
            })?;
        let address = container.published.get(&port).ok_or_else(|| {
            Failure::new(
                errors::START,
                format!("container {id} publishes no port {port} on 127.0.0.1"),
            )
        })?;
        addresses.push(address.to_string());
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
    let address = proxy_address(name, service)?;
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
    proxy
        .switch(ProxyRelease::new(release, upstreams))
        .map_err(|e| Failure::new(errors::PROXY, e.to_string()))
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
