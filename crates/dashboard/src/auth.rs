//! Login for a server that wants SigV4 credentials: the page asks for an
//! access key id and secret, checks them against the server's keys, and
//! sets an HttpOnly session cookie (`SameSite=Strict`, path `/ui`, `Secure`
//! over TLS). Sessions live in memory and end after [`SESSION_HOURS`] or at
//! logout. Without access keys every request is let in, as the API lets
//! unsigned requests in on a loopback address.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};

/// The cookie that carries a session.
pub const COOKIE: &str = "windlass_session";

/// How long a session lasts.
pub const SESSION_HOURS: u64 = 12;

/// An access key id and its secret, as the API server checks signatures with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub id: String,
    pub secret: String,
}

/// The keys and the open sessions.
pub struct Sessions {
    keys: Vec<Credential>,
    open: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    pub fn new(keys: Vec<Credential>) -> Sessions {
        Sessions {
            keys,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the dashboard asks for a login at all.
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// A new session's token when `id` and `secret` are one of the keys.
    pub fn login(&self, id: &str, secret: &str) -> Option<String> {
        let given = digest(id, secret);
        // Every key is compared, each in full, so the time taken says
        // nothing about which part was wrong.
        let matched = self.keys.iter().fold(false, |found, k| {
            found | same(&digest(&k.id, &k.secret), &given)
        });
        if !matched {
            return None;
        }
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        open.retain(|_, expires| *expires > now);
        open.insert(
            token.clone(),
            now + Duration::from_secs(SESSION_HOURS * 3600),
        );
        Some(token)
    }

    pub fn logout(&self, headers: &HeaderMap) {
        if let Some(token) = token_of(headers) {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            open.remove(&token);
        }
    }

    /// Whether the request may see the dashboard.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        if !self.required() {
            return true;
        }
        let Some(token) = token_of(headers) else {
            return false;
        };
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&token)
            .is_some_and(|expires| *expires > Instant::now())
    }
}

fn digest(id: &str, secret: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(id.as_bytes());
    hash.update([0]);
    hash.update(secret.as_bytes());
    hash.finalize().into()
}

fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session token of the request's cookie.
fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value of a new session; `secure` when the page came
/// over TLS, so that the browser never sends the cookie in clear.
pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age={}{}",
        SESSION_HOURS * 3600,
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends the session in the browser.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_a_configured_key_opens_a_session() {
        let sessions = Sessions::new(vec![Credential {
            id: "AKID".into(),
            secret: "s3cret".into(),
        }]);
        assert!(sessions.login("AKID", "wrong").is_none());
        assert!(sessions.login("OTHER", "s3cret").is_none());
        let token = sessions.login("AKID", "s3cret").expect("a session");
        let mut headers = HeaderMap::new();
        assert!(!sessions.admits(&headers));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {COOKIE}={token}")).expect("header"),
        );
        assert!(sessions.admits(&headers));
        sessions.logout(&headers);
        assert!(!sessions.admits(&headers));
        assert!(Sessions::new(Vec::new()).admits(&HeaderMap::new()));
    }
}
