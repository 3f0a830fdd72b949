//! A project pinned as one self-contained Compose text: the files merged,
//! `include`s inlined, variables interpolated with the environment of the
//! command that deploys (not the agent's), paths absolute, profiles
//! settled, the project's name written. A release stores this text, so that
//! the agent (another process, another environment) and a later rollback
//! read exactly what `windlass deploy` read.

use serde_norway::{Mapping, Value};

use super::merge::strip_tags;
use super::Project;

/// The pinned text of `value` (the merged, interpolated tree the project was
/// checked from).
pub(crate) fn pinned_text(value: &Value, project: &Project) -> String {
    let Value::Mapping(top) = strip_tags(value.clone()) else {
        return String::new();
    };
    let mut pinned = Mapping::new();
    pinned.insert("name".into(), Value::String(project.project.clone()));
    for (key, value) in top {
        match key.as_str() {
            Some("name") => {}
            Some("services") => {
                pinned.insert(key, services(value, project));
            }
            _ => {
                pinned.insert(key, value);
            }
        }
    }
    let mut pinned = Value::Mapping(pinned);
    escape_dollars(&mut pinned);
    serde_norway::to_string(&pinned).unwrap_or_default()
}

/// The services that run; their `profiles` are dropped, since the profiles
/// that chose them are not in the agent's environment.
fn services(value: Value, project: &Project) -> Value {
    let Value::Mapping(services) = value else {
        return value;
    };
    let kept = services
        .into_iter()
        .filter(|(name, _)| {
            name.as_str()
                .is_some_and(|n| project.services.contains_key(n))
        })
        .map(|(name, mut service)| {
            if let Value::Mapping(fields) = &mut service {
                fields.remove("profiles");
            }
            (name, service)
        })
        .collect();
    Value::Mapping(kept)
}

/// `$` becomes `$$` in every value, so that reading the text again
/// interpolates nothing and gives back the same strings.
fn escape_dollars(value: &mut Value) {
    match value {
        Value::String(text) if text.contains('$') => *text = text.replace('$', "$$"),
        Value::Mapping(mapping) => mapping.values_mut().for_each(escape_dollars),
        Value::Sequence(items) => items.iter_mut().for_each(escape_dollars),
        Value::Tagged(tagged) => escape_dollars(&mut tagged.value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{check_files, pin_files, Options};

    #[test]
    fn a_pinned_text_reads_back_as_the_same_project_anywhere() {
        let dir = std::env::temp_dir().join(format!("wl-pinned-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("site")).expect("dir");
        std::fs::write(dir.join(".env"), "TAG=v1\n").expect(".env");
        std::fs::write(
            dir.join("compose.yaml"),
            "services:\n  web:\n    image: web:${TAG}\n    command: [sh, -c, 'echo $$HOME']\n    volumes: ['./site:/site']\n  debug:\n    image: tools\n    profiles: [debug]\n  admin:\n    image: admin\n    profiles: [ops]\n",
        )
        .expect("base");
        std::fs::write(
            dir.join("override.yaml"),
            "services:\n  web:\n    environment: {MODE: '${MODE:-quiet}'}\n",
        )
        .expect("override");
        let options = Options {
            environment: BTreeMap::from([
                ("TAG".to_owned(), "v2".to_owned()),
                ("COMPOSE_PROFILES".to_owned(), "ops".to_owned()),
            ]),
            ..Options::default()
        };
        let files = [dir.join("compose.yaml"), dir.join("override.yaml")];
        let (pinned, diagnostics) = pin_files(&files, &options);
        let (project, text) = pinned.expect("pinned");
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        // Read again with nothing of the deploying command's environment.
        let (again, diagnostics) =
            super::super::check_text(&text, &dir.join("compose.yaml"), &Options::default());
        assert!(diagnostics.is_empty(), "{diagnostics:?}\n{text}");
        let again = again.expect("reads back");
        // The same services, but for the profiles that chose them.
        let mut chosen = project.services.clone();
        chosen.values_mut().for_each(|s| s.profiles.clear());
        assert_eq!(again.services, chosen, "{text}");
        assert_eq!(
            again.services["web"].image.as_deref(),
            Some("web:v2"),
            "{text}"
        );
        assert_eq!(
            again.services["web"].command,
            Some(vec!["sh".into(), "-c".into(), "echo $HOME".into()])
        );
        assert!(again.services.contains_key("admin"), "{text}");
        assert!(!again.services.contains_key("debug"), "{text}");
        assert_eq!(again.project, project.project);
        let (checked, _) = check_files(&files, &options);
        assert_eq!(checked.expect("checked").services, project.services);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
