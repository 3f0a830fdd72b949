//! Registry credentials, found where Docker users keep them: the `auths`
//! of Docker's client configuration (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`, as `docker login` writes it), and
//! `WINDLASS_REGISTRY` with `WINDLASS_REGISTRY_USERNAME` and
//! `WINDLASS_REGISTRY_PASSWORD`, which take precedence for their registry.
//! A push or pull uses the credentials of the image's registry host.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value as Json;

use crate::backend::RegistryAuth;

/// Credentials per registry host.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    entries: Vec<RegistryAuth>,
}

impl Credentials {
    pub fn new(entries: Vec<RegistryAuth>) -> Credentials {
        Credentials { entries }
    }

    /// From Docker's client configuration and windlass's environment, read
    /// through `env` (so tests need not touch the process environment).
    pub fn discover(env: impl Fn(&str) -> Option<String>) -> Result<Credentials, String> {
        let mut entries = Vec::new();
        if let (Some(server), Some(username), Some(password)) = (
            env("WINDLASS_REGISTRY"),
            env("WINDLASS_REGISTRY_USERNAME"),
            env("WINDLASS_REGISTRY_PASSWORD"),
        ) {
            entries.push(RegistryAuth {
                username,
                password,
                server,
            });
        }
        let config = env("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| Path::new(&home).join(".docker")))
            .map(|dir| dir.join("config.json"));
        if let Some(path) = config.filter(|p| p.exists()) {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            entries
                .extend(from_docker_config(&text).map_err(|e| format!("{}: {e}", path.display()))?);
        }
        Ok(Credentials { entries })
    }

    /// The credentials for the registry an image reference names, if any.
    pub fn for_image(&self, reference: &str) -> Option<&RegistryAuth> {
        let host = registry_host(reference)?;
        self.entries.iter().find(|a| normalize(&a.server) == host)
    }
}

/// The `auths` of Docker's config.json: `{"auths": {"host": {"auth": base64("user:password")}}}`.
/// Entries kept by a credential helper (no `auth`) are skipped.
pub fn from_docker_config(text: &str) -> Result<Vec<RegistryAuth>, String> {
    let config: Json = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let mut entries = Vec::new();
    let Some(auths) = config.get("auths").and_then(Json::as_object) else {
        return Ok(entries);
    };
    for (server, entry) in auths {
        let Some(encoded) = entry.get("auth").and_then(Json::as_str) else {
            continue;
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("auths.{server}.auth is not base64: {e}"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| format!("auths.{server}.auth is not UTF-8 text"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| format!("auths.{server}.auth is not user:password"))?;
        entries.push(RegistryAuth {
            username: username.to_owned(),
            password: password.to_owned(),
            server: normalize(server),
        });
    }
    Ok(entries)
}

/// The registry host of an image reference (`127.0.0.1:5000/app:1` ->
/// `127.0.0.1:5000`); `None` for Docker Hub's short names.
pub(crate) fn registry_host(reference: &str) -> Option<String> {
    let (first, _) = reference.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then(|| first.to_owned())
}

/// `https://host:port/v1/` as Docker writes servers -> `host:port`.
fn normalize(server: &str) -> String {
    let server = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    server.split('/').next().unwrap_or(server).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_logins_are_read_and_matched_by_the_image_registry() {
        let config = r#"{"auths": {
            "127.0.0.1:5000": {"auth": "YWxpY2U6czNjcmV0"},
            "https://registry.example.com/v1/": {"auth": "Ym9iOnB3OmNvbG9u"},
            "helper.example.com": {}
        }}"#;
        let dir = std::env::temp_dir().join(format!("windlass-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("config.json"), config).expect("config");
        let dir_text = dir.display().to_string();
        let creds = Credentials::discover(|name| match name {
            "DOCKER_CONFIG" => Some(dir_text.clone()),
            "WINDLASS_REGISTRY" => Some("registry.example.com".into()),
            "WINDLASS_REGISTRY_USERNAME" => Some("env-user".into()),
            "WINDLASS_REGISTRY_PASSWORD" => Some("env-pass".into()),
            _ => None,
        })
        .expect("discovered");
        let local = creds
            .for_image("127.0.0.1:5000/app:r1")
            .expect("local registry");
        assert_eq!(
            (local.username.as_str(), local.password.as_str()),
            ("alice", "s3cret")
        );
        // The environment wins over docker login for its registry; a
        // password may hold colons.
        let example = creds
            .for_image("registry.example.com/team/app:1")
            .expect("example");
        assert_eq!(example.username, "env-user");
        assert_eq!(
            from_docker_config(config).expect("parsed")[1].password,
            "pw:colon"
        );
        assert!(
            creds.for_image("app:1").is_none(),
            "Docker Hub short names have no host"
        );
        assert!(creds.for_image("helper.example.com/app:1").is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_broken_docker_config_is_named() {
        assert!(from_docker_config("{").is_err());
        let error = from_docker_config(r#"{"auths": {"h": {"auth": "!!"}}}"#).expect_err("bad");
        assert!(error.contains("auths.h.auth"), "{error}");
    }
}
