//! Which app a command means, for the commands that name a service
//! (`rollback`, `releases`, `logs`) or show an app's (`status`): `--app`,
//! else the app of the Compose files given, else the app of the Compose
//! file in this folder as `docker compose` finds it (the *here* app, which
//! a bare service name prefers). See `windlass_deploy::agent::which` for
//! how a name is then settled.

use std::path::PathBuf;

use windlass_deploy::agent::{app_name, which, Error};
use windlass_store::releases::{Environment, Releases, ServiceKey};

use super::compose_files::ComposeArgs;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct AppArgs {
    /// The app whose service is meant, when several apps have a service of
    /// that name (or write APP/SERVICE). Default: the app of the Compose
    /// file in this folder when it has the service, else the only app that
    /// has it.
    #[arg(long, value_name = "APP")]
    pub app: Option<String>,
    /// A Compose file whose app is meant (its `name`, else its folder's).
    #[arg(long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The environment whose app is meant: APP.ENV for the app named (or
    /// the Compose file's), as `deploy --env ENV` deployed it.
    #[arg(long = "env", value_name = "ENV")]
    pub env: Option<Environment>,
}

impl AppArgs {
    /// The app named with `--app` or by `--file`, if any.
    pub fn named(&self) -> anyhow::Result<Option<String>> {
        if let Some(app) = &self.app {
            return Ok(Some(self.in_env(app.clone())));
        }
        match self.files.first() {
            Some(file) => Ok(Some(
                self.in_env(app_name(&windlass_deploy::compose::load(file)?)),
            )),
            None => Ok(None),
        }
    }

    /// The app of the Compose file in this folder ($COMPOSE_FILE, else
    /// compose.yaml ...), when there is one that reads; in `--env`'s
    /// environment.
    pub fn here(&self) -> Option<String> {
        let files = ComposeArgs {
            files: Vec::new(),
            profiles: Vec::new(),
            env: None,
        }
        .chosen()
        .ok()?;
        let project = windlass_deploy::compose::load(files.first()?).ok()?;
        Some(self.in_env(app_name(&project)))
    }

    /// `app` as named in `--env`'s environment (`APP.ENV`).
    fn in_env(&self, app: String) -> String {
        match &self.env {
            Some(env) => env.app(&app),
            None => app,
        }
    }

    /// The key `service` names in `releases` (see `agent::which`).
    pub fn key(&self, releases: &dyn Releases, service: &str) -> anyhow::Result<ServiceKey> {
        let named = self.named()?;
        let here = if named.is_none() { self.here() } else { None };
        Ok(which::resolve(
            releases.keys()?,
            named.as_deref(),
            here.as_deref(),
            service,
        )?)
    }
}

/// A request that cannot be done as asked because there is nothing to act
/// on: no state in the folder, no agent serving it. Exit code 7, as the
/// agent's refusals, not windlass's own failure (70).
#[derive(Debug)]
pub struct NothingThere(pub String);

impl std::fmt::Display for NothingThere {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NothingThere {}

/// Whether an error is a refusal of what was asked (exit code 7), as the
/// agent's refusals are, rather than a failure of windlass.
pub fn is_refusal(error: &anyhow::Error) -> bool {
    error.downcast_ref::<NothingThere>().is_some()
        || matches!(
            error.downcast_ref::<Error>(),
            Some(Error::Ambiguous { .. } | Error::UnknownService(_) | Error::Key(_))
        )
}
