//! A service's fixed addresses (`networks.NAME.ipv4_address` and
//! `ipv6_address`) checked against the network's `ipam` subnets, as the
//! engine checks them when the container joins: an address outside every
//! subnet, or on a network whose subnet the engine picks, is refused here
//! with the file and line rather than at the deploy's start.

use std::net::IpAddr;

use super::diagnostic::Report;
use super::locate::FieldPath;
use super::{Project, Service};

/// Refuses each fixed address of `service` that no subnet of its network
/// holds, or that several replicas would share. An external network's
/// subnets are the engine's to know.
pub(crate) fn check_addresses(
    service: &Service,
    project: &Project,
    at: &FieldPath,
    report: &mut Report,
) {
    for (key, options) in &service.networks.0 {
        let addresses = [
            ("ipv4_address", options.ipv4_address.map(IpAddr::V4)),
            ("ipv6_address", options.ipv6_address.map(IpAddr::V6)),
        ];
        let network = project.networks.get(key);
        if network.is_some_and(|n| n.external) {
            continue;
        }
        let subnets: Vec<&str> = network
            .and_then(|n| n.ipam.as_ref())
            .map(|ipam| {
                ipam.config
                    .iter()
                    .filter_map(|p| p.subnet.as_deref())
                    .collect()
            })
            .unwrap_or_default();
        for (field, address) in addresses {
            let Some(address) = address else { continue };
            let path = at.key("networks").key(key).key(field);
            let replicas = service.deploy.replicas.unwrap_or(1);
            if replicas > 1 {
                report.error(&path, format!("{address}: {replicas} replicas cannot all hold one address: a fixed address allows one replica"));
            } else if subnets.is_empty() {
                report.error(&path, format!("{address}: the engine gives a fixed address only on a network whose subnet the file sets (\"user specified IP address is supported only when connecting to networks with user configured subnets\"): give network `{key}` under the top-level `networks` an `ipam: {{config: [{{subnet: ...}}]}}` that holds it"));
            } else if !subnets.iter().any(|s| holds(s, address).unwrap_or(true)) {
                report.error(&path, format!("{address} does not belong to any of network `{key}`'s subnets ({}): give an address inside one", subnets.join(", ")));
            }
        }
    }
}

/// Whether subnet `cidr` (`172.20.0.0/24`) holds `address`; `None` when
/// the subnet does not read as one (the engine then judges it).
fn holds(cidr: &str, address: IpAddr) -> Option<bool> {
    let (base, bits) = cidr.split_once('/')?;
    let bits: u32 = bits.parse().ok()?;
    match (base.parse::<IpAddr>().ok()?, address) {
        (IpAddr::V4(base), IpAddr::V4(address)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            Some(u32::from(base) & mask == u32::from(address) & mask)
        }
        (IpAddr::V6(base), IpAddr::V6(address)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            Some(u128::from(base) & mask == u128::from(address) & mask)
        }
        (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_)) => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::{check_text, Options, Severity};

    /// An address the network's subnet holds is read; one outside it, or
    /// on a network whose subnet the engine picks, is refused at its line.
    #[test]
    fn fixed_addresses_must_lie_in_a_subnet_of_the_file() {
        let text = "services:\n  dns:\n    image: dns:1\n    networks:\n      back:\n        ipv4_address: 10.1.0.5\n      front:\n        ipv4_address: 10.2.0.5\n      side:\n        ipv6_address: \"fd00:1::5\"\n      outside:\n        ipv4_address: 10.9.0.5\n  many:\n    image: dns:1\n    scale: 2\n    networks:\n      back:\n        ipv4_address: 10.1.0.7\nnetworks:\n  back:\n    ipam:\n      config: [{subnet: 10.1.0.0/24}]\n  front: {}\n  side:\n    enable_ipv6: true\n    ipam:\n      config: [{subnet: 10.3.0.0/24}, {subnet: \"fd00:2::/64\"}]\n  outside:\n    external: true\n";
        let file = std::path::Path::new("/srv/dns/compose.yaml");
        let (project, diagnostics) = check_text(text, file, &Options::default());
        assert!(project.is_none(), "refused");
        let errors: Vec<(usize, &str, &str)> = diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| (d.location.line, d.field.as_str(), d.message.as_str()))
            .collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(errors[0].0, 8, "{errors:?}");
        assert!(errors[0].2.contains("ipam"), "{errors:?}");
        assert_eq!(errors[1].0, 10, "{errors:?}");
        assert!(errors[1].2.starts_with("fd00:1::5 does not belong to any of network `side`'s subnets (10.3.0.0/24, fd00:2::/64)"), "{errors:?}");
        let many = (errors[2].0, errors[2].1);
        assert_eq!(many, (18, "services.many.networks.back.ipv4_address"));
        assert!(errors[2].2.contains("2 replicas"), "{errors:?}");

        let good = text
            .replace("10.2.0.5", "10.1.0.6")
            .replace("fd00:1::5", "fd00:2::5")
            .replace("    scale: 2\n", "");
        let good = good.replace(
            "  front: {}",
            "  front:\n    ipam:\n      config: [{subnet: 10.1.0.0/24}]",
        );
        let (project, diagnostics) = check_text(&good, file, &Options::default());
        let project = project.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let dns = &project.services["dns"];
        assert_eq!(
            dns.networks.0["back"].ipv4_address,
            Some("10.1.0.5".parse().expect("v4"))
        );
        assert_eq!(
            dns.networks.0["side"].ipv6_address,
            Some("fd00:2::5".parse().expect("v6"))
        );
        assert!(dns
            .must_run_alone()
            .is_some_and(|why| why.contains("fixed address")));
    }

    #[test]
    fn a_subnet_holds_the_addresses_under_its_prefix() {
        let v4 = |a: &str| IpAddr::V4(a.parse().expect("an address"));
        let v6 = |a: &str| IpAddr::V6(a.parse().expect("an address"));
        assert_eq!(holds("172.20.0.0/24", v4("172.20.0.2")), Some(true));
        assert_eq!(holds("172.20.0.0/24", v4("172.20.1.2")), Some(false));
        assert_eq!(holds("0.0.0.0/0", v4("10.1.2.3")), Some(true));
        assert_eq!(
            holds("2001:3984:3989::/64", v6("2001:3984:3989::10")),
            Some(true)
        );
        assert_eq!(
            holds("2001:3984:3989::/64", v6("2001:3984:398a::10")),
            Some(false)
        );
        assert_eq!(
            holds("172.20.0.0/24", v6("2001:3984:3989::10")),
            Some(false)
        );
        assert_eq!(holds("172.20.0.0", v4("172.20.0.2")), None);
    }
}
