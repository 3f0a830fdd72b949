//! The control server: the routes of [`super::api`] over [`Services`], with
//! every failure answered as an [`ApiError`] in one place ([`Failure`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::api::{
    self, ApiError, Closed, DrainRequest, Drained, ErrorKind, ForgetRequest, Forgotten,
    LiveRelease, ServiceList, ServiceName, ServiceSpec, ServiceView, Switched,
};
use super::services::Services;

/// An [`ApiError`] on its way out, with the status its kind calls for.
pub(crate) struct Failure(ApiError);

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure(e)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.error.status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(self.0)).into_response()
    }
}

fn bad_request(message: String) -> Failure {
    Failure(ApiError {
        error: ErrorKind::BadRequest,
        message,
    })
}

fn name(raw: &str) -> Result<ServiceName, Failure> {
    raw.parse().map_err(|e| bad_request(format!("{e}")))
}

fn body<T: DeserializeOwned>(bytes: &Bytes, what: &str) -> Result<T, Failure> {
    serde_json::from_slice(bytes)
        .map_err(|e| bad_request(format!("the body is not a valid {what}: {e}")))
}

type Answer<T> = Result<Json<T>, Failure>;

pub(crate) fn app(services: Arc<Services>) -> Router {
    Router::new()
        .route(api::SERVICES, get(list))
        .route(api::SERVICE, put(ensure).delete(close))
        .route(api::LIVE, put(switch).delete(clear))
        .route(api::DRAIN, post(drain))
        .route(api::FORGET, post(forget))
        .fallback(not_found)
        .with_state(services)
}

async fn list(State(services): State<Arc<Services>>) -> Json<ServiceList> {
    Json(services.list().await)
}

async fn ensure(
    State(services): State<Arc<Services>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Answer<ServiceView> {
    let spec: ServiceSpec = body(
        &bytes,
        "service spec ({\"listen\", \"protocol\", \"hold_timeout_ms\"})",
    )?;
    Ok(Json(services.ensure(name(&raw)?, spec).await?))
}

async fn close(State(services): State<Arc<Services>>, Path(raw): Path<String>) -> Answer<Closed> {
    Ok(Json(services.close(&name(&raw)?).await?))
}

async fn switch(
    State(services): State<Arc<Services>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Answer<Switched> {
    let live: LiveRelease = body(&bytes, "live release ({\"release\", \"upstreams\"})")?;
    Ok(Json(services.switch(&name(&raw)?, live).await?))
}

async fn clear(State(services): State<Arc<Services>>, Path(raw): Path<String>) -> Answer<Switched> {
    Ok(Json(services.clear(&name(&raw)?).await?))
}

async fn drain(
    State(services): State<Arc<Services>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Answer<Drained> {
    let request: DrainRequest = body(&bytes, "drain request ({\"release\", \"timeout_ms\"})")?;
    Ok(Json(services.drain(&name(&raw)?, request).await?))
}

async fn forget(
    State(services): State<Arc<Services>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Answer<Forgotten> {
    let request: ForgetRequest = body(&bytes, "forget request ({\"release\"})")?;
    Ok(Json(services.forget(&name(&raw)?, request).await?))
}

async fn not_found() -> Failure {
    bad_request(format!(
        "no such route; the proxy daemon serves {} and {}{{/live,/drain,/forget}}",
        api::SERVICES,
        api::SERVICE
    ))
}
