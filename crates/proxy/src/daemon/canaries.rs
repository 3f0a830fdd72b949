//! The daemon's canaries: a release beside a service's live one that takes
//! a weight of its new traffic, set on every port of the service (and, for
//! an app, on every service) under the one lock, then written to the state
//! file, so that a restarted daemon routes the same shares.

use super::api::{
    ApiError, CanariesSet, CanaryAll, CanaryEnded, CanaryRelease, ServiceName, ServiceView,
};
use super::services::{check_upstreams, refused, unknown, view, Running, Services};

/// Sets `canary` on every port of a service (checked first).
fn set_ports(service: &Running, canary: &CanaryRelease) -> Result<(), ApiError> {
    for port in &service.ports {
        port.proxy
            .set_canary(canary.for_port(&port.spec))
            .map_err(|e| refused(&e))?;
    }
    Ok(())
}

/// Ends the canary on every port of a service; the canary's release before.
fn end_ports(service: &Running) -> Option<String> {
    let mut previous = None;
    for proxy in service.proxies() {
        previous = previous.or(proxy.clear_canary());
    }
    previous
}

/// A canary needs a live release beside it on the service.
fn check(service: &Running, canary: &CanaryRelease) -> Result<(), ApiError> {
    check_upstreams(service, &canary.canary)?;
    if service.live().is_none() {
        return Err(refused(&crate::Error::NoLiveRelease(
            canary.canary.release.clone(),
        )));
    }
    Ok(())
}

impl Services {
    pub async fn set_canary(
        &self,
        name: &ServiceName,
        canary: CanaryRelease,
    ) -> Result<ServiceView, ApiError> {
        let running = self.running.lock().await;
        let service = running.get(name).ok_or_else(|| unknown(name))?;
        check(service, &canary)?;
        set_ports(service, &canary)?;
        self.persist(&running).await?;
        Ok(view(name, service))
    }

    pub async fn end_canary(&self, name: &ServiceName) -> Result<CanaryEnded, ApiError> {
        let running = self.running.lock().await;
        let service = running.get(name).ok_or_else(|| unknown(name))?;
        let canary = end_ports(service);
        if canary.is_some() {
            self.persist(&running).await?;
        }
        Ok(CanaryEnded { canary })
    }

    /// Sets or ends every service's canary of `request` under one lock and
    /// writes the state file once: an app's services move their weights
    /// together. Nothing changes unless every service exists and each
    /// canary can be set.
    pub async fn set_canaries(&self, request: CanaryAll) -> Result<CanariesSet, ApiError> {
        let running = self.running.lock().await;
        let mut services = Vec::with_capacity(request.services.len());
        for one in &request.services {
            let service = running.get(&one.name).ok_or_else(|| unknown(&one.name))?;
            if let Some(canary) = &one.canary {
                check(service, canary)?;
            }
            services.push(service);
        }
        let mut previous = Vec::with_capacity(services.len());
        for (service, one) in services.iter().zip(&request.services) {
            previous.push(service.canary().map(|c| c.canary.release));
            match &one.canary {
                Some(canary) => set_ports(service, canary)?,
                None => {
                    end_ports(service);
                }
            }
        }
        self.persist(&running).await?;
        Ok(CanariesSet { previous })
    }
}
