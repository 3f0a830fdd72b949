//! What every step reads of the execution's state: which release of which
//! app's service, as the agent started the execution. A step loads that release
//! once ([`ReleaseRef::load`]) and hands it to the target.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use windlass_asl::Failure;
use windlass_store::releases::{Releases, ServiceKey};

use crate::failures;
use crate::target::{Mode, ReleaseContext};

/// The execution's input, written by the agent when it starts a deploy or
/// rollback and read (flattened) by every step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRef {
    /// The app the service belongs to (with `service`, its [`ServiceKey`]).
    #[serde(default)]
    pub app: String,
    /// The service's name within its app (what an app definition's
    /// Choices on `$.service` compare).
    pub service: String,
    pub release: String,
    /// The release that was live when the execution started.
    #[serde(default)]
    pub previous: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    /// When the deploy or rollback was asked for.
    #[serde(default)]
    pub requested_millis: Option<i64>,
    /// The release of each other service of the app whose container this
    /// one's is made with (`network_mode: service:NAME`, `links`, ...): the
    /// one the app release runs, so that a dependent joins its target's new
    /// release, not the one leaving.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub joins: BTreeMap<String, String>,
}

impl ReleaseRef {
    /// Whose release it is.
    pub fn key(&self) -> Result<ServiceKey, Failure> {
        ServiceKey::new(self.app.as_str(), self.service.as_str()).map_err(|e| {
            failures::input(format!(
                "the execution's input names no app's service: {e} (an execution started before services were keyed by their app)"
            ))
        })
    }

    /// The release from the store, its service parsed from its pinned
    /// Compose text.
    pub fn load(&self, releases: &dyn Releases) -> Result<ReleaseContext, Failure> {
        let mut context = ReleaseContext::load(
            releases,
            &self.key()?,
            &self.release,
            self.previous.clone(),
            self.mode,
            self.requested_millis,
        )?;
        context.joins = self.joins.clone();
        Ok(context)
    }
}
