//! The daemon's running services: per service name, one proxy per port it
//! publishes. Every change is applied and then written to the state file
//! while one lock is held, so the file always holds the routing of the last
//! change made. A service's ports switch together: each port's proxy is
//! swapped under the same lock, before the lock is let go.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::api::{
    ApiError, CanaryRelease, Closed, DrainRequest, Drained, ErrorKind, ForgetRequest, Forgotten,
    LiveRelease, PortSpec, PortView, ReleaseStats, ServiceList, ServiceName, ServiceSpec,
    ServiceView, SwitchAll, Switched, SwitchedAll,
};
use super::state::{self, Route, Table};
use super::Error;
use crate::Proxy;

/// One port's proxy: its spec as asked, except `listen`, the address bound.
pub(super) struct Port {
    pub(super) spec: PortSpec,
    pub(super) proxy: Arc<Proxy>,
}

pub(super) struct Running {
    hold_timeout_ms: u64,
    pub(super) ports: Vec<Port>,
}

impl Running {
    fn spec(&self) -> ServiceSpec {
        ServiceSpec {
            ports: self.ports.iter().map(|p| p.spec.clone()).collect(),
            hold_timeout_ms: self.hold_timeout_ms,
        }
    }

    /// The live release as the ports route it (they switch together).
    pub(super) fn live(&self) -> Option<LiveRelease> {
        let mut live: Option<LiveRelease> = None;
        for port in &self.ports {
            let Some(release) = port.proxy.live() else {
                continue;
            };
            let live = live.get_or_insert_with(|| LiveRelease {
                release: release.id.clone(),
                upstreams: BTreeMap::new(),
            });
            if live.release == release.id {
                live.upstreams
                    .insert(port.spec.upstream.clone(), release.upstreams);
            }
        }
        live
    }

    /// The canary as the ports route it (set on all together).
    pub(super) fn canary(&self) -> Option<CanaryRelease> {
        let mut canary: Option<CanaryRelease> = None;
        for port in &self.ports {
            let Some(one) = port.proxy.canary() else {
                continue;
            };
            let canary = canary.get_or_insert_with(|| CanaryRelease {
                canary: LiveRelease {
                    release: one.release.id.clone(),
                    upstreams: BTreeMap::new(),
                },
                weight: one.weight,
                sticky: one.sticky.clone(),
            });
            if canary.canary.release == one.release.id {
                canary
                    .canary
                    .upstreams
                    .insert(port.spec.upstream.clone(), one.release.upstreams);
            }
        }
        canary
    }

    pub(super) fn proxies(&self) -> impl Iterator<Item = &Arc<Proxy>> {
        self.ports.iter().map(|p| &p.proxy)
    }
}

/// The running services, and where their state file is written (nowhere
/// for services run inside another process, which stop with it).
pub struct Services {
    dir: Option<PathBuf>,
    pub(super) running: Mutex<BTreeMap<ServiceName, Running>>,
}

pub(super) fn refused(e: &crate::Error) -> ApiError {
    ApiError {
        error: ErrorKind::from(e),
        message: e.to_string(),
    }
}

pub(super) fn unknown(name: &ServiceName) -> ApiError {
    ApiError {
        error: ErrorKind::UnknownService,
        message: format!("the proxy daemon has no service {name}; PUT /v1/services/{name} first"),
    }
}

/// Checks that `live` has upstreams for every port of the service, before
/// anything moves.
pub(super) fn check_upstreams(running: &Running, live: &LiveRelease) -> Result<(), ApiError> {
    for port in &running.ports {
        if live
            .upstreams
            .get(&port.spec.upstream)
            .is_none_or(Vec::is_empty)
        {
            return Err(ApiError {
                error: ErrorKind::NoUpstreams,
                message: format!(
                    "release {} has no upstreams for the port on {} (upstreams {:?}); give at least one 127.0.0.1:PORT",
                    live.release, port.spec.listen, port.spec.upstream
                ),
            });
        }
    }
    Ok(())
}

/// Switches every port of a service to `live` (checked first).
fn switch_ports(running: &Running, live: &LiveRelease) -> Result<Option<String>, ApiError> {
    let mut previous = None;
    for (i, port) in running.ports.iter().enumerate() {
        let before = port
            .proxy
            .switch(live.for_port(&port.spec))
            .map_err(|e| refused(&e))?;
        if i == 0 {
            previous = before;
        }
    }
    Ok(previous)
}

impl Services {
    /// Services in this process, with no state file: they stop with it.
    pub fn in_process() -> Services {
        Services {
            dir: None,
            running: Mutex::new(BTreeMap::new()),
        }
    }

    /// Binds and routes every service of the state file in `dir`.
    pub(crate) async fn restore(dir: PathBuf) -> Result<Services, Error> {
        let table = state::read(&dir)?;
        let mut running = BTreeMap::new();
        for (name, route) in table.services {
            let failed = |source| Error::Restore {
                service: name.clone(),
                source,
            };
            let mut ports = Vec::new();
            for spec in &route.spec.ports {
                let proxy = Proxy::bind(spec.listen, route.spec.proxy_config(spec))
                    .await
                    .map_err(failed)?;
                if let Some(live) = &route.live {
                    let release = live.for_port(spec);
                    if !release.upstreams.is_empty() {
                        proxy.switch(release).map_err(failed)?;
                    }
                }
                if let Some(canary) = &route.canary {
                    let canary = canary.for_port(spec);
                    if !canary.release.upstreams.is_empty() {
                        proxy.set_canary(canary).map_err(failed)?;
                    }
                }
                let spec = PortSpec {
                    listen: proxy.local_addr(),
                    ..spec.clone()
                };
                ports.push(Port {
                    spec,
                    proxy: Arc::new(proxy),
                });
            }
            let hold_timeout_ms = route.spec.hold_timeout_ms;
            running.insert(
                name,
                Running {
                    hold_timeout_ms,
                    ports,
                },
            );
        }
        Ok(Services {
            dir: Some(dir),
            running: Mutex::new(running),
        })
    }

    pub async fn list(&self) -> ServiceList {
        let running = self.running.lock().await;
        ServiceList {
            services: running.iter().map(|(n, r)| view(n, r)).collect(),
        }
    }

    /// Makes the service's proxies match `spec`: a port whose address and
    /// protocol run already keeps its proxy (a port 0 keeps the port it was
    /// given), a new one is bound and routed to the service's live release,
    /// one left out is closed. A port that cannot be bound leaves the
    /// service as it was, less the proxies that had to give up their
    /// address to it.
    pub async fn ensure(
        &self,
        name: ServiceName,
        spec: ServiceSpec,
    ) -> Result<ServiceView, ApiError> {
        let mut running = self.running.lock().await;
        let old = running.remove(&name);
        let old_spec = old.as_ref().map(Running::spec);
        let live = old.as_ref().and_then(Running::live);
        let canary = old.as_ref().and_then(Running::canary);
        let hold = Duration::from_millis(spec.hold_timeout_ms);
        let mut kept: Vec<Option<Port>> = old
            .map(|o| o.ports.into_iter().map(Some).collect())
            .unwrap_or_default();
        // Each port, and whether it was bound by this call.
        let mut ports: Vec<(Port, bool)> = Vec::new();
        let mut failure = None;
        for asked in &spec.ports {
            let mut asked = asked.clone();
            if asked.listen.port() == 0 {
                // Port 0 was given a port once: the same one again.
                let given = kept.iter().flatten().find(|p| {
                    p.spec.listen.ip() == asked.listen.ip()
                        && p.spec.protocol.is_udp() == asked.protocol.is_udp()
                        && p.spec.upstream == asked.upstream
                });
                if let Some(given) = given {
                    asked.listen.set_port(given.spec.listen.port());
                }
            }
            let same = kept.iter().position(|p| {
                p.as_ref().is_some_and(|p| {
                    p.spec.listen == asked.listen && p.spec.protocol == asked.protocol
                })
            });
            if let Some(port) = same.and_then(|i| kept[i].take()) {
                // Another hold timeout is taken in place: the port stays bound.
                port.proxy.set_hold_timeout(hold);
                let port = Port {
                    spec: asked,
                    proxy: port.proxy,
                };
                ports.push((port, false));
                continue;
            }
            // Another protocol of the same transport on the address: the
            // old proxy gives the address up first.
            let taken = kept.iter().position(|p| {
                p.as_ref().is_some_and(|p| {
                    p.spec.listen == asked.listen
                        && p.spec.protocol.is_udp() == asked.protocol.is_udp()
                })
            });
            if let Some(old) = taken.and_then(|i| kept[i].take()) {
                old.proxy.stop().await;
            }
            match Proxy::bind(asked.listen, spec.proxy_config(&asked)).await {
                Ok(proxy) => {
                    // A port the live release has no upstreams for holds
                    // its traffic until a release that has is switched in.
                    if let Some(release) = live.as_ref().map(|l| l.for_port(&asked)) {
                        if !release.upstreams.is_empty() {
                            if let Err(e) = proxy.switch(release) {
                                tracing::warn!(service = %name, error = %e, "a new port could not take the live release");
                            }
                        }
                    }
                    if let Some(one) = canary.as_ref().map(|c| c.for_port(&asked)) {
                        if !one.release.upstreams.is_empty() {
                            if let Err(e) = proxy.set_canary(one) {
                                tracing::warn!(service = %name, error = %e, "a new port could not take the canary");
                            }
                        }
                    }
                    asked.listen = proxy.local_addr();
                    let port = Port {
                        spec: asked,
                        proxy: Arc::new(proxy),
                    };
                    ports.push((port, true));
                }
                Err(e) => {
                    failure = Some(refused(&e));
                    break;
                }
            }
        }
        if let Some(failure) = failure {
            // Put back what ran before and close what is new.
            let mut back = Vec::new();
            for (port, new) in ports {
                if new {
                    port.proxy.stop().await;
                } else {
                    back.push(port);
                }
            }
            back.extend(kept.into_iter().flatten());
            if !back.is_empty() {
                running.insert(
                    name,
                    Running {
                        hold_timeout_ms: spec.hold_timeout_ms,
                        ports: back,
                    },
                );
            }
            self.persist(&running).await?;
            return Err(failure);
        }
        for left_out in kept.into_iter().flatten() {
            left_out.proxy.stop().await;
        }
        running.insert(
            name.clone(),
            Running {
                hold_timeout_ms: spec.hold_timeout_ms,
                ports: ports.into_iter().map(|(port, _)| port).collect(),
            },
        );
        // The same spec again changes nothing: no state file to write.
        let now = running[&name].spec();
        if old_spec.as_ref() != Some(&now) {
            self.persist(&running).await?;
        }
        Ok(view(&name, &running[&name]))
    }

    pub async fn switch(
        &self,
        name: &ServiceName,
        live: LiveRelease,
    ) -> Result<Switched, ApiError> {
        let running = self.running.lock().await;
        let service = running.get(name).ok_or_else(|| unknown(name))?;
        check_upstreams(service, &live)?;
        let previous = switch_ports(service, &live)?;
        self.persist(&running).await?;
        Ok(Switched { previous })
    }

    /// Switches every port of every service of `request` under one lock,
    /// then writes the state file once: the services' traffic moves
    /// together, and the answer waits for one fsync however many services
    /// move. Nothing is switched unless every service exists and the
    /// release of each has upstreams for each of its ports.
    pub async fn switch_all(&self, request: SwitchAll) -> Result<SwitchedAll, ApiError> {
        let running = self.running.lock().await;
        let mut services = Vec::with_capacity(request.services.len());
        for one in &request.services {
            let service = running.get(&one.name).ok_or_else(|| unknown(&one.name))?;
            check_upstreams(service, &one.live)?;
            services.push(service);
        }
        let mut previous = Vec::with_capacity(services.len());
        for (service, one) in services.iter().zip(&request.services) {
            previous.push(switch_ports(service, &one.live)?);
        }
        self.persist(&running).await?;
        Ok(SwitchedAll { previous })
    }

    pub async fn clear(&self, name: &ServiceName) -> Result<Switched, ApiError> {
        let running = self.running.lock().await;
        let service = running.get(name).ok_or_else(|| unknown(name))?;
        let mut previous = None;
        for proxy in service.proxies() {
            previous = previous.or(proxy.clear());
        }
        self.persist(&running).await?;
        Ok(Switched { previous })
    }

    /// Drains every port without holding the lock: a drain can take its
    /// whole timeout. A port that never routed to the release has nothing
    /// to drain; the release is unknown only if no port knows it.
    pub async fn drain(
        &self,
        name: &ServiceName,
        request: DrainRequest,
    ) -> Result<Drained, ApiError> {
        let proxies = self.proxies(name).await?;
        let timeout = Duration::from_millis(request.timeout_ms);
        let drains = proxies.iter().map(|p| p.drain(&request.release, timeout));
        let results = futures_util::future::join_all(drains).await;
        let mut unknown_on_all = !results.is_empty();
        for result in &results {
            match result {
                Err(crate::Error::UnknownRelease(_)) => {}
                Err(e) => return Err(refused(e)),
                Ok(()) => unknown_on_all = false,
            }
        }
        if unknown_on_all {
            return Err(refused(&crate::Error::UnknownRelease(request.release)));
        }
        Ok(Drained {
            release: request.release,
        })
    }

    pub async fn forget(
        &self,
        name: &ServiceName,
        request: ForgetRequest,
    ) -> Result<Forgotten, ApiError> {
        let proxies = self.proxies(name).await?;
        if proxies
            .iter()
            .any(|p| p.live().is_some_and(|live| live.id == request.release))
        {
            return Err(refused(&crate::Error::Live(request.release)));
        }
        for proxy in &proxies {
            proxy.forget(&request.release);
        }
        Ok(Forgotten {
            release: request.release,
        })
    }

    pub async fn close(&self, name: &ServiceName) -> Result<Closed, ApiError> {
        let mut running = self.running.lock().await;
        let service = running.remove(name).ok_or_else(|| unknown(name))?;
        for proxy in service.proxies() {
            proxy.stop().await;
        }
        self.persist(&running).await?;
        Ok(Closed { name: name.clone() })
    }

    /// Stops every proxy (the daemon is shutting down); the state file keeps
    /// them for the next start.
    pub async fn stop_all(&self) {
        let running = self.running.lock().await;
        for service in running.values() {
            for proxy in service.proxies() {
                proxy.stop().await;
            }
        }
    }

    async fn proxies(&self, name: &ServiceName) -> Result<Vec<Arc<Proxy>>, ApiError> {
        let running = self.running.lock().await;
        let service = running.get(name).ok_or_else(|| unknown(name))?;
        Ok(service.proxies().cloned().collect())
    }

    pub(super) async fn persist(
        &self,
        running: &BTreeMap<ServiceName, Running>,
    ) -> Result<(), ApiError> {
        let Some(dir) = self.dir.clone() else {
            return Ok(());
        };
        let table = Table::new(
            running
                .iter()
                .map(|(name, r)| {
                    let route = Route {
                        spec: r.spec(),
                        live: r.live(),
                        canary: r.canary(),
                    };
                    (name.clone(), route)
                })
                .collect(),
        );
        let written = tokio::task::spawn_blocking(move || state::write(&dir, &table)).await;
        let failed = |message: String| {
            ApiError {
            error: ErrorKind::StateFile,
            message: format!(
                "the change is in effect but the state file was not written ({message}); a restarted daemon would route as before the change"
            ),
        }
        };
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(failed(e.to_string())),
            Err(e) => Err(failed(e.to_string())),
        }
    }
}

pub(super) fn view(name: &ServiceName, running: &Running) -> ServiceView {
    let ports: Vec<PortView> = running
        .ports
        .iter()
        .map(|port| {
            let holds = port.proxy.holds();
            PortView {
                listen: port.spec.listen,
                protocol: port.spec.protocol,
                holding: holds.waiting,
                hold_timeouts: holds.timed_out,
                releases: port
                    .proxy
                    .all_stats()
                    .iter()
                    .map(ReleaseStats::from)
                    .collect(),
            }
        })
        .collect();
    let mut releases: BTreeMap<String, ReleaseStats> = BTreeMap::new();
    for stats in ports.iter().flat_map(|p| &p.releases) {
        match releases.get_mut(&stats.release) {
            Some(sum) => sum.add(stats),
            None => {
                releases.insert(stats.release.clone(), stats.clone());
            }
        }
    }
    ServiceView {
        name: name.clone(),
        spec: running.spec(),
        live: running.live(),
        canary: running.canary(),
        holding: ports.iter().map(|p| p.holding).sum(),
        hold_timeouts: ports.iter().map(|p| p.hold_timeouts).sum(),
        releases: releases.into_values().collect(),
        ports,
    }
}
