//! A release's secrets and configs in the Swarm's store, versioned: each
//! value is a Swarm secret (or config) of its own, named after the app,
//! the top-level key, a hash of what it holds and the installation
//! (`APP_KEY_HASH_INSTALLATION`), so a release keeps the value it was
//! deployed with while a newer one runs another, and a rollback (a flip to
//! the warm release, or an older release started again) gets the old value
//! back. Made idempotently before the release's service (a step run again
//! finds them), referenced by id in its spec ([`Mounted`]), removed once no
//! service of the app on the Swarm uses them ([`prune`]).
//!
//! The value is read on the machine running windlass: a `file:` there (the
//! path the Compose file gives, made absolute against it), an
//! `environment:` variable's value pinned with the release, or a config's
//! `content`. An `external: true` one is the Swarm's already, by `name`.

use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;
use bollard::models::{
    ConfigSpec, Driver, SecretSpec, TaskSpecContainerSpecConfigs, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecFile1, TaskSpecContainerSpecSecrets,
};
use bollard::query_parameters::{ListConfigsOptions, ListSecretsOptions};
use sha2::{Digest, Sha256};
use windlass_asl::Failure;
use windlass_store::releases::Installation;

use super::{engine, SwarmTarget};
use crate::backend::{APP_LABEL, INSTALLATION_LABEL};
use crate::compose::{FileContent, FileRef, FileSource};
use crate::failures;
use crate::target::ReleaseContext;

/// The label that marks a version windlass made, with its top-level key.
pub const SECRET_LABEL: &str = "windlass.secret";
pub const CONFIG_LABEL: &str = "windlass.config";

/// A Swarm secret or a Swarm config: the two stores have one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Secret,
    Config,
}

impl Kind {
    fn section(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Config => "configs",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Secret => SECRET_LABEL,
            Kind::Config => CONFIG_LABEL,
        }
    }
}

/// One version in the store, as the service spec refers to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: String,
    pub name: String,
}

/// What a release mounts from the Swarm's store, in the order written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mounted {
    pub secrets: Vec<TaskSpecContainerSpecSecrets>,
    pub configs: Vec<TaskSpecContainerSpecConfigs>,
}

/// The name of one version of `key`'s value.
pub fn version_name(app: &str, key: &str, hash: &str, installation: &Installation) -> String {
    format!("{app}_{key}_{hash}_{installation}")
}

/// What a version made from `file` holds, and its short hash (over the
/// bytes and everything else the store keeps of it: labels, drivers).
#[derive(Debug)]
struct Version {
    data: Option<Vec<u8>>,
    hash: String,
}

fn version(
    release: &ReleaseContext,
    kind: Kind,
    file: &FileRef,
    declared: &FileSource,
) -> Result<Version, Failure> {
    let data = match (&file.content, &declared.driver) {
        (_, Some(_)) => None,
        (Some(FileContent::Text(text)), None) => Some(text.as_bytes().to_vec()),
        (Some(FileContent::Bytes(bytes)), None) => Some(bytes.clone()),
        (Some(FileContent::File(path)), None) => Some(std::fs::read(path).map_err(|e| {
            failures::input(format!(
                "{}: {}.{}.file: cannot read {} on this machine: {e}",
                release.label(),
                kind.section(),
                file.source,
                path.display()
            ))
        })?),
        (None, None) => {
            return Err(failures::input(format!(
                "{}: {}.{} has no value: give `file`, `environment` or `content`",
                release.label(),
                kind.section(),
                file.source
            )))
        }
    };
    let mut hash = Sha256::new();
    hash.update(data.as_deref().unwrap_or_default());
    // Everything else the store keeps of a version, so that a change of
    // label or driver is a new version too (a Swarm secret is immutable).
    let rest = serde_json::json!({
        "labels": declared.labels,
        "driver": declared.driver,
        "driver_opts": declared.driver_opts,
        "template_driver": declared.template_driver,
    });
    hash.update(rest.to_string().as_bytes());
    let hash = hash
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Version { data, hash })
}

/// The labels of a version: the app's and installation's (so that
/// [`prune`] finds them), the key's, and the file's own.
fn labels(
    installation: &Installation,
    app: &str,
    kind: Kind,
    key: &str,
    declared: &FileSource,
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = declared
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
        .collect();
    labels.insert(INSTALLATION_LABEL.to_owned(), installation.to_string());
    labels.insert(APP_LABEL.to_owned(), app.to_owned());
    labels.insert(kind.label().to_owned(), key.to_owned());
    labels
}

fn is_status(e: &bollard::errors::Error, code: u16) -> bool {
    matches!(e, bollard::errors::Error::DockerResponseServerError { status_code, .. } if *status_code == code)
}

/// The id of the secret or config named `name`, if the store has it.
async fn find(target: &SwarmTarget, kind: Kind, name: &str) -> Result<Option<String>, Failure> {
    let found = match kind {
        Kind::Secret => target.docker.inspect_secret(name).await.map(|s| s.id),
        Kind::Config => target.docker.inspect_config(name).await.map(|c| c.id),
    };
    match found {
        Ok(id) => Ok(id),
        Err(e) if is_status(&e, 404) => Ok(None),
        Err(e) => Err(engine(&format!("inspect {} {name}", kind.section()), e)),
    }
}

/// Makes the version (or finds it: made by an earlier run of the step, or
/// by another service of the app that mounts the same value).
async fn ensure(
    target: &SwarmTarget,
    release: &ReleaseContext,
    kind: Kind,
    file: &FileRef,
) -> Result<Stored, Failure> {
    let declared = file.declared.clone().unwrap_or_default();
    if declared.external {
        let name = declared.name.clone().unwrap_or_else(|| file.source.clone());
        let id = find(target, kind, &name).await?.ok_or_else(|| {
            failures::input(format!(
                "{}: {}.{} is external, and the Swarm has no {} named {name:?}: create it (`docker {} create {name} FILE`) or fix `name`",
                release.label(),
                kind.section(),
                file.source,
                &kind.section()[..kind.section().len() - 1],
                &kind.section()[..kind.section().len() - 1],
            ))
        })?;
        return Ok(Stored { id, name });
    }
    let installation = target.installation()?;
    let app = release.key.app();
    let version = version(release, kind, file, &declared)?;
    let name = version_name(app, &file.source, &version.hash, installation);
    if let Some(id) = find(target, kind, &name).await? {
        return Ok(Stored { id, name });
    }
    let labels = labels(installation, app, kind, &file.source, &declared);
    let data = version
        .data
        .as_ref()
        .map(|d| base64::engine::general_purpose::STANDARD.encode(d));
    let templating = declared.template_driver.clone().map(|name| Driver {
        name,
        options: None,
    });
    let created = match kind {
        Kind::Secret => {
            let spec = SecretSpec {
                name: Some(name.clone()),
                labels: Some(labels),
                data,
                driver: declared.driver.clone().map(|name| Driver {
                    name,
                    options: Some(declared.driver_opts.clone().into_iter().collect()),
                }),
                templating,
            };
            target.docker.create_secret(spec).await
        }
        Kind::Config => {
            let spec = ConfigSpec {
                name: Some(name.clone()),
                labels: Some(labels),
                data,
                templating,
            };
            target.docker.create_config(spec).await
        }
    };
    match created {
        Ok(created) => Ok(Stored {
            id: created.id,
            name,
        }),
        // Made meanwhile by another service of the same wave.
        Err(e) if is_status(&e, 409) => match find(target, kind, &name).await? {
            Some(id) => Ok(Stored { id, name }),
            None => Err(engine(&format!("create {} {name}", kind.section()), e)),
        },
        Err(e) => Err(Failure::new(
            failures::START,
            format!(
                "{}: create {} {name} in the Swarm's store: {e}",
                release.label(),
                kind.section()
            ),
        )),
    }
}

/// Makes (or finds) every secret and config the release mounts, and gives
/// them as its service spec refers to them.
pub(super) async fn mount(
    target: &SwarmTarget,
    release: &ReleaseContext,
) -> Result<Mounted, Failure> {
    let mut mounted = Mounted::default();
    for file in &release.spec.secrets {
        let stored = ensure(target, release, Kind::Secret, file).await?;
        mounted.secrets.push(TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: file.target.clone(),
                uid: Some(file.uid.clone().unwrap_or_else(|| "0".into())),
                gid: Some(file.gid.clone().unwrap_or_else(|| "0".into())),
                mode: Some(file.mode.unwrap_or(0o444)),
            }),
            secret_id: Some(stored.id),
            secret_name: Some(stored.name),
        });
    }
    for file in &release.spec.configs {
        let stored = ensure(target, release, Kind::Config, file).await?;
        mounted.configs.push(TaskSpecContainerSpecConfigs {
            file: Some(TaskSpecContainerSpecFile1 {
                name: file.target.clone(),
                uid: Some(file.uid.clone().unwrap_or_else(|| "0".into())),
                gid: Some(file.gid.clone().unwrap_or_else(|| "0".into())),
                mode: Some(file.mode.unwrap_or(0o444)),
            }),
            runtime: None,
            config_id: Some(stored.id),
            config_name: Some(stored.name),
        });
    }
    Ok(mounted)
}

/// The secrets and configs the app's services on the Swarm refer to, by id.
async fn in_use(target: &SwarmTarget, app: &str) -> Result<BTreeSet<String>, Failure> {
    let installation = target.installation()?;
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![
            format!("{INSTALLATION_LABEL}={installation}"),
            format!("{APP_LABEL}={app}"),
        ],
    )]);
    let services = target
        .docker
        .list_services(Some(bollard::query_parameters::ListServicesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .map_err(|e| engine(&format!("services of {app}"), e))?;
    let mut ids = BTreeSet::new();
    for service in services {
        let container = service
            .spec
            .and_then(|s| s.task_template)
            .and_then(|t| t.container_spec);
        let Some(container) = container else { continue };
        ids.extend(
            container
                .secrets
                .unwrap_or_default()
                .into_iter()
                .filter_map(|s| s.secret_id),
        );
        ids.extend(
            container
                .configs
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.config_id),
        );
    }
    Ok(ids)
}

/// Removes every version windlass made for `app` that no service of the
/// app on the Swarm (a live, warm or starting release) refers to any
/// more; gives their names. External ones are the user's and never
/// removed.
pub(super) async fn prune(target: &SwarmTarget, app: &str) -> Result<Vec<String>, Failure> {
    let used = in_use(target, app).await?;
    let installation = target.installation()?;
    let mut removed = Vec::new();
    for kind in [Kind::Secret, Kind::Config] {
        let filters = Some(HashMap::from([(
            "label".to_owned(),
            vec![
                format!("{INSTALLATION_LABEL}={installation}"),
                format!("{APP_LABEL}={app}"),
                kind.label().to_owned(),
            ],
        )]));
        let made: Vec<(Option<String>, Option<String>)> = match kind {
            Kind::Secret => target
                .docker
                .list_secrets(Some(ListSecretsOptions { filters }))
                .await
                .map(|all| {
                    all.into_iter()
                        .map(|s| (s.id, s.spec.and_then(|s| s.name)))
                        .collect()
                }),
            Kind::Config => target
                .docker
                .list_configs(Some(ListConfigsOptions { filters }))
                .await
                .map(|all| {
                    all.into_iter()
                        .map(|c| (c.id, c.spec.and_then(|s| s.name)))
                        .collect()
                }),
        }
        .map_err(|e| engine(&format!("{} of {app}", kind.section()), e))?;
        for (id, name) in made {
            let Some(id) = id.filter(|id| !used.contains(id)) else {
                continue;
            };
            let deleted = match kind {
                Kind::Secret => target.docker.delete_secret(&id).await,
                Kind::Config => target.docker.delete_config(&id).await,
            };
            match deleted {
                Ok(()) => removed.push(name.unwrap_or(id)),
                Err(e) if is_status(&e, 404) => {}
                // Referred to meanwhile by a service being created (the
                // Swarm refuses to remove one in use): the next prune
                // takes it.
                Err(e) if is_status(&e, 400) || is_status(&e, 409) => {
                    tracing::info!(%id, error = %e, "a version in use is kept");
                }
                Err(e) => return Err(engine(&format!("remove {} {id}", kind.section()), e)),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::version_name;
    use windlass_store::releases::Installation;

    #[test]
    fn a_version_is_named_after_the_app_the_key_and_its_hash() {
        let installation = Installation::from("ab12cd");
        assert_eq!(
            version_name("shop", "token", "0123456789ab", &installation),
            "shop_token_0123456789ab_ab12cd"
        );
    }
}
