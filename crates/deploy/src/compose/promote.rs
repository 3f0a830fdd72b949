//! A promotion (`deploy --env production --from staging`): every service of
//! the app runs the exact image another environment's live release runs,
//! with this environment's configuration, and nothing is built. The merged
//! tree's services get `image` set to that image (its digest reference when
//! it was pushed, else the engine's image id), lose `build`, and pull only
//! by digest; the tree keeps where each image came from under the
//! top-level `x-windlass-origin` ([`Origin`]), which the pinned text, and
//! so every release deployed from it, holds.

use serde_norway::{Mapping, Value};

use super::diagnostic::Report;
use super::interpolate::key_text;
use super::locate::FieldPath;

pub use windlass_store::releases::{origin_of, Origin, OriginImage, ORIGIN};

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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
