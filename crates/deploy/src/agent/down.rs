//! `windlass down`: an app's services stopped and removed, as
//! `docker compose down` does: containers, proxies and networks, and the
//! named volumes and the volumes kept for anonymous ones only when asked. Each service is locked meanwhile, so a
//! running deploy is never taken down under its feet.

use std::collections::BTreeSet;
use std::path::Path;

use windlass_store::releases::ServiceKey;

use super::contract::{DownReport, DownRequest};
use super::{Agent, Error};
use crate::compose;

impl Agent {
    pub async fn down(&self, request: DownRequest) -> Result<DownReport, Error> {
        let project =
            compose::parse_pinned(&request.compose_text, Path::new(&request.compose_file))?;
        let asked = super::contract::DeployRequest {
            compose_file: request.compose_file.clone(),
            compose_text: request.compose_text.clone(),
            services: request.services.clone(),
            by: String::new(),
            definition: None,
            ..Default::default()
        };
        let services = super::services_asked(&asked, &project)?;
        // This app's services only: another app's service of the same name
        // (or another state folder's) is not touched.
        let app = super::app_name(&project);
        let keys = services
            .iter()
            .map(|s| ServiceKey::new(app.as_str(), s.as_str()))
            .collect::<Result<Vec<_>, _>>()?;
        let holder = format!("down-{}", super::short_id());
        self.lock_all(&keys.iter().collect::<Vec<_>>(), &holder)?;
        let mut containers = 0;
        let mut result = Ok(());
        for (service, key) in services.iter().zip(&keys) {
            match self.target.take_down(key, &project.services[service]).await {
                Ok(n) => containers += n,
                Err(failure) => {
                    result = Err(Error::Down {
                        service: key.to_string(),
                        cause: failure.cause,
                    });
                    break;
                }
            }
        }
        for key in &keys {
            self.releases.unlock(key, &holder)?;
        }
        result?;
        // Networks and volumes of the services taken down, once no
        // remaining service of the app uses them.
        let keep: Vec<&compose::Service> = project
            .services
            .iter()
            .filter(|(name, _)| !services.contains(name))
            .map(|(_, s)| s)
            .collect();
        let mut networks = BTreeSet::new();
        let mut volumes = BTreeSet::new();
        for service in &services {
            let spec = &project.services[service];
            networks.extend(spec.joined_networks().into_iter().map(|(key, _)| key));
            // An external network is not the app's to remove.
            networks.retain(|n| !project.network_is_external(n));
            if request.volumes {
                volumes.extend(
                    crate::plan::volumes(spec)
                        .into_iter()
                        .filter(|v| !v.external)
                        .map(|v| v.name),
                );
            }
        }
        networks.retain(|n| {
            !keep
                .iter()
                .any(|s| s.joined_networks().iter().any(|(key, _)| key == n))
        });
        // Each by its engine name: this app's (`APP_KEY`), not another's.
        // On a Swarm, as it names them (an environment's `.` spelled `--`).
        let networks: BTreeSet<String> = networks
            .into_iter()
            .map(|key| project.network_name(&key))
            .map(|name| match self.place {
                super::machines::Place::Swarm => crate::target::swarm::spec::swarm_name(&name),
                super::machines::Place::Local => name,
            })
            .collect();
        volumes.retain(|v| {
            !keep
                .iter()
                .any(|s| crate::plan::volumes(s).iter().any(|k| &k.name == v))
        });
        let mut removed = Vec::new();
        let mut in_use = Vec::new();
        for network in networks {
            match self.backend.remove_network(&network).await {
                Ok(()) => removed.push(network),
                // As Docker Compose leaves it ("Resource is still in use"):
                // another app's containers are on a network of this name.
                Err(crate::backend::Error::InUse { .. }) => {
                    tracing::warn!(%network, "network still in use by other containers: kept");
                    in_use.push(network);
                }
                Err(e) => {
                    return Err(Error::Down {
                        service: format!("network {network}"),
                        cause: e.to_string(),
                    })
                }
            }
        }
        if request.volumes {
            // The volumes kept for the services' anonymous volumes, as
            // `docker compose down -v` removes the containers' anonymous
            // volumes; this installation's and app's only.
            let installation = self.releases.installation()?;
            for key in &keys {
                let labels = crate::backend::anonymous_volume_labels(&installation, key);
                let kept = self
                    .backend
                    .list_volumes(&labels)
                    .await
                    .map_err(|e| Error::Down {
                        service: key.to_string(),
                        cause: e.to_string(),
                    })?;
                volumes.extend(kept);
            }
        }
        for volume in &volumes {
            self.backend
                .remove_volume(volume)
                .await
                .map_err(|e| Error::Down {
                    service: format!("volume {volume}"),
                    cause: e.to_string(),
                })?;
        }
        Ok(DownReport {
            services,
            containers,
            networks: removed,
            networks_in_use: in_use,
            volumes: volumes.into_iter().collect(),
        })
    }
}
