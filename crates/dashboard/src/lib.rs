//! windlass's web dashboard, served at `/ui/` beside the Step Functions API.
//!
//! [`router`] serves a page of hand-written JS, CSS and SVG (in `assets/`,
//! compiled into the binary), its JSON endpoints under `/ui/api/`
//! ([`api`]), and one server-sent-event stream per open execution
//! ([`live`]). Everything is read from the same [`Store`] and
//! [`MachineStore`] the API reads; graphs are laid out on the server
//! ([`graph`], by `rust-sugiyama`) and coloured by the execution's history
//! ([`status`]). Deploys (services, releases, rollback) come from the deploy
//! agent through the [`services::Agent`] trait when the server was given
//! one. A server with access keys makes the page ask for a login
//! ([`auth`]); rollback from the page, and answering a rollout's gate,
//! need [`Config::allow_rollback`].

pub mod api;
pub mod auth;
pub mod graph;
pub mod iterations;
pub mod live;
pub mod protect;
pub mod services;
pub mod status;
pub mod throttle;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use windlass_store::machines::MachineStore;
use windlass_store::Store;

use crate::auth::{Credential, Sessions};

/// How the dashboard is set up.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// The API's access keys; the page asks for one of them when any is set.
    pub access_keys: Vec<Credential>,
    /// Whether the page may roll a service back and answer a rollout
    /// (approve, promote, abort); else it answers 403.
    pub allow_rollback: bool,
    /// How the page reaches the browser: decides whether the login form
    /// may be used and whether the session cookie is `Secure`.
    pub transport: Transport,
}

/// How the dashboard's pages travel between the server and the browser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// Over TLS: the login is safe and its cookie `Secure`.
    Tls,
    /// In clear on a loopback address: nobody else sees the traffic.
    #[default]
    Loopback,
    /// In clear on a network address: a login would send the secret where
    /// others can read it, so the form is refused, unless a TLS proxy in
    /// front says it carried the request (`X-Forwarded-Proto: https`).
    Cleartext,
}

impl Transport {
    /// Whether this request reached the browser's side encrypted.
    fn encrypted(self, headers: &HeaderMap) -> bool {
        self == Transport::Tls || forwarded_https(headers)
    }
}

/// Whether a proxy in front says it received the request over https. A
/// client that sends this itself only sends its own secret in clear.
fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// What the dashboard reads.
#[derive(Clone)]
pub struct Sources {
    /// The API's executions.
    pub executions: Arc<dyn Store>,
    /// The API's state machines, versions and aliases.
    pub machines: Option<Arc<dyn MachineStore>>,
    /// The deploy side, when the server knows an agent.
    pub deploys: Option<services::Deploys>,
}

/// Shared by all requests.
pub struct Dashboard {
    pub config: Config,
    pub sources: Sources,
    sessions: Sessions,
    /// Failed logins by client address.
    throttle: throttle::Throttle,
    traffic: services::TrafficLog,
    /// The last executions folded that had ended (they no longer change):
    /// a click on a state of a 25,000-event execution reads three events,
    /// not the whole history again.
    ended: Mutex<VecDeque<Arc<api::Folded>>>,
}

/// How many ended executions [`Dashboard::folded`] keeps.
const ENDED_KEPT: usize = 8;

impl Dashboard {
    pub fn new(config: Config, sources: Sources) -> Arc<Dashboard> {
        Arc::new(Dashboard {
            sessions: Sessions::new(config.access_keys.clone()),
            throttle: throttle::Throttle::default(),
            config,
            sources,
            traffic: services::TrafficLog::default(),
            ended: Mutex::new(VecDeque::new()),
        })
    }

    /// Execution `arn` of `store` with its history folded, from the cache
    /// when it has ended.
    pub(crate) fn folded(&self, store: &dyn Store, arn: &str) -> Result<Arc<api::Folded>, Error> {
        let lock = || self.ended.lock().unwrap_or_else(|p| p.into_inner());
        let cached = lock().iter().find(|f| f.record.arn == arn).cloned();
        if let Some(hit) = cached {
            // A redrive runs an ended execution again: the record says so.
            let now = store.execution(arn)?;
            let same = now.as_ref().is_some_and(|r| {
                r.status == hit.record.status && r.stop_millis == hit.record.stop_millis
            });
            if same {
                return Ok(hit);
            }
            lock().retain(|f| f.record.arn != arn);
        }
        let folded = Arc::new(api::fold(store, arn)?);
        if folded.record.status != "RUNNING" {
            let mut ended = lock();
            ended.push_front(folded.clone());
            ended.truncate(ENDED_KEPT);
        }
        Ok(folded)
    }

    /// The store that holds `arn`: the API's, else the deploy agent's.
    pub(crate) fn store_of(&self, arn: &str) -> Result<Arc<dyn Store>, Error> {
        if self.sources.executions.execution(arn)?.is_some() {
            return Ok(self.sources.executions.clone());
        }
        if let Some(deploys) = &self.sources.deploys {
            if deploys.executions.execution(arn)?.is_some() {
                return Ok(deploys.executions.clone());
            }
        }
        Err(Error::NotFound(format!("no execution {arn}")))
    }
}

/// Why a request failed, as the page shows it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("log in first")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("the store failed: {0}")]
    Store(#[from] windlass_store::Error),
    #[error("the deploy agent refused: {0}")]
    Agent(String),
    #[error("the dashboard failed: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        // The page shows the error; the operator needs a line too.
        match &self {
            Error::Store(_) | Error::Internal(_) => {
                tracing::error!(error = %self, "dashboard request failed");
            }
            Error::Agent(_) => tracing::warn!(error = %self, "the deploy agent refused"),
            _ => {}
        }
        let status = match &self {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Store(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Agent(_) => StatusCode::BAD_GATEWAY,
        };
        (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response()
    }
}

const INDEX: &str = include_str!("../assets/index.html");
const LOGIN: &str = include_str!("../assets/login.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/style.css");
const ICON: &str = include_str!("../assets/icon.svg");

/// The dashboard's routes, all under `/ui` (merge it beside the API).
pub fn router(dashboard: Arc<Dashboard>) -> Router {
    let guarded = Router::new()
        .route("/ui/", get(index))
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript", SCRIPT) }),
        )
        .route("/ui/style.css", get(|| async { asset("text/css", STYLE) }))
        .route("/ui/api/machines", get(api::machines))
        .route("/ui/api/executions", get(api::executions))
        .route("/ui/api/execution", get(api::execution))
        .route("/ui/api/history", get(api::history))
        .route("/ui/api/state", get(api::state))
        .route("/ui/api/iterations", get(iterations::iterations))
        .route("/ui/api/iteration", get(iterations::iteration))
        .route("/ui/api/definition", get(api::machine_definition))
        .route("/ui/api/definition", post(api::definition))
        .route("/ui/api/events", get(live::events))
        .route("/ui/api/services", get(services::services))
        .route("/ui/api/rollback", post(services::rollback))
        .route("/ui/api/gate", post(services::gate))
        .route_layer(middleware::from_fn_with_state(dashboard.clone(), guard));
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", post(logout))
        .route(
            "/ui/icon.svg",
            get(|| async { asset("image/svg+xml", ICON) }),
        )
        .merge(guarded)
        .layer(middleware::from_fn(protect::protect))
        .with_state(dashboard)
}

fn page(html: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// The page's `Log out` form, which a server without a login leaves out.
const LOG_OUT: &str = r#"<form method="post" action="/ui/logout" class="logout"><button type="submit">Log out</button></form>"#;

/// The page; with `Log out` only where there is a login to leave.
async fn index(State(dashboard): State<Arc<Dashboard>>) -> Response {
    if dashboard.config.access_keys.is_empty() {
        page(INDEX.replace(LOG_OUT, ""))
    } else {
        page(INDEX)
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Lets in a request with a session (or any when no login is asked for).
/// A page is sent to the login form; an API call gets 401. A call that
/// changes something must also carry `X-Windlass-Dashboard`, which a form
/// or image on another site cannot send.
async fn guard(State(dashboard): State<Arc<Dashboard>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if !dashboard.sessions.admits(headers) {
        if request.uri().path().starts_with("/ui/api/") {
            return Error::Unauthenticated.into_response();
        }
        return Redirect::to("/ui/login").into_response();
    }
    if request.method() == axum::http::Method::POST && !headers.contains_key("x-windlass-dashboard")
    {
        return Error::Forbidden("a change needs the X-Windlass-Dashboard header".into())
            .into_response();
    }
    next.run(request).await
}

#[derive(serde::Deserialize)]
struct LoginForm {
    access_key_id: String,
    secret_access_key: String,
}

async fn login(
    State(dashboard): State<Arc<Dashboard>>,
    extensions: Extensions,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    if let Some(refusal) = cleartext_refusal(&dashboard, &headers) {
        return refusal;
    }
    let client = client_address(&extensions);
    let now = Instant::now();
    if let Some(wait) = dashboard.throttle.wait(client, now) {
        tracing::warn!(%client, "dashboard login refused: too many failed logins");
        return too_many_logins(wait);
    }
    let id = form.access_key_id.trim();
    match dashboard.sessions.login(id, &form.secret_access_key) {
        Some(token) => {
            dashboard.throttle.succeeded(client);
            tracing::info!(%client, access_key_id = id, "dashboard login");
            let secure = dashboard.config.transport.encrypted(&headers);
            (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, auth::session_cookie(&token, secure)),
                    (header::LOCATION, "/ui/".to_string()),
                ],
            )
                .into_response()
        }
        None => {
            dashboard.throttle.failed(client, now);
            tracing::warn!(%client, access_key_id = id, "dashboard login failed");
            login_page(
                StatusCode::UNAUTHORIZED,
                "That access key id and secret are not one of this server's keys.",
                false,
            )
        }
    }
}

/// The login form, or its refusal when it would travel in clear.
async fn login_form(State(dashboard): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    cleartext_refusal(&dashboard, &headers).unwrap_or_else(|| page(LOGIN))
}

/// The refusal of a login over plain HTTP on a network address.
fn cleartext_refusal(dashboard: &Dashboard, headers: &HeaderMap) -> Option<Response> {
    if dashboard.config.transport != Transport::Cleartext || forwarded_https(headers) {
        return None;
    }
    Some(login_page(
        StatusCode::FORBIDDEN,
        "This server listens on a network address without TLS: a login would send your secret \
         in clear. Start it with --tls-cert and --tls-key, or behind a TLS proxy that sets \
         X-Forwarded-Proto: https.",
        true,
    ))
}

fn login_page(status: StatusCode, problem: &str, disabled: bool) -> Response {
    let mut html = LOGIN.replace(
        "<!--problem-->",
        &format!("<p class=\"problem\" id=\"problem\">{problem}</p>"),
    );
    if disabled {
        html = html.replace("id=\"submit\">", "id=\"submit\" disabled>");
    }
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

fn too_many_logins(wait: Duration) -> Response {
    let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
    let mut response = login_page(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("Too many failed logins from your address: try again in {seconds} s."),
        false,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// The client's address, as the server's listener recorded it; requests
/// that come without one (tests through `oneshot`) share one address.
fn client_address(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

async fn logout(State(dashboard): State<Arc<Dashboard>>, request: Request) -> Response {
    dashboard.sessions.logout(request.headers());
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, auth::cleared_cookie()),
            (header::LOCATION, "/ui/login".to_string()),
        ],
    )
        .into_response()
}
