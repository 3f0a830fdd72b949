//! A deploy whose published port is another service's proxy's (another
//! app's on this machine, say), or another program's, is refused before
//! anything starts: started, its proxy could not bind, and a stop-first
//! service would have been stopped for nothing before the deploy rolled
//! back.

use std::net::SocketAddr;

use windlass_proxy::Protocol;
use windlass_store::releases::ServiceKey;

use super::Error;
use crate::compose::Project;
use crate::target::docker::{ports, ProxyView};

/// Whether two listen addresses take the same port: the same port number
/// and address, or one of them every interface.
fn overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// The published ports of `services`: each with its service's name and
/// whether it is UDP.
fn published<'a>(
    project: &'a Project,
    services: &'a [String],
) -> impl Iterator<Item = (&'a String, crate::compose::PublishedPort, bool)> + 'a {
    services.iter().flat_map(move |name| {
        let ports = project
            .services
            .get(name)
            .map(|s| s.published_ports())
            .unwrap_or_default();
        ports.into_iter().map(move |port| {
            let udp = ports::protocol(&port) == Protocol::Udp;
            (name, port, udp)
        })
    })
}

/// The address of `proxy`'s that takes the port `listen` (of that protocol).
fn held_by(proxy: &ProxyView, listen: SocketAddr, udp: bool) -> Option<SocketAddr> {
    proxy
        .spec
        .ports
        .iter()
        .find(|p| (p.protocol == Protocol::Udp) == udp && overlap(p.listen, listen))
        .map(|p| p.listen)
}

/// The first published port of `services` (of `app`) that a proxy of
/// another service holds, as the refusal that names both.
pub(super) fn check_free(
    project: &Project,
    app: &str,
    services: &[String],
    proxies: &[ProxyView],
) -> Result<(), Error> {
    for (name, port, udp) in published(project, services) {
        let key = ServiceKey::new(app, name.as_str())?;
        for proxy in proxies.iter().filter(|p| p.service != key) {
            if let Some(held) = held_by(proxy, port.listen, udp) {
                return Err(Error::PortTaken(format!(
                    "{}: service {name} publishes {} ({}), which the proxy of {} listens on already ({held}); publish another port, or take {} down first (windlass down); nothing was started",
                    project.file.display(),
                    port.describe_listen(),
                    if udp { "udp" } else { "tcp" },
                    proxy.service,
                    proxy.service,
                )));
            }
        }
    }
    Ok(())
}

/// The first published port of `services` that another program on this
/// machine holds, found by binding it as the proxy would and letting it go,
/// as the refusal that names the port and the service. A port a windlass
/// proxy listens on is not probed: the service's own proxy keeps it, and
/// another service's is [`check_free`]'s.
pub(super) fn probe_free(
    project: &Project,
    services: &[String],
    proxies: &[ProxyView],
) -> Result<(), Error> {
    for (name, port, udp) in published(project, services) {
        let proxied = proxies
            .iter()
            .any(|proxy| held_by(proxy, port.listen, udp).is_some());
        if port.listen.port() == 0 || proxied {
            continue;
        }
        if let Err(e) = windlass_proxy::probe_listen(port.listen, udp) {
            return Err(Error::PortTaken(format!(
                "{}: service {name} publishes {} ({}), which another program on this machine holds ({e}); stop that program or publish another port; nothing was started",
                project.file.display(),
                port.describe_listen(),
                if udp { "udp" } else { "tcp" },
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use windlass_proxy::daemon::api::{PortSpec, ServiceSpec};

    fn proxy(service: &str, listen: &str, protocol: Protocol) -> ProxyView {
        let (app, name) = service.split_once('/').expect("APP/SERVICE");
        ProxyView {
            service: ServiceKey::new(app, name).expect("key"),
            spec: ServiceSpec::of_ports(vec![PortSpec::new(
                listen.parse().expect("address"),
                protocol,
                "80/tcp",
            )]),
            live: None,
            traffic: None,
        }
    }

    fn project(ports: &str) -> Project {
        let text = format!("name: n8n\nservices:\n  n8n:\n    image: n8n:1\n    ports: {ports}\n");
        crate::compose::parse_pinned(&text, std::path::Path::new("/srv/n8n/compose.yaml"))
            .expect("a project")
    }

    #[test]
    fn a_port_another_app_s_proxy_holds_is_refused_with_both_named() {
        let listmonk = [proxy("listmonk/app", "127.0.0.1:19000", Protocol::Tcp)];
        let services = ["n8n".to_owned()];
        let taken = check_free(
            &project("[\"127.0.0.1:19000:5678\"]"),
            "n8n",
            &services,
            &listmonk,
        )
        .expect_err("taken");
        let text = taken.to_string();
        for part in [
            "/srv/n8n/compose.yaml",
            "service n8n publishes 127.0.0.1:19000",
            "listmonk/app",
            "nothing was started",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        // Every interface takes 127.0.0.1's port too.
        assert!(check_free(&project("[\"19000:5678\"]"), "n8n", &services, &listmonk).is_err());
        // Another port, another address, another protocol, or the
        // service's own proxy: free.
        for (ports, app) in [
            ("[\"127.0.0.1:19001:5678\"]", "n8n"),
            ("[\"127.0.0.2:19000:5678\"]", "n8n"),
            ("[\"127.0.0.1:19000:5678/udp\"]", "n8n"),
            ("[\"127.0.0.1::5678\"]", "n8n"),
        ] {
            check_free(&project(ports), app, &services, &listmonk).expect(ports);
        }
        let own = [proxy("n8n/n8n", "127.0.0.1:19000", Protocol::Tcp)];
        check_free(
            &project("[\"127.0.0.1:19000:5678\"]"),
            "n8n",
            &services,
            &own,
        )
        .expect("its own proxy");
    }

    /// A port another program listens on (not a windlass proxy) is
    /// refused, naming the port and the service; free again, it passes; a
    /// port the service's own proxy holds is not probed.
    #[test]
    fn a_port_another_program_holds_is_refused() {
        let other = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = other.local_addr().expect("address").port();
        let services = ["n8n".to_owned()];
        let published = project(&format!("[\"127.0.0.1:{port}:5678\"]"));
        let taken = probe_free(&published, &services, &[]).expect_err("held");
        let text = taken.to_string();
        for part in [
            format!("service n8n publishes 127.0.0.1:{port} (tcp)"),
            "another program on this machine holds".to_owned(),
            "nothing was started".to_owned(),
        ] {
            assert!(text.contains(&part), "{part}: {text}");
        }
        let every = project(&format!("[\"{port}:5678\"]"));
        assert!(
            probe_free(&every, &services, &[]).is_err(),
            "every interface takes it too"
        );
        let own = [proxy(
            "n8n/n8n",
            &format!("127.0.0.1:{port}"),
            Protocol::Tcp,
        )];
        probe_free(&published, &services, &own).expect("its own proxy's port");
        drop(other);
        probe_free(&published, &services, &[]).expect("free again");
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("a udp port");
        let udp_port = udp.local_addr().expect("address").port();
        let udp_project = project(&format!("[\"127.0.0.1:{udp_port}:53/udp\"]"));
        assert!(probe_free(&udp_project, &services, &[]).is_err(), "udp too");
    }
}
