//! Where a promoted release's images came from (`deploy --env production
//! --from staging`): the typed record a release's pinned text keeps under
//! its top-level `x-windlass-origin`, written by the deploy crate's Compose
//! reader and read by `windlass releases` and the dashboard.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The top-level key of a pinned text that says where its images came from.
pub const ORIGIN: &str = "x-windlass-origin";

/// Where a promoted deploy's images came from: an environment's app and
/// the app release that served there, and each service's release in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The environment promoted from (`staging`).
    pub environment: String,
    /// Its app's name (`shop.staging`).
    pub app: String,
    /// The app release that served there, when one did.
    #[serde(default)]
    pub app_release: Option<String>,
    /// Each service's image, by the service's name.
    pub services: BTreeMap<String, OriginImage>,
}

/// One service's image in the environment promoted from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginImage {
    /// Its live release there (`r3`).
    pub release: String,
    /// The image's digest: the registry's (`REPO@sha256:...`) when it was
    /// pushed, else the engine's image id (`sha256:...`).
    pub digest: String,
    /// The reference a container of it is created from.
    pub image: String,
}

impl OriginImage {
    /// Whether the image is in a registry by its digest (any engine can pull
    /// it), rather than only in the local engine.
    pub fn in_registry(&self) -> bool {
        self.image.contains("@sha256:")
    }
}

/// Where the images of a pinned `text` came from, when it was promoted.
pub fn origin_of(text: &str) -> Option<Origin> {
    #[derive(Deserialize)]
    struct Top {
        #[serde(rename = "x-windlass-origin")]
        origin: Option<Origin>,
    }
    serde_norway::from_str::<Top>(text).ok()?.origin
}
