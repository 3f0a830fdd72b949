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
    EndpointSpec, EndpointSpecModeEnum, HealthConfig, Limit, Mount, MountTmpfsOptions, MountType,
    MountVolumeOptions, MountVolumeOptionsDriverConfig, NetworkAttachmentConfig, ResourceObject,
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
    TaskSpecPlacement, TaskSpecPlacementPreferences, TaskSpecPlacementSpread, TaskSpecResources,
    TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum,
};
use windlass_store::releases::{Installation, ServiceKey};

use super::store::Mounted;
use crate::compose::{MountKind, RestartCondition, Service};
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

/// The service spec of `release`, running `image` (pinned by digest), with
/// windlass's `labels` (on the service and its containers) and the
/// versions of its secrets and configs in the Swarm's store (`mounted`).
pub fn service_spec(
    release: &ReleaseContext,
    image: &str,
    labels: HashMap<String, String>,
    name: &str,
    mounted: Mounted,
) -> ServiceSpec {
    let spec = &release.spec;
    // `deploy.labels` label the Swarm service, the service's `labels` its
    // containers; windlass's own win on both (they find the release).
    let with = |extra: &std::collections::BTreeMap<String, Option<String>>| {
        let mut all: HashMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
            .collect();
        all.extend(labels.clone());
        all
    };
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
        labels: Some(with(&spec.labels)),
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
        mounts: Some(mounts(spec)).filter(|m| !m.is_empty()),
        secrets: Some(mounted.secrets).filter(|s| !s.is_empty()),
        configs: Some(mounted.configs).filter(|c| !c.is_empty()),
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
        labels: Some(with(&spec.deploy.labels)),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            placement: placement(spec),
            resources: resources(spec),
            restart_policy: Some(restart_policy(spec)),
            networks: Some(networks),
            ..Default::default()
        }),
        mode: Some(mode),
        // `dnsrr` whatever `deploy.endpoint_mode` says (the reader warns
        // about `vip`): the entry point resolves `tasks.NAME` and balances
        // over the tasks itself, while two releases answer the service's
        // name during a switch; a VIP needs `ip_vs` on every node.
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: None,
        }),
        ..Default::default()
    }
}

/// `deploy.placement`: constraints, spread preferences, and at most so many
/// tasks on one node.
fn placement(spec: &Service) -> Option<TaskSpecPlacement> {
    let placement = spec.deploy.placement.as_ref()?;
    Some(TaskSpecPlacement {
        constraints: Some(placement.constraints.clone()).filter(|c| !c.is_empty()),
        preferences: Some(
            placement
                .preferences
                .iter()
                .map(|p| TaskSpecPlacementPreferences {
                    spread: Some(TaskSpecPlacementSpread {
                        spread_descriptor: Some(p.spread.clone()),
                    }),
                })
                .collect::<Vec<_>>(),
        )
        .filter(|p| !p.is_empty()),
        max_replicas: placement
            .max_replicas_per_node
            .map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
        platforms: None,
    })
}

/// The service's `volumes` as the Swarm mounts them on each node: a named
/// volume by Compose's name for it (`APP_KEY`, or its `name`), made by
/// each node's engine with the top-level entry's `driver`, `driver_opts`
/// and `labels` unless it is `external`; an anonymous volume; a tmpfs; a
/// bind of a path on the node that runs the task (as `docker stack
/// deploy` binds).
fn mounts(spec: &Service) -> Vec<Mount> {
    spec.volumes
        .iter()
        .map(|volume| {
            let mut mount = Mount {
                target: Some(volume.target.clone()),
                read_only: Some(volume.read_only).filter(|r| *r),
                ..Default::default()
            };
            match volume.kind {
                MountKind::Volume => {
                    mount.typ = Some(MountType::VOLUME);
                    let named = volume.volume.as_ref();
                    mount.source = named
                        .map(|v| v.name.clone())
                        .or_else(|| volume.source.clone());
                    let made_here = named.filter(|v| !v.external);
                    mount.volume_options = Some(MountVolumeOptions {
                        no_copy: Some(volume.nocopy).filter(|n| *n),
                        labels: made_here
                            .map(|v| v.labels.clone().into_iter().collect::<HashMap<_, _>>())
                            .filter(|l| !l.is_empty()),
                        driver_config: made_here
                            .filter(|v| v.driver.is_some() || !v.driver_opts.is_empty())
                            .map(|v| MountVolumeOptionsDriverConfig {
                                name: Some(v.driver.clone().unwrap_or_else(|| "local".into())),
                                options: Some(v.driver_opts.clone().into_iter().collect())
                                    .filter(|o: &HashMap<_, _>| !o.is_empty()),
                            }),
                        subpath: None,
                    });
                }
                MountKind::Bind => {
                    mount.typ = Some(MountType::BIND);
                    mount.source = volume.source.clone();
                }
                MountKind::Tmpfs => {
                    mount.typ = Some(MountType::TMPFS);
                    mount.tmpfs_options = Some(MountTmpfsOptions {
                        size_bytes: volume.size.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
                        mode: volume.mode.map(i64::from),
                        options: None,
                    });
                }
            }
            mount
        })
        .collect()
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
        Some(RestartCondition::None | RestartCondition::No) => {
            TaskSpecRestartPolicyConditionEnum::NONE
        }
        Some(RestartCondition::OnFailure) => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
        // A Swarm has no `unless-stopped`: its tasks are restarted until the
        // service is scaled down or removed, which is what that word asks.
        Some(
            RestartCondition::Any | RestartCondition::Always | RestartCondition::UnlessStopped,
        )
        | None => TaskSpecRestartPolicyConditionEnum::ANY,
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use bollard::models::{MountType, TaskSpecPlacementSpread};
    use windlass_store::releases::{Release, ServiceKey};

    use super::service_spec;
    use crate::compose::{check_text, FileChecks, Options, Target};
    use crate::target::{Mode, ReleaseContext};

    fn release(text: &str) -> ReleaseContext {
        let file = Path::new("/swarm/compose.yaml");
        let options = Options {
            files: FileChecks::Skip,
            target: Some(Target::Swarm),
            ..Options::default()
        };
        let (project, diagnostics) = check_text(text, file, &options);
        let project = project.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let record: Release = serde_json::from_value(serde_json::json!({
            "service": "shop/web", "id": "r1", "compose_file": "/swarm/compose.yaml",
            "compose_text": text, "created_millis": 0, "by": "test", "outcome": "deploying",
        }))
        .expect("record");
        ReleaseContext {
            key: ServiceKey::new("shop", "web").expect("key"),
            service: "web".into(),
            project: project.project.clone(),
            record,
            spec: project.services["web"].clone(),
            networks: BTreeMap::from([("default".into(), "shop_default".into())]),
            external_networks: Default::default(),
            joins: BTreeMap::new(),
            previous: None,
            mode: Mode::Deploy,
            requested_millis: None,
            legacy_links: false,
        }
    }

    #[test]
    fn placement_labels_and_volumes_go_where_a_swarm_reads_them() {
        let text = "name: shop\nservices:\n  web:\n    image: web\n    labels: {tier: front}\n    volumes: [data:/data, 'cache:/cache:ro', {type: tmpfs, target: /tmp, tmpfs: {size: 1m}}]\n    deploy:\n      labels: {team: shop}\n      placement:\n        constraints: [node.role==worker]\n        preferences: [{spread: node.labels.zone}]\n        max_replicas_per_node: 1\nvolumes:\n  data: {driver: local, driver_opts: {type: tmpfs, device: tmpfs}, labels: {keep: 'yes'}}\n  cache: {external: true, name: shared-cache}\n";
        let labels = [("windlass.release".to_owned(), "r1".to_owned())].into();
        let spec = service_spec(
            &release(text),
            "web@sha256:0",
            labels,
            "shop_web_r1_i",
            Default::default(),
        );
        let service_labels = spec.labels.expect("labels");
        assert_eq!(service_labels["team"], "shop");
        assert_eq!(service_labels["windlass.release"], "r1");
        assert!(!service_labels.contains_key("tier"));
        let task = spec.task_template.expect("task");
        let container = task.container_spec.expect("container");
        let container_labels = container.labels.expect("labels");
        assert_eq!(container_labels["tier"], "front");
        assert!(!container_labels.contains_key("team"));
        let placement = task.placement.expect("placement");
        assert_eq!(
            placement.constraints,
            Some(vec!["node.role==worker".to_owned()])
        );
        assert_eq!(
            placement.preferences.expect("preferences")[0].spread,
            Some(TaskSpecPlacementSpread {
                spread_descriptor: Some("node.labels.zone".into())
            })
        );
        assert_eq!(placement.max_replicas, Some(1));
        let mounts = container.mounts.expect("mounts");
        assert_eq!(mounts[0].source.as_deref(), Some("shop_data"));
        let data = mounts[0].volume_options.clone().expect("options");
        let driver = data.driver_config.expect("driver");
        assert_eq!(driver.name.as_deref(), Some("local"));
        assert_eq!(driver.options.expect("options")["type"], "tmpfs");
        assert_eq!(data.labels.expect("labels")["keep"], "yes");
        // An external volume is the node's already: no driver to make it.
        assert_eq!(mounts[1].source.as_deref(), Some("shared-cache"));
        assert_eq!(mounts[1].read_only, Some(true));
        assert_eq!(
            mounts[1]
                .volume_options
                .clone()
                .and_then(|o| o.driver_config),
            None
        );
        assert_eq!(mounts[2].typ, Some(MountType::TMPFS));
        assert_eq!(
            mounts[2].tmpfs_options.clone().and_then(|t| t.size_bytes),
            Some(1 << 20)
        );
    }
}
