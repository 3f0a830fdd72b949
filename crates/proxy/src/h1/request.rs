//! A client's request head as the fast path takes it: whether it may (the
//! common case) or goes to hyper instead, and the head sent upstream, with
//! the headers the proxy adds and removes (as `crate::forward` does).

/// What of a request the fast path forwards, made from its parsed head.
pub(crate) struct Outgoing {
    /// The request line and headers to send upstream, `X-Forwarded-For`
    /// added, without the blank line that ends the head.
    pub(crate) head: Vec<u8>,
    /// The client sent no `Host`: the upstream's authority is sent, as
    /// hyper's client does.
    pub(crate) needs_host: bool,
    /// The request body's length (`Content-Length`, 0 without).
    pub(crate) body_len: u64,
    pub(crate) is_head: bool,
    /// May be sent again, to the next upstream (RFC 9110 9.2.2).
    pub(crate) idempotent: bool,
    /// The client asked to close the connection after this answer.
    pub(crate) close: bool,
}

/// Headers of one hop that are not forwarded (RFC 9110 7.6.1); those the
/// fast path leaves to hyper (`Transfer-Encoding`, `Upgrade`) are not here.
const DROPPED: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "proxy-authenticate",
];

/// The outgoing request, or `None` when hyper serves this request instead:
/// HTTP/1.0, `CONNECT` or a target that is not a path, an upgrade
/// (WebSocket), `Expect: 100-continue`, a chunked or otherwise encoded
/// body, more than one `Content-Length`, or a `Connection` header naming
/// other headers.
pub(crate) fn outgoing(
    request: &httparse::Request<'_, '_>,
    forwarded_for: &[u8],
) -> Option<Outgoing> {
    let method = request.method?;
    let path = request.path?;
    if request.version != Some(1) || method == "CONNECT" || !path.starts_with('/') {
        return None;
    }
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(method.as_bytes());
    head.push(b' ');
    head.extend_from_slice(path.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let mut outgoing = Outgoing {
        head,
        needs_host: true,
        body_len: 0,
        is_head: method == "HEAD",
        idempotent: matches!(
            method,
            "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
        ),
        close: false,
    };
    let mut content_length = None;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            if content_length.is_some() {
                return None;
            }
            content_length = Some(parse_length(header.value)?);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("expect")
        {
            return None;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    outgoing.close = true;
                } else if !token.is_empty() && !token.eq_ignore_ascii_case(b"keep-alive") {
                    return None;
                }
            }
            continue;
        } else if DROPPED.iter().any(|d| name.eq_ignore_ascii_case(d)) {
            continue;
        } else if name.eq_ignore_ascii_case("host") {
            outgoing.needs_host = false;
        }
        outgoing.head.extend_from_slice(name.as_bytes());
        outgoing.head.extend_from_slice(b": ");
        outgoing.head.extend_from_slice(header.value);
        outgoing.head.extend_from_slice(b"\r\n");
    }
    outgoing.head.extend_from_slice(b"x-forwarded-for: ");
    outgoing.head.extend_from_slice(forwarded_for);
    outgoing.head.extend_from_slice(b"\r\n");
    outgoing.body_len = content_length.unwrap_or(0);
    Some(outgoing)
}

/// A `Content-Length` value: digits only.
pub(crate) fn parse_length(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}
