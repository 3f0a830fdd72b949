//! From a Compose service to what the backend is asked to do: the container
//! spec of one replica of a release, and how to tell it is healthy.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::backend::{ContainerSpec, Healthcheck, RELEASE_LABEL, SERVICE_LABEL};
use crate::compose::Service;
use crate::probe::{Check, WaitConfig};

/// The container for replica `replica` of `release` of service `name`,
/// running `image` (a reference pinned by the deploy, ideally by digest).
/// Values missing from `environment` are taken through `lookup` (windlass's
/// own environment), as Compose does.
pub fn container_spec(
    name: &str,
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
    labels.insert(SERVICE_LABEL.into(), name.into());
    labels.insert(RELEASE_LABEL.into(), release.into());
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
        name: format!("{name}-{release}-{replica}"),
        image: image.into(),
        command: service.command.clone(),
        env,
        ports: service
            .ports
            .iter()
            .filter(|p| p.protocol == crate::compose::Protocol::Tcp)
            .map(|p| p.target)
            .collect(),
        labels,
        healthcheck,
        // The container's own network is Docker's default bridge, which
        // carries its published port; it joins the service's Compose
        // networks after it is created (see `workflow::steps::join_networks`),
        // so that their names can move between releases without touching
        // the port the proxy uses.
        network: None,
        init: service.init.unwrap_or(false),
        stop_grace_period: service.stop_grace_period,
    }
}

/// How to wait for a replica to be healthy: windlass's HTTP or TCP probe
/// when `x-windlass.health` asks for one, else Docker's healthcheck when the
/// service has one, else a TCP connect to the routed port.
pub fn health_wait(service: &Service) -> Option<WaitConfig> {
    let probe = &service.windlass.health;
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
    use crate::compose::parse;

    #[test]
    fn a_service_becomes_a_release_container() {
        let text = "services:\n  web:\n    image: web\n    ports: [\"8080:80\"]\n    environment: [\"A=1\", \"FROM_HOST\", \"ABSENT\"]\n    labels: {team: shop}\n    init: true\n    x-windlass:\n      health: {http: /health, start_timeout: 5s}\n";
        let project = parse(text, Path::new("compose.yaml")).expect("valid");
        let web = &project.services["web"];
        let spec = container_spec("web", web, "r7", 0, "web@sha256:abc", |k| {
            (k == "FROM_HOST").then(|| "h".into())
        });
        assert_eq!(spec.name, "web-r7-0");
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
}
