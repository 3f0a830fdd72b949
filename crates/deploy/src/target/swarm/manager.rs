//! Which engine is the Swarm's manager, found as the `docker` CLI finds its
//! engine: `DOCKER_HOST` (`unix://`, `tcp://` with `DOCKER_TLS_VERIFY` and
//! `DOCKER_CERT_PATH`, `ssh://USER@HOST[:PORT]`, see [`super::ssh`]), else the Docker context
//! `DOCKER_CONTEXT` names, else the config's `currentContext` (the config
//! folder is `DOCKER_CONFIG`, else `~/.docker`), else the local socket. A
//! context is read from the files `docker context create` writes:
//! `contexts/meta/SHA256(NAME)/meta.json` (its docker endpoint's `Host`)
//! and, for TLS, `contexts/tls/SHA256(NAME)/docker/{ca,cert,key}.pem`.
//! Resolving is pure (the environment is passed in), so it is tested by data.

use std::path::{Path, PathBuf};

use bollard::{Docker, API_DEFAULT_VERSION};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The local engine's socket, the `default` context's endpoint.
const LOCAL: &str = "unix:///var/run/docker.sock";
/// Seconds an Engine API call may take (bollard's default).
const TIMEOUT: u64 = 120;

/// The manager's endpoint and where it was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Manager {
    /// `unix://PATH`, `tcp://HOST:PORT` or `ssh://USER@HOST[:PORT]`.
    pub host: String,
    /// The client certificate, its key and the CA, for TLS.
    pub tls: Option<Tls>,
    /// Where the endpoint came from, for messages: `DOCKER_HOST`, `context
    /// NAME`, or the local socket.
    pub from: String,
}

/// The files of a TLS connection, as Docker names them.
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Tls {
    fn in_folder(dir: &Path) -> Tls {
        Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

/// A context's `meta.json`: only its docker endpoint is read.
#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "Endpoints", default)]
    endpoints: std::collections::BTreeMap<String, Endpoint>,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "Host")]
    host: Option<String>,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// The config file's part that names the current context.
#[derive(Deserialize)]
struct Config {
    #[serde(rename = "currentContext")]
    current_context: Option<String>,
}

impl Manager {
    /// The manager this process's environment names (see the module's
    /// documentation).
    pub fn from_env() -> Result<Manager, String> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        Manager::resolve(&|k| std::env::var(k).ok(), home.as_deref())
    }

    /// As [`Manager::from_env`], with the environment `var` reads and the
    /// user's home folder given.
    pub fn resolve(
        var: &dyn Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Result<Manager, String> {
        let set = |k: &str| var(k).filter(|v| !v.is_empty());
        let config_dir = match set("DOCKER_CONFIG") {
            Some(dir) => PathBuf::from(dir),
            None => home
                .map(|h| h.join(".docker"))
                .unwrap_or_else(|| PathBuf::from(".docker")),
        };
        if let Some(host) = set("DOCKER_HOST") {
            let tls = set("DOCKER_TLS_VERIFY").map(|_| {
                let dir = set("DOCKER_CERT_PATH").map_or_else(|| config_dir.clone(), PathBuf::from);
                Tls::in_folder(&dir)
            });
            return Ok(Manager {
                host,
                tls,
                from: "DOCKER_HOST".into(),
            });
        }
        let named = match set("DOCKER_CONTEXT") {
            Some(name) => Some((name, "DOCKER_CONTEXT".to_owned())),
            None => current_context(&config_dir)?,
        };
        match named {
            Some((name, _)) if name == "default" => Ok(Manager::local()),
            Some((name, named_by)) => context(&config_dir, &name, &named_by),
            None => Ok(Manager::local()),
        }
    }

    fn local() -> Manager {
        Manager {
            host: LOCAL.into(),
            tls: None,
            from: "the local socket (no DOCKER_HOST, no Docker context)".into(),
        }
    }

    /// A client of the manager, at the API version it speaks.
    pub async fn connect(&self) -> Result<Docker, String> {
        let at = |e: bollard::errors::Error| format!("{} ({}): {e}", self.host, self.from);
        let docker = match (&self.tls, self.host.as_str()) {
            (Some(tls), host) if host.starts_with("tcp://") || host.starts_with("https://") => {
                for file in [&tls.ca, &tls.cert, &tls.key] {
                    if !file.is_file() {
                        return Err(format!(
                            "{} ({}): TLS needs {}, which is not there",
                            self.host,
                            self.from,
                            file.display()
                        ));
                    }
                }
                Docker::connect_with_ssl(
                    host,
                    &tls.key,
                    &tls.cert,
                    &tls.ca,
                    TIMEOUT,
                    API_DEFAULT_VERSION,
                )
                .map_err(at)?
            }
            (_, host) if host.starts_with("ssh://") => {
                super::ssh::connect(host, TIMEOUT).map_err(|e| format!("{e} ({})", self.from))?
            }
            (_, host) => Docker::connect_with_host(host).map_err(at)?,
        };
        docker.negotiate_version().await.map_err(at)
    }
}

/// The config file's `currentContext`, if it names one.
fn current_context(config_dir: &Path) -> Result<Option<(String, String)>, String> {
    let file = config_dir.join("config.json");
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let config: Config =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(config
        .current_context
        .filter(|c| !c.is_empty())
        .map(|c| (c, format!("currentContext in {}", file.display()))))
}

/// Context `name`'s docker endpoint, from the files `docker context
/// create` wrote.
fn context(config_dir: &Path, name: &str, named_by: &str) -> Result<Manager, String> {
    let id = hex(&Sha256::digest(name.as_bytes()));
    let meta_file = config_dir
        .join("contexts")
        .join("meta")
        .join(&id)
        .join("meta.json");
    let text = std::fs::read_to_string(&meta_file).map_err(|e| {
        format!(
            "Docker context {name} ({named_by}) is not there ({}: {e}): `docker context ls` lists the contexts",
            meta_file.display()
        )
    })?;
    let meta: Meta =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", meta_file.display()))?;
    let endpoint = meta.endpoints.get("docker");
    let Some(host) = endpoint.and_then(|e| e.host.clone()) else {
        return Err(format!(
            "{}: Docker context {name} has no docker endpoint (Endpoints.docker.Host)",
            meta_file.display()
        ));
    };
    let tls_dir = config_dir
        .join("contexts")
        .join("tls")
        .join(&id)
        .join("docker");
    let tls = tls_dir.is_dir().then(|| Tls::in_folder(&tls_dir));
    if endpoint.is_some_and(|e| e.skip_tls_verify) {
        return Err(format!(
            "{}: Docker context {name} skips TLS verification, which windlass does not do: give the context the engine's CA (docker context update {name} --docker \"host={host},ca=CA.pem,cert=CERT.pem,key=KEY.pem\")",
            meta_file.display()
        ));
    }
    Ok(Manager {
        host,
        tls,
        from: format!("Docker context {name}, {named_by}"),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    /// A new empty folder of this test's (removed when dropped).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("windlass-manager-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("test set-up");
            Scratch(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Writes context `name` as `docker context create` does.
    fn write_context(config: &Path, name: &str, host: &str, tls: bool) {
        let id = hex(&Sha256::digest(name.as_bytes()));
        let meta = config.join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).expect("test set-up");
        std::fs::write(
            meta.join("meta.json"),
            format!(
                r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
            ),
        )
        .expect("test set-up");
        if tls {
            std::fs::create_dir_all(config.join("contexts/tls").join(&id).join("docker"))
                .expect("test set-up");
        }
    }

    #[test]
    fn docker_host_comes_first_with_its_tls_folder() {
        let home = Scratch::new("host");
        let var = env(&[
            ("DOCKER_HOST", "tcp://10.0.0.1:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs"),
            ("DOCKER_CONTEXT", "prod"),
        ]);
        let manager = Manager::resolve(&var, Some(home.path())).expect("test set-up");
        assert_eq!(manager.host, "tcp://10.0.0.1:2376");
        assert_eq!(manager.from, "DOCKER_HOST");
        assert_eq!(
            manager.tls.expect("test set-up").ca,
            PathBuf::from("/certs/ca.pem")
        );
        // Without a cert path, the config folder's.
        let var = env(&[("DOCKER_HOST", "tcp://h:2376"), ("DOCKER_TLS_VERIFY", "1")]);
        let manager = Manager::resolve(&var, Some(home.path())).expect("test set-up");
        assert_eq!(
            manager.tls.expect("test set-up").key,
            home.path().join(".docker/key.pem")
        );
    }

    #[test]
    fn a_context_named_by_the_environment_or_the_config() {
        let config = Scratch::new("contexts");
        write_context(config.path(), "swarm-prod", "tcp://manager1:2376", true);
        write_context(config.path(), "edge", "ssh://deploy@edge1", false);
        let dir = config.path().to_str().expect("test set-up");
        let var = env(&[("DOCKER_CONFIG", dir), ("DOCKER_CONTEXT", "swarm-prod")]);
        let manager = Manager::resolve(&var, None).expect("test set-up");
        assert_eq!(manager.host, "tcp://manager1:2376");
        let tls = manager.tls.expect("test set-up");
        assert!(tls.cert.ends_with("docker/cert.pem"), "{tls:?}");
        assert!(manager.from.contains("swarm-prod"), "{}", manager.from);

        std::fs::write(
            config.path().join("config.json"),
            r#"{"auths":{},"currentContext":"edge"}"#,
        )
        .expect("test set-up");
        let var = env(&[("DOCKER_CONFIG", dir)]);
        let manager = Manager::resolve(&var, None).expect("test set-up");
        assert_eq!(manager.host, "ssh://deploy@edge1");
        assert_eq!(manager.tls, None);
        assert!(manager.from.contains("currentContext"), "{}", manager.from);
    }

    #[test]
    fn the_default_context_and_no_context_are_the_local_socket() {
        let config = Scratch::new("default");
        let dir = config.path().to_str().expect("test set-up");
        let var = env(&[("DOCKER_CONFIG", dir)]);
        assert_eq!(
            Manager::resolve(&var, None).expect("test set-up").host,
            LOCAL
        );
        let var = env(&[("DOCKER_CONFIG", dir), ("DOCKER_CONTEXT", "default")]);
        assert_eq!(
            Manager::resolve(&var, None).expect("test set-up").host,
            LOCAL
        );
    }

    #[test]
    fn an_unknown_context_is_named_in_the_error() {
        let config = Scratch::new("unknown");
        let dir = config.path().to_str().expect("test set-up");
        let var = env(&[("DOCKER_CONFIG", dir), ("DOCKER_CONTEXT", "nowhere")]);
        let error = Manager::resolve(&var, None).expect_err("an error");
        assert!(
            error.contains("Docker context nowhere (DOCKER_CONTEXT) is not there")
                && error.contains("docker context ls"),
            "{error}"
        );
    }
}
