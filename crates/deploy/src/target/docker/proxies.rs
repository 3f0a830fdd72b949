//! The proxies of the services this process serves, one per service, bound
//! on the service's public address the first time a deploy needs it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use windlass_proxy::{Proxy, Release};
use windlass_store::releases::Live;

/// Shared by the deploy steps and the agent's status; cheap to clone.
#[derive(Clone, Default)]
pub struct Proxies {
    by_service: Arc<Mutex<HashMap<String, Arc<Proxy>>>>,
}

impl Proxies {
    pub fn new() -> Proxies {
        Proxies::default()
    }

    pub fn get(&self, service: &str) -> Option<Arc<Proxy>> {
        self.lock().get(service).cloned()
    }

    /// Every service's proxy.
    pub fn all(&self) -> Vec<(String, Arc<Proxy>)> {
        let mut all: Vec<_> = self
            .lock()
            .iter()
            .map(|(s, p)| (s.clone(), Arc::clone(p)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The service's proxy on `address`, bound now unless it is already.
    /// A service that moved to another address gets a new proxy that keeps
    /// serving the old one's live release.
    pub async fn ensure(&self, service: &str, address: SocketAddr) -> Result<Arc<Proxy>, String> {
        let existing = self.get(service);
        if let Some(proxy) = &existing {
            if address.port() == 0 || proxy.local_addr() == address {
                return Ok(Arc::clone(proxy));
            }
        }
        let proxy = Proxy::bind(address, windlass_proxy::Config::default())
            .await
            .map_err(|e| format!("the proxy of service {service}: {e}"))?;
        if let Some(live) = existing.and_then(|p| p.live()) {
            proxy.switch(live).map_err(|e| e.to_string())?;
        }
        let proxy = Arc::new(proxy);
        self.lock().insert(service.to_owned(), Arc::clone(&proxy));
        Ok(proxy)
    }

    /// Binds the service's proxy and routes it to the stored live release.
    pub async fn restore(&self, live: &Live) -> Result<(), String> {
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
        let proxy = self.ensure(&live.service, address).await?;
        proxy
            .switch(Release::new(live.release.clone(), upstreams))
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Proxy>>> {
        self.by_service
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
