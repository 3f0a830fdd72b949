//! A promotion (`deploy --env production --from staging`): every service of
//! the app runs the exact image another environment's live release runs,
//! with this environment's configuration, and nothing is built. The merged
//! tree's services get `image` set to that image (its digest reference when
//! it was pushed, else the engine's image id), lose `build`, and pull only
//! by digest; the tree keeps where each image came from under the
//! top-level `x-windlass-origin` ([`Origin`]), which the pinned text, and
//! so every release deployed from it, holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_norway::{Mapping, Value};

use super::diagnostic::Report;
use super::interpolate::key_text;
use super::locate::FieldPath;

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

/// Sets every service of `tree` on `origin`'s image; a service `origin`
/// has no image for is reported.
pub(crate) fn apply(tree: &mut Value, origin: &Origin, report: &mut Report) {
    let Value::Mapping(top) = tree else {
        return;
    };
    if let Some(Value::Mapping(services)) = top.get_mut("services") {
        for (name, service) in services.iter_mut() {
            let name = key_text(name);
            let Value::Mapping(fields) = service else {
                continue;
            };
            match origin.services.get(&name) {
                Some(image) => pin(fields, image),
                None => report.error(
                    &FieldPath::of(&["services", &name]),
                    format!(
                        "service {name} does not run in environment {} ({}): deploy it there first, so that what is promoted was tried there",
                        origin.environment,
                        served(origin)
                    ),
                ),
            }
        }
    }
    if let Ok(value) = serde_norway::to_value(origin) {
        top.insert(ORIGIN.into(), value);
    }
}

fn served(origin: &Origin) -> String {
    let names: Vec<&str> = origin.services.keys().map(String::as_str).collect();
    format!("it runs {}", names.join(", "))
}

/// Runs the promoted image: never built, pulled only by digest.
fn pin(fields: &mut Mapping, image: &OriginImage) {
    fields.insert("image".into(), Value::String(image.image.clone()));
    fields.remove("build");
    let policy = if image.in_registry() {
        "missing"
    } else {
        "never"
    };
    fields.insert("pull_policy".into(), Value::String(policy.into()));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin {
            environment: "staging".into(),
            app: "shop.staging".into(),
            app_release: Some("a2".into()),
            services: BTreeMap::from([(
                "web".to_owned(),
                OriginImage {
                    release: "r3".into(),
                    digest: "sha256:abc".into(),
                    image: "sha256:abc".into(),
                },
            )]),
        }
    }

    #[test]
    fn a_promoted_service_runs_the_image_and_builds_nothing() {
        let mut tree: Value = serde_norway::from_str(
            "services:\n  web:\n    build: ./app\n    image: shop-web\n  db:\n    image: postgres\n",
        )
        .expect("YAML");
        let mut report = Report::default();
        apply(&mut tree, &origin(), &mut report);
        let web = &tree["services"]["web"];
        assert_eq!(web["image"], Value::String("sha256:abc".into()));
        assert_eq!(web["pull_policy"], Value::String("never".into()));
        assert!(web.get("build").is_none());
        assert!(report.has_errors(), "db runs nowhere in staging");
        let text = serde_norway::to_string(&tree).expect("text");
        assert_eq!(origin_of(&text), Some(origin()));
        assert_eq!(origin_of("services: {}\n"), None);
    }
}
