//! From a Compose service to what the backend is asked to do: the container
//! spec of one replica of a release, and how to tell it is healthy.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::backend::{
    self, BuildOptions, BuildSpec, ContainerSpec, ExposedPort, FileMount, Healthcheck, LogConfig,
    Mount, RestartPolicy, Ulimit, VolumeSpec,
};
use crate::compose::{self, MountKind, NetworkMode, Protocol, Restart, Service};
use crate::probe::{Check, WaitConfig};
use windlass_store::releases::{Installation, ServiceKey};

mod anonymous;
mod host;

pub use anonymous::{
    anonymous_volume_name, image_volumes_alone, keep_anonymous_volumes, uncovered_image_volumes,
};
pub(crate) use host::volumes_from;

/// The container for replica `replica` of `release` of service `key` of
/// `installation`, running `image` (a reference pinned by the deploy,
/// ideally by digest). Values missing from `environment` are taken through
/// `lookup` (windlass's own environment), as Compose does. It is named as
/// Compose names containers (`PROJECT-SERVICE-N`, N from 1), with the
/// release and the installation (two state folders may deploy one app to
/// one engine): `APP-SERVICE-rK-N-INSTALLATION`. Its labels say all of
/// that ([`backend::release_labels`]).
pub fn container_spec(
    installation: &Installation,
    key: &ServiceKey,
    service: &Service,
    release: &str,
    replica: u32,
    image: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> ContainerSpec {
    let mut labels: BTreeMap<String, String> = service
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
        .collect();
    labels.extend(backend::release_labels(installation, key, release));
    let (project, name) = (key.app(), key.service());
    let mut env: BTreeMap<String, String> = service
        .environment
        .iter()
        .filter_map(|(k, v)| v.clone().or_else(|| lookup(k)).map(|v| (k.clone(), v)))
        .collect();
    // What Swarm's templates give a task ({{.Service.Name}}, {{.Task.Slot}}),
    // as plain variables.
    for (key, value) in [
        ("WINDLASS_SERVICE", name.to_owned()),
        ("WINDLASS_RELEASE", release.to_owned()),
        ("WINDLASS_REPLICA", replica.to_string()),
    ] {
        env.entry(key.to_owned()).or_insert(value);
    }
    let own_namespace = !matches!(
        service.network_mode,
        Some(NetworkMode::Service(_) | NetworkMode::Container(_))
    );
    let healthcheck = service
        .healthcheck
        .as_ref()
        .filter(|h| !h.disable)
        .and_then(|h| {
            h.test.clone().map(|test| Healthcheck {
                test,
                interval: h.interval,
                timeout: h.timeout,
                retries: h.retries,
                start_period: h.start_period,
            })
        });
    ContainerSpec {
        // A fixed container_name is the container's name, as in Compose;
        // such a service runs alone (see `Service::must_run_alone`).
        name: service.container_name.clone().unwrap_or_else(|| {
            format!("{project}-{name}-{release}-{}-{installation}", replica + 1)
        }),
        image: image.into(),
        command: service.command.clone(),
        env,
        // Another network mode has no bridge to publish on: the container
        // binds the host's ports (host) or has none of its own.
        ports: container_ports(service, Protocol::Tcp),
        udp_ports: container_ports(service, Protocol::Udp),
        labels,
        healthcheck,
        // The container's own network is Docker's default bridge (the
        // Docker target's `0--windlass` when it joins Compose
        // networks: see `target::docker::start::ports_network`), which
        // carries its published port; it joins the service's Compose
        // networks after it is created, so that their names can move
        // between releases without touching the port the proxy uses.
        // Another service's namespace is its live container's, which the
        // target finds when it creates the container.
        network: match &service.network_mode {
            None | Some(NetworkMode::Bridge | NetworkMode::Service(_)) => None,
            Some(mode) => Some(mode.to_string()),
        },
        init: service.init.unwrap_or(false),
        stop_grace_period: service.stop_grace_period,
        health_start_interval: service.healthcheck.as_ref().and_then(|h| h.start_interval),
        mounts: mounts(service),
        files: files(service),
        restart: service.restart_policy().map(|r| match r {
            Restart::No => RestartPolicy::No,
            Restart::Always => RestartPolicy::Always,
            Restart::OnFailure(max_retries) => RestartPolicy::OnFailure { max_retries },
            Restart::UnlessStopped => RestartPolicy::UnlessStopped,
        }),
        user: service.user.clone(),
        working_dir: service.working_dir.clone(),
        entrypoint: service.entrypoint.clone(),
        cap_add: service.cap_add.clone(),
        cap_drop: service.cap_drop.clone(),
        stop_signal: service.stop_signal.clone(),
        extra_hosts: service
            .extra_hosts
            .iter()
            .map(|h| format!("{}:{}", h.host, h.ip))
            .collect(),
        ulimits: service
            .ulimits
            .iter()
            .map(|(name, u)| Ulimit {
                name: name.clone(),
                soft: u.soft,
                hard: u.hard,
            })
            .collect(),
        shm_size: service.shm_size,
        platform: service.platform.clone(),
        tty: service.tty,
        stdin_open: service.stdin_open,
        logging: service.logging.as_ref().map(|l| LogConfig {
            driver: l.driver.clone().unwrap_or_else(|| "json-file".into()),
            options: l.options.clone(),
        }),
        // Docker refuses exposed ports in another container's namespace.
        expose: service
            .expose
            .iter()
            .filter(|_| own_namespace)
            .map(|e| ExposedPort {
                port: e.port,
                udp: e.protocol == Protocol::Udp,
            })
            .collect(),
        hostname: service.hostname.clone(),
        domainname: service.domainname.clone(),
        dns: service.dns.clone(),
        dns_search: service.dns_search.clone(),
        dns_opt: service.dns_opt.clone(),
        read_only_root: service.read_only,
        privileged: service.privileged,
        security_opt: service.security_opt.clone(),
        sysctls: service
            .sysctls
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
            .collect(),
        group_add: service.group_add.clone(),
        mem_limit: service.limits().memory,
        cpus: service.limits().cpus,
        pids_limit: service.limits().pids,
        host: host::host_settings(service),
    }
}

/// The container ports of `protocol` the service's proxies carry traffic
/// to (and, for TCP, the one its health probe looks at), each once.
pub(crate) fn container_ports(service: &Service, protocol: Protocol) -> Vec<u16> {
    if !service.bridged() {
        return Vec::new();
    }
    let mut ports: Vec<u16> = service
        .published_ports()
        .iter()
        .filter(|p| p.protocol == protocol)
        .map(|p| p.target)
        .collect();
    if protocol == Protocol::Tcp {
        ports.extend(service.routed_port());
    }
    let mut seen = std::collections::BTreeSet::new();
    ports.retain(|p| seen.insert(*p));
    ports
}

/// The service's `volumes` and `tmpfs` as mounts.
fn mounts(service: &Service) -> Vec<Mount> {
    let volumes = service.volumes.iter().map(|v| Mount {
        kind: match v.kind {
            MountKind::Volume => backend::MountKind::Volume {
                name: v.volume.as_ref().map(|spec| spec.name.clone()),
                nocopy: v.nocopy,
            },
            MountKind::Bind => backend::MountKind::Bind {
                source: v.source.clone().unwrap_or_default().into(),
                create: v.create_host_path,
            },
            MountKind::Tmpfs => backend::MountKind::Tmpfs {
                size: v.size,
                mode: v.mode,
            },
        },
        target: v.target.clone(),
        read_only: v.read_only,
    });
    let tmpfs = service.tmpfs.iter().map(|entry| {
        // `/run:size=64m,mode=1777` as `docker run --tmpfs` takes it.
        let (target, options) = entry.split_once(':').unwrap_or((entry, ""));
        let option = |name: &str| {
            options
                .split(',')
                .find_map(|o| o.strip_prefix(name)?.strip_prefix('='))
        };
        Mount {
            kind: backend::MountKind::Tmpfs {
                size: option("size").and_then(compose_bytes),
                mode: option("mode").and_then(|m| u32::from_str_radix(m, 8).ok()),
            },
            target: target.to_owned(),
            read_only: false,
        }
    });
    let mut mounts: Vec<Mount> = volumes.chain(tmpfs).collect();
    // `use_api_socket`, as Compose gives it: the engine's socket at the same
    // path, unless a volume of the service mounts something there already.
    if service.use_api_socket && !mounts.iter().any(|m| m.target == API_SOCKET) {
        mounts.push(Mount {
            kind: backend::MountKind::Bind {
                source: API_SOCKET.into(),
                create: false,
            },
            target: API_SOCKET.to_owned(),
            read_only: false,
        });
    }
    mounts
}

/// The engine's socket, which `use_api_socket` mounts.
pub const API_SOCKET: &str = "/var/run/docker.sock";

fn compose_bytes(text: &str) -> Option<u64> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let number: u64 = digits.parse().ok()?;
    let unit = match text[digits.len()..].to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(unit)
}

/// Secrets and configs as read-only files in the container.
fn files(service: &Service) -> Vec<FileMount> {
    service
        .secrets
        .iter()
        .chain(&service.configs)
        .filter_map(|f| {
            let content = match f.content.as_ref()? {
                compose::FileContent::File(path) => backend::FileContent::Path(path.clone()),
                compose::FileContent::Text(text) => {
                    backend::FileContent::Bytes(text.clone().into_bytes())
                }
                compose::FileContent::Bytes(bytes) => backend::FileContent::Bytes(bytes.clone()),
            };
            Some(FileMount {
                target: f.target.clone()?,
                content,
            })
        })
        .collect()
}

/// The named volumes a service's containers need, to create before them.
pub fn volumes(service: &Service) -> Vec<VolumeSpec> {
    service
        .volumes
        .iter()
        .filter_map(|v| v.volume.clone())
        .collect()
}

/// How to build the service's image: the context, Dockerfile, arguments
/// (a value missing is taken through `lookup`, as Compose does), the tag
/// and labels, and Compose's further settings (target, cache_from ...).
pub fn build_spec(
    service: &Service,
    tag: &str,
    labels: BTreeMap<String, String>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Option<(BuildSpec, BuildOptions)> {
    let build = service.build.as_ref()?;
    let mut all_labels: BTreeMap<String, String> = build
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
        .collect();
    all_labels.extend(labels);
    let mut args: BTreeMap<String, String> = build
        .args
        .iter()
        .filter_map(|(k, v)| v.clone().or_else(|| lookup(k)).map(|v| (k.clone(), v)))
        .collect();
    if build.cache_to.iter().any(|cache| inline_cache(cache)) {
        // BuildKit's inline cache exporter, as `docker build` turns it on.
        args.insert("BUILDKIT_INLINE_CACHE".into(), "1".into());
    }
    let spec = BuildSpec {
        context: build.context.clone(),
        dockerfile: build.dockerfile.clone(),
        args,
        tag: tag.to_owned(),
        labels: all_labels,
        secrets: build
            .secrets
            .iter()
            .filter_map(|secret| {
                let id = secret
                    .target
                    .clone()
                    .unwrap_or_else(|| secret.source.clone());
                let content = match secret.content.clone()? {
                    compose::FileContent::File(path) => backend::FileContent::Path(path),
                    compose::FileContent::Text(text) => {
                        backend::FileContent::Bytes(text.into_bytes())
                    }
                    compose::FileContent::Bytes(bytes) => backend::FileContent::Bytes(bytes),
                };
                Some((id, content))
            })
            .collect(),
        ssh: build
            .ssh
            .iter()
            .filter_map(|agent| Some((agent.id.clone(), agent.socket.clone()?)))
            .collect(),
    };
    let options = BuildOptions {
        target: build.target.clone(),
        cache_from: build
            .cache_from
            .iter()
            .filter_map(|cache| cache_image(cache))
            .collect(),
        network: build.network.clone(),
        shm_size: build.shm_size,
    };
    Some((spec, options))
}

/// The image a `cache_from` entry reads: `IMAGE`, or
/// `type=registry,ref=IMAGE`; `None` for other cache types (they need a
/// BuildKit session).
pub fn cache_image(entry: &str) -> Option<String> {
    if !entry.contains('=') {
        return Some(entry.to_owned());
    }
    let attrs: BTreeMap<&str, &str> = entry
        .split(',')
        .filter_map(|attr| attr.trim().split_once('='))
        .collect();
    match attrs.get("type") {
        None | Some(&"registry") => attrs.get("ref").map(|r| (*r).to_owned()),
        Some(_) => None,
    }
}

/// Whether a `cache_to` entry writes the cache into the built image
/// (`type=inline`), the one export the build API makes without a session.
pub fn inline_cache(entry: &str) -> bool {
    entry
        .split(',')
        .filter_map(|attr| attr.trim().split_once('='))
        .any(|(key, value)| key == "type" && value == "inline")
}

/// How to wait for a replica to be healthy: windlass's HTTP or TCP probe
/// when `x-windlass.health` asks for one, else Docker's healthcheck when the
/// service has one, else a TCP connect to the routed port.
pub fn health_wait(service: &Service) -> Option<WaitConfig> {
    let probe = &service.windlass.health;
    if service.runs_to_completion {
        // A job is done when it exited 0; it may take a while (a migration).
        let mut config = WaitConfig::new(Check::Completes);
        config.interval = probe.interval.unwrap_or(Duration::from_millis(100));
        config.deadline = probe.start_timeout.unwrap_or(Duration::from_secs(600));
        return Some(config);
    }
    let port = service.routed_port();
    let check = match (&probe.http, probe.tcp, port) {
        (Some(path), _, Some(port)) => Check::Http {
            port,
            path: path.clone(),
        },
        (None, true, Some(port)) => Check::Tcp { port },
        _ if service
            .healthcheck
            .as_ref()
            .is_some_and(|h| !h.disable && h.test.is_some()) =>
        {
            Check::Docker
        }
        (_, _, Some(port)) => Check::Tcp { port },
        _ => return None,
    };
    let mut config = WaitConfig::new(check);
    config.interval = probe.interval.unwrap_or(Duration::from_millis(50));
    config.probe_timeout = probe.timeout.unwrap_or(Duration::from_secs(1));
    config.deadline = probe.start_timeout.unwrap_or(Duration::from_secs(60));
    Some(config)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backend::{APP_LABEL, INSTALLATION_LABEL, RELEASE_LABEL};
    use crate::compose::parse;

    fn key(service: &str) -> ServiceKey {
        ServiceKey::new("shop", service).expect("a key")
    }

    #[test]
    fn a_service_becomes_a_release_container() {
        let text = "services:\n  web:\n    image: web\n    ports: [\"8080:80\"]\n    environment: [\"A=1\", \"FROM_HOST\", \"ABSENT\"]\n    labels: {team: shop}\n    init: true\n    x-windlass:\n      health: {http: /health, start_timeout: 5s}\n";
        let project = parse(text, Path::new("compose.yaml")).expect("valid");
        let web = &project.services["web"];
        let spec = container_spec(
            &Installation::from("i1"),
            &key("web"),
            web,
            "r7",
            0,
            "web@sha256:abc",
            |k| (k == "FROM_HOST").then(|| "h".into()),
        );
        assert_eq!(spec.name, "shop-web-r7-1-i1");
        assert_eq!(spec.labels.get(APP_LABEL).map(String::as_str), Some("shop"));
        assert_eq!(
            spec.labels.get(INSTALLATION_LABEL).map(String::as_str),
            Some("i1")
        );
        assert_eq!(spec.ports, vec![80]);
        assert_eq!(
            spec.env,
            BTreeMap::from([
                ("A".into(), "1".into()),
                ("FROM_HOST".into(), "h".into()),
                ("WINDLASS_RELEASE".into(), "r7".into()),
                ("WINDLASS_REPLICA".into(), "0".into()),
                ("WINDLASS_SERVICE".into(), "web".into()),
            ])
        );
        assert_eq!(
            spec.labels.get(RELEASE_LABEL).map(String::as_str),
            Some("r7")
        );
        assert_eq!(spec.labels.get("team").map(String::as_str), Some("shop"));
        assert!(spec.init);
        let wait = health_wait(web).expect("a probe");
        assert_eq!(
            wait.check,
            Check::Http {
                port: 80,
                path: "/health".into()
            }
        );
        assert_eq!(wait.deadline, Duration::from_secs(5));
    }

    fn corpus(file: &str, env: &[(&str, &str)]) -> crate::compose::Project {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/compose/good")
            .join(file);
        let options = crate::compose::Options {
            environment: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        };
        let (project, diagnostics) = crate::compose::check_files(&[path], &options);
        project.unwrap_or_else(|| panic!("{file} is valid: {diagnostics:?}"))
    }

    #[test]
    fn run_settings_reach_the_container_spec() {
        let project = corpus("runtime.yaml", &[]);
        let spec = container_spec(
            &Installation::from("i1"),
            &key("app"),
            &project.services["app"],
            "r1",
            0,
            "app@sha256:1",
            |_| None,
        );
        assert_eq!(
            spec.restart,
            Some(RestartPolicy::OnFailure {
                max_retries: Some(3)
            })
        );
        assert_eq!(spec.user.as_deref(), Some("1000:1000"));
        assert_eq!(spec.working_dir.as_deref(), Some("/srv"));
        assert_eq!(
            spec.entrypoint,
            Some(vec![
                "/bin/app".into(),
                "--config".into(),
                "/etc/app.toml".into()
            ])
        );
        assert_eq!(spec.command, Some(vec!["serve".into()]));
        assert_eq!(
            (spec.cap_add.clone(), spec.cap_drop.clone()),
            (vec!["NET_BIND_SERVICE".into()], vec!["ALL".into()])
        );
        assert_eq!(spec.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(
            spec.extra_hosts,
            vec![
                "metrics.local:127.0.0.1".to_owned(),
                "db.local:10.0.0.5".into()
            ]
        );
        assert_eq!(
            spec.ulimits,
            vec![
                Ulimit {
                    name: "nofile".into(),
                    soft: 4096,
                    hard: 8192
                },
                Ulimit {
                    name: "nproc".into(),
                    soft: 512,
                    hard: 512
                },
            ]
        );
        assert_eq!(spec.shm_size, Some(256 << 20));
        assert_eq!(spec.mem_limit, Some(512 << 20));
        assert_eq!(spec.cpus, Some(0.5));
        assert_eq!(spec.pids_limit, Some(200));
        assert_eq!(spec.platform.as_deref(), Some("linux/amd64"));
        assert!(spec.tty && spec.stdin_open && spec.read_only_root && spec.init);
        assert_eq!(spec.health_start_interval, Some(Duration::from_secs(2)));
        let logging = spec.logging.as_ref().expect("logging");
        assert_eq!(logging.driver, "json-file");
        assert_eq!(
            logging.options.get("max-file").map(String::as_str),
            Some("3")
        );
        assert_eq!(spec.dns_search, vec!["example.internal".to_owned()]);
        assert_eq!(
            spec.sysctls.get("net.core.somaxconn").map(String::as_str),
            Some("1024")
        );
        assert_eq!(spec.group_add, vec!["audio".to_owned(), "2000".into()]);
        assert_eq!(
            spec.mounts,
            vec![
                Mount {
                    kind: backend::MountKind::Tmpfs {
                        size: Some(16 << 20),
                        mode: None
                    },
                    target: "/run".into(),
                    read_only: false
                },
                Mount {
                    kind: backend::MountKind::Tmpfs {
                        size: None,
                        mode: None
                    },
                    target: "/tmp".into(),
                    read_only: false
                },
            ]
        );
    }

    #[test]
    fn mounts_and_files_reach_the_container_spec() {
        let project = corpus("volumes.yaml", &[]);
        let db = &project.services["db"];
        let spec = container_spec(
            &Installation::from("i1"),
            &key("db"),
            db,
            "r1",
            0,
            "postgres@sha256:1",
            |_| None,
        );
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compose/good");
        assert_eq!(
            spec.mounts[0],
            Mount {
                kind: backend::MountKind::Volume {
                    name: Some("good_dbdata".into()),
                    nocopy: false
                },
                target: "/var/lib/postgresql/data".into(),
                read_only: false
            }
        );
        assert_eq!(
            spec.mounts[1].kind,
            backend::MountKind::Volume {
                name: Some("team-shared".into()),
                nocopy: true
            }
        );
        assert!(spec.mounts[1].read_only);
        assert_eq!(
            spec.mounts[2].kind,
            backend::MountKind::Bind {
                source: dir.join("static"),
                create: true
            }
        );
        assert_eq!(
            spec.mounts[4].kind,
            backend::MountKind::Tmpfs {
                size: Some(64 << 20),
                mode: Some(0o1777)
            }
        );
        assert_eq!(
            spec.mounts[5].kind,
            backend::MountKind::Volume {
                name: None,
                nocopy: false
            }
        );
        let volumes = volumes(db);
        assert_eq!(
            volumes[0].driver_opts.get("device").map(String::as_str),
            Some("/srv/db")
        );
        assert!(volumes[1].external);
        assert_eq!(
            db.must_run_alone(),
            Some("it mounts a named volume read-write")
        );

        let project = corpus("secrets.yaml", &[("API_KEY", "k-1"), ("SITE", "shop")]);
        let spec = container_spec(
            &Installation::from("i1"),
            &key("api"),
            &project.services["api"],
            "r1",
            0,
            "api@sha256:1",
            |_| None,
        );
        let targets: Vec<&str> = spec.files.iter().map(|f| f.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "/run/secrets/token",
                "/run/secrets/key.txt",
                "/app_config",
                "/etc/banner.txt"
            ]
        );
        assert_eq!(
            spec.files[0].content,
            backend::FileContent::Path(dir.join("data/token.txt"))
        );
        assert_eq!(
            spec.files[1].content,
            backend::FileContent::Bytes(b"k-1".to_vec())
        );
        assert_eq!(
            spec.files[3].content,
            backend::FileContent::Bytes(b"Welcome to shop".to_vec())
        );
        assert_eq!(
            format!("{:?}", spec.files[1].content),
            "Bytes(<3 bytes>)",
            "secrets stay out of logs"
        );
    }

    #[test]
    fn a_container_name_names_the_container_and_builds_take_their_options() {
        let project = corpus("exclusive.yaml", &[]);
        let spec = container_spec(
            &Installation::from("i1"),
            &key("scheduler"),
            &project.services["scheduler"],
            "r2",
            0,
            "s@sha256:1",
            |_| None,
        );
        assert_eq!(spec.name, "shop-scheduler");
        let project = corpus("build.yaml", &[]);
        let (build, options) = build_spec(
            &project.services["app"],
            "app:r1",
            BTreeMap::from([(RELEASE_LABEL.to_owned(), "r1".to_owned())]),
            |_| None,
        )
        .expect("a build");
        assert_eq!(build.dockerfile.as_deref(), Some("Dockerfile.release"));
        assert_eq!(build.args.get("VERSION").map(String::as_str), Some("1.2.3"));
        assert_eq!(
            build.labels.get(RELEASE_LABEL).map(String::as_str),
            Some("r1")
        );
        assert!(build.labels.contains_key("org.opencontainers.image.source"));
        assert_eq!(
            options,
            BuildOptions {
                target: Some("release".into()),
                cache_from: vec!["127.0.0.1:5000/app:cache".into()],
                network: Some("host".into()),
                shm_size: Some(128 << 20)
            }
        );
    }

    #[test]
    fn caches_are_images_and_an_inline_export_is_a_build_arg() {
        assert_eq!(cache_image("app:cache").as_deref(), Some("app:cache"));
        assert_eq!(
            cache_image("type=registry,ref=127.0.0.1:5000/app:cache").as_deref(),
            Some("127.0.0.1:5000/app:cache")
        );
        assert_eq!(cache_image("type=local,src=/tmp/cache"), None);
        assert!(inline_cache("type=inline"));
        assert!(!inline_cache("type=registry,ref=app:cache"));
        let mut service = Service {
            build: Some(crate::compose::Build {
                context: "/nowhere".into(),
                cache_from: vec!["type=registry,ref=app:cache".into()],
                cache_to: vec!["type=inline".into()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let (spec, options) =
            build_spec(&service, "app:r1", BTreeMap::new(), |_| None).expect("a build");
        assert_eq!(
            spec.args.get("BUILDKIT_INLINE_CACHE").map(String::as_str),
            Some("1")
        );
        assert_eq!(options.cache_from, vec!["app:cache".to_owned()]);
        service.build.as_mut().expect("build").cache_to.clear();
        let (spec, _) = build_spec(&service, "app:r1", BTreeMap::new(), |_| None).expect("a build");
        assert!(!spec.args.contains_key("BUILDKIT_INLINE_CACHE"));
    }
}
