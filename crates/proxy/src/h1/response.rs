//! An upstream's answer head as the fast path passes it on: how its body is
//! framed, whether the upstream connection may be kept, and the head the
//! client gets (hop-by-hop headers removed, `x-windlass-release` and
//! `Date` added, as hyper's server and `crate::forward` give them).

use std::cell::RefCell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::header::HeaderValue;
use hyper::StatusCode;

use super::request::parse_length;

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body: a `HEAD` request's answer, 204, 304.
    Empty,
    Length(u64),
    /// Chunked, passed on as it comes.
    Chunked,
    /// Until the upstream closes; passed on chunked, so that the client's
    /// connection stays open.
    Close,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) framing: Framing,
    /// The upstream may take another request on this connection.
    pub(crate) reusable: bool,
}

/// Headers of one hop that are not passed on (RFC 9110 7.6.1).
const DROPPED: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
];

#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) &'static str);

/// Writes the client's head for `response` into `into`; `release`: the
/// value of `x-windlass-release`, `close`: the client's connection closes
/// after this answer.
pub(crate) fn answer(
    response: &httparse::Response<'_, '_>,
    request_is_head: bool,
    release: Option<&HeaderValue>,
    close: bool,
    into: &mut Vec<u8>,
) -> Result<Answer, Malformed> {
    let status = response.code.ok_or(Malformed("no status"))?;
    let mut reusable = response.version == Some(1);
    let mut chunked = None;
    // The answer's transfer codings, passed on: a body compressed as it
    // is carried (`gzip, chunked`) still says so.
    let mut codings: Option<&[u8]> = None;
    let mut length = None;
    let mut named = Vec::new();
    let mut has_date = false;
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let value = parse_length(header.value).ok_or(Malformed("a bad Content-Length"))?;
            if length.is_some_and(|before| before != value) {
                return Err(Malformed("two different Content-Length headers"));
            }
            length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let last = header
                .value
                .rsplit(|b| *b == b',')
                .next()
                .unwrap_or_default();
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            codings = Some(header.value);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    reusable = false;
                } else if !token.is_empty() && !token.eq_ignore_ascii_case(b"keep-alive") {
                    named.push(token);
                }
            }
        } else if name.eq_ignore_ascii_case("date") {
            has_date = true;
        }
    }
    let framing = if request_is_head || status == 204 || status == 304 {
        Framing::Empty
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            (Some(false), _) | (None, None) => Framing::Close,
            (None, Some(n)) => Framing::Length(n),
        }
    };
    if framing == Framing::Close {
        reusable = false;
    }
    let reason = match response.reason {
        Some(reason) if !reason.is_empty() => reason,
        _ => StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or(""),
    };
    into.clear();
    let _ = write!(into, "HTTP/1.1 {status} {reason}\r\n");
    for header in response.headers.iter() {
        let name = header.name;
        let dropped = DROPPED.iter().any(|d| name.eq_ignore_ascii_case(d))
            || named.iter().any(|n| name.as_bytes().eq_ignore_ascii_case(n))
            || (release.is_some() && name.eq_ignore_ascii_case(crate::RELEASE_HEADER))
            // A chunked body's length is its chunks'.
            || (chunked.is_some() && name.eq_ignore_ascii_case("content-length"));
        if !dropped {
            push_header(into, name.as_bytes(), header.value);
        }
    }
    if let Some(release) = release {
        push_header(into, crate::RELEASE_HEADER.as_bytes(), release.as_bytes());
    }
    if !has_date {
        date(|now| push_header(into, b"date", now));
    }
    match (framing, codings) {
        (Framing::Chunked, Some(codings)) => push_header(into, b"transfer-encoding", codings),
        // Chunked by the proxy, after whatever coding the upstream applied.
        (Framing::Close, Some(codings)) => {
            into.extend_from_slice(b"transfer-encoding: ");
            into.extend_from_slice(codings);
            into.extend_from_slice(b", chunked\r\n");
        }
        (Framing::Chunked | Framing::Close, None) => {
            into.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        _ => {}
    }
    if close {
        into.extend_from_slice(b"connection: close\r\n");
    }
    into.extend_from_slice(b"\r\n");
    Ok(Answer {
        status,
        framing,
        reusable,
    })
}

/// An answer of the proxy's own (502, 503, ...): plain text.
pub(crate) fn plain(status: StatusCode, message: &str, close: bool, into: &mut Vec<u8>) {
    into.clear();
    let _ = write!(
        into,
        "HTTP/1.1 {} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        message.len()
    );
    date(|now| push_header(into, b"date", now));
    if close {
        into.extend_from_slice(b"connection: close\r\n");
    }
    into.extend_from_slice(b"\r\n");
    into.extend_from_slice(message.as_bytes());
}

fn push_header(into: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    into.extend_from_slice(name);
    into.extend_from_slice(b": ");
    into.extend_from_slice(value);
    into.extend_from_slice(b"\r\n");
}

thread_local! {
    /// The `Date` value of the current second, made once a second per
    /// worker (as hyper's server caches it).
    static DATE: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
}

fn date(with: impl FnOnce(&[u8])) {
    let now = SystemTime::now();
    let second = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    DATE.with(|cached| {
        let mut cached = cached.borrow_mut();
        if cached.0 != second || cached.1.is_empty() {
            *cached = (second, httpdate::fmt_http_date(now));
        }
        with(cached.1.as_bytes());
    });
}
