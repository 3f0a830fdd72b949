//! AWS Signature Version 4 verification of incoming requests.
//!
//! The server rebuilds the canonical request from what it received, derives
//! the signing key from the secret of the access key the request names
//! (`HMAC-SHA256` chain over date, region, service and `aws4_request`), and
//! compares signatures in constant time. Requests more than 15 minutes away
//! from the server's clock are refused, as AWS does, and so are signatures
//! that leave `host` out (they could be replayed at another server that
//! shares the key) or whose credential scope is dated another day than
//! `X-Amz-Date`.

use axum::http::{HeaderMap, Method, Uri};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// An access key the server accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
}

impl std::str::FromStr for AccessKey {
    type Err = String;

    /// Reads `ID:SECRET`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(AccessKey {
                id: id.to_string(),
                secret: secret.to_string(),
            }),
            _ => Err(format!("an access key is written ID:SECRET, not '{text}'")),
        }
    }
}

/// How far a request's `X-Amz-Date` may be from the server's clock.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// The parts of a request the signature covers.
pub struct Request<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The service every credential scope must name.
pub const SERVICE: &str = "states";

/// Reads the credential scope of a request's `Authorization` header and
/// returns its region, without checking the signature (for a server that
/// runs without access keys); `None` when the request is not signed.
pub fn scope_region(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        None => Ok(None),
        Some(header) => Ok(Some(authorization(header)?.region)),
    }
}

/// The header's fields, its scope checked: service `states` and a region
/// of AWS's shape, as AWS refuses other scopes before the signature.
fn authorization(header: &str) -> Result<Authorization, ApiError> {
    let auth = Authorization::parse(header).ok_or_else(|| {
        ApiError::new(
            "IncompleteSignatureException",
            format!("Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' with AWS4-HMAC-SHA256: '{header}'"),
        )
    })?;
    if auth.service != SERVICE {
        return Err(ApiError::new(
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to correct service: '{SERVICE}'. The request is signed for '{}'.",
                auth.service
            ),
        ));
    }
    if !crate::region::is_region_name(&auth.region) {
        return Err(ApiError::new(
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to a valid region, not '{}'.",
                auth.region
            ),
        ));
    }
    Ok(auth)
}

/// Checks the request's `Authorization` header against `keys`; returns the
/// region its credential is scoped to.
pub fn verify(
    request: &Request<'_>,
    keys: &[AccessKey],
    now_millis: i64,
) -> Result<String, ApiError> {
    let header = request
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            )
        })?;
    let auth = authorization(header)?;
    if !auth.signed_headers.iter().any(|name| name == "host") {
        return Err(ApiError::new(
            "IncompleteSignatureException",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    let key = keys
        .iter()
        .find(|k| k.id == auth.access_key)
        .ok_or_else(|| {
            ApiError::new(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        })?;
    let amz_date = header_text(request.headers, "x-amz-date").ok_or_else(|| {
        ApiError::new(
            "IncompleteSignatureException",
            "The request has no X-Amz-Date header.",
        )
    })?;
    check_skew(amz_date, now_millis)?;
    let day = amz_date.get(..8).unwrap_or_default();
    if auth.date != day {
        return Err(ApiError::new(
            "InvalidSignatureException",
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{day}', from '{amz_date}'.",
                auth.date
            ),
        ));
    }
    let canonical = canonical_request(request, &auth.signed_headers);
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let signing_key = signing_key(&key.secret, &auth.date, &auth.region, &auth.service);
    let mut mac =
        HmacSha256::new_from_slice(&signing_key).map_err(|e| ApiError::internal(e.to_string()))?;
    mac.update(string_to_sign.as_bytes());
    let given = unhex(&auth.signature).unwrap_or_default();
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given).map(|()| auth.region.clone()).map_err(|_| {
        ApiError::new(
            "InvalidSignatureException",
            format!(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
            ),
        )
    })
}

/// The fields of `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
struct Authorization {
    access_key: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

impl Authorization {
    fn parse(header: &str) -> Option<Self> {
        let rest = header.strip_prefix("AWS4-HMAC-SHA256")?.trim();
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (name, value) = part.trim().split_once('=')?;
            match name {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed = Some(value),
                "Signature" => signature = Some(value),
                _ => {}
            }
        }
        let mut scope = credential?.split('/');
        let (access_key, date, region, service, terminal) = (
            scope.next()?,
            scope.next()?,
            scope.next()?,
            scope.next()?,
            scope.next()?,
        );
        if terminal != "aws4_request" || scope.next().is_some() {
            return None;
        }
        Some(Authorization {
            access_key: access_key.into(),
            date: date.into(),
            region: region.into(),
            service: service.into(),
            signed_headers: signed?.split(';').map(str::to_ascii_lowercase).collect(),
            signature: signature?.into(),
        })
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn check_skew(amz_date: &str, now_millis: i64) -> Result<(), ApiError> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let signed = time::PrimitiveDateTime::parse(amz_date, format)
        .map_err(|_| {
            ApiError::new(
                "IncompleteSignatureException",
                format!("X-Amz-Date '{amz_date}' is not in the form YYYYMMDDTHHMMSSZ."),
            )
        })?
        .assume_utc()
        .unix_timestamp();
    let now = now_millis / 1000;
    if (signed - now).abs() > MAX_SKEW_SECONDS {
        return Err(ApiError::new(
            "InvalidSignatureException",
            format!("Signature expired: {amz_date} is more than 15 minutes away from the server's time."),
        ));
    }
    Ok(())
}

/// The canonical request: method, URI, query, signed headers, payload hash.
/// Built in one string: it is made for every request.
fn canonical_request(request: &Request<'_>, signed_headers: &[String]) -> String {
    let path = request.uri.path();
    let mut out = String::with_capacity(256 + path.len());
    out.push_str(request.method.as_str());
    out.push('\n');
    if path.is_empty() {
        out.push('/');
    } else {
        // Services other than S3 sign each path segment encoded twice; the
        // path on the wire is encoded once already.
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            encode_into(&mut out, segment, true);
        }
    }
    out.push('\n');
    let mut query: Vec<(String, String)> = request
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (encode(&decode(k), true), encode(&decode(v), true))
        })
        .collect();
    query.sort();
    for (i, (k, v)) in query.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        for (i, value) in request.headers.get_all(name.as_str()).iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let value = String::from_utf8_lossy(value.as_bytes());
            for (j, word) in value.split_whitespace().enumerate() {
                if j > 0 {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
        out.push('\n');
    }
    out.push('\n');
    for (i, name) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
    }
    out.push('\n');
    out.push_str(&hex(&Sha256::digest(request.body)));
    out
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date, region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    key
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// RFC 3986 percent-encoding of everything but unreserved characters
/// (and `/` unless `slash` says to encode it).
fn encode(text: &str, slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    encode_into(&mut out, text, slash);
    out
}

fn encode_into(out: &mut String, text: &str, slash: bool) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b'/' if !slash => out.push('/'),
            _ => {
                out.push('%');
                out.push(DIGITS[usize::from(byte >> 4)] as char);
                out.push(DIGITS[usize::from(byte & 0xf)] as char);
            }
        }
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_pair = text
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex_pair) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Signs a request the way AWS clients do; for tests of the server.
pub fn sign(
    headers: &mut HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
    key: &AccessKey,
    region: &str,
    amz_date: &str,
) {
    sign_for(headers, method, uri, body, key, (region, SERVICE), amz_date);
}

/// Like [`sign`], for any `(region, service)` scope: tests of how the
/// server refuses other services' scopes.
pub fn sign_for(
    headers: &mut HeaderMap,
    method: &Method,
    uri: &Uri,
    body: &[u8],
    key: &AccessKey,
    (region, service): (&str, &str),
    amz_date: &str,
) {
    let date = &amz_date[..8.min(amz_date.len())];
    if let Ok(value) = amz_date.parse() {
        headers.insert("x-amz-date", value);
    }
    let mut signed: Vec<String> = headers
        .keys()
        .map(|k| k.as_str().to_ascii_lowercase())
        .collect();
    signed.sort();
    signed.dedup();
    let request = Request {
        method,
        uri,
        headers,
        body,
    };
    let canonical = canonical_request(&request, &signed);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let signature = hex(&hmac(
        &signing_key(&key.secret, date, region, service),
        string_to_sign.as_bytes(),
    ));
    let value = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        key.id,
        signed.join(";")
    );
    if let Ok(value) = value.parse() {
        headers.insert("authorization", value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published SigV4 example (IAM ListUsers), checked end to end.
    #[test]
    fn matches_aws_documented_signature() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "iam.amazonaws.com".parse().expect("header"));
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .expect("header"),
        );
        headers.insert("x-amz-date", "20150830T123600Z".parse().expect("header"));
        let uri: Uri = "/?Action=ListUsers&Version=2010-05-08"
            .parse()
            .expect("uri");
        let signed: Vec<String> = ["content-type", "host", "x-amz-date"]
            .map(String::from)
            .to_vec();
        let request = Request {
            method: &Method::GET,
            uri: &uri,
            headers: &headers,
            body: b"",
        };
        let canonical = canonical_request(&request, &signed);
        assert_eq!(
            hex(&Sha256::digest(canonical.as_bytes())),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        assert_eq!(
            hex(&hmac(&key, string_to_sign.as_bytes())),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn verifies_own_signatures_and_refuses_tampering() {
        let key = AccessKey {
            id: "AKID".into(),
            secret: "secret".into(),
        };
        let uri: Uri = "/".parse().expect("uri");
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:8083".parse().expect("header"));
        headers.insert(
            "x-amz-target",
            "AWSStepFunctions.ListStateMachines"
                .parse()
                .expect("header"),
        );
        let body = b"{}";
        sign(
            &mut headers,
            &Method::POST,
            &uri,
            body,
            &key,
            "us-east-1",
            "20240102T030405Z",
        );
        let now = 1_704_164_645_000; // 2024-01-02T03:04:05Z
        let request = Request {
            method: &Method::POST,
            uri: &uri,
            headers: &headers,
            body,
        };
        assert_eq!(
            verify(&request, std::slice::from_ref(&key), now),
            Ok("us-east-1".to_string())
        );
        let tampered = Request {
            body: b"{ }",
            ..request
        };
        assert_eq!(
            verify(&tampered, std::slice::from_ref(&key), now).map_err(|e| e.code),
            Err("InvalidSignatureException")
        );
        let request = Request {
            method: &Method::POST,
            uri: &uri,
            headers: &headers,
            body,
        };
        let other = AccessKey {
            id: "OTHER".into(),
            secret: "secret".into(),
        };
        assert_eq!(
            verify(&request, &[other], now).map_err(|e| e.code),
            Err("UnrecognizedClientException")
        );
        let late = now + 16 * 60 * 1000;
        assert_eq!(
            verify(&request, &[key], late).map_err(|e| e.code),
            Err("InvalidSignatureException")
        );
    }

    /// Signs `headers` (all of them, as they are) for a POST of `{}` at
    /// `amz_date`, with the credential scope dated `scope_day`.
    fn signed_request(headers: &mut HeaderMap, key: &AccessKey, amz_date: &str, scope_day: &str) {
        let uri: Uri = "/".parse().expect("uri");
        headers.insert("x-amz-date", amz_date.parse().expect("header"));
        let mut signed: Vec<String> = headers.keys().map(|k| k.as_str().to_string()).collect();
        signed.sort();
        let request = Request {
            method: &Method::POST,
            uri: &uri,
            headers,
            body: b"{}",
        };
        let canonical = canonical_request(&request, &signed);
        let scope = format!("{scope_day}/us-east-1/states/aws4_request");
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let signature = hex(&hmac(
            &signing_key(&key.secret, scope_day, "us-east-1", "states"),
            string_to_sign.as_bytes(),
        ));
        let value = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            key.id,
            signed.join(";")
        );
        headers.insert("authorization", value.parse().expect("header"));
    }

    #[test]
    fn the_scope_must_be_dated_the_day_of_x_amz_date() {
        let key = AccessKey {
            id: "AKID".into(),
            secret: "secret".into(),
        };
        let uri: Uri = "/".parse().expect("uri");
        let now = 1_704_164_645_000; // 2024-01-02T03:04:05Z
        for (scope_day, expected) in [
            ("20240102", Ok("us-east-1".to_string())),
            ("20240101", Err("InvalidSignatureException")),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("host", "127.0.0.1:8083".parse().expect("header"));
            signed_request(&mut headers, &key, "20240102T030405Z", scope_day);
            let request = Request {
                method: &Method::POST,
                uri: &uri,
                headers: &headers,
                body: b"{}",
            };
            let answer = verify(&request, std::slice::from_ref(&key), now);
            assert_eq!(answer.map_err(|e| e.code), expected, "scope {scope_day}");
        }
    }

    #[test]
    fn a_signature_must_cover_host() {
        let key = AccessKey {
            id: "AKID".into(),
            secret: "secret".into(),
        };
        let uri: Uri = "/".parse().expect("uri");
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-target",
            "AWSStepFunctions.ListActivities".parse().expect("header"),
        );
        // Correctly signed, but over x-amz-date and x-amz-target only.
        signed_request(&mut headers, &key, "20240102T030405Z", "20240102");
        headers.insert("host", "127.0.0.1:8083".parse().expect("header"));
        let request = Request {
            method: &Method::POST,
            uri: &uri,
            headers: &headers,
            body: b"{}",
        };
        let answer = verify(&request, std::slice::from_ref(&key), 1_704_164_645_000);
        assert_eq!(
            answer.map_err(|e| e.code),
            Err("IncompleteSignatureException")
        );
    }
}
