//! The proxies of the services the Docker target serves, one per published
//! port of each service: either in this process ([`Proxies::local`], for
//! tests and embedding), or in windlass's long-lived proxy daemon
//! ([`Proxies::daemon`], `windlass_proxy::daemon`), so that traffic
//! outlives the process that runs deploys. Both are the daemon's
//! [`Services`] and speak its API's types; the store's live pointer stays
//! the truth either way ([`Proxies::restore`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use windlass_proxy::daemon::api::{
    ApiError, CanaryAll, CanaryRelease, ErrorKind, LiveRelease, ServiceCanary, ServiceLive,
    ServiceName, ServiceSpec, ServiceView, SwitchAll,
};
use windlass_proxy::daemon::{Client, Services};
use windlass_proxy::Protocol;
use windlass_store::releases::{Live, ServiceKey};

use crate::compose::Service;

/// Shared by the deploy steps and the agent's status; cheap to clone.
#[derive(Clone)]
pub struct Proxies {
    kind: Arc<Kind>,
}

enum Kind {
    Local(Services),
    Daemon(Client, Ensured),
}

/// The proxies this process ensured in the daemon: per service, the spec
/// asked for and the spec as bound. Asking again for the same is answered
/// from here, so that a switch is one call to the daemon rather than one
/// per service first. The daemon keeps what it was asked for across its
/// restarts (its state file is written before it answers); a switch it
/// refuses for an unknown service forgets all of this, ensures the
/// services again and switches once more.
#[derive(Default)]
struct Ensured(Mutex<HashMap<ServiceKey, (ServiceSpec, ServiceSpec)>>);

impl Ensured {
    fn get(&self, service: &ServiceKey, asked: &ServiceSpec) -> Option<ServiceSpec> {
        let known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (was_asked, bound) = known.get(service)?;
        (was_asked == asked).then(|| bound.clone())
    }

    fn put(&self, service: &ServiceKey, asked: ServiceSpec, bound: ServiceSpec) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service.clone(), (asked, bound));
    }

    fn forget(&self, service: &ServiceKey) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(service);
    }

    /// Forgets everything; what was asked, to be ensured again.
    fn take_all(&self) -> Vec<(ServiceKey, ServiceSpec)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .map(|(service, (asked, _))| (service, asked))
            .collect()
    }
}

/// A release's traffic as its service's proxies counted it, every port's
/// summed.
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

/// One service's proxies as they run.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyView {
    pub service: ServiceKey,
    /// Each port's proxy: where it listens (as bound) and what it speaks.
    pub spec: ServiceSpec,
    pub live: Option<LiveRelease>,
    /// The live release's traffic.
    pub traffic: Option<Traffic>,
}

impl ProxyView {
    /// Where each port listens and what it speaks, for people:
    /// `[::]:8080 (http), 127.0.0.1:5353 (udp)`.
    pub fn listening(&self) -> String {
        self.spec
            .ports
            .iter()
            .map(|p| format!("{} ({})", p.listen, p.protocol))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Which protocol a service's routed port's proxy speaks (see
/// [`super::ports::protocol`] for every port's).
pub fn protocol(service: &Service) -> Protocol {
    let routed = service.routed_port();
    service
        .published_ports()
        .iter()
        .find(|p| Some(p.target) == routed)
        .map_or(Protocol::Tcp, super::ports::protocol)
}

/// The daemon's name for a service's proxies: its key's text, `APP/SERVICE`.
fn name(service: &ServiceKey) -> Result<ServiceName, String> {
    service.to_string().parse().map_err(|e| format!("{e}"))
}

/// A refusal of the proxies, local or in the daemon: its kind, when the
/// proxies said one, and what it says.
struct Refused {
    kind: Option<ErrorKind>,
    message: String,
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Refused {
        Refused {
            kind: Some(e.error),
            message: e.message,
        }
    }
}

impl From<windlass_proxy::daemon::Error> for Refused {
    fn from(e: windlass_proxy::daemon::Error) -> Refused {
        let kind = match &e {
            windlass_proxy::daemon::Error::Api { kind, .. } => Some(*kind),
            _ => None,
        };
        Refused {
            kind,
            message: e.to_string(),
        }
    }
}

fn traffic_of(view: &ServiceView, release: &str) -> Option<Traffic> {
    view.releases
        .iter()
        .find(|r| r.release == release)
        .map(|r| Traffic {
            requests: r.requests,
            server_errors: r.server_errors,
            in_flight: r.in_flight,
            p99: r.p99_us.map(Duration::from_micros),
        })
}

impl Proxies {
    /// Proxies in this process: they stop with it.
    pub fn local() -> Proxies {
        Proxies {
            kind: Arc::new(Kind::Local(Services::in_process())),
        }
    }

    /// Proxies in the proxy daemon that `client` reaches.
    pub fn daemon(client: Client) -> Proxies {
        Proxies {
            kind: Arc::new(Kind::Daemon(client, Ensured::default())),
        }
    }

    async fn views(&self) -> Result<Vec<ServiceView>, String> {
        match &*self.kind {
            Kind::Local(services) => Ok(services.list().await.services),
            Kind::Daemon(client, _) => client.services().await.map_err(|e| e.to_string()),
        }
    }

    async fn view(&self, service: &ServiceKey) -> Result<Option<ServiceView>, String> {
        let name = name(service)?;
        Ok(self.views().await?.into_iter().find(|v| v.name == name))
    }

    /// The service's proxies as `spec` says, each bound now unless it is
    /// already; returns the spec as bound (a port 0 with the port it got).
    /// A port that moved gets a new proxy that serves the live release at
    /// once; a port left out is closed.
    pub async fn ensure(
        &self,
        service: &ServiceKey,
        spec: &ServiceSpec,
    ) -> Result<ServiceSpec, String> {
        let failed = |e: Refused| format!("the proxies of service {service}: {}", e.message);
        match &*self.kind {
            Kind::Local(services) => services
                .ensure(name(service)?, spec.clone())
                .await
                .map(|view| view.spec)
                .map_err(|e| failed(e.into())),
            Kind::Daemon(client, ensured) => {
                if let Some(bound) = ensured.get(service, spec) {
                    return Ok(bound);
                }
                ensured.forget(service);
                let view = client
                    .ensure(&name(service)?, spec)
                    .await
                    .map_err(|e| failed(e.into()))?;
                ensured.put(service, spec.clone(), view.spec.clone());
                Ok(view.spec)
            }
        }
    }

    /// Routes the service's traffic to `live` on every port; the release
    /// live before.
    pub async fn switch(
        &self,
        service: &ServiceKey,
        live: LiveRelease,
    ) -> Result<Option<String>, String> {
        let mut before = self.switch_all(vec![(service.clone(), live)]).await?;
        Ok(before.pop().flatten())
    }

    /// Routes each service's traffic to its release, every port of every
    /// service in one step (one call to the daemon, which writes its state
    /// file once); per service, in order, the release live before. Nothing
    /// moves unless every service has its proxies and each release has
    /// upstreams for every port.
    pub async fn switch_all(
        &self,
        switches: Vec<(ServiceKey, LiveRelease)>,
    ) -> Result<Vec<Option<String>>, String> {
        let services = switches
            .into_iter()
            .map(|(service, live)| {
                Ok(ServiceLive {
                    name: name(&service)?,
                    live,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let request = SwitchAll { services };
        match &*self.kind {
            Kind::Local(local) => local
                .switch_all(request)
                .await
                .map(|s| s.previous)
                .map_err(|e| e.message),
            Kind::Daemon(client, ensured) => {
                let switched = match client.switch_all(request.services.clone()).await {
                    Err(windlass_proxy::daemon::Error::Api {
                        kind: ErrorKind::UnknownService,
                        ..
                    }) => {
                        // The daemon lost a proxy this process ensured
                        // (another state file, say): ensure them again.
                        for (service, spec) in ensured.take_all() {
                            Box::pin(self.ensure(&service, &spec)).await?;
                        }
                        client.switch_all(request.services).await
                    }
                    other => other,
                };
                Ok(switched.map_err(|e| e.to_string())?.previous)
            }
        }
    }

    /// The service's proxies as the daemon runs them, counters included.
    pub async fn service_view(&self, service: &ServiceKey) -> Result<Option<ServiceView>, String> {
        self.view(service).await
    }

    /// Sets (or, `None`, ends) each service's canary beside its live
    /// release, every service in one step (one call to the daemon).
    pub async fn set_canaries(
        &self,
        canaries: Vec<(ServiceKey, Option<CanaryRelease>)>,
    ) -> Result<(), String> {
        if canaries.is_empty() {
            return Ok(());
        }
        let services = canaries
            .into_iter()
            .map(|(service, canary)| {
                Ok(ServiceCanary {
                    name: name(&service)?,
                    canary,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        match &*self.kind {
            Kind::Local(local) => local
                .set_canaries(CanaryAll { services })
                .await
                .map(drop)
                .map_err(|e| e.message),
            Kind::Daemon(client, _) => client
                .set_canaries(services)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
        }
    }

    /// Ends the service's canary, if it has one: all its new traffic goes
    /// to the live release at once. Returns the canary's release.
    pub async fn end_canary(&self, service: &ServiceKey) -> Result<Option<String>, String> {
        if !self.has(service).await? {
            return Ok(None);
        }
        let name = name(service)?;
        let ended: Result<_, Refused> = match &*self.kind {
            Kind::Local(services) => services.end_canary(&name).await.map_err(Into::into),
            Kind::Daemon(client, _) => client.end_canary(&name).await.map_err(Into::into),
        };
        ended.map(|e| e.canary).map_err(|e| e.message)
    }

    /// Leaves the service with no live release (its traffic is held on
    /// every port); returns the release that was live.
    pub async fn clear(&self, service: &ServiceKey) -> Result<Option<String>, String> {
        if !self.has(service).await? {
            return Ok(None);
        }
        let name = name(service)?;
        let cleared: Result<_, Refused> = match &*self.kind {
            Kind::Local(services) => services.clear(&name).await.map_err(Into::into),
            Kind::Daemon(client, _) => client.clear(&name).await.map_err(Into::into),
        };
        cleared.map(|s| s.previous).map_err(|e| e.message)
    }

    /// Whether the service has proxies.
    pub async fn has(&self, service: &ServiceKey) -> Result<bool, String> {
        Ok(self.view(service).await?.is_some())
    }

    /// The release the service's proxies route to.
    pub async fn live(&self, service: &ServiceKey) -> Result<Option<String>, String> {
        Ok(self
            .view(service)
            .await?
            .and_then(|v| v.live.map(|l| l.release)))
    }

    /// A release's traffic so far, every port's summed.
    pub async fn traffic(
        &self,
        service: &ServiceKey,
        release: &str,
    ) -> Result<Option<Traffic>, String> {
        Ok(self
            .view(service)
            .await?
            .and_then(|v| traffic_of(&v, release)))
    }

    /// Waits until `release` has nothing in flight on any port, at most
    /// `timeout`. A release the proxies never routed to has nothing to drain.
    pub async fn drain(
        &self,
        service: &ServiceKey,
        release: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        if !self.has(service).await? {
            return Ok(());
        }
        let name = name(service)?;
        let drained: Result<_, Refused> = match &*self.kind {
            Kind::Local(services) => {
                let request = windlass_proxy::daemon::api::DrainRequest {
                    release: release.to_owned(),
                    timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                };
                services.drain(&name, request).await.map_err(Into::into)
            }
            Kind::Daemon(client, _) => client
                .drain(&name, release, timeout)
                .await
                .map_err(Into::into),
        };
        match drained {
            Ok(_) => Ok(()),
            Err(Refused {
                kind: Some(ErrorKind::UnknownRelease),
                ..
            }) => Ok(()),
            Err(e) => Err(e.message),
        }
    }

    /// Drops a retired release's counters.
    pub async fn forget(&self, service: &ServiceKey, release: &str) {
        let Ok(name) = name(service) else {
            return;
        };
        // A release the proxies never counted is not an error.
        match &*self.kind {
            Kind::Local(services) => {
                let request = windlass_proxy::daemon::api::ForgetRequest {
                    release: release.to_owned(),
                };
                let _ = services.forget(&name, request).await;
            }
            Kind::Daemon(client, _) => {
                let _ = client.forget(&name, release).await;
            }
        }
    }

    /// Closes the service's proxies: their addresses are free again.
    pub async fn close(&self, service: &ServiceKey) -> Result<(), String> {
        if let Kind::Daemon(_, ensured) = &*self.kind {
            ensured.forget(service);
        }
        if !self.has(service).await? {
            return Ok(());
        }
        let name = name(service)?;
        let closed: Result<_, Refused> = match &*self.kind {
            Kind::Local(services) => services.close(&name).await.map_err(Into::into),
            Kind::Daemon(client, _) => client.close(&name).await.map_err(Into::into),
        };
        closed.map(drop).map_err(|e| e.message)
    }

    /// Every service's proxies, by service key; a daemon's proxies of a
    /// name that is no `APP/SERVICE` key are left out (see
    /// [`Proxies::close_unkeyed`]).
    pub async fn all(&self) -> Result<Vec<ProxyView>, String> {
        let mut all: Vec<ProxyView> = self
            .views()
            .await?
            .into_iter()
            .filter_map(|view| {
                let service = view.name.as_str().parse().ok()?;
                let traffic = view
                    .live
                    .as_ref()
                    .and_then(|live| traffic_of(&view, &live.release));
                Some(ProxyView {
                    service,
                    spec: view.spec,
                    live: view.live,
                    traffic,
                })
            })
            .collect();
        all.sort_by(|a, b| a.service.cmp(&b.service));
        Ok(all)
    }

    /// Binds the service's proxies and routes them to the stored live
    /// release (`service` is that release's Compose service, which says
    /// what a pointer stored before ports were recorded one by one left out).
    pub async fn restore(&self, live: &Live, service: &Service) -> Result<(), String> {
        let (spec, release) = super::ports::from_store(service, live)?;
        self.ensure(&live.service, &spec).await?;
        self.switch(&live.service, release).await?;
        Ok(())
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
