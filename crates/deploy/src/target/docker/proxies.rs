//! The proxies of the services the Docker target serves, one per service:
//! either in this process ([`Proxies::local`], for tests and embedding), or
//! in windlass's long-lived proxy daemon ([`Proxies::daemon`],
//! `windlass_proxy::daemon`), so that traffic outlives the process that runs
//! deploys. Both are driven the same way; the store's live pointer stays the
//! truth either way ([`Proxies::restore`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use windlass_proxy::daemon::api::{
    LiveRelease, ServiceLive, ServiceName, ServiceSpec, ServiceView,
};
use windlass_proxy::daemon::Client;
use windlass_proxy::{Protocol, Proxy, Release};
use windlass_store::releases::{Live, ServiceKey};

use crate::compose::Service;

/// Shared by the deploy steps and the agent's status; cheap to clone.
#[derive(Clone)]
pub struct Proxies {
    kind: Arc<Kind>,
}

enum Kind {
    Local(Mutex<HashMap<ServiceKey, Arc<Proxy>>>),
    Daemon(Client, Ensured),
}

/// The proxies this process ensured in the daemon: per service, the
/// address and protocol asked for and the address bound. Asking again for
/// the same is answered from here, so that a switch is one call to the
/// daemon rather than one per service first. The daemon keeps what it
/// was asked for across its restarts (its state file is written before it
/// answers); a switch it refuses for an unknown service forgets all of
/// this, ensures the services again and switches once more.
#[derive(Default)]
struct Ensured(Mutex<HashMap<ServiceKey, (SocketAddr, Protocol, SocketAddr)>>);

impl Ensured {
    fn get(
        &self,
        service: &ServiceKey,
        address: SocketAddr,
        protocol: Protocol,
    ) -> Option<SocketAddr> {
        let known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (asked, asked_protocol, bound) = known.get(service)?;
        (*asked == address && *asked_protocol == protocol).then_some(*bound)
    }

    fn put(
        &self,
        service: &ServiceKey,
        address: SocketAddr,
        protocol: Protocol,
        bound: SocketAddr,
    ) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service.clone(), (address, protocol, bound));
    }

    fn forget(&self, service: &ServiceKey) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(service);
    }

    /// Forgets everything; what was known, to be ensured again.
    fn take_all(&self) -> HashMap<ServiceKey, (SocketAddr, Protocol, SocketAddr)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A release's traffic as its proxy counted it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Traffic {
    pub requests: u64,
    pub server_errors: u64,
    pub in_flight: u64,
    /// The release's p99 latency so far (HTTP).
    pub p99: Option<Duration>,
}

impl Traffic {
    /// The requests between `earlier` and `self`; in flight and p99 stay.
    pub fn since(&self, earlier: &Traffic) -> Traffic {
        Traffic {
            requests: self.requests.saturating_sub(earlier.requests),
            server_errors: self.server_errors.saturating_sub(earlier.server_errors),
            ..*self
        }
    }

    pub fn server_error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.server_errors as f64 / self.requests as f64
        }
    }
}

/// One service's proxy as it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyView {
    pub service: ServiceKey,
    pub address: SocketAddr,
    pub live: Option<(String, Vec<SocketAddr>)>,
    pub traffic: Option<Traffic>,
}

/// Which protocol a service's proxy speaks: HTTP when windlass is told the
/// port is HTTP (an `x-windlass.health.http` probe, or 5xx or latency
/// rollback triggers), else TCP, byte for byte, which serves any protocol.
pub fn protocol(service: &Service) -> Protocol {
    let windlass = &service.windlass;
    let http = windlass.health.http.is_some()
        || windlass.rollback_on.server_error_ratio.is_some()
        || windlass.rollback_on.p99_latency.is_some();
    if http {
        Protocol::Http
    } else {
        Protocol::Tcp
    }
}

/// The daemon's name for a service's proxy: its key's text, `APP/SERVICE`.
fn name(service: &ServiceKey) -> Result<ServiceName, String> {
    service.to_string().parse().map_err(|e| format!("{e}"))
}

impl Proxies {
    /// Proxies in this process: they stop with it.
    pub fn local() -> Proxies {
        Proxies {
            kind: Arc::new(Kind::Local(Mutex::new(HashMap::new()))),
        }
    }

    /// Proxies in the proxy daemon that `client` reaches.
    pub fn daemon(client: Client) -> Proxies {
        Proxies {
            kind: Arc::new(Kind::Daemon(client, Ensured::default())),
        }
    }

    /// The service's proxy on `address`, bound now unless it is already;
    /// returns the address it listens on. A service that moved to another
    /// address gets a new proxy that keeps serving the old one's live release.
    pub async fn ensure(
        &self,
        service: &ServiceKey,
        address: SocketAddr,
        protocol: Protocol,
    ) -> Result<SocketAddr, String> {
        match &*self.kind {
            Kind::Local(map) => {
                let existing = lock(map).get(service).cloned();
                if let Some(proxy) = &existing {
                    let same = address.port() == 0 || proxy.local_addr() == address;
                    if same && proxy.protocol() == protocol {
                        return Ok(proxy.local_addr());
                    }
                }
                let config = windlass_proxy::Config {
                    protocol,
                    ..windlass_proxy::Config::default()
                };
                if let Some(old) = &existing {
                    if old.local_addr() == address {
                        // Same address, other protocol: free it first.
                        old.stop().await;
                    }
                }
                let proxy = Proxy::bind(address, config)
                    .await
                    .map_err(|e| format!("the proxy of service {service}: {e}"))?;
                if let Some(live) = existing.and_then(|p| p.live()) {
                    proxy.switch(live).map_err(|e| e.to_string())?;
                }
                let bound = proxy.local_addr();
                lock(map).insert(service.clone(), Arc::new(proxy));
                Ok(bound)
            }
            Kind::Daemon(client, ensured) => {
                if let Some(bound) = ensured.get(service, address, protocol) {
                    return Ok(bound);
                }
                ensured.forget(service);
                let spec = ServiceSpec::new(address, protocol);
                let view = client
                    .ensure(&name(service)?, &spec)
                    .await
                    .map_err(|e| format!("the proxy of service {service}: {e}"))?;
                ensured.put(service, address, protocol, view.spec.listen);
                Ok(view.spec.listen)
            }
        }
    }

    /// Routes the service's traffic to `release`; the release live before.
    pub async fn switch(
        &self,
        service: &ServiceKey,
        release: &str,
        upstreams: Vec<SocketAddr>,
    ) -> Result<Option<String>, String> {
        match &*self.kind {
            Kind::Local(map) => {
                let proxy = lock(map)
                    .get(service)
                    .cloned()
                    .ok_or_else(|| format!("service {service} has no proxy"))?;
                proxy
                    .switch(Release::new(release, upstreams))
                    .map_err(|e| e.to_string())
            }
            Kind::Daemon(client, _) => {
                let live = LiveRelease {
                    release: release.to_owned(),
                    upstreams,
                };
                let switched = client
                    .switch(&name(service)?, &live)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(switched.previous)
            }
        }
    }

    /// Routes each service's traffic to its release, all in one step (one
    /// call to the daemon, which writes its state file once); per service,
    /// in order, the release live before. Nothing moves unless every
    /// service has a proxy.
    pub async fn switch_all(
        &self,
        switches: &[(&ServiceKey, &str, Vec<SocketAddr>)],
    ) -> Result<Vec<Option<String>>, String> {
        match &*self.kind {
            Kind::Local(map) => {
                let proxies = {
                    let map = lock(map);
                    switches
                        .iter()
                        .map(|(service, ..)| {
                            map.get(service)
                                .cloned()
                                .ok_or_else(|| format!("service {service} has no proxy"))
                        })
                        .collect::<Result<Vec<_>, String>>()?
                };
                if let Some((_, release, _)) = switches.iter().find(|(_, _, u)| u.is_empty()) {
                    return Err(format!("release {release} has no upstreams"));
                }
                proxies
                    .iter()
                    .zip(switches)
                    .map(|(proxy, (_, release, upstreams))| {
                        proxy
                            .switch(Release::new(*release, upstreams.clone()))
                            .map_err(|e| e.to_string())
                    })
                    .collect()
            }
            Kind::Daemon(client, ensured) => {
                let services = switches
                    .iter()
                    .map(|(service, release, upstreams)| {
                        Ok(ServiceLive {
                            name: name(service)?,
                            live: LiveRelease {
                                release: (*release).to_owned(),
                                upstreams: upstreams.clone(),
                            },
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                let switched = match client.switch_all(services.clone()).await {
                    Err(windlass_proxy::daemon::Error::Api {
                        kind: windlass_proxy::daemon::api::ErrorKind::UnknownService,
                        ..
                    }) => {
                        // The daemon lost a proxy this process ensured
                        // (another state file, say): ensure them again.
                        for (service, (address, protocol, _)) in ensured.take_all() {
                            Box::pin(self.ensure(&service, address, protocol)).await?;
                        }
                        client.switch_all(services).await
                    }
                    other => other,
                };
                Ok(switched.map_err(|e| e.to_string())?.previous)
            }
        }
    }

    /// Leaves the service with no live release (its traffic is held);
    /// returns the release that was live.
    pub async fn clear(&self, service: &ServiceKey) -> Result<Option<String>, String> {
        match &*self.kind {
            Kind::Local(map) => Ok(lock(map).get(service).and_then(|p| p.clear())),
            Kind::Daemon(client, _) => match self.view(service).await? {
                None => Ok(None),
                Some(_) => client
                    .clear(&name(service)?)
                    .await
                    .map(|s| s.previous)
                    .map_err(|e| e.to_string()),
            },
        }
    }

    /// Whether the service has a proxy.
    pub async fn has(&self, service: &ServiceKey) -> Result<bool, String> {
        Ok(self.view(service).await?.is_some())
    }

    /// The release the service's proxy routes to.
    pub async fn live(&self, service: &ServiceKey) -> Result<Option<String>, String> {
        Ok(self
            .view(service)
            .await?
            .and_then(|v| v.live.map(|(release, _)| release)))
    }

    /// A release's traffic so far.
    pub async fn traffic(
        &self,
        service: &ServiceKey,
        release: &str,
    ) -> Result<Option<Traffic>, String> {
        match &*self.kind {
            Kind::Local(map) => {
                Ok(lock(map)
                    .get(service)
                    .and_then(|p| p.stats(release))
                    .map(|s| Traffic {
                        requests: s.requests,
                        server_errors: s.server_errors,
                        in_flight: s.in_flight,
                        p99: s.p99(),
                    }))
            }
            Kind::Daemon(client, _) => {
                let views = client.services().await.map_err(|e| e.to_string())?;
                Ok(views
                    .into_iter()
                    .find(|v| v.name.as_str() == service.to_string())
                    .and_then(|v| v.releases.into_iter().find(|r| r.release == release))
                    .map(|r| Traffic {
                        requests: r.requests,
                        server_errors: r.server_errors,
                        in_flight: r.in_flight,
                        p99: r.p99_us.map(Duration::from_micros),
                    }))
            }
        }
    }

    /// Waits until `release` has nothing in flight, at most `timeout`. A
    /// release the proxy never routed to has nothing to drain.
    pub async fn drain(
        &self,
        service: &ServiceKey,
        release: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        match &*self.kind {
            Kind::Local(map) => {
                let Some(proxy) = lock(map).get(service).cloned() else {
                    return Ok(());
                };
                match proxy.drain(release, timeout).await {
                    Ok(()) | Err(windlass_proxy::Error::UnknownRelease(_)) => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            }
            Kind::Daemon(client, _) => {
                if !self.has(service).await? {
                    return Ok(());
                }
                match client.drain(&name(service)?, release, timeout).await {
                    Ok(_) => Ok(()),
                    Err(windlass_proxy::daemon::Error::Api {
                        kind: windlass_proxy::daemon::api::ErrorKind::UnknownRelease,
                        ..
                    }) => Ok(()),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }

    /// Drops a retired release's counters.
    pub async fn forget(&self, service: &ServiceKey, release: &str) {
        match &*self.kind {
            Kind::Local(map) => {
                if let Some(proxy) = lock(map).get(service) {
                    proxy.forget(release);
                }
            }
            Kind::Daemon(client, _) => {
                if let Ok(name) = name(service) {
                    // A release the proxy never counted is not an error.
                    let _ = client.forget(&name, release).await;
                }
            }
        }
    }

    /// Closes the service's proxy: its address is free again.
    pub async fn close(&self, service: &ServiceKey) -> Result<(), String> {
        match &*self.kind {
            Kind::Local(map) => {
                let proxy = lock(map).remove(service);
                if let Some(proxy) = proxy {
                    proxy.stop().await;
                }
                Ok(())
            }
            Kind::Daemon(client, ensured) => {
                ensured.forget(service);
                if !self.has(service).await? {
                    return Ok(());
                }
                client
                    .close(&name(service)?)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        }
    }

    /// Every service's proxy, by service name.
    pub async fn all(&self) -> Result<Vec<ProxyView>, String> {
        let mut all: Vec<ProxyView> = match &*self.kind {
            Kind::Local(map) => {
                let proxies: Vec<(ServiceKey, Arc<Proxy>)> = lock(map)
                    .iter()
                    .map(|(s, p)| (s.clone(), Arc::clone(p)))
                    .collect();
                proxies
                    .into_iter()
                    .map(|(service, proxy)| {
                        let live = proxy.live();
                        let traffic =
                            live.as_ref()
                                .and_then(|l| proxy.stats(&l.id))
                                .map(|s| Traffic {
                                    requests: s.requests,
                                    server_errors: s.server_errors,
                                    in_flight: s.in_flight,
                                    p99: s.p99(),
                                });
                        ProxyView {
                            service,
                            address: proxy.local_addr(),
                            live: live.map(|l| (l.id, l.upstreams)),
                            traffic,
                        }
                    })
                    .collect()
            }
            Kind::Daemon(client, _) => client
                .services()
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter_map(daemon_view)
                .collect(),
        };
        all.sort_by(|a, b| a.service.cmp(&b.service));
        Ok(all)
    }

    /// Binds the service's proxy and routes it to the stored live release.
    pub async fn restore(&self, live: &Live, protocol: Protocol) -> Result<(), String> {
        let address: SocketAddr = live
            .address
            .parse()
            .map_err(|e| format!("stored proxy address of {}: {e}", live.service))?;
        let upstreams = live
            .upstreams
            .iter()
            .map(|u| u.parse::<SocketAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("stored upstreams of {}: {e}", live.service))?;
        self.ensure(&live.service, address, protocol).await?;
        self.switch(&live.service, &live.release, upstreams).await?;
        Ok(())
    }

    async fn view(&self, service: &ServiceKey) -> Result<Option<ProxyView>, String> {
        Ok(self
            .all()
            .await?
            .into_iter()
            .find(|v| &v.service == service))
    }

    /// Closes the daemon's proxies whose names are no `APP/SERVICE` key:
    /// those a windlass before keys held their app ensured under a bare
    /// service name. Their addresses are then free for the keyed proxies
    /// [`Proxies::restore`] binds from the store. Returns their names.
    pub async fn close_unkeyed(&self) -> Result<Vec<String>, String> {
        let Kind::Daemon(client, _) = &*self.kind else {
            return Ok(Vec::new());
        };
        let views = client.services().await.map_err(|e| e.to_string())?;
        let mut closed = Vec::new();
        for view in views {
            if view.name.as_str().parse::<ServiceKey>().is_err() {
                client.close(&view.name).await.map_err(|e| e.to_string())?;
                tracing::info!(proxy = %view.name, "closed a proxy of a bare service name");
                closed.push(view.name.as_str().to_owned());
            }
        }
        Ok(closed)
    }
}

/// A daemon's proxy as a service's; `None` for a name that is no
/// `APP/SERVICE` key (see [`Proxies::close_unkeyed`]).
fn daemon_view(view: ServiceView) -> Option<ProxyView> {
    let service = view.name.as_str().parse().ok()?;
    let live = view.live.map(|l| (l.release, l.upstreams));
    let traffic = live.as_ref().and_then(|(release, _)| {
        view.releases
            .iter()
            .find(|r| &r.release == release)
            .map(|r| Traffic {
                requests: r.requests,
                server_errors: r.server_errors,
                in_flight: r.in_flight,
                p99: r.p99_us.map(Duration::from_micros),
            })
    });
    Some(ProxyView {
        service,
        address: view.spec.listen,
        live,
        traffic,
    })
}

fn lock(
    map: &Mutex<HashMap<ServiceKey, Arc<Proxy>>>,
) -> std::sync::MutexGuard<'_, HashMap<ServiceKey, Arc<Proxy>>> {
    map.lock().unwrap_or_else(PoisonError::into_inner)
}
