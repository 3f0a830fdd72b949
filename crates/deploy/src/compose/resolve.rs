//! What a service's mounts need from the top level, filled in once the
//! project is checked: the engine's name and settings of each named volume
//! (Compose's `PROJECT_KEY` unless a name is given), and each secret's and
//! config's target and content.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::diagnostic::Report;
use super::locate::FieldPath;
use super::mounts::{FileContent, FileSource, MountKind};
use super::{FileChecks, Project, Service};
use crate::backend::{IpamPool, NetworkOptions, VolumeSpec};

/// A top-level network's settings as the backend creates it.
fn network_options(network: &super::Network) -> NetworkOptions {
    let ipam = network.ipam.clone().unwrap_or_default();
    NetworkOptions {
        internal: network.internal,
        attachable: network.attachable,
        enable_ipv6: network.enable_ipv6,
        driver_opts: network.driver_opts.clone(),
        ipam_driver: ipam.driver,
        ipam_options: ipam.options,
        pools: ipam
            .config
            .into_iter()
            .map(|pool| IpamPool {
                subnet: pool.subnet,
                ip_range: pool.ip_range,
                gateway: pool.gateway,
                aux_addresses: pool.aux_addresses,
            })
            .collect(),
        labels: network
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
            .collect(),
    }
}

/// Fills what a service's mounts need from the top level: the engine's
/// volume names and settings, and each secret's and config's content.
pub(crate) fn resolve(
    name: &str,
    service: &mut Service,
    project: &Project,
    env: &BTreeMap<String, String>,
    files: FileChecks,
    report: &mut Report,
) {
    for (key, network) in service.networks.0.iter_mut() {
        if let Some(declared) = project.networks.get(key).filter(|n| !n.external) {
            network.options = network_options(declared);
        }
    }
    for volume in service.volumes.iter_mut() {
        if let (MountKind::Bind, Some(source)) = (volume.kind, &volume.source) {
            // A missing path is made a directory by the engine.
            volume.single_file = Path::new(source).metadata().is_ok_and(|m| !m.is_dir());
        }
        let (MountKind::Volume, Some(source)) = (volume.kind, &volume.source) else {
            continue;
        };
        if let Some(declared) = project.volumes.get(source) {
            let name = declared
                .name
                .clone()
                .unwrap_or_else(|| format!("{}_{source}", project.project));
            let mut labels: BTreeMap<String, String> = declared
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
                .collect();
            labels.insert("com.docker.compose.project".into(), project.project.clone());
            labels.insert("com.docker.compose.volume".into(), source.clone());
            volume.volume = Some(VolumeSpec {
                name,
                driver: declared.driver.clone(),
                driver_opts: declared.driver_opts.clone(),
                labels,
                external: declared.external,
            });
        }
    }
    if let Some(build) = service.build.as_mut() {
        for (i, secret) in build.secrets.iter_mut().enumerate() {
            let at = FieldPath::of(&["services", name, "build", "secrets"]).index(i);
            let Some(source) = project.secrets.get(&secret.source) else {
                report.error(&at, format!("secret {:?} is not declared under the top-level `secrets`: declare it with a `file` or an `environment`", secret.source));
                continue;
            };
            secret.target.get_or_insert_with(|| secret.source.clone());
            let top = FieldPath::of(&["secrets", &secret.source]);
            secret.content = content(name, source, &top, env, files, report);
        }
    }
    for (section, refs, sources, default_dir) in [
        (
            "secrets",
            &mut service.secrets,
            &project.secrets,
            "/run/secrets/",
        ),
        ("configs", &mut service.configs, &project.configs, "/"),
    ] {
        for file in refs.iter_mut() {
            let target = file.target.clone().unwrap_or_else(|| file.source.clone());
            file.target = Some(if target.starts_with('/') {
                target
            } else {
                format!("{default_dir}{target}")
            });
            let Some(source) = sources.get(&file.source) else {
                continue;
            };
            let top = FieldPath::of(&[section, &file.source]);
            file.declared = Some(source.clone());
            // An external one is the Swarm's already; a driver's value is
            // its plugin's.
            if !source.external && source.driver.is_none() {
                let pinned = source
                    .file
                    .as_ref()
                    .and_then(|path| project.pinned_files.get(path));
                file.content = match pinned {
                    Some(bytes) => Some(FileContent::Bytes(bytes.clone())),
                    None => content(name, source, &top, env, files, report),
                };
            }
        }
    }
}

/// A secret's or config's content, from its top-level entry.
fn content(
    name: &str,
    source: &FileSource,
    top: &FieldPath,
    env: &BTreeMap<String, String>,
    files: FileChecks,
    report: &mut Report,
) -> Option<FileContent> {
    if let Some(path) = &source.file {
        if files == FileChecks::Check && !Path::new(path).is_file() {
            report.error(
                &top.key("file"),
                format!(
                    "{} is not a file (service {name} mounts it): create it or fix the path",
                    path.display()
                ),
            );
        }
        Some(FileContent::File(PathBuf::from(path)))
    } else if let Some(variable) = &source.environment {
        match env.get(variable) {
            Some(value) => Some(FileContent::Text(value.clone())),
            None => {
                report.error(&top.key("environment"), format!("variable {variable} is not set (service {name} mounts it): set it in the environment or in .env"));
                None
            }
        }
    } else {
        source.content.clone().map(FileContent::Text)
    }
}
