//! Forwarding one HTTP request: route it to the live release (or the
//! canary, by weight and stickiness) at the last moment (holding it while
//! none is live), try the release's upstreams in turn when a connection
//! fails (an idempotent request also when it failed after it was sent, or,
//! with [`crate::Config::hedge_after`], when no answer comes in time), and
//! count it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::uri::{self, Authority, PathAndQuery, Scheme};
use hyper::{Method, Request, Response, StatusCode, Uri};

use crate::http::Shared;
use crate::release::InFlight;

/// Names the release that answered, so that clients and tests can tell.
pub const RELEASE_HEADER: &str = "x-windlass-release";

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Headers that belong to one connection and are not forwarded (RFC 9110 7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

pub(crate) async fn handle(
    shared: Arc<Shared>,
    forwarded_for: HeaderValue,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let body = match read_body(&shared, body).await {
        Ok(body) => body,
        Err(answer) => return Ok(answer),
    };
    let held = shared.router.hold(Some(&parts.headers));
    let in_flight = match held.await {
        Ok(in_flight) => in_flight,
        Err(waited) => {
            return Ok(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                no_live_release(waited),
            ))
        }
    };
    let state = Arc::clone(in_flight.state());
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.append(X_FORWARDED_FOR, forwarded_for);
    let idempotent = is_idempotent(&parts.method);
    let hedge_after = shared.config.hedge_after.filter(|_| idempotent);
    let mut targets = state.targets();
    let mut attempts = FuturesUnordered::new();
    let mut failure = None;
    loop {
        if attempts.is_empty() {
            let Some((upstream, authority)) = targets.next() else {
                break;
            };
            // Only a request that may be sent again needs its own copy.
            let headers = if targets.len() == 0 {
                std::mem::take(&mut headers)
            } else {
                headers.clone()
            };
            match outgoing(&parts.method, authority, &path, headers, &body) {
                Ok(request) => attempts.push(send(&shared, upstream, request)),
                Err(answer) => return Ok(answer),
            }
        }
        let armed = hedge_after.filter(|_| targets.len() > 0);
        let hedge = async move {
            match armed {
                Some(after) => tokio::time::sleep(after).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some((upstream, result)) = attempts.next() => match result {
                Ok(answer) => {
                    state.record(answer.status().as_u16(), started.elapsed());
                    return Ok(tracked(answer, in_flight));
                }
                Err(err) if err.is_connect() => {
                    tracing::debug!(release = %state.release.id, %upstream, %err, "upstream refused a connection");
                    state.record_failed_connect();
                }
                // Sent, but no answer came back: an idempotent request may
                // go to the next upstream; another goes nowhere else.
                Err(err) => {
                    tracing::debug!(release = %state.release.id, %upstream, %err, "upstream failed a request");
                    failure = Some(format!("upstream {upstream} of release {} failed: {err}\n", state.release.id));
                    if !idempotent && attempts.is_empty() {
                        break;
                    }
                }
            },
            () = hedge => {
                if let Some((upstream, authority)) = targets.next() {
                    tracing::debug!(release = %state.release.id, %upstream, "no answer yet: the request goes to the next upstream too");
                    match outgoing(&parts.method, authority, &path, headers.clone(), &body) {
                        Ok(request) => attempts.push(send(&shared, upstream, request)),
                        Err(answer) => return Ok(answer),
                    }
                }
            }
        }
    }
    state.record(502, started.elapsed());
    Ok(plain(
        StatusCode::BAD_GATEWAY,
        failure.unwrap_or_else(|| {
            format!(
                "no upstream of release {} accepted a connection\n",
                state.release.id
            )
        }),
    ))
}

/// Whether a request may be sent twice (RFC 9110 9.2.2): to the next
/// upstream after a failure, or to two at once.
fn is_idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// The request to send to one upstream.
#[allow(clippy::result_large_err)]
fn outgoing(
    method: &Method,
    authority: Option<&Authority>,
    path: &PathAndQuery,
    headers: HeaderMap,
    body: &Bytes,
) -> Result<Request<Full<Bytes>>, Response<ProxyBody>> {
    let mut target = uri::Parts::default();
    target.scheme = Some(Scheme::HTTP);
    target.authority = authority.cloned();
    target.path_and_query = Some(path.clone());
    let Ok(uri) = Uri::from_parts(target) else {
        return Err(plain(
            StatusCode::BAD_REQUEST,
            format!("bad request target {path}\n"),
        ));
    };
    let mut request = Request::new(Full::new(body.clone()));
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

/// Sends `request` to `upstream`; its answer, named by the upstream.
async fn send(
    shared: &Shared,
    upstream: SocketAddr,
    request: Request<Full<Bytes>>,
) -> (
    SocketAddr,
    Result<Response<Incoming>, hyper_util::client::legacy::Error>,
) {
    (upstream, shared.client.request(request).await)
}

/// Reads the request's body whole, so that the request can be sent again to
/// the next upstream when a connection fails; that is what keeps a stopped
/// container from costing a client its request. A request without a body
/// (most) starts no timer.
async fn read_body(shared: &Shared, body: Incoming) -> Result<Bytes, Response<ProxyBody>> {
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    let read = Limited::new(body, shared.config.max_body_bytes).collect();
    match tokio::time::timeout(shared.config.body_timeout, read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Err(_) => Err(plain(
            StatusCode::REQUEST_TIMEOUT,
            body_timed_out(shared.config.body_timeout),
        )),
        Ok(Err(err)) => {
            let status = if err.is::<http_body_util::LengthLimitError>() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            Err(plain(
                status,
                format!("cannot read the request body: {err}\n"),
            ))
        }
    }
}

/// The 503 of a request that waited the hold timeout for a live release.
pub(crate) fn no_live_release(waited: Duration) -> String {
    format!(
        "no release of this service is live: the request waited {waited:.1?} \
         (the proxy's hold timeout) for a deploy to switch one in; \
         try again once the deploy has made a release live\n"
    )
}

/// The 408 of a request whose body did not come in time.
pub(crate) fn body_timed_out(timeout: Duration) -> String {
    format!("the request body did not arrive within {timeout:?}\n")
}

/// The 413 of a request whose `Content-Length` is over the limit.
pub(crate) fn body_too_large(len: u64, limit: usize) -> String {
    format!(
        "cannot read the request body: its {len} bytes are more than the proxy's \
         limit of {limit} bytes (max_body_bytes)\n"
    )
}

/// The value of `X-Forwarded-For` for a client's requests, made once a
/// connection.
pub(crate) fn forwarded_for(client: SocketAddr) -> HeaderValue {
    HeaderValue::from_str(&client.ip().to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One look over the (few) names first: most requests carry none.
    let hop_by_hop = |name: &HeaderName| {
        HOP_BY_HOP.contains(name) || name == KEEP_ALIVE || name == PROXY_CONNECTION
    };
    if !headers.keys().any(hop_by_hop) {
        return;
    }
    // Headers named in `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(named.iter()) {
        headers.remove(name);
    }
    headers.remove(KEEP_ALIVE);
    headers.remove(PROXY_CONNECTION);
}

fn tracked(answer: Response<Incoming>, in_flight: InFlight) -> Response<ProxyBody> {
    let (mut parts, inner) = answer.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Some(release) = &in_flight.state().header {
        parts.headers.insert(RELEASE_HEADER, release.clone());
    }
    let body = ProxyBody::Upstream {
        inner,
        _in_flight: in_flight,
    };
    Response::from_parts(parts, body)
}

fn plain(status: StatusCode, message: String) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::Plain(Full::new(Bytes::from(message))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// The body of every answer the proxy gives: an enum rather than a boxed
/// body, so that an answer costs no allocation of its own.
pub(crate) enum ProxyBody {
    /// An upstream's answer body, which keeps its request counted as in
    /// flight on its release until the body has been sent (or dropped).
    Upstream {
        inner: Incoming,
        _in_flight: InFlight,
    },
    /// An answer of the proxy's own (502, 503, ...).
    Plain(Full<Bytes>),
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        // Neither variant's field is structurally pinned: `Incoming` and
        // `Full` are `Unpin`.
        match self.get_mut() {
            ProxyBody::Upstream { inner, .. } => Pin::new(inner).poll_frame(cx),
            ProxyBody::Plain(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Upstream { inner, .. } => inner.is_end_stream(),
            ProxyBody::Plain(full) => full.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Upstream { inner, .. } => inner.size_hint(),
            ProxyBody::Plain(full) => full.size_hint(),
        }
    }
}
