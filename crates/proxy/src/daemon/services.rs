//! The daemon's running services, one proxy per service name. Every change
//! is applied and then written to the state file while one lock is held, so
//! the file always holds the routing of the last change made.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use super::api::{
    ApiError, Closed, DrainRequest, Drained, ErrorKind, ForgetRequest, Forgotten, LiveRelease,
    ReleaseStats, ServiceList, ServiceName, ServiceSpec, ServiceView, SwitchAll, Switched,
    SwitchedAll,
};
use super::state::{self, Route, Table};
use super::Error;
use crate::{Proxy, Release};

struct Running {
    /// The spec as asked, except `listen`: the address actually bound.
    spec: ServiceSpec,
    proxy: Arc<Proxy>,
}

pub(crate) struct Services {
    dir: PathBuf,
    running: Mutex<BTreeMap<ServiceName, Running>>,
}

fn refused(e: &crate::Error) -> ApiError {
    ApiError {
        error: ErrorKind::from(e),
        message: e.to_string(),
    }
}

fn unknown(name: &ServiceName) -> ApiError {
    ApiError {
        error: ErrorKind::UnknownService,
        message: format!("the proxy daemon has no service {name}; PUT /v1/services/{name} first"),
    }
}

impl Services {
    /// Binds and routes every service of the state file in `dir`.
    pub(crate) async fn restore(dir: PathBuf) -> Result<Services, Error> {
        let table = state::read(&dir)?;
        let mut running = BTreeMap::new();
        for (name, route) in table.services {
            let failed = |source| Error::Restore {
                service: name.clone(),
                source,
            };
            let proxy = Proxy::bind(route.spec.listen, route.spec.proxy_config())
                .await
                .map_err(failed)?;
            if let Some(live) = route.live {
                proxy.switch(live.into()).map_err(failed)?;
            }
            let spec = ServiceSpec {
                listen: proxy.local_addr(),
                ..route.spec
            };
            let proxy = Arc::new(proxy);
            running.insert(name, Running { spec, proxy });
        }
        Ok(Services {
            dir,
            running: Mutex::new(running),
        })
    }

    pub(crate) async fn list(&self) -> ServiceList {
        let running = self.running.lock().await;
        ServiceList {
            services: running.iter().map(|(n, r)| view(n, r)).collect(),
        }
    }

    /// Makes the service's proxy match `spec`: binds it when it is new,
    /// replaces it (keeping its live release) when the spec changed.
    pub(crate) async fn ensure(
        &self,
        name: ServiceName,
        mut spec: ServiceSpec,
    ) -> Result<ServiceView, ApiError> {
        let mut running = self.running.lock().await;
        let mut live = None;
        if let Some(old) = running.get(&name) {
            if spec.listen.port() == 0 && spec.listen.ip() == old.spec.listen.ip() {
                spec.listen = old.spec.listen;
            }
            if spec == old.spec {
                return Ok(view(&name, old));
            }
            live = old.proxy.live();
            if spec.listen == old.spec.listen {
                // The new proxy needs the address: the old one gives it up first.
                old.proxy.stop().await;
                running.remove(&name);
            }
        }
        let bound = Proxy::bind(spec.listen, spec.proxy_config()).await;
        let proxy = match bound {
            Ok(proxy) => proxy,
            Err(e) => {
                if running.get(&name).is_none() {
                    self.persist(&running).await?;
                }
                return Err(refused(&e));
            }
        };
        if let Some(live) = live {
            proxy.switch(live).map_err(|e| refused(&e))?;
        }
        spec.listen = proxy.local_addr();
        let proxy = Arc::new(proxy);
        if let Some(old) = running.insert(name.clone(), Running { spec, proxy }) {
            old.proxy.stop().await;
        }
        self.persist(&running).await?;
        Ok(view(&name, &running[&name]))
    }

    pub(crate) async fn switch(
        &self,
        name: &ServiceName,
        live: LiveRelease,
    ) -> Result<Switched, ApiError> {
        let running = self.running.lock().await;
        let service = running.get(name).ok_or_else(|| unknown(name))?;
        let previous = service
            .proxy
            .switch(Release::from(live))
            .map_err(|e| refused(&e))?;
        self.persist(&running).await?;
        Ok(Switched { previous })
    }

    /// Switches every service of `request` under one lock, then writes the
    /// state file once: the services' traffic moves together, and the
    /// answer waits for one fsync however many services move. Nothing is
    /// switched unless every service exists.
    pub(crate) async fn switch_all(&self, request: SwitchAll) -> Result<SwitchedAll, ApiError> {
        let running = self.running.lock().await;
        let mut proxies = Vec::with_capacity(request.services.len());
        for one in &request.services {
            let service = running.get(&one.name).ok_or_else(|| unknown(&one.name))?;
            // The one refusal a switch has, checked before anything moves.
            if one.live.upstreams.is_empty() {
                return Err(refused(&crate::Error::NoUpstreams {
                    release: one.live.release.clone(),
                }));
            }
            proxies.push(Arc::clone(&service.proxy));
        }
        let mut previous = Vec::with_capacity(proxies.len());
        for (proxy, one) in proxies.iter().zip(request.services) {
            previous.push(
                proxy
                    .switch(Release::from(one.live))
                    .map_err(|e| refused(&e))?,
            );
        }
        self.persist(&running).await?;
        Ok(SwitchedAll { previous })
    }

    pub(crate) async fn clear(&self, name: &ServiceName) -> Result<Switched, ApiError> {
        let running = self.running.lock().await;
        let service = running.get(name).ok_or_else(|| unknown(name))?;
        let previous = service.proxy.clear();
        self.persist(&running).await?;
        Ok(Switched { previous })
    }

    /// Drains without holding the lock: a drain can take its whole timeout.
    pub(crate) async fn drain(
        &self,
        name: &ServiceName,
        request: DrainRequest,
    ) -> Result<Drained, ApiError> {
        let proxy = self.proxy(name).await?;
        proxy
            .drain(&request.release, Duration::from_millis(request.timeout_ms))
            .await
            .map_err(|e| refused(&e))?;
        Ok(Drained {
            release: request.release,
        })
    }

    pub(crate) async fn forget(
        &self,
        name: &ServiceName,
        request: ForgetRequest,
    ) -> Result<Forgotten, ApiError> {
        let proxy = self.proxy(name).await?;
        if proxy.live().is_some_and(|live| live.id == request.release) {
            return Err(refused(&crate::Error::Live(request.release)));
        }
        proxy.forget(&request.release);
        Ok(Forgotten {
            release: request.release,
        })
    }

    pub(crate) async fn close(&self, name: &ServiceName) -> Result<Closed, ApiError> {
        let mut running = self.running.lock().await;
        let service = running.remove(name).ok_or_else(|| unknown(name))?;
        service.proxy.stop().await;
        self.persist(&running).await?;
        Ok(Closed { name: name.clone() })
    }

    /// Stops every proxy (the daemon is shutting down); the state file keeps
    /// them for the next start.
    pub(crate) async fn stop_all(&self) {
        let running = self.running.lock().await;
        for service in running.values() {
            service.proxy.stop().await;
        }
    }

    async fn proxy(&self, name: &ServiceName) -> Result<Arc<Proxy>, ApiError> {
        let running = self.running.lock().await;
        let service = running.get(name).ok_or_else(|| unknown(name))?;
        Ok(Arc::clone(&service.proxy))
    }

    async fn persist(&self, running: &BTreeMap<ServiceName, Running>) -> Result<(), ApiError> {
        let table = Table::new(
            running
                .iter()
                .map(|(name, r)| {
                    let route = Route {
                        spec: r.spec.clone(),
                        live: r.proxy.live().map(LiveRelease::from),
                    };
                    (name.clone(), route)
                })
                .collect(),
        );
        let dir = self.dir.clone();
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

fn view(name: &ServiceName, running: &Running) -> ServiceView {
    let holds = running.proxy.holds();
    ServiceView {
        name: name.clone(),
        spec: running.spec.clone(),
        live: running.proxy.live().map(LiveRelease::from),
        holding: holds.waiting,
        hold_timeouts: holds.timed_out,
        releases: running
            .proxy
            .all_stats()
            .iter()
            .map(ReleaseStats::from)
            .collect(),
    }
}
