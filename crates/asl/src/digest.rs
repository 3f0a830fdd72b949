//! The hash algorithms ASL offers (`States.Hash`, JSONata's `$hash`).

use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::{Sha256, Sha384, Sha512};

/// The names accepted, for messages.
pub const ALGORITHMS: &str = "MD5, SHA-1, SHA-256, SHA-384, SHA-512";

/// The lowercase hex digest of `bytes`, or `None` for an unknown algorithm.
pub fn hex_digest(algorithm: &str, bytes: &[u8]) -> Option<String> {
    let digest: Vec<u8> = match algorithm {
        "MD5" => Md5::digest(bytes).to_vec(),
        "SHA-1" => Sha1::digest(bytes).to_vec(),
        "SHA-256" => Sha256::digest(bytes).to_vec(),
        "SHA-384" => Sha384::digest(bytes).to_vec(),
        "SHA-512" => Sha512::digest(bytes).to_vec(),
        _ => return None,
    };
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}
