//! Forwarding one HTTP request: route it to the live release at the last
//! moment (holding it while none is live), try the release's upstreams in
//! turn when a connection fails, and count it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};

use crate::http::Shared;
use crate::release::InFlight;

/// The body of every answer the proxy gives.
pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, hyper::Error>;

/// Names the release that answered, so that clients and tests can tell.
pub const RELEASE_HEADER: &str = "x-windlass-release";

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
    client_addr: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    // The body is read whole first so that a request can be sent again to the
    // next upstream when a connection fails; that is what keeps a stopped
    // container from costing a client its request.
    let read = Limited::new(body, shared.config.max_body_bytes).collect();
    let body = match tokio::time::timeout(shared.config.body_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Err(_) => {
            return Ok(plain(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {:?}\n",
                    shared.config.body_timeout
                ),
            ));
        }
        Ok(Err(err)) => {
            let status = if err.is::<http_body_util::LengthLimitError>() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return Ok(plain(
                status,
                format!("cannot read the request body: {err}\n"),
            ));
        }
    };
    let in_flight = match shared.router.hold(shared.config.hold_timeout).await {
        Ok(in_flight) => in_flight,
        Err(waited) => {
            return Ok(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no release of this service is live: the request waited {waited:.1?} \
                     (the proxy's hold timeout) for a deploy to switch one in; \
                     try again once the deploy has made a release live\n"
                ),
            ))
        }
    };
    let state = Arc::clone(in_flight.state());
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    if let Ok(value) = HeaderValue::from_str(&client_addr.ip().to_string()) {
        headers.append("x-forwarded-for", value);
    }
    for upstream in state.upstreams() {
        let Ok(uri) = Uri::try_from(format!("http://{upstream}{path}")) else {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                format!("bad request target {path}\n"),
            ));
        };
        let mut outgoing = Request::new(Full::new(body.clone()));
        *outgoing.method_mut() = parts.method.clone();
        *outgoing.uri_mut() = uri;
        *outgoing.headers_mut() = headers.clone();
        match shared.client.request(outgoing).await {
            Ok(answer) => {
                state.record(answer.status().as_u16(), started.elapsed());
                return Ok(tracked(answer, in_flight));
            }
            Err(err) if err.is_connect() => {
                tracing::debug!(release = %state.release.id, %upstream, %err, "upstream refused a connection");
                state.record_failed_connect();
            }
            Err(err) => {
                state.record(502, started.elapsed());
                return Ok(plain(
                    StatusCode::BAD_GATEWAY,
                    format!(
                        "upstream {upstream} of release {} failed: {err}\n",
                        state.release.id
                    ),
                ));
            }
        }
    }
    state.record(502, started.elapsed());
    Ok(plain(
        StatusCode::BAD_GATEWAY,
        format!(
            "no upstream of release {} accepted a connection\n",
            state.release.id
        ),
    ))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
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
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

fn tracked(answer: Response<Incoming>, in_flight: InFlight) -> Response<ProxyBody> {
    let release = HeaderValue::from_str(&in_flight.state().release.id).ok();
    let (mut parts, body) = answer.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if let Some(release) = release {
        parts.headers.insert(RELEASE_HEADER, release);
    }
    let body = Tracked {
        inner: body,
        _in_flight: in_flight,
    };
    Response::from_parts(parts, body.boxed_unsync())
}

fn plain(status: StatusCode, message: String) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(message))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

/// An upstream's answer body that keeps its request counted as in flight on
/// its release until the body has been sent (or dropped).
struct Tracked {
    inner: Incoming,
    _in_flight: InFlight,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
