//! What every step reads of the execution's state: which release of which
//! service, as the agent started the execution. A step loads that release
//! once ([`ReleaseRef::load`]) and hands it to the target.

use serde::{Deserialize, Serialize};
use windlass_asl::Failure;
use windlass_store::releases::Releases;

use crate::target::{Mode, ReleaseContext};

/// The execution's input, written by the agent when it starts a deploy or
/// rollback and read (flattened) by every step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRef {
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
}

impl ReleaseRef {
    /// The release from the store, its service parsed from its pinned
    /// Compose text.
    pub fn load(&self, releases: &dyn Releases) -> Result<ReleaseContext, Failure> {
        ReleaseContext::load(
            releases,
            &self.service,
            &self.release,
            self.previous.clone(),
            self.mode,
            self.requested_millis,
        )
    }
}
