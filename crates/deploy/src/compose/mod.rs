//! Reading a Compose file into a [`Project`]: Docker's meaning for the fields
//! windlass supports, plus `x-windlass`. A bad file gives an [`Error`] with
//! file, line, field and what is allowed there.

mod model;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

pub use model::{
    Build, Deploy, FailureAction, Healthcheck, Hook, Hooks, Network, Order, Probe,
    RollbackTriggers, Service, ServiceNetwork, ServiceNetworks, UpdateConfig, Windlass,
};
pub use values::{Port, Protocol};

/// A Compose file that was read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub file: PathBuf,
    pub name: Option<String>,
    pub services: IndexMap<String, Service>,
    pub networks: IndexMap<String, Network>,
}

impl Service {
    /// The container port windlass's proxy routes to.
    pub fn routed_port(&self) -> Option<u16> {
        self.windlass
            .port
            .or_else(|| self.ports.first().map(|p| p.target))
    }

    /// Where windlass's proxy serves the service: `x-windlass.address`, or the
    /// first published port on its host IP (127.0.0.1 when none is given).
    pub fn proxy_address(&self) -> Option<SocketAddr> {
        self.windlass.address.or_else(|| {
            let port = self.ports.iter().find(|p| p.published.is_some())?;
            let ip = port.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            Some(SocketAddr::new(ip, port.published?))
        })
    }
}

/// Why a Compose file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {message}", file.display())]
    Read { file: PathBuf, message: String },
    #[error("{location}: {field}: {message}")]
    Invalid {
        location: Location,
        field: String,
        message: String,
    },
}

/// Where in a file; line and column count from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Reads and checks the Compose file at `path`; `env_file` and `build.context`
/// are resolved against its folder.
pub fn load(path: &Path) -> Result<Project, Error> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::Read {
        file: path.to_owned(),
        message: err.to_string(),
    })?;
    parse(&text, path)
}

/// Checks Compose `text` as if read from `file`.
pub fn parse(text: &str, file: &Path) -> Result<Project, Error> {
    let raw: model::File = serde_norway::from_str(text).map_err(|err| syntax_error(&err, file))?;
    let invalid = |path: &[&str], message: String| {
        let (line, column) = locate(text, path);
        Error::Invalid {
            location: Location {
                file: file.to_owned(),
                line,
                column,
            },
            field: path.join("."),
            message,
        }
    };
    if let Some(key) = raw.extensions.keys().find(|k| !k.starts_with("x-")) {
        return Err(invalid(
            &[key],
            format!("unknown field `{key}`, expected one of `version`, `name`, `services`, `networks` or an `x-` extension"),
        ));
    }
    if raw.services.is_empty() {
        return Err(invalid(
            &["services"],
            "no services: declare at least one under `services`".into(),
        ));
    }
    let base = file.parent().unwrap_or(Path::new("."));
    let mut services = IndexMap::new();
    for (name, mut service) in raw.services {
        check_service(&name, &service, &raw.networks, &invalid)?;
        let mut environment = BTreeMap::new();
        for (i, env_file) in service.env_file.iter().enumerate() {
            let path = base.join(env_file);
            let contents = std::fs::read_to_string(&path).map_err(|err| {
                invalid(
                    &["services", &name, "env_file"],
                    format!("entry {i}: cannot read {}: {err}", path.display()),
                )
            })?;
            environment.extend(parse_env_file(&contents));
        }
        environment.append(&mut service.environment);
        service.environment = environment;
        if let Some(build) = &mut service.build {
            build.context = base.join(&build.context);
        }
        services.insert(name, service);
    }
    let networks = raw
        .networks
        .into_iter()
        .map(|(name, n)| (name, n.unwrap_or_default()))
        .collect();
    Ok(Project {
        file: file.to_owned(),
        name: raw.name,
        services,
        networks,
    })
}

fn check_service(
    name: &str,
    service: &Service,
    networks: &IndexMap<String, Option<Network>>,
    invalid: &impl Fn(&[&str], String) -> Error,
) -> Result<(), Error> {
    if service.image.is_none() && service.build.is_none() {
        return Err(invalid(
            &["services", name],
            "has neither `image` nor `build`: give at least one".into(),
        ));
    }
    if let Some(port) = service.windlass.port {
        if !service.ports.is_empty() && !service.ports.iter().any(|p| p.target == port) {
            let targets: Vec<String> = service.ports.iter().map(|p| p.target.to_string()).collect();
            return Err(invalid(
                &["services", name, "x-windlass", "port"],
                format!(
                    "port {port} is not among the service's container ports ({})",
                    targets.join(", ")
                ),
            ));
        }
    }
    let ratios = [
        (
            service
                .deploy
                .update_config
                .as_ref()
                .and_then(|c| c.max_failure_ratio),
            ["deploy", "update_config", "max_failure_ratio"],
        ),
        (
            service
                .deploy
                .rollback_config
                .as_ref()
                .and_then(|c| c.max_failure_ratio),
            ["deploy", "rollback_config", "max_failure_ratio"],
        ),
        (
            service.windlass.rollback_on.server_error_ratio,
            ["x-windlass", "rollback_on", "server_error_ratio"],
        ),
    ];
    for (ratio, path) in ratios {
        if let Some(ratio) = ratio.filter(|r| !(0.0..=1.0).contains(r)) {
            let full = [&["services", name][..], &path[..]].concat();
            return Err(invalid(
                &full,
                format!("{ratio} is out of range: expected a share from 0 to 1"),
            ));
        }
    }
    if let Some(FailureAction::Rollback) = service
        .deploy
        .rollback_config
        .as_ref()
        .and_then(|c| c.failure_action)
    {
        return Err(invalid(
            &[
                "services",
                name,
                "deploy",
                "rollback_config",
                "failure_action",
            ],
            "`rollback` is not allowed in rollback_config: expected `continue` or `pause`".into(),
        ));
    }
    let hooks = service
        .windlass
        .hooks
        .before_switch
        .iter()
        .map(|h| ("before_switch", h));
    for (when, hook) in hooks.chain(
        service
            .windlass
            .hooks
            .after_switch
            .iter()
            .map(|h| ("after_switch", h)),
    ) {
        if hook.command.is_some() == hook.state.is_some() {
            return Err(invalid(
                &["services", name, "x-windlass", "hooks", when],
                "each hook needs exactly one of `command` (run in a new container) or `state` (an ASL state)".into(),
            ));
        }
        if let Some(state) = &hook.state {
            crate::workflow::hooks::check_state(state).map_err(|message| {
                invalid(
                    &["services", name, "x-windlass", "hooks", when, "state"],
                    message,
                )
            })?;
        }
    }
    if let Some(path) = &service.windlass.health.http {
        if !path.starts_with('/') {
            return Err(invalid(
                &["services", name, "x-windlass", "health", "http"],
                format!("{path:?} is not a path: expected one starting with '/'"),
            ));
        }
    }
    for network in service.networks.0.keys() {
        if network != "default" && !networks.contains_key(network) {
            let declared: Vec<&str> = networks.keys().map(String::as_str).collect();
            let declared = if declared.is_empty() {
                "none is".to_owned()
            } else {
                format!("{} are", declared.join(", "))
            };
            return Err(invalid(
                &["services", name, "networks"],
                format!("network `{network}` is not declared under the top-level `networks` ({declared})"),
            ));
        }
    }
    Ok(())
}

/// Lines of `KEY=VALUE`; blank lines and `#` comments are skipped.
fn parse_env_file(contents: &str) -> impl Iterator<Item = (String, Option<String>)> + '_ {
    contents
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match line.split_once('=') {
            Some((k, v)) => (k.trim().to_owned(), Some(v.to_owned())),
            None => (line.to_owned(), None),
        })
}

/// Turns a YAML or field error into one with location and field: the YAML
/// library says `field.path: message at line L column C`.
fn syntax_error(err: &serde_norway::Error, file: &Path) -> Error {
    let message = err.to_string();
    let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
    // The location is reported separately, so drop it from the text.
    let message = match err.location() {
        Some(l) => message.replacen(
            &format!(" at line {} column {}", l.line(), l.column()),
            "",
            1,
        ),
        None => message,
    };
    let (field, message) = match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => (path.to_owned(), rest.to_owned()),
        _ => ("YAML syntax".to_owned(), message),
    };
    Error::Invalid {
        location: Location {
            file: file.to_owned(),
            line,
            column,
        },
        field,
        message,
    }
}

/// Finds the line and column of a key path in block-style YAML, falling back
/// to the deepest ancestor found (or the top of the file).
fn locate(text: &str, path: &[&str]) -> (usize, usize) {
    let mut found = (1, 1);
    let mut parent_indent: Option<usize> = None;
    let mut lines = text.lines().enumerate();
    'segments: for segment in path {
        for (number, line) in lines.by_ref() {
            let content = line.trim_start();
            let indent = line.len() - content.len();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if parent_indent.is_some_and(|parent| indent <= parent) {
                break 'segments;
            }
            let key = content.trim_start_matches("- ");
            if key
                .strip_prefix(segment)
                .is_some_and(|rest| rest.starts_with(':'))
            {
                found = (number + 1, indent + 1);
                parent_indent = Some(indent);
                continue 'segments;
            }
        }
        break;
    }
    found
}

#[cfg(test)]
mod tests;
