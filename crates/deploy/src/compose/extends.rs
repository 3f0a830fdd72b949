//! `extends`: a service written as another service plus its own fields, as
//! Compose reads it. The base is a service of the same file
//! (`extends: NAME` or `{service: NAME}`) or of another file
//! (`{file: PATH, service: NAME}`, PATH relative to the project folder, or
//! to the extended file's own folder for an `extends` written there); it
//! is resolved first (its own `extends` too), then the
//! extending service is merged over it with the rules of `-f a -f b`
//! (`!reset` and `!override` included). Relative paths of a base from
//! another file stay relative to that file's folder, and its variables are
//! interpolated with the project's, as compose-go loads it. A loop of
//! `extends` is an error, and so is a base that does not exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::{Mapping, Value};

use super::diagnostic::Report;
use super::interpolate::key_text;
use super::locate::FieldPath;
use super::merge::merge_service;
use super::paths::{absolute, resolve_paths};
use super::read::{kind, read_file, Input};

/// Where a service's base is: a service name and, for another file, its
/// absolute path.
struct Reference {
    file: Option<PathBuf>,
    service: String,
}

/// What resolving one file's `extends` needs: the variables, the other
/// files read so far (by absolute path, their services as read), and the
/// chain of services being resolved, to find loops.
struct Resolver<'a> {
    env: &'a BTreeMap<String, String>,
    files: BTreeMap<PathBuf, Option<Mapping>>,
    chain: Vec<(PathBuf, String)>,
}

/// Resolves the `extends` of every service of `value`, the tree of `file`
/// (its paths already made absolute against `dir`, the project folder),
/// leaving each service whole and without `extends`.
pub(crate) fn apply_extends(
    value: &mut Value,
    file: &Path,
    dir: &Path,
    env: &BTreeMap<String, String>,
    report: &mut Report,
) {
    let Value::Mapping(top) = value else {
        return;
    };
    let Some(Value::Mapping(services)) = top.get_mut("services") else {
        return;
    };
    if !services
        .values()
        .any(|s| matches!(s, Value::Mapping(m) if m.contains_key("extends")))
    {
        return;
    }
    let mut resolver = Resolver {
        env,
        files: BTreeMap::new(),
        chain: Vec::new(),
    };
    let names: Vec<String> = services.keys().map(key_text).collect();
    for name in names {
        let at = FieldPath::of(&["services", &name, "extends"]);
        let place = Place { file, dir };
        if let Err(message) = resolver.resolve(services, &name, &place, report) {
            report.error(&at, message);
            // Leave no `extends` behind: the error says what was wrong.
            if let Some(Value::Mapping(service)) = services.get_mut(name.as_str()) {
                service.remove("extends");
            }
        }
    }
}

/// A file whose services are resolved, and the folder its `extends.file`
/// paths are relative to.
struct Place<'a> {
    file: &'a Path,
    dir: &'a Path,
}

impl Resolver<'_> {
    /// Resolves service `name` of `services` (the services of `file`) in
    /// place, and returns it whole.
    fn resolve(
        &mut self,
        services: &mut Mapping,
        name: &str,
        place: &Place<'_>,
        report: &mut Report,
    ) -> Result<Value, String> {
        let service = services.get(name).cloned().unwrap_or(Value::Null);
        let Some(extends) = service.get("extends").cloned() else {
            return Ok(service);
        };
        let reference = reference(&extends, place.dir)?;
        let here = (place.file.to_owned(), name.to_owned());
        if self.chain.contains(&here) {
            let chain: Vec<String> = self
                .chain
                .iter()
                .chain(std::iter::once(&here))
                .map(|(f, s)| format!("{s} ({})", f.display()))
                .collect();
            return Err(format!(
                "`extends` loops: {}; remove one of the `extends`",
                chain.join(" extends ")
            ));
        }
        self.chain.push(here);
        let base = match &reference.file {
            None => self.base_here(services, &reference.service, name, place, report),
            Some(other) => self.base_in(other, &reference.service, name, report),
        };
        self.chain.pop();
        let mut merged = base?;
        if !matches!(merged, Value::Mapping(_)) {
            merged = Value::Mapping(Mapping::new());
        }
        let mut own = service;
        if let Value::Mapping(own) = &mut own {
            own.remove("extends");
        }
        merge_service(&mut merged, own);
        services.insert(Value::String(name.to_owned()), merged.clone());
        Ok(merged)
    }

    /// The resolved service `base` of the same file.
    fn base_here(
        &mut self,
        services: &mut Mapping,
        base: &str,
        name: &str,
        place: &Place<'_>,
        report: &mut Report,
    ) -> Result<Value, String> {
        if !services.contains_key(base) {
            return Err(format!(
                "service {name:?} extends service {base:?}, which {} does not define: name a service of this file, or give `file` for one of another",
                place.file.display()
            ));
        }
        self.resolve(services, base, place, report)
    }

    /// The resolved service `base` of the file `other`.
    fn base_in(
        &mut self,
        other: &Path,
        base: &str,
        name: &str,
        report: &mut Report,
    ) -> Result<Value, String> {
        if !self.files.contains_key(other) {
            let services = self.read(other, report);
            self.files.insert(other.to_owned(), services);
        }
        // Taken out while it is worked on, as its own `extends` may reach
        // other files of the cache.
        let Some(mut services) = self.files.get_mut(other).and_then(Option::take) else {
            return Err(format!(
                "service {name:?} extends a service of {}, which cannot be read as a Compose file with `services` (see the error about it)",
                other.display()
            ));
        };
        let folder = other.parent().unwrap_or(Path::new("/"));
        let place = Place {
            file: other,
            dir: folder,
        };
        let found = if services.contains_key(base) {
            self.resolve(&mut services, base, &place, report)
        } else {
            Err(format!(
                "service {name:?} extends service {base:?}, which {} does not define: fix `extends.service` or `extends.file`",
                other.display()
            ))
        };
        self.files.insert(other.to_owned(), Some(services));
        found
    }

    /// The services of another file, read as Compose reads an extended
    /// file: interpolated with the project's variables, its relative paths
    /// against its own folder.
    fn read(&mut self, file: &Path, report: &mut Report) -> Option<Mapping> {
        let input = Input {
            file: file.to_owned(),
            text: None,
        };
        let mut value = read_file(&input, self.env, report)?;
        let folder = file.parent().unwrap_or(Path::new("/"));
        resolve_paths(&mut value, folder, self.env);
        match value {
            Value::Mapping(mut top) => match top.remove("services") {
                Some(Value::Mapping(services)) => Some(services),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The base `extends` names; a relative `file` is against `folder`.
fn reference(extends: &Value, folder: &Path) -> Result<Reference, String> {
    match extends {
        Value::String(service) => Ok(Reference {
            file: None,
            service: service.clone(),
        }),
        Value::Mapping(long) => {
            for key in long.keys().map(key_text) {
                if key != "service" && key != "file" {
                    return Err(format!(
                        "unknown field `{key}` of `extends`, expected `service` or `file`"
                    ));
                }
            }
            let Some(service) = long.get("service").and_then(Value::as_str) else {
                return Err(
                    "`extends` needs `service`: the name of the service to extend".into(),
                );
            };
            let file = match long.get("file") {
                None | Some(Value::Null) => None,
                Some(Value::String(path)) => Some(absolute(folder, Path::new(path), None)),
                Some(other) => {
                    return Err(format!(
                        "`extends.file` is a path to a Compose file, found {}",
                        kind(other)
                    ))
                }
            };
            Ok(Reference {
                file,
                service: service.to_owned(),
            })
        }
        other => Err(format!(
            "`extends` is a service name or a mapping with `service` and optionally `file`, found {}",
            kind(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::super::{check_files, Diagnostic, FileChecks, Options, Project, Severity};

    /// A folder of its own for one test, with `files` written in it.
    fn folder(test: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wl-extends-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap_or(&dir)).expect("folder");
            std::fs::write(path, text).expect("file");
        }
        dir
    }

    fn check(file: &Path) -> (Option<Project>, Vec<Diagnostic>) {
        let options = Options {
            environment: BTreeMap::from([("HOME".to_owned(), "/root".to_owned())]),
            files: FileChecks::Skip,
            ..Options::default()
        };
        check_files(&[file.to_owned()], &options)
    }

    fn errors(diagnostics: &[Diagnostic]) -> Vec<String> {
        diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_service_of_the_same_file_is_the_base_and_its_own_fields_win() {
        let dir = folder(
            "same",
            &[(
                "compose.yaml",
                "services:\n  base:\n    image: app:1\n    command: [serve]\n    environment: {A: a, B: b}\n    ports: [\"8080:80\"]\n  worker:\n    extends: base\n    command: [work]\n    environment: [B=worker]\n  quiet:\n    extends: {service: worker}\n    command: !reset null\n    ports: !reset []\n",
            )],
        );
        let (project, diagnostics) = check(&dir.join("compose.yaml"));
        let project = project.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let worker = &project.services["worker"];
        assert_eq!(worker.image.as_deref(), Some("app:1"));
        assert_eq!(worker.command, Some(vec!["work".to_owned()]));
        assert_eq!(worker.environment["A"].as_deref(), Some("a"));
        assert_eq!(worker.environment["B"].as_deref(), Some("worker"));
        assert_eq!(worker.ports.len(), 1);
        let quiet = &project.services["quiet"];
        assert_eq!(quiet.image.as_deref(), Some("app:1"));
        assert_eq!(quiet.command, None);
        assert!(quiet.ports.is_empty());
        assert_eq!(
            project.services["base"].command,
            Some(vec!["serve".to_owned()])
        );
    }

    #[test]
    fn a_base_in_another_file_keeps_its_paths_relative_to_its_folder() {
        let dir = folder(
            "other",
            &[
                ("compose.yaml", "services:\n  web:\n    extends:\n      file: common/base.yaml\n      service: app\n    ports: [\"80:80\"]\n"),
                ("common/base.yaml", "services:\n  app:\n    extends:\n      file: deeper/root.yaml\n      service: root\n    build: ./src\n    env_file: app.env\n"),
                ("common/deeper/root.yaml", "services:\n  root:\n    image: ${TAG:-root}:1\n    labels: [layer=root]\n"),
                ("common/app.env", "FROM_FILE=yes\n"),
            ],
        );
        let (project, diagnostics) = check(&dir.join("compose.yaml"));
        let project = project.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let web = &project.services["web"];
        assert_eq!(web.image.as_deref(), Some("root:1"));
        assert_eq!(web.labels["layer"].as_deref(), Some("root"));
        assert_eq!(web.environment["FROM_FILE"].as_deref(), Some("yes"));
        let build = web.build.as_ref().expect("build");
        assert_eq!(build.context, dir.join("common/src"));
        assert_eq!(web.ports.len(), 1);
        assert_eq!(project.services.len(), 1, "only the file's own services");
    }

    #[test]
    fn a_loop_and_a_missing_base_are_errors_at_extends() {
        let dir = folder(
            "loop",
            &[(
                "compose.yaml",
                "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: x\n    extends: a\n  c:\n    image: x\n    extends: {service: nowhere}\n  d:\n    image: x\n    extends: {file: missing.yaml, service: a}\n",
            )],
        );
        let (_, diagnostics) = check(&dir.join("compose.yaml"));
        let errors = errors(&diagnostics);
        let compose = dir.join("compose.yaml").display().to_string();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("{compose}:4:"))
                    && e.contains("services.a.extends: `extends` loops: a (")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e
                .contains("services.c.extends: service \"c\" extends service \"nowhere\", which")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("missing.yaml") && e.contains("cannot read")),
            "{errors:?}"
        );
    }
}
