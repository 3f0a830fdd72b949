//! A release as a Swarm service: its name, and the service spec that Compose's
//! fields give it. Pure: no engine call, so it is tested by data.
//!
//! One Swarm service per Compose service per release (`APP_SERVICE_rN_INST`),
//! `dnsrr` (this kernel has no `ip_vs`, so no VIP), on the app's overlay
//! networks, with the service's name as an alias there (other services of
//! the app reach it by name), its tasks labelled as the Docker target
//! labels its containers.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, NetworkAttachmentConfig,
    ResourceObject, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec,
    TaskSpecContainerSpec, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};
use windlass_store::releases::{Installation, ServiceKey};

use crate::compose::{RestartCondition, Service};
use crate::target::ReleaseContext;

/// The Swarm service of release `release` of `key` in `installation`.
pub fn service_name(installation: &Installation, key: &ServiceKey, release: &str) -> String {
    format!(
        "{}_{}_{release}_{installation}",
        swarm_name(key.app()),
        key.service()
    )
}

/// An app's or a network's name as a Swarm takes it. A Swarm names its
/// services and networks with DNS name components (letters, digits, `-`
/// and `_`): an environment's app `shop.production` and its network
/// `shop.production_default` are `shop--production` and
/// `shop--production_default` there (the labels keep the app's own name).
pub fn swarm_name(name: &str) -> String {
    name.replace('.', "--")
}

/// The DNS name every task of a release answers to on its networks.
pub fn tasks_name(service_name: &str) -> String {
    format!("tasks.{service_name}")
}

/// How many tasks the release runs: `deploy.replicas` (or `scale`), 1 by
/// default; `None` for `mode: global` (one per node).
pub fn replicas(spec: &Service) -> Option<u32> {
    if spec.deploy.mode.as_deref() == Some("global") {
        return None;
    }
    Some(spec.deploy.replicas.or(spec.scale).unwrap_or(1))
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The service spec of `release`, running `image` (pinned by digest).
pub fn service_spec(
    release: &ReleaseContext,
    image: &str,
    labels: HashMap<String, String>,
    name: &str,
) -> ServiceSpec {
    let spec = &release.spec;
    let mut env: Vec<String> = spec
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    env.push(format!("WINDLASS_SERVICE={}", release.service));
    env.push(format!("WINDLASS_RELEASE={}", release.id()));
    let networks = release
        .networks
        .values()
        .map(|network| NetworkAttachmentConfig {
            target: Some(swarm_name(network)),
            aliases: Some(vec![release.service.clone()]),
            ..Default::default()
        })
        .collect();
    let container = TaskSpecContainerSpec {
        image: Some(image.to_owned()),
        labels: Some(labels.clone()),
        command: spec.entrypoint.clone(),
        args: spec.command.clone(),
        env: Some(env),
        dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        init: spec.init,
        stop_signal: spec.stop_signal.clone(),
        stop_grace_period: spec.stop_grace_period.map(nanos),
        health_check: health(spec),
        hostname: spec.hostname.clone(),
        read_only: Some(spec.read_only).filter(|r| *r),
        ..Default::default()
    };
    let mode = match replicas(spec) {
        Some(replicas) => ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(i64::from(replicas)),
            }),
            ..Default::default()
        },
        None => ServiceSpecMode {
            global: Some(HashMap::new()),
            ..Default::default()
        },
    };
    ServiceSpec {
        name: Some(name.to_owned()),
        labels: Some(labels),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources: resources(spec),
            restart_policy: Some(restart_policy(spec)),
            networks: Some(networks),
            ..Default::default()
        }),
        mode: Some(mode),
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: None,
        }),
        ..Default::default()
    }
}

fn health(spec: &Service) -> Option<HealthConfig> {
    let check = spec.healthcheck.as_ref()?;
    if check.disable {
        return Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        });
    }
    Some(HealthConfig {
        test: check.test.clone(),
        interval: check.interval.map(nanos),
        timeout: check.timeout.map(nanos),
        retries: check.retries.map(i64::from),
        start_period: check.start_period.map(nanos),
        start_interval: check.start_interval.map(nanos),
    })
}

/// `deploy.resources` (with `mem_limit`/`cpus`/`pids_limit` settled into it).
fn resources(spec: &Service) -> Option<TaskSpecResources> {
    let resources = spec.deploy.resources.as_ref();
    let limits = resources.and_then(|r| r.limits.as_ref());
    let reservations = resources.and_then(|r| r.reservations.as_ref());
    let cpus = |c: f64| (c * 1e9) as i64;
    let memory = |m: u64| i64::try_from(m).unwrap_or(i64::MAX);
    let limit = Limit {
        nano_cpus: limits.and_then(|l| l.cpus).or(spec.cpus).map(cpus),
        memory_bytes: limits.and_then(|l| l.memory).or(spec.mem_limit).map(memory),
        pids: limits.and_then(|l| l.pids).or(spec.pids_limit),
    };
    let reservation = ResourceObject {
        nano_cpus: reservations.and_then(|r| r.cpus).map(cpus),
        memory_bytes: reservations.and_then(|r| r.memory).map(memory),
        generic_resources: None,
    };
    if limit == Limit::default() && reservation == ResourceObject::default() {
        return None;
    }
    Some(TaskSpecResources {
        limits: Some(limit),
        reservations: Some(reservation),
        ..Default::default()
    })
}

/// `deploy.restart_policy`, Swarm's default (`any`) when not given.
fn restart_policy(spec: &Service) -> TaskSpecRestartPolicy {
    let policy = spec.deploy.restart_policy.as_ref();
    let condition = match policy.and_then(|p| p.condition) {
        Some(RestartCondition::None) => TaskSpecRestartPolicyConditionEnum::NONE,
        Some(RestartCondition::OnFailure) => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
        Some(RestartCondition::Any) | None => TaskSpecRestartPolicyConditionEnum::ANY,
    };
    TaskSpecRestartPolicy {
        condition: Some(condition),
        delay: Some(nanos(
            policy
                .and_then(|p| p.delay)
                .unwrap_or(Duration::from_millis(500)),
        )),
        max_attempts: policy.and_then(|p| p.max_attempts).map(i64::from),
        window: policy.and_then(|p| p.window).map(nanos),
    }
}
