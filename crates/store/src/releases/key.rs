//! Who a release belongs to: a [`ServiceKey`] (an app's service) in one
//! [`Installation`] (one state folder's store). Two apps may both have a
//! service `web`, and two state folders may deploy to the same engine, so
//! neither a bare service name nor an app's name alone identifies anything.
//!
//! A key's text is `APP/SERVICE`. An app is a Compose project name (`a-z
//! 0-9 _ -`), a service a Compose service name (`A-Z a-z 0-9 . _ -`), so the
//! text splits at its last `/`. ECS services live in the same store under
//! the app `ecs/CLUSTER` (`ecs/CLUSTER/SERVICE`), which no Compose project
//! can be named.
//!
//! An [`Environment`] (`staging`, `production`) of an app is an app of its
//! own to everything below the CLI: its name is `APP.ENV` (`shop.staging`),
//! which no Compose project can be named either (a project name has no
//! `.`), so two environments of one app never share a key, lock, proxy,
//! container, image tag or network, exactly as two apps do not.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An app's service: the identity of everything a deploy makes for it
/// (releases, live pointer, lock, proxy, containers, image tags).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceKey {
    app: String,
    service: String,
}

/// Text that is not `APP/SERVICE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not APP/SERVICE (an app's name, a slash, one of its services)")]
pub struct BadKey(pub String);

/// The app that ECS services of `cluster` belong to in the store.
pub fn ecs_app(cluster: &str) -> String {
    format!("ecs/{cluster}")
}

impl ServiceKey {
    /// `service` of `app`. Neither may be empty, and a service has no `/`.
    pub fn new(app: impl Into<String>, service: impl Into<String>) -> Result<ServiceKey, BadKey> {
        let (app, service) = (app.into(), service.into());
        if app.is_empty() || service.is_empty() || service.contains('/') {
            return Err(BadKey(format!("{app}/{service}")));
        }
        Ok(ServiceKey { app, service })
    }

    pub fn app(&self) -> &str {
        &self.app
    }

    /// The service's name within its app (the Compose file's key).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The environment its app is in (`staging` of `shop.staging`), if any.
    pub fn environment(&self) -> Option<&str> {
        split_app(&self.app).1
    }

    /// Whether it is an ECS service's key (`ecs/CLUSTER/SERVICE`), which
    /// the local Docker target does not serve.
    pub fn is_ecs(&self) -> bool {
        self.app.starts_with("ecs/")
    }
}

/// An environment of an app: the same Compose app deployed as an app of its
/// own (`APP.ENV`) with its own override, ports, releases, locks and
/// target. A Compose project name's letters: `a-z 0-9 _ -`, starting with a
/// letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Environment(String);

/// Text that cannot name an environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} cannot name an environment: use lower-case letters, digits, `-` and `_`, starting with a letter or digit (such as staging or production)")]
pub struct BadEnvironment(pub String);

impl Environment {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name `app` has in this environment: `APP.ENV`.
    pub fn app(&self, app: &str) -> String {
        format!("{app}.{}", self.0)
    }
}

/// An app's name in an environment split into the app and the environment
/// (`shop.staging` into `shop` and `staging`); a name without one is the
/// app's alone.
pub fn split_app(app: &str) -> (&str, Option<&str>) {
    match app.rsplit_once('.') {
        Some((base, env)) if !base.is_empty() && !env.is_empty() && !app.contains('/') => {
            (base, Some(env))
        }
        _ => (app, None),
    }
}

impl FromStr for Environment {
    type Err = BadEnvironment;

    fn from_str(text: &str) -> Result<Environment, BadEnvironment> {
        let valid = text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if valid {
            Ok(Environment(text.to_owned()))
        } else {
            Err(BadEnvironment(text.to_owned()))
        }
    }
}

impl TryFrom<String> for Environment {
    type Error = BadEnvironment;

    fn try_from(text: String) -> Result<Environment, BadEnvironment> {
        text.parse()
    }
}

impl From<Environment> for String {
    fn from(env: Environment) -> String {
        env.0
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.app, self.service)
    }
}

impl FromStr for ServiceKey {
    type Err = BadKey;

    fn from_str(text: &str) -> Result<ServiceKey, BadKey> {
        let (app, service) = text.rsplit_once('/').ok_or_else(|| BadKey(text.into()))?;
        ServiceKey::new(app, service).map_err(|_| BadKey(text.into()))
    }
}

impl TryFrom<String> for ServiceKey {
    type Error = BadKey;

    fn try_from(text: String) -> Result<ServiceKey, BadKey> {
        text.parse()
    }
}

impl From<ServiceKey> for String {
    fn from(key: ServiceKey) -> String {
        key.to_string()
    }
}

/// Stored as its text; a row whose text is no key is a corrupt store.
impl rusqlite::types::FromSql for ServiceKey {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        text.parse()
            .map_err(|e: BadKey| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

impl rusqlite::ToSql for ServiceKey {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.to_string()))
    }
}

/// One state folder's windlass on an engine: a random id its store makes
/// once. Containers, image tags and networks carry it, so that another
/// state folder's agent on the same engine never takes them for its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Installation(String);

impl Installation {
    /// A new random id: 8 of `0-9 a-f`, short enough for container names.
    pub fn random() -> Installation {
        Installation(uuid::Uuid::new_v4().simple().to_string()[..8].to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Installation {
    fn from(id: &str) -> Installation {
        Installation(id.to_owned())
    }
}

impl fmt::Display for Installation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_from_its_text() {
        let key: ServiceKey = "shop/web".parse().expect("a key");
        assert_eq!((key.app(), key.service()), ("shop", "web"));
        assert_eq!(key.to_string(), "shop/web");
        let ecs: ServiceKey = "ecs/prod/shop-web".parse().expect("an ECS key");
        assert_eq!((ecs.app(), ecs.service()), ("ecs/prod", "shop-web"));
        assert!(ecs.is_ecs() && !key.is_ecs());
        assert_eq!(serde_json::to_string(&key).expect("JSON"), r#""shop/web""#);
        for bad in ["web", "/web", "shop/", ""] {
            assert_eq!(bad.parse::<ServiceKey>(), Err(BadKey(bad.into())), "{bad}");
        }
    }

    #[test]
    fn an_environment_is_part_of_the_app() {
        let staging: Environment = "staging".parse().expect("an environment");
        let key = ServiceKey::new(staging.app("shop"), "web").expect("a key");
        assert_eq!(key.to_string(), "shop.staging/web");
        assert_eq!(key.environment(), Some("staging"));
        assert_eq!(split_app(key.app()), ("shop", Some("staging")));
        assert_eq!(split_app("shop"), ("shop", None));
        assert_eq!(split_app("ecs/prod.x"), ("ecs/prod.x", None));
        let plain: ServiceKey = "shop/web".parse().expect("a key");
        assert_eq!(plain.environment(), None);
        for bad in ["", "Prod", "-x", "a.b", "a/b"] {
            assert_eq!(
                bad.parse::<Environment>(),
                Err(BadEnvironment(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn installations_differ() {
        let (a, b) = (Installation::random(), Installation::random());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 8);
    }
}
