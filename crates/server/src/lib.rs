//! A Step Functions-compatible API server: the AWS CLI, boto3 and the AWS
//! SDKs talk to it with nothing changed but the endpoint URL.
//!
//! Requests are AWS JSON 1.0 (`POST /`, `X-Amz-Target:
//! AWSStepFunctions.<Action>`); [`app`] builds the axum router. Each request
//! is checked with SigV4 ([`sigv4`]) unless the server runs without access
//! keys, decoded from its wire shape ([`wire`]), carried out by an action in
//! [`actions`] against the [`Runtime`] and the [`MachineStore`], and any
//! failure becomes AWS's error shape in [`error::ApiError`].

pub mod actions;
pub mod arn;
pub mod error;
mod express;
pub mod integrations;
pub mod sigv4;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use windlass_asl::Definition;
use windlass_runtime::{Clock, Invokers, Runtime};
use windlass_store::machines::MachineStore;
use windlass_store::Store;

use crate::arn::Arns;
use crate::error::{ApiError, ApiResult};
use crate::sigv4::AccessKey;

/// The protocol's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// AWS's limit on a request body.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct Config {
    pub region: String,
    pub account: String,
    /// Keys requests must be signed with; empty means requests are not checked.
    pub access_keys: Vec<AccessKey>,
    /// The longest a GetActivityTask call waits for a task (AWS: 60 s).
    pub activity_wait: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            access_keys: Vec::new(),
            activity_wait: Duration::from_secs(60),
        }
    }
}

/// Everything the actions work with. Shared by all requests.
pub struct Server {
    pub config: Config,
    pub arns: Arns,
    /// Runs STANDARD executions, durably.
    pub runtime: Runtime,
    /// Runs EXPRESS executions in memory: AWS gives them at-most-once
    /// semantics and no history, so they need no disk.
    pub express: Runtime,
    pub machines: Arc<dyn MachineStore>,
    /// Parsed definitions by machine (or version) ARN and revision.
    definitions: Mutex<HashMap<String, Arc<Definition>>>,
}

impl Server {
    /// A server over `store`, which keeps both executions and resources.
    pub fn new<S: Store + MachineStore>(
        store: Arc<S>,
        invokers: Invokers,
        clock: Arc<dyn Clock>,
        config: Config,
    ) -> Self {
        let runtime = Runtime::new(store.clone(), invokers.clone(), clock.clone());
        let express = Runtime::new(Arc::new(express::ExpressStore::default()), invokers, clock);
        let arns = Arns {
            region: config.region.clone(),
            account: config.account.clone(),
        };
        Server {
            config,
            arns,
            runtime,
            express,
            machines: store,
            definitions: Mutex::new(HashMap::new()),
        }
    }

    pub fn now_millis(&self) -> i64 {
        self.runtime.now_millis()
    }

    /// The parsed definition cached under `key`, or `parse`'s result stored there.
    pub(crate) fn cached_definition(
        &self,
        key: &str,
        parse: impl FnOnce() -> ApiResult<Definition>,
    ) -> ApiResult<Arc<Definition>> {
        let lock = || self.definitions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(definition) = lock().get(key) {
            return Ok(definition.clone());
        }
        let definition = Arc::new(parse()?);
        lock().insert(key.to_string(), definition.clone());
        Ok(definition)
    }

    /// Carries out one request: authentication, then the action its target names.
    async fn serve(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> ApiResult<Vec<u8>> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(ApiError::new(
                "RequestEntityTooLargeException",
                format!(
                    "Request of {} bytes is larger than the limit of {MAX_REQUEST_BYTES} bytes.",
                    body.len()
                ),
            ));
        }
        if !self.config.access_keys.is_empty() {
            let request = sigv4::Request {
                method,
                uri,
                headers,
                body,
            };
            sigv4::verify(&request, &self.config.access_keys, self.now_millis())?;
        }
        let target = headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let Some(action) = target.strip_prefix("AWSStepFunctions.") else {
            return Err(ApiError::new(
                "UnknownOperationException",
                format!("Unknown operation: X-Amz-Target '{target}'"),
            ));
        };
        actions::dispatch(self, action, body).await
    }
}

/// The router: every request goes to one handler that reads `X-Amz-Target`.
pub fn app(server: Arc<Server>) -> Router {
    Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES * 2))
        .with_state(server)
}

async fn handle(
    State(server): State<Arc<Server>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut response = match server.serve(&method, &uri, &headers, &body).await {
        Ok(body) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            body,
        )
            .into_response(),
        Err(error) => error.into_response(),
    };
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert("x-amzn-RequestId", id);
    }
    response
}
