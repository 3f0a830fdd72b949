//! A typed client of the daemon's control API, for the process that runs
//! deploys (and for tests and benches), over the daemon's control socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::api::{
    self, ApiError, CanariesSet, CanaryAll, CanaryEnded, CanaryRelease, Closed, DrainRequest,
    Drained, ForgetRequest, Forgotten, LiveRelease, ServiceCanary, ServiceLive, ServiceName,
    ServiceSpec, ServiceView, SwitchAll, Switched, SwitchedAll,
};
use super::{control_socket, Error};
use crate::owner;

/// Talks to one daemon; cheap to clone. Each call is one connection to
/// the control socket, made only after the kernel said the daemon runs as
/// this user or root.
#[derive(Debug, Clone)]
pub struct Client {
    socket: owner::Client,
}

impl Client {
    /// A client of the daemon whose control socket is `control`.
    pub fn new(control: PathBuf) -> Client {
        Client {
            socket: owner::Client::new(control),
        }
    }

    /// A client of the daemon of state directory `dir` (its `proxy.sock`);
    /// an error when there is no socket there.
    pub fn from_state_dir(dir: &Path) -> Result<Client, Error> {
        let path = control_socket(dir);
        std::fs::symlink_metadata(&path).map_err(|source| Error::StateFile {
            path: path.clone(),
            source,
        })?;
        Ok(Client::new(path))
    }

    /// The control socket.
    pub fn control_socket(&self) -> &Path {
        self.socket.path()
    }

    pub async fn services(&self) -> Result<Vec<ServiceView>, Error> {
        let list: api::ServiceList = self
            .call(Method::GET, api::SERVICES.to_owned(), None::<&()>)
            .await?;
        Ok(list.services)
    }

    /// Makes the service's proxy listen as `spec` says; the answer tells the
    /// address it bound.
    pub async fn ensure(
        &self,
        name: &ServiceName,
        spec: &ServiceSpec,
    ) -> Result<ServiceView, Error> {
        self.call(Method::PUT, api::service_path(name), Some(spec))
            .await
    }

    /// Closes the service's proxy and forgets the service.
    pub async fn close(&self, name: &ServiceName) -> Result<Closed, Error> {
        self.call(Method::DELETE, api::service_path(name), None::<&()>)
            .await
    }

    /// Makes `live` the service's live release.
    pub async fn switch(&self, name: &ServiceName, live: &LiveRelease) -> Result<Switched, Error> {
        self.call(Method::PUT, api::live_path(name), Some(live))
            .await
    }

    /// Makes each service's `live` its live release, all together; the
    /// answer has each one's previous release, in order.
    pub async fn switch_all(&self, services: Vec<ServiceLive>) -> Result<SwitchedAll, Error> {
        let request = SwitchAll { services };
        self.call(Method::PUT, api::LIVE_ALL.to_owned(), Some(&request))
            .await
    }

    /// Puts `canary` beside the service's live release with its weight.
    pub async fn set_canary(
        &self,
        name: &ServiceName,
        canary: &CanaryRelease,
    ) -> Result<ServiceView, Error> {
        self.call(Method::PUT, api::canary_path(name), Some(canary))
            .await
    }

    /// Ends the service's canary: all its new traffic goes to the live release.
    pub async fn end_canary(&self, name: &ServiceName) -> Result<CanaryEnded, Error> {
        self.call(Method::DELETE, api::canary_path(name), None::<&()>)
            .await
    }

    /// Sets (or, `None`, ends) each service's canary, all together.
    pub async fn set_canaries(&self, services: Vec<ServiceCanary>) -> Result<CanariesSet, Error> {
        let request = CanaryAll { services };
        self.call(Method::PUT, api::CANARY_ALL.to_owned(), Some(&request))
            .await
    }

    /// Leaves the service with no live release: its traffic is held.
    pub async fn clear(&self, name: &ServiceName) -> Result<Switched, Error> {
        self.call(Method::DELETE, api::live_path(name), None::<&()>)
            .await
    }

    /// Waits, at most `timeout`, until `release` has nothing in flight.
    pub async fn drain(
        &self,
        name: &ServiceName,
        release: &str,
        timeout: Duration,
    ) -> Result<Drained, Error> {
        let request = DrainRequest {
            release: release.to_owned(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        self.call(Method::POST, api::drain_path(name), Some(&request))
            .await
    }

    pub async fn forget(&self, name: &ServiceName, release: &str) -> Result<Forgotten, Error> {
        let request = ForgetRequest {
            release: release.to_owned(),
        };
        self.call(Method::POST, api::forget_path(name), Some(&request))
            .await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&B>,
    ) -> Result<T, Error> {
        let bytes = match body {
            Some(body) => serde_json::to_vec(body).map_err(|e| Error::BadAnswer {
                path: path.clone(),
                message: format!("cannot encode the request: {e}"),
            })?,
            None => Vec::new(),
        };
        let (status, bytes) = self
            .socket
            .send(method.clone(), &path, bytes)
            .await
            .map_err(|e| Error::Unreachable {
                control: self.socket.path().to_owned(),
                message: e.to_string(),
            })?;
        if !status.is_success() {
            let refusal: ApiError =
                serde_json::from_slice(&bytes).map_err(|e| Error::BadAnswer {
                    path: path.clone(),
                    message: format!(
                        "status {status} with a body that is not an error ({e}): {}",
                        String::from_utf8_lossy(&bytes)
                    ),
                })?;
            return Err(Error::Api {
                method: method.to_string(),
                path,
                kind: refusal.error,
                message: refusal.message,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::BadAnswer {
            path,
            message: format!("{e}: {}", String::from_utf8_lossy(&bytes)),
        })
    }
}
