//! An in-memory [`Backend`] for tests of code that drives a deploy: it keeps
//! images and containers in a map, records every call, and lets a test decide
//! how a container behaves (healthy, unhealthy, exits) by image.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use crate::backend::{
    Backend, BuildSpec, Container, ContainerSpec, Error, FixedAddress, Health, RegistryAuth,
    RunState, VolumeSpec,
};

/// How containers of an image behave once started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behaviour {
    #[default]
    Healthy,
    Unhealthy,
    /// Exits at once with this code.
    Exits(i64),
    /// Exits at once and its restart policy starts it again, over and
    /// over: `restarting`, its ports unpublished meanwhile.
    Restarts,
}

#[derive(Default)]
struct State {
    images: BTreeMap<String, String>,
    /// When an image was tagged, for those a test said.
    tagged: BTreeMap<String, i64>,
    behaviours: BTreeMap<String, Behaviour>,
    containers: BTreeMap<String, Container>,
    calls: Vec<String>,
    volumes: BTreeMap<String, VolumeSpec>,
    /// The paths an image's `VOLUME`s declare, for those a test said.
    image_volumes: BTreeMap<String, Vec<String>>,
    next_id: u64,
    failing: BTreeMap<String, String>,
    unpullable: Vec<String>,
}

/// The fake backend. Published ports are made up (127.0.0.1:20000 and up)
/// and nothing listens on them.
#[derive(Default)]
pub struct FakeBackend {
    state: Mutex<State>,
}

impl FakeBackend {
    pub fn new() -> FakeBackend {
        FakeBackend::default()
    }

    /// Makes an image known, as if pulled or built.
    pub fn add_image(&self, reference: &str) {
        let mut s = self.lock();
        let id = format!("sha256:{:064x}", s.images.len() + 1);
        s.images.insert(reference.to_owned(), id);
    }

    /// Makes an image known, tagged at `millis` since the epoch.
    pub fn add_image_tagged_at(&self, reference: &str, millis: i64) {
        self.add_image(reference);
        self.lock().tagged.insert(reference.to_owned(), millis);
    }

    /// Makes `reference` one that no pull finds (a registry lacks it).
    pub fn unpullable(&self, reference: &str) {
        self.lock().unpullable.push(reference.to_owned());
    }

    /// Sets how containers of `image` behave.
    pub fn set_behaviour(&self, image: &str, behaviour: Behaviour) {
        self.lock().behaviours.insert(image.to_owned(), behaviour);
    }

    /// Makes the named operation (such as `"push_image"`) fail with `message`.
    pub fn fail(&self, operation: &str, message: &str) {
        self.lock()
            .failing
            .insert(operation.to_owned(), message.to_owned());
    }

    /// Makes a volume exist, as if made outside windlass.
    pub fn add_volume(&self, name: &str) {
        let spec = VolumeSpec {
            name: name.to_owned(),
            ..VolumeSpec::default()
        };
        self.lock().volumes.insert(name.to_owned(), spec);
    }

    /// Makes `image` declare `VOLUME`s at `paths`.
    pub fn set_image_volumes(&self, image: &str, paths: &[&str]) {
        let paths = paths.iter().map(|p| (*p).to_owned()).collect();
        self.lock().image_volumes.insert(image.to_owned(), paths);
    }

    /// The volumes that exist, by name.
    pub fn volumes(&self) -> BTreeMap<String, VolumeSpec> {
        self.lock().volumes.clone()
    }

    /// Every call so far, as `operation argument`.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn call(
        &self,
        operation: &'static str,
        argument: &str,
    ) -> Result<std::sync::MutexGuard<'_, State>, Error> {
        let mut s = self.lock();
        s.calls.push(format!("{operation} {argument}"));
        match s.failing.get(operation) {
            Some(message) => Err(Error::Engine {
                operation,
                name: argument.to_owned(),
                message: message.clone(),
            }),
            None => Ok(s),
        }
    }
}

fn container<'a>(s: &'a mut State, id: &str) -> Result<&'a mut Container, Error> {
    s.containers.get_mut(id).ok_or_else(|| Error::NotFound {
        what: "container",
        name: id.to_owned(),
    })
}

#[async_trait]
impl Backend for FakeBackend {
    async fn build_image(&self, spec: &BuildSpec) -> Result<String, Error> {
        let mut s = self.call("build_image", &spec.tag)?;
        let id = format!("sha256:{:064x}", s.images.len() + 1);
        s.images.insert(spec.tag.clone(), id.clone());
        Ok(id)
    }

    async fn tag_image(&self, image: &str, target: &str) -> Result<(), Error> {
        let mut s = self.call("tag_image", &format!("{image} {target}"))?;
        let id = s
            .images
            .get(image)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                what: "image",
                name: image.to_owned(),
            })?;
        s.images.insert(target.to_owned(), id);
        Ok(())
    }

    async fn push_image(&self, reference: &str, _auth: Option<&RegistryAuth>) -> Result<(), Error> {
        let s = self.call("push_image", reference)?;
        if !s.images.contains_key(reference) {
            return Err(Error::NotFound {
                what: "image",
                name: reference.to_owned(),
            });
        }
        Ok(())
    }

    async fn pull_image(&self, reference: &str, _auth: Option<&RegistryAuth>) -> Result<(), Error> {
        let s = self.call("pull_image", reference)?;
        if s.unpullable.iter().any(|r| r == reference) {
            return Err(Error::Engine {
                operation: "pull_image",
                name: reference.to_owned(),
                message: "manifest unknown".into(),
            });
        }
        drop(s);
        self.add_image(reference);
        Ok(())
    }

    async fn image_digests(&self, reference: &str) -> Result<Vec<String>, Error> {
        let s = self.call("image_digests", reference)?;
        let id = s.images.get(reference).ok_or_else(|| Error::NotFound {
            what: "image",
            name: reference.to_owned(),
        })?;
        let (repo, _) = crate::backend::split_reference(reference);
        Ok(vec![format!("{repo}@{id}")])
    }

    async fn image_tagged_millis(&self, reference: &str) -> Result<Option<i64>, Error> {
        let s = self.call("image_tagged_millis", reference)?;
        if !s.images.contains_key(reference) {
            return Err(Error::NotFound {
                what: "image",
                name: reference.to_owned(),
            });
        }
        Ok(s.tagged.get(reference).copied())
    }

    async fn remove_image(&self, reference: &str) -> Result<(), Error> {
        self.call("remove_image", reference)?
            .images
            .remove(reference);
        Ok(())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, Error> {
        let mut s = self.call("create_container", &spec.name)?;
        if !s.images.contains_key(&spec.image) {
            return Err(Error::NotFound {
                what: "image",
                name: spec.image.clone(),
            });
        }
        if s.containers.values().any(|c| c.name == spec.name) {
            return Err(Error::Engine {
                operation: "create container",
                name: spec.name.clone(),
                message: "name already in use".into(),
            });
        }
        s.next_id += 1;
        let id = format!("fake{:08}", s.next_id);
        let address = |i: usize| {
            SocketAddr::from((
                Ipv4Addr::LOCALHOST,
                20000 + (s.next_id as u16 % 1000) * 10 + i as u16,
            ))
        };
        let published = spec
            .ports
            .iter()
            .enumerate()
            .map(|(i, port)| (*port, address(i)))
            .collect();
        // The engine picks UDP ports apart from TCP ones: the same numbers do.
        let published_udp = spec
            .udp_ports
            .iter()
            .enumerate()
            .map(|(i, port)| (*port, address(i)))
            .collect();
        let health = if spec.healthcheck.is_some() {
            Health::Starting
        } else {
            Health::None
        };
        let created = Container {
            id: id.clone(),
            name: spec.name.clone(),
            image: spec.image.clone(),
            labels: spec.labels.clone(),
            state: RunState::Created,
            health,
            published,
            published_udp,
            health_log: None,
        };
        s.containers.insert(id.clone(), created);
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<(), Error> {
        let mut s = self.call("start_container", id)?;
        let image = container(&mut s, id)?.image.clone();
        let behaviour = s.behaviours.get(&image).copied().unwrap_or_default();
        let c = container(&mut s, id)?;
        c.state = RunState::Running;
        match behaviour {
            Behaviour::Healthy if c.health != Health::None => c.health = Health::Healthy,
            Behaviour::Healthy => {}
            Behaviour::Unhealthy => {
                c.health = Health::Unhealthy;
                c.health_log = Some("fake: unhealthy by design".into());
            }
            Behaviour::Exits(code) => c.state = RunState::Exited { code },
            Behaviour::Restarts => {
                c.state = RunState::Other("restarting".into());
                c.published.clear();
                c.published_udp.clear();
            }
        }
        Ok(())
    }

    async fn inspect_container(&self, id: &str) -> Result<Container, Error> {
        let mut s = self.call("inspect_container", id)?;
        container(&mut s, id).cloned()
    }

    async fn stop_container(&self, id: &str, _grace: Duration) -> Result<(), Error> {
        let mut s = self.call("stop_container", id)?;
        let c = container(&mut s, id)?;
        if c.state == RunState::Running {
            c.state = RunState::Exited { code: 0 };
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<(), Error> {
        self.call("remove_container", id)?.containers.remove(id);
        Ok(())
    }

    async fn connect_network(
        &self,
        network: &str,
        id: &str,
        aliases: &[String],
    ) -> Result<(), Error> {
        let mut s = self.call("connect_network", &format!("{network} {id} {aliases:?}"))?;
        container(&mut s, id).map(drop)
    }

    async fn connect_network_at(
        &self,
        network: &str,
        id: &str,
        aliases: &[String],
        address: &FixedAddress,
    ) -> Result<(), Error> {
        if *address == FixedAddress::default() {
            return self.connect_network(network, id, aliases).await;
        }
        let argument = format!("{network} {id} {aliases:?} {address:?}");
        let mut s = self.call("connect_network_at", &argument)?;
        container(&mut s, id).map(drop)
    }

    async fn disconnect_network(&self, network: &str, id: &str) -> Result<(), Error> {
        self.call("disconnect_network", &format!("{network} {id}"))
            .map(drop)
    }

    async fn container_logs(&self, id: &str, _tail: u32) -> Result<String, Error> {
        // The fake runs no process: a container it knows wrote nothing.
        let mut s = self.call("container_logs", id)?;
        container(&mut s, id).map(|_| String::new())
    }

    async fn list_containers(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<Container>, Error> {
        let s = self.call("list_containers", &format!("{labels:?}"))?;
        Ok(s.containers
            .values()
            .filter(|c| labels.iter().all(|(k, v)| c.labels.get(k) == Some(v)))
            .cloned()
            .collect())
    }

    async fn ensure_network(
        &self,
        name: &str,
        _labels: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        self.call("ensure_network", name).map(drop)
    }

    async fn ensure_network_with(
        &self,
        name: &str,
        _labels: &BTreeMap<String, String>,
        _options: &crate::backend::NetworkOptions,
    ) -> Result<(), Error> {
        self.call("ensure_network", name).map(drop)
    }

    async fn remove_volume(&self, name: &str) -> Result<(), Error> {
        self.call("remove_volume", name)?.volumes.remove(name);
        Ok(())
    }

    async fn remove_network(&self, name: &str) -> Result<(), Error> {
        self.call("remove_network", name).map(drop)
    }

    async fn image_volumes(&self, reference: &str) -> Result<Vec<String>, Error> {
        let s = self.call("image_volumes", reference)?;
        Ok(s.image_volumes.get(reference).cloned().unwrap_or_default())
    }

    async fn list_volumes(&self, labels: &BTreeMap<String, String>) -> Result<Vec<String>, Error> {
        let s = self.call("list_volumes", "by label")?;
        Ok(s.volumes
            .values()
            .filter(|v| {
                labels
                    .iter()
                    .all(|(k, value)| v.labels.get(k) == Some(value))
            })
            .map(|v| v.name.clone())
            .collect())
    }

    async fn ensure_volume(&self, spec: &VolumeSpec) -> Result<(), Error> {
        let mut s = self.call("ensure_volume", &spec.name)?;
        if s.volumes.contains_key(&spec.name) {
            return Ok(());
        }
        if spec.external {
            return Err(Error::Volume {
                name: spec.name.clone(),
                message: "it is declared `external: true` and does not exist".into(),
            });
        }
        s.volumes.insert(spec.name.clone(), spec.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Healthcheck;
    use crate::probe::{wait_healthy, Check, WaitConfig};

    fn spec(name: &str, image: &str) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            image: image.into(),
            ports: vec![8080],
            labels: BTreeMap::from([("windlass.release".into(), name.into())]),
            healthcheck: Some(Healthcheck {
                test: vec!["CMD".into(), "/app".into(), "probe".into()],
                interval: None,
                timeout: None,
                retries: None,
                start_period: None,
            }),
            ..ContainerSpec::default()
        }
    }

    #[tokio::test]
    async fn containers_follow_their_image_behaviour() {
        let fake = FakeBackend::new();
        for (image, behaviour) in [
            ("good", Behaviour::Healthy),
            ("sick", Behaviour::Unhealthy),
            ("crash", Behaviour::Exits(3)),
        ] {
            fake.add_image(image);
            fake.set_behaviour(image, behaviour);
        }
        let backend: &dyn Backend = &fake;
        let config = WaitConfig::new(Check::Docker);
        let good = backend
            .create_container(&spec("a", "good"))
            .await
            .expect("create");
        backend.start_container(&good).await.expect("start");
        let healthy = wait_healthy(backend, &good, &config)
            .await
            .expect("healthy");
        assert_eq!(healthy.published.len(), 1);

        let sick = backend
            .create_container(&spec("b", "sick"))
            .await
            .expect("create");
        backend.start_container(&sick).await.expect("start");
        assert!(matches!(
            wait_healthy(backend, &sick, &config).await,
            Err(Error::Unhealthy { .. })
        ));

        let crash = backend
            .create_container(&spec("c", "crash"))
            .await
            .expect("create");
        backend.start_container(&crash).await.expect("start");
        assert!(matches!(
            wait_healthy(backend, &crash, &config).await,
            Err(Error::Exited { code: 3, .. })
        ));

        assert!(matches!(
            backend.create_container(&spec("d", "missing")).await,
            Err(Error::NotFound { what: "image", .. })
        ));
        let listed = backend
            .list_containers(&BTreeMap::from([("windlass.release".into(), "a".into())]))
            .await
            .expect("list");
        assert_eq!(
            listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            vec![good.as_str()]
        );
        backend
            .stop_container(&good, Duration::from_secs(1))
            .await
            .expect("stop");
        backend.remove_container(&good).await.expect("remove");
        assert!(matches!(
            backend.inspect_container(&good).await,
            Err(Error::NotFound { .. })
        ));
        assert!(fake.calls().contains(&format!("remove_container {good}")));
    }

    /// A release that crashes under `restart: always` is between runs at
    /// most looks, its ports unpublished: the probe says it restarts, not
    /// that the file forgot to publish the port (n8n's stand-in said
    /// "publishes no port 5678 ...; list it in the service's ports").
    #[tokio::test]
    async fn a_restarting_container_is_reported_as_restarting() {
        let fake = FakeBackend::new();
        fake.add_image("loop");
        fake.set_behaviour("loop", Behaviour::Restarts);
        let backend: &dyn Backend = &fake;
        let id = backend
            .create_container(&spec("r", "loop"))
            .await
            .expect("create");
        backend.start_container(&id).await.expect("start");
        for check in [
            Check::Http {
                port: 8080,
                path: "/health".into(),
            },
            Check::Tcp { port: 8080 },
        ] {
            let config = WaitConfig {
                deadline: Duration::from_millis(120),
                interval: Duration::from_millis(20),
                ..WaitConfig::new(check)
            };
            match wait_healthy(backend, &id, &config).await {
                Err(e @ Error::HealthTimeout { .. }) => {
                    let text = e.to_string();
                    assert!(text.contains("is restarting"), "{text}");
                    assert!(!text.contains("list it in the service's ports"), "{text}");
                }
                other => panic!("a restarting container must time out, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn injected_failures_surface_as_engine_errors() {
        let fake = FakeBackend::new();
        fake.add_image("web:1");
        fake.fail("push_image", "registry unreachable");
        let err = fake.push_image("web:1", None).await.expect_err("fails");
        assert_eq!(
            err.to_string(),
            "push_image web:1 failed: registry unreachable"
        );
    }

    #[tokio::test]
    async fn volumes_are_made_once_and_external_ones_must_exist() {
        let fake = FakeBackend::new();
        let spec = VolumeSpec {
            name: "shop_data".into(),
            ..VolumeSpec::default()
        };
        fake.ensure_volume(&spec).await.expect("made");
        fake.ensure_volume(&spec).await.expect("found");
        assert_eq!(fake.volumes().len(), 1);
        let external = VolumeSpec {
            name: "team".into(),
            external: true,
            ..VolumeSpec::default()
        };
        assert!(matches!(
            fake.ensure_volume(&external).await,
            Err(Error::Volume { .. })
        ));
        fake.add_volume("team");
        fake.ensure_volume(&external).await.expect("exists now");
    }
}
