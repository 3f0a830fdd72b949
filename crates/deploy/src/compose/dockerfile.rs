//! A service's Dockerfile, checked before anything starts: it must exist
//! and its `build.target` must be one of its stages. Its syntax is not
//! judged: BuildKit's (`# syntax=`, heredocs, `RUN --mount`) is as good as
//! the classic builder's, and only the engine that builds it can tell
//! whether it has what the file needs; a build that fails says so at the
//! Dockerfile's file:line.

use std::path::{Path, PathBuf};

/// A problem in a Dockerfile, at a line and column (from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Checks the Dockerfile of a build; an error reading it is a finding too.
pub fn check(context: &Path, dockerfile: Option<&str>, target: Option<&str>) -> Vec<Finding> {
    let file = context.join(dockerfile.unwrap_or("Dockerfile"));
    let finding = |line, column, message: String| Finding {
        file: file.clone(),
        line,
        column,
        message,
    };
    if !context.is_dir() {
        return vec![finding(
            1,
            1,
            format!(
                "the build context {} is not a folder: create it or fix `build.context`",
                context.display()
            ),
        )];
    }
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(err) => {
            return vec![finding(1, 1, format!("cannot read the Dockerfile {}: {err}; add it to the context or name it with `build.dockerfile`", file.display()))]
        }
    };
    let mut findings = Vec::new();
    let mut stages = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let instruction = words.next().unwrap_or_default();
        if instruction.eq_ignore_ascii_case("FROM") {
            let rest: Vec<&str> = words.collect();
            if let Some(at) = rest.iter().position(|w| w.eq_ignore_ascii_case("as")) {
                if let Some(name) = rest.get(at + 1) {
                    stages.push((*name).to_owned());
                }
            }
        }
    }
    if let Some(target) = target {
        if !stages.iter().any(|s| s.eq_ignore_ascii_case(target)) {
            let known = if stages.is_empty() {
                "it names no stage (`FROM ... AS NAME`)".to_owned()
            } else {
                format!("its stages are {}", stages.join(", "))
            };
            findings.push(finding(
                1,
                1,
                format!(
                    "build target {target:?} is not a stage of {}: {known}",
                    file.display()
                ),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dockerfile(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("windlass-dockerfile-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("Dockerfile"), text).expect("write");
        dir
    }

    #[test]
    fn buildkit_syntax_is_not_judged() {
        let dir = dockerfile("bk", "# syntax=docker/dockerfile:1.4\nFROM scratch AS base\nRUN --mount=type=cache,target=/c make\nRUN <<EOF\necho hi\nEOF\nCOPY --link <<-'EOT' /etc/motd\nhello\nEOT\n");
        assert_eq!(check(&dir, None, Some("base")), vec![]);
    }

    #[test]
    fn classic_files_pass_and_targets_are_stages() {
        let dir = dockerfile(
            "classic",
            "FROM scratch AS build\nCOPY app /app\nRUN echo '<<' done\nFROM build as prod\n",
        );
        assert_eq!(check(&dir, None, Some("prod")), vec![]);
        let findings = check(&dir, None, Some("debug"));
        assert!(
            findings[0].message.contains("its stages are build, prod"),
            "{findings:?}"
        );
    }
}
