//! What every dashboard request and response goes through: a change (any
//! method but GET and HEAD) must come from a page of this server, and no
//! page may be framed by another site (clickjacking).
//!
//! A browser sends `Origin` with every POST; when it names another
//! origin than the `Host` the request was sent to, a page elsewhere is
//! trying to drive the dashboard, and the request is refused. A request
//! without `Origin` comes from a program, not a browser page, and is let
//! through (the session and `X-Windlass-Dashboard` rules still apply).

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::Error;

/// The middleware: refuses a cross-origin change, marks every response
/// as not to be framed.
pub async fn protect(request: Request, next: Next) -> Response {
    let changes = request.method() != Method::GET && request.method() != Method::HEAD;
    if changes {
        if let Err(problem) = same_origin(request.headers()) {
            tracing::warn!(
                method = %request.method(),
                path = request.uri().path(),
                %problem,
                "dashboard change refused"
            );
            return Error::Forbidden(problem).into_response();
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `Ok` when the request has no `Origin` or its origin's host and port
/// are the request's `Host`.
fn same_origin(headers: &HeaderMap) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let authority = origin
        .split_once("://")
        .map(|(_, authority)| authority.trim_end_matches('/'));
    match authority {
        Some(authority) if !host.is_empty() && authority.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(format!(
            "a change must come from this server's own page: Origin '{origin}' is not Host '{host}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn an_origin_must_name_the_host() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8083")])).is_ok());
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8083"),
            ("origin", "http://127.0.0.1:8083")
        ]))
        .is_ok());
        assert!(same_origin(&headers(&[
            ("host", "Windlass.Example:443"),
            ("origin", "https://windlass.example:443")
        ]))
        .is_ok());
        for origin in [
            "http://evil.example",
            "http://127.0.0.1:8084",
            "null",
            "http://127.0.0.1:8083.evil.example",
        ] {
            let mut request = headers(&[("host", "127.0.0.1:8083")]);
            request.insert("origin", HeaderValue::from_static(origin));
            assert!(same_origin(&request).is_err(), "{origin} was let through");
        }
    }
}
