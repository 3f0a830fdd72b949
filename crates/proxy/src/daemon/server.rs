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
    self, ApiError, CanariesSet, CanaryAll, CanaryEnded, CanaryRelease, Closed, DrainRequest,
    Drained, ErrorKind, ForgetRequest, Forgotten, LiveRelease, ServiceList, ServiceName,
    ServiceSpec, ServiceView, SwitchAll, Switched, SwitchedAll,
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
        .route(api::LIVE_ALL, put(switch_all))
        .route(api::CANARY, put(set_canary).delete(end_canary))
        .route(api::CANARY_ALL, put(set_canaries))
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
    let service = name(&raw)?;
    let spec: ServiceSpec = body(
        &bytes,
        "service spec ({\"ports\": [{\"listen\", \"protocol\", \"upstream\"}], \"hold_timeout_ms\"})",
    )?;
    Ok(Json(services.ensure(service, spec).await?))
}

async fn close(State(services): State<Arc<Services>>, Path(raw): Path<String>) -> Answer<Closed> {
    Ok(Json(services.close(&name(&raw)?).await?))
}

async fn switch(
    State(services): State<Arc<Services>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Answer<Switched> {
    let service = name(&raw)?;
    let live: LiveRelease = body(&bytes, "live release ({\"release\", \"upstreams\"})")?;
    Ok(Json(services.switch(&service, live).await?))
}

async fn switch_all(State(services): State<Arc<Services>>, bytes: Bytes) -> Answer<SwitchedAll> {
    let request: SwitchAll = body(
        &bytes,
        "switch of several services ({\"services\": [{\"name\", \"live\"}]})",
    )?;
    Ok(Json(services.switch_all(request).await?))
}

async fn set_canary(
    State(services): State<Arc<Services>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Answer<ServiceView> {
    let service = name(&raw)?;
    let canary: CanaryRelease = body(
        &bytes,
        "canary ({\"canary\": {\"release\", \"upstreams\"}, \"weight\", \"sticky\"})",
    )?;
    Ok(Json(services.set_canary(&service, canary).await?))
}

async fn end_canary(
    State(services): State<Arc<Services>>,
    Path(raw): Path<String>,
) -> Answer<CanaryEnded> {
    Ok(Json(services.end_canary(&name(&raw)?).await?))
}

async fn set_canaries(State(services): State<Arc<Services>>, bytes: Bytes) -> Answer<CanariesSet> {
    let request: CanaryAll = body(
        &bytes,
        "canaries of several services ({\"services\": [{\"name\", \"canary\"}]})",
    )?;
    Ok(Json(services.set_canaries(request).await?))
}

async fn clear(State(services): State<Arc<Services>>, Path(raw): Path<String>) -> Answer<Switched> {
    Ok(Json(services.clear(&name(&raw)?).await?))
}

async fn drain(
    State(services): State<Arc<Services>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Answer<Drained> {
    let service = name(&raw)?;
    let request: DrainRequest = body(&bytes, "drain request ({\"release\", \"timeout_ms\"})")?;
    Ok(Json(services.drain(&service, request).await?))
}

async fn forget(
    State(services): State<Arc<Services>>,
    Path(raw): Path<String>,
    bytes: Bytes,
) -> Answer<Forgotten> {
    let service = name(&raw)?;
    let request: ForgetRequest = body(&bytes, "forget request ({\"release\"})")?;
    Ok(Json(services.forget(&service, request).await?))
}

async fn not_found() -> Failure {
    Failure(ApiError {
        error: ErrorKind::NoSuchRoute,
        message: format!(
            "no such route; the proxy daemon serves {}, {}{{,/live,/canary,/drain,/forget}}, {} and {}",
            api::SERVICES,
            api::SERVICE,
            api::LIVE_ALL,
            api::CANARY_ALL
        ),
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn call(app: Router, method: &str, uri: &str, body: &'static str) -> (u16, ApiError) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .expect("request");
        let answer = app.oneshot(request).await.expect("answer");
        let status = answer.status().as_u16();
        let bytes = answer.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&bytes).expect("an ApiError"))
    }

    #[tokio::test]
    async fn refusals_are_api_errors_with_their_status() {
        let dir =
            std::env::temp_dir().join(format!("windlass-proxy-server-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let services = Arc::new(Services::restore(dir.clone()).await.expect("empty state"));
        let app = app(services);

        let (status, e) = call(app.clone(), "PUT", "/v1/services/a%20b", "{}").await;
        assert_eq!((status, e.error), (400, ErrorKind::BadRequest));
        assert!(e.message.contains("not a service name"), "{}", e.message);

        let (status, e) = call(app.clone(), "PUT", "/v1/services/web", "{\"listen\":1}").await;
        assert_eq!((status, e.error), (400, ErrorKind::BadRequest));
        assert!(e.message.contains("service spec"), "{}", e.message);

        let (status, e) = call(app.clone(), "DELETE", "/v1/services/web", "").await;
        assert_eq!((status, e.error), (404, ErrorKind::UnknownService));

        let (status, e) = call(app, "GET", "/v2/anything", "").await;
        assert_eq!((status, e.error), (404, ErrorKind::NoSuchRoute));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
