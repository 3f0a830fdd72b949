//! A Step Functions-compatible API server: the AWS CLI, boto3 and the AWS
//! SDKs talk to it with nothing changed but the endpoint URL.
//!
//! Requests are AWS JSON 1.0 (`POST /`, `X-Amz-Target:
//! AWSStepFunctions.<Action>`); [`app`] builds the axum router. Each request
//! is checked with SigV4 ([`sigv4`]) unless the server runs without access
//! keys, decoded from its wire shape ([`wire`]), carried out by an action in
//! [`actions`] against the [`Runtime`] and the [`MachineStore`], and any
//! failure becomes AWS's error shape in [`error::ApiError`]. An action sees
//! the server through the request's region ([`region::Regional`]): the
//! region its credential is scoped to, or [`Config::region`] when it is not
//! signed. List actions page with opaque tokens bound to their query
//! ([`pages`]).

pub mod actions;
pub mod arn;
pub mod error;
mod express;
pub mod hosts;
pub mod integrations;
pub mod listen;
pub mod pages;
pub mod region;
pub mod sigv4;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use windlass_asl::Definition;
use windlass_runtime::{Clock, Invokers, Runtime};
use windlass_store::machines::MachineStore;
use windlass_store::Store;

use crate::error::{ApiError, ApiResult};
use crate::pages::Pages;
use crate::region::Regional;
use crate::sigv4::AccessKey;

/// The protocol's content type.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// AWS's limit on a definition, in characters.
pub const MAX_DEFINITION_CHARS: usize = 1024 * 1024;

/// The largest request body read: room for a definition of AWS's maximum
/// length whose every character is written in JSON's longest escape
/// (`\u0000`, 6 bytes), and for the request's other members.
pub const MAX_REQUEST_BYTES: usize = 6 * MAX_DEFINITION_CHARS + 256 * 1024;

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The region of requests that are not signed (a signed request's
    /// region is the one its credential is scoped to).
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
    /// Makes and checks the pagination tokens of list actions.
    pub pages: Pages,
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
        Server {
            config,
            pages: Pages::new(),
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

    /// Carries out one request: authentication, then the action its target
    /// names, in the region the request is signed for.
    async fn serve(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> ApiResult<Vec<u8>> {
        let region = if self.config.access_keys.is_empty() {
            sigv4::scope_region(headers)?
        } else {
            let request = sigv4::Request {
                method,
                uri,
                headers,
                body,
            };
            Some(sigv4::verify(
                &request,
                &self.config.access_keys,
                self.now_millis(),
            )?)
        };
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
        let region = region.unwrap_or_else(|| self.config.region.clone());
        actions::dispatch(&Regional::new(self, &region), action, body).await
    }
}

/// The router: every request goes to one handler that reads `X-Amz-Target`.
/// Bodies are read there, so that one too large gets AWS's error shape.
pub fn app(server: Arc<Server>) -> Router {
    Router::new().fallback(handle).with_state(server)
}

async fn handle(State(server): State<Arc<Server>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let answer = match read_body(&parts.method, &parts.uri, &parts.headers, body).await {
        Ok(body) => {
            server
                .serve(&parts.method, &parts.uri, &parts.headers, &body)
                .await
        }
        Err(error) => Err(error),
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut response = match answer {
        Ok(body) => {
            tracing::debug!(target, "answered");
            (
                [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
                body,
            )
                .into_response()
        }
        Err(error) => {
            // The client gets the error; a failure of the server's own
            // (a store that refuses writes) needs a line for the operator.
            if error.is_internal() {
                tracing::error!(target, code = error.code, message = %error.message, "request failed");
            } else {
                tracing::debug!(target, code = error.code, message = %error.message, "refused");
            }
            error.into_response()
        }
    };
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert("x-amzn-RequestId", id);
    }
    response
}

/// The body of a `POST /`, refused before it is read past
/// [`MAX_REQUEST_BYTES`].
async fn read_body(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<axum::body::Bytes> {
    if method != Method::POST || uri.path() != "/" {
        return Err(ApiError::new(
            "UnknownOperationException",
            format!(
                "The Step Functions API is served at POST / (with X-Amz-Target), not at {method} {}",
                uri.path()
            ),
        ));
    }
    let too_large = |length: String| {
        ApiError::new(
            "RequestEntityTooLargeException",
            format!(
                "Request of {length} bytes is larger than the limit of {MAX_REQUEST_BYTES} bytes."
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|l| *l > MAX_REQUEST_BYTES as u64) {
        return Err(too_large(length.to_string()));
    }
    axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|error| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            while let Some(inner) = source {
                if inner.is::<http_body_util::LengthLimitError>() {
                    return too_large(format!("more than {MAX_REQUEST_BYTES}"));
                }
                if let Some(timed_out) = inner.downcast_ref::<listen::BodyTimedOut>() {
                    return ApiError::new(
                        "RequestTimeoutException",
                        format!("The request body did not arrive within {:?}.", timed_out.0),
                    );
                }
                source = inner.source();
            }
            ApiError::new(
                "SerializationException",
                format!("The request body could not be read: {error}"),
            )
        })
}
