//! The Compose files a deploy or `down` reads, chosen as `docker compose`
//! chooses them (`-f` in order, else `COMPOSE_FILE`, else `compose.yaml`
//! and its `compose.override.yaml` ..., in this folder or the nearest
//! parent folder that has one), checked with every problem printed, and
//! pinned into the one text the agent is sent.

use std::path::{Path, PathBuf};

use windlass_deploy::compose::{self, Options, Origin, Project, Severity, Target};
use windlass_store::releases::Environment;

use crate::exit;

/// The names Compose looks for, in its order (compose-go's
/// `DefaultFileNames`).
const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// The override files Compose merges after the file it found, in its order
/// (`DefaultOverrideFileNames`): the first one there is taken, whichever
/// name the file has (`compose.override.yaml` goes with
/// `docker-compose.yml` too).
const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

#[derive(clap::Args, Clone, Debug)]
pub struct ComposeArgs {
    /// A Compose file; several are merged in order, as `docker compose -f A
    /// -f B` merges them. Default: $COMPOSE_FILE, else compose.yaml (or
    /// compose.yml, docker-compose.yml, docker-compose.yaml) with the
    /// override file there is (compose.override.yml, compose.override.yaml,
    /// docker-compose.override.yml or docker-compose.override.yaml), here
    /// or in the nearest parent folder that has one.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Enable a Compose profile (besides those in $COMPOSE_PROFILES).
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// The environment (such as staging or production): the same app as an
    /// app of its own (`APP.ENV`: its own releases, locks, proxies and
    /// containers), with the override file beside the first file
    /// (`compose.ENV.yaml` beside `compose.yaml`) merged after the others,
    /// and the files' `x-windlass.environments.ENV` merged last.
    #[arg(long = "env", value_name = "ENV")]
    pub env: Option<Environment>,
}

/// A checked project and its pinned text (see `compose::pin_files`).
pub struct Pinned {
    pub project: Project,
    pub text: String,
    /// The first file, absolute: where the release says it came from.
    pub file: PathBuf,
}

impl ComposeArgs {
    /// The files to read, or why there are none: those given or found
    /// here, then the environment's override file when there is one.
    pub fn chosen(&self) -> Result<Vec<PathBuf>, String> {
        let mut files = self.given()?;
        if let Some(env) = &self.env {
            let first = files.first().cloned().unwrap_or_default();
            if let Some(file) = compose::override_file(&first, env) {
                if !files.contains(&file) {
                    files.push(file);
                }
            }
        }
        Ok(files)
    }

    /// The Compose files as `docker compose` picks them.
    fn given(&self) -> Result<Vec<PathBuf>, String> {
        if !self.files.is_empty() {
            return Ok(self.files.clone());
        }
        if let Ok(list) = std::env::var("COMPOSE_FILE") {
            let separator = std::env::var("COMPOSE_PATH_SEPARATOR").unwrap_or_else(|_| ":".into());
            let files: Vec<PathBuf> = list
                .split(separator.as_str())
                .filter(|f| !f.is_empty())
                .map(PathBuf::from)
                .collect();
            if !files.is_empty() {
                return Ok(files);
            }
        }
        let here =
            std::env::current_dir().map_err(|e| format!("cannot read the current folder: {e}"))?;
        let (files, folder) = nearest(&here)?;
        if folder != here {
            // Said once, though a command may choose its files twice.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                crate::failure::say!(
                    "no Compose file in this folder; using {} from {} (the nearest parent folder with one, as docker compose does)",
                    files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" + "),
                    folder.display()
                );
            });
        }
        Ok(files)
    }

    /// Reads, checks and pins the files; prints every problem (warnings
    /// too) and gives the exit code when there was an error.
    /// `target` is `--target`: the files are read with that target's
    /// meaning (`None`: the target the file names, see `Project::target`).
    pub fn pin(&self, target: Option<Target>) -> Result<Pinned, u8> {
        self.pin_promoted(None, target)
    }

    /// [`ComposeArgs::pin`], every service on `promotion`'s images when
    /// given (`deploy --from`).
    pub fn pin_promoted(
        &self,
        promotion: Option<Origin>,
        target: Option<Target>,
    ) -> Result<Pinned, u8> {
        let files = self.chosen().map_err(|e| {
            crate::failure::say!("{e}");
            exit::INVALID
        })?;
        let options = Options {
            target,
            ..self.options(promotion)
        };
        let (pinned, diagnostics) = compose::pin_files(&files, &options);
        let errors = diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        for diagnostic in &diagnostics {
            crate::failure::problem(diagnostic);
        }
        match pinned {
            Some((project, text)) if errors == 0 => {
                let first = &files[0];
                let file = std::fs::canonicalize(first).unwrap_or_else(|_| first.clone());
                Ok(Pinned {
                    project,
                    text,
                    file,
                })
            }
            _ => {
                let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
                crate::failure::say!(
                    "{} refused ({errors} error(s)); nothing was started",
                    names.join(" + ")
                );
                Err(exit::INVALID)
            }
        }
    }
}

impl Pinned {
    /// Refuses a service the command line names that the files do not
    /// have, naming those they do (exit 7, as for any unknown service).
    pub fn check_services(&self, services: &[String]) -> Result<(), u8> {
        for service in services {
            if !self.project.services.contains_key(service) {
                let known: Vec<&str> = self.project.services.keys().map(String::as_str).collect();
                let near = compose::closest(&known, service)
                    .map(|name| format!(" (did you mean {name}?)"))
                    .unwrap_or_default();
                crate::failure::say!(
                    "{} has no service {service}{near}; it has {}",
                    self.file.display(),
                    known.join(", ")
                );
                return Err(exit::REFUSED);
            }
        }
        Ok(())
    }
}

impl ComposeArgs {
    /// How to read the files: this process's environment, the profiles and
    /// the environment asked for.
    pub fn options(&self, promotion: Option<Origin>) -> Options {
        Options {
            profiles: self.profiles.clone(),
            env: self.env.clone(),
            promotion,
            ..Options::from_process()
        }
    }
}

/// The Compose files of `here`, else of its nearest parent folder that has
/// one, with that folder: compose-go's `getConfigPathsFromOptions` walks up
/// to the root. Files of `here` are named as they are (`compose.yaml`),
/// those of a parent by their absolute path.
fn nearest(here: &Path) -> Result<(Vec<PathBuf>, PathBuf), String> {
    if let Ok(files) = defaults(Path::new(".")) {
        return Ok((files, here.to_path_buf()));
    }
    for folder in here.ancestors().skip(1) {
        if let Ok(files) = defaults(folder) {
            let files: Vec<PathBuf> = files.into_iter().map(|f| folder.join(f)).collect();
            if let Some(foreign) = files.iter().find(|f| !trusted(f)) {
                return Err(format!(
                    "no Compose file in this folder, and the nearest parent folder's, {}, belongs to another user: it is not read unasked; name it with -f if you mean it",
                    foreign.display()
                ));
            }
            return Ok((files, folder.to_path_buf()));
        }
    }
    Err(format!(
        "no Compose file here: none of {} is in this folder or any parent folder; name one with -f FILE",
        DEFAULT_FILES.join(", ")
    ))
}

/// Whether a Compose file found in a parent folder may be read unasked: it
/// belongs to this user or to root. One that another user put in a shared
/// folder above this one (`/tmp/compose.yaml`) is not.
fn trusted(file: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(file)
        .is_ok_and(|m| m.uid() == 0 || m.uid() == rustix::process::getuid().as_raw())
}

/// The first of Compose's default names in `dir`, with the first override
/// file there, as `docker compose` picks them.
fn defaults(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let first = |names: [&str; 4]| {
        names
            .into_iter()
            .find(|name| dir.join(name).is_file())
            .map(PathBuf::from)
    };
    let Some(file) = first(DEFAULT_FILES) else {
        return Err(format!(
            "no Compose file here: none of {} is in this folder; name one with -f FILE",
            DEFAULT_FILES.join(", ")
        ));
    };
    Ok(std::iter::once(file).chain(first(OVERRIDE_FILES)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parent folder's Compose file of this user is read; one that
    /// another user owns (nobody, 65534) is not.
    #[test]
    fn a_parent_folders_file_of_another_user_is_not_read_unasked() {
        let dir = std::env::temp_dir().join(format!("wl-compose-owner-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).expect("dir");
        let file = dir.join("compose.yaml");
        std::fs::write(&file, "services: {}\n").expect("file");
        assert!(trusted(&file), "this user's own file");
        let (files, folder) = nearest(&dir.join("sub")).expect("found above");
        assert_eq!((files, folder), (vec![file.clone()], dir.clone()));
        if rustix::process::getuid().is_root() {
            std::os::unix::fs::chown(&file, Some(65534), Some(65534)).expect("chown");
            assert!(!trusted(&file), "nobody's file");
            let refused = nearest(&dir.join("sub")).expect_err("not read");
            assert!(refused.contains("belongs to another user"), "{refused}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_default_file_comes_with_its_override() {
        let dir = std::env::temp_dir().join(format!("wl-compose-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        assert!(defaults(&dir).expect_err("none").contains("-f FILE"));
        std::fs::write(dir.join("docker-compose.yml"), "services: {}\n").expect("file");
        assert_eq!(
            defaults(&dir).expect("one"),
            vec![PathBuf::from("docker-compose.yml")]
        );
        std::fs::write(dir.join("docker-compose.override.yml"), "services: {}\n").expect("file");
        std::fs::write(dir.join("compose.yaml"), "services: {}\n").expect("file");
        // Compose takes the override file there is, whichever name the
        // file has.
        assert_eq!(
            defaults(&dir).expect("compose.yaml first"),
            vec![
                PathBuf::from("compose.yaml"),
                PathBuf::from("docker-compose.override.yml")
            ]
        );
        std::fs::remove_file(dir.join("compose.yaml")).expect("rm");
        assert_eq!(
            defaults(&dir).expect("with override"),
            vec![
                PathBuf::from("docker-compose.yml"),
                PathBuf::from("docker-compose.override.yml")
            ]
        );
        // A project's docker-compose.yml with the compose.override.yaml a
        // user writes beside it; docker-compose.yml before .yaml.
        std::fs::write(dir.join("compose.override.yaml"), "services: {}\n").expect("file");
        std::fs::write(dir.join("docker-compose.yaml"), "services: {}\n").expect("file");
        assert_eq!(
            defaults(&dir).expect("compose.override.yaml"),
            vec![
                PathBuf::from("docker-compose.yml"),
                PathBuf::from("compose.override.yaml")
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
