//! Pagination tokens: opaque, and good only for the query that made them.
//!
//! A token is base64 (URL alphabet, unpadded) of a 16-byte tag followed by
//! the position the next page starts after. The tag is an HMAC-SHA256, under
//! a key the server draws when it starts, of the query (action, its filters,
//! page size, region) and the position, so a token that was altered, or that
//! is given back with another filter, page size or resource, is refused with
//! `InvalidToken` rather than read as a position. Tokens do not outlive the
//! server that made them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{ApiError, ApiResult};

type HmacSha256 = Hmac<Sha256>;

/// The length of a token's tag.
const TAG_BYTES: usize = 16;

/// AWS's limit on a `nextToken`'s length.
const MAX_TOKEN_CHARS: usize = 1024;

/// What a listing asks for: the action and every request member that
/// shapes its pages. Built with [`Query::new`] and [`Query::with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query(String);

impl Query {
    pub fn new(action: &str, region: &str, page_size: usize) -> Self {
        Query(format!("{action}\u{1f}{region}\u{1f}{page_size}"))
    }

    /// Adds a member; absent members are written as absent, not as empty.
    pub fn with(mut self, member: &str, value: Option<&str>) -> Self {
        self.0.push('\u{1f}');
        self.0.push_str(member);
        match value {
            Some(value) => {
                self.0.push('=');
                self.0.push_str(value);
            }
            None => self.0.push('\u{18}'),
        }
        self
    }
}

/// Makes and reads tokens with one server's key.
pub struct Pages {
    key: [u8; 32],
}

impl Pages {
    /// Tokens under a fresh random key.
    pub fn new() -> Self {
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(16) {
            chunk.copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        Pages { key }
    }

    fn mac(&self, query: &Query, position: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(query.0.as_bytes());
        mac.update(&[0]);
        mac.update(position);
        mac
    }

    /// The token for the page after `position` of `query`.
    pub fn token(&self, query: &Query, position: &str) -> String {
        let tag = self.mac(query, position.as_bytes()).finalize().into_bytes();
        let mut bytes = tag[..TAG_BYTES].to_vec();
        bytes.extend_from_slice(position.as_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The position a client's `nextToken` holds for `query`; `None` when no
    /// token (or an empty one) was given.
    pub fn position(&self, query: &Query, token: Option<&str>) -> ApiResult<Option<String>> {
        let token = match token {
            None | Some("") => return Ok(None),
            Some(token) => token,
        };
        let invalid = || {
            ApiError::new(
                "InvalidToken",
                format!(
                    "Invalid Token: '{}': it was not given by this server for this request \
                     (same action, filters and maxResults); start again without nextToken",
                    shorten(token)
                ),
            )
        };
        if token.len() > MAX_TOKEN_CHARS {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
        if bytes.len() < TAG_BYTES {
            return Err(invalid());
        }
        let (tag, position) = bytes.split_at(TAG_BYTES);
        // `verify_truncated_left` compares in constant time.
        self.mac(query, position)
            .verify_truncated_left(tag)
            .map_err(|_| invalid())?;
        String::from_utf8(position.to_vec())
            .map(Some)
            .map_err(|_| invalid())
    }
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

/// A token as an error message quotes it: at most 64 characters.
fn shorten(token: &str) -> String {
    match token.char_indices().nth(64) {
        Some((end, _)) => format!("{}...", &token[..end]),
        None => token.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> Query {
        Query::new("ListExecutions", "us-east-1", 10).with("statusFilter", Some("RUNNING"))
    }

    #[test]
    fn a_token_gives_back_its_position_for_its_query_only() {
        let pages = Pages::new();
        let token = pages.token(&query(), "1700000000000:arn:x");
        assert_eq!(
            pages.position(&query(), Some(&token)),
            Ok(Some("1700000000000:arn:x".to_string()))
        );
        assert_eq!(pages.position(&query(), None), Ok(None));
        let others = [
            Query::new("ListExecutions", "us-east-1", 11).with("statusFilter", Some("RUNNING")),
            Query::new("ListExecutions", "eu-west-1", 10).with("statusFilter", Some("RUNNING")),
            Query::new("ListExecutions", "us-east-1", 10).with("statusFilter", None),
            Query::new("ListActivities", "us-east-1", 10).with("statusFilter", Some("RUNNING")),
        ];
        for other in &others {
            assert_eq!(
                pages.position(other, Some(&token)).map_err(|e| e.code),
                Err("InvalidToken"),
                "{other:?}"
            );
        }
        let mut tampered = token.into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ascii");
        assert_eq!(
            pages
                .position(&query(), Some(&tampered))
                .map_err(|e| e.code),
            Err("InvalidToken")
        );
        let stranger = Pages::new().token(&query(), "1700000000000:arn:x");
        assert_eq!(
            pages
                .position(&query(), Some(&stranger))
                .map_err(|e| e.code),
            Err("InvalidToken")
        );
        for junk in ["1700000000000:arn:x", "!!", "QQ"] {
            assert_eq!(
                pages.position(&query(), Some(junk)).map_err(|e| e.code),
                Err("InvalidToken"),
                "{junk}"
            );
        }
    }
}
