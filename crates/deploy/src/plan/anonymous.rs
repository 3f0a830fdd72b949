//! Anonymous volumes kept from release to release, as Docker Compose keeps
//! them: when Compose recreates a container it hands the new one the old
//! one's anonymous volumes (those `volumes: [/data]` lists and those the
//! image's `VOLUME` declares), so a database without a named volume keeps
//! its data through `docker compose up` of a new version. windlass gives
//! each such volume a stable name per installation, app, service, replica
//! and path, so a new release, and a rollback that starts an older one
//! again, mount the same volume.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::backend::{
    self, ContainerSpec, Mount, MountKind, VolumeSpec, REPLICA_LABEL, TARGET_LABEL,
};
use crate::compose::Service;
use windlass_store::releases::{Installation, ServiceKey};

/// The engine's name of the volume that replica `replica` (from 0) of
/// `key`'s service in `installation` keeps at `path`:
/// `APP-SERVICE-N-anon-HASH-INSTALLATION`, HASH from the path (a path has
/// characters a volume name may not).
pub fn anonymous_volume_name(
    installation: &Installation,
    key: &ServiceKey,
    replica: u32,
    path: &str,
) -> String {
    let digest = Sha256::digest(normal(path).as_bytes());
    let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-anon-{hash}-{installation}",
        key.app(),
        key.service(),
        replica + 1
    )
}

/// The paths of the image's `VOLUME`s that no mount of the service covers:
/// each would be an anonymous volume of the container. None for a service
/// with `volumes_from`, whose paths the other container may give (the
/// engine then makes any other one afresh, as before).
pub fn uncovered_image_volumes(service: &Service, image_volumes: &[String]) -> Vec<String> {
    if !service.volumes_from.is_empty() {
        return Vec::new();
    }
    let covered: Vec<&str> = service
        .volumes
        .iter()
        .map(|v| normal(&v.target))
        .chain(
            service
                .tmpfs
                .iter()
                .map(|t| normal(t.split(':').next().unwrap_or(t))),
        )
        .collect();
    image_volumes
        .iter()
        .filter(|path| !covered.contains(&normal(path)))
        .cloned()
        .collect()
}

/// Why the service must run alone for the `VOLUME`s of its image that no
/// mount covers (`uncovered`), if so: each release keeps them (as Compose
/// does), so two containers would share them, unless
/// `x-windlass.shared_mounts` says the service can.
pub fn image_volumes_alone(service: &Service, uncovered: &[String]) -> Option<String> {
    (!uncovered.is_empty() && !service.windlass.shared_mounts).then(|| {
        format!(
            "its image declares VOLUME {}, which each release keeps, as Compose does",
            uncovered.join(" ")
        )
    })
}

/// Gives each anonymous volume of `spec` (replica `replica` of `key`'s
/// service) its kept volume, and mounts one at every path of
/// `image_volumes` that no mount of `spec` covers; returns the volumes to
/// create before the container (labelled to be found again by `down
/// --volumes`).
pub fn keep_anonymous_volumes(
    spec: &mut ContainerSpec,
    installation: &Installation,
    key: &ServiceKey,
    replica: u32,
    image_volumes: &[String],
) -> Vec<VolumeSpec> {
    for path in image_volumes {
        if !spec
            .mounts
            .iter()
            .any(|m| normal(&m.target) == normal(path))
        {
            spec.mounts.push(Mount {
                kind: MountKind::Volume {
                    name: None,
                    nocopy: false,
                },
                target: path.clone(),
                read_only: false,
            });
        }
    }
    let mut volumes = Vec::new();
    for mount in &mut spec.mounts {
        let MountKind::Volume {
            name: name @ None, ..
        } = &mut mount.kind
        else {
            continue;
        };
        let kept = anonymous_volume_name(installation, key, replica, &mount.target);
        *name = Some(kept.clone());
        let mut labels: BTreeMap<String, String> =
            backend::anonymous_volume_labels(installation, key);
        labels.insert(TARGET_LABEL.to_owned(), mount.target.clone());
        labels.insert(REPLICA_LABEL.to_owned(), (replica + 1).to_string());
        volumes.push(VolumeSpec {
            name: kept,
            labels,
            ..VolumeSpec::default()
        });
    }
    volumes
}

/// A container path without a trailing `/`, so `/data/` and `/data` match.
fn normal(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose;
    use crate::plan::container_spec;

    fn service(text: &str) -> Service {
        let (project, diagnostics) = compose::check_text(
            text,
            std::path::Path::new("/srv/shop/compose.yaml"),
            &compose::Options::default(),
        );
        let mut project = project.unwrap_or_else(|| panic!("refused: {diagnostics:?}"));
        project.services.shift_remove("db").expect("a db service")
    }

    fn key(app: &str) -> ServiceKey {
        ServiceKey::new(app, "db").expect("a key")
    }

    fn kept(spec: &ContainerSpec) -> Vec<(String, Option<String>)> {
        spec.mounts
            .iter()
            .filter_map(|m| match &m.kind {
                MountKind::Volume { name, .. } => Some((m.target.clone(), name.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_anonymous_volume_gets_a_name_of_its_app_service_replica_and_path() {
        let db = service("services:\n  db:\n    image: pg:16\n    volumes: [/data, \"cache:/cache\"]\nvolumes:\n  cache: {}\n");
        let installation = Installation::from("i1");
        let mut spec = container_spec(&installation, &key("shop"), &db, "r2", 0, "pg", |_| None);
        let image = ["/data".to_owned(), "/var/lib/postgresql/data/".to_owned()];
        let volumes = keep_anonymous_volumes(&mut spec, &installation, &key("shop"), 0, &image);
        let data = anonymous_volume_name(&installation, &key("shop"), 0, "/data");
        let pg = anonymous_volume_name(&installation, &key("shop"), 0, "/var/lib/postgresql/data");
        assert_eq!(
            kept(&spec),
            [
                ("/data".to_owned(), Some(data.clone())),
                ("/cache".to_owned(), Some("shop_cache".to_owned())),
                ("/var/lib/postgresql/data/".to_owned(), Some(pg.clone())),
            ],
            "the file's /data is mounted once; the image's other VOLUME gets one too"
        );
        assert_eq!(
            volumes.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
            [data.clone(), pg]
        );
        assert!(
            data.starts_with("shop-db-1-anon-") && data.ends_with("-i1"),
            "{data}"
        );
        assert_eq!(
            volumes[0].labels.get(TARGET_LABEL).map(String::as_str),
            Some("/data")
        );
        assert_eq!(
            volumes[0].labels.get(REPLICA_LABEL).map(String::as_str),
            Some("1")
        );
        let labels = backend::anonymous_volume_labels(&installation, &key("shop"));
        assert!(labels
            .iter()
            .all(|(k, v)| volumes[0].labels.get(k) == Some(v)));

        // Another release of the same replica keeps the same volume;
        // another replica, app or installation has its own.
        let mut again = container_spec(&installation, &key("shop"), &db, "r3", 0, "pg", |_| None);
        keep_anonymous_volumes(&mut again, &installation, &key("shop"), 0, &image);
        assert_eq!(kept(&again), kept(&spec));
        let others = [
            anonymous_volume_name(&installation, &key("shop"), 1, "/data"),
            anonymous_volume_name(&installation, &key("blog"), 0, "/data"),
            anonymous_volume_name(&Installation::from("i2"), &key("shop"), 0, "/data"),
        ];
        assert!(others.iter().all(|other| *other != data), "{others:?}");
    }

    #[test]
    fn image_volumes_under_a_mount_of_the_file_are_covered() {
        let db = service("services:\n  db:\n    image: pg:16\n    volumes: [\"./pgdata:/var/lib/postgresql/data\"]\n    tmpfs: [\"/run:size=1m\"]\n");
        let image = [
            "/var/lib/postgresql/data".to_owned(),
            "/run/".to_owned(),
            "/logs".to_owned(),
        ];
        assert_eq!(uncovered_image_volumes(&db, &image), ["/logs"]);
    }
}
