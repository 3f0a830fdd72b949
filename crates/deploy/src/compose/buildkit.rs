//! A service's Dockerfile, checked before anything starts: it must exist,
//! its `build.target` must be one of its stages, and it must not need
//! BuildKit, since the engine here builds with the classic builder only
//! (no BuildKit, no buildx), where `# syntax=`, heredocs and `RUN --mount`
//! fail mid-deploy with "unknown instruction".

use std::path::{Path, PathBuf};

/// A problem in a Dockerfile, at a line and column (from 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

const NO_BUILDKIT: &str =
    "the engine on this host builds with the classic builder only (no BuildKit, no buildx)";

/// Flags of RUN, COPY and ADD that only BuildKit knows.
const BUILDKIT_FLAGS: &[&str] = &[
    "--mount",
    "--network",
    "--security",
    "--link",
    "--parents",
    "--exclude",
    "--checksum",
    "--keep-git-dir",
];

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
    let mut in_header = true;
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(comment) = trimmed.strip_prefix('#') {
            let directive = comment.trim_start();
            if in_header
                && directive.to_ascii_lowercase().starts_with("syntax")
                && directive[6..].trim_start().starts_with('=')
            {
                findings.push(finding(number, indent + 1, format!("the `# syntax=` directive asks for a BuildKit frontend, and {NO_BUILDKIT}: remove the line and keep to the classic Dockerfile syntax")));
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        in_header = false;
        let mut words = trimmed.split_whitespace();
        let instruction = words.next().unwrap_or_default().to_ascii_uppercase();
        if instruction == "FROM" {
            let rest: Vec<&str> = words.clone().collect();
            if let Some(at) = rest.iter().position(|w| w.eq_ignore_ascii_case("as")) {
                if let Some(name) = rest.get(at + 1) {
                    stages.push((*name).to_owned());
                }
            }
        }
        if matches!(instruction.as_str(), "RUN" | "COPY" | "ADD") {
            for word in words.clone() {
                let flag = word.split('=').next().unwrap_or_default();
                if BUILDKIT_FLAGS.contains(&flag) {
                    let column = line.find(word).map_or(indent + 1, |c| c + 1);
                    findings.push(finding(number, column, format!("`{instruction} {flag}` needs BuildKit, and {NO_BUILDKIT}: do without `{flag}` (copy files in, or fetch them in the RUN step)")));
                }
            }
        }
        if let Some(at) = heredoc(line) {
            findings.push(finding(number, at + 1, format!("a heredoc (`<<WORD`) in a Dockerfile needs BuildKit, and {NO_BUILDKIT}: put the script in a file in the context and COPY it, or use `RUN printf ...`")));
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

/// Where a `<<WORD` or `<<-WORD` heredoc starts on an instruction line.
fn heredoc(line: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = line[from..].find("<<") {
        let at = from + found;
        let rest = line[at + 2..].trim_start_matches('-');
        let word = rest.trim_start_matches(['"', '\'']);
        if word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dockerfile(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("windlass-buildkit-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("Dockerfile"), text).expect("write");
        dir
    }

    #[test]
    fn finds_what_needs_buildkit() {
        let dir = dockerfile("bk", "# syntax=docker/dockerfile:1.4\nFROM scratch AS base\nRUN --mount=type=cache,target=/c make\nRUN <<EOF\necho hi\nEOF\n");
        let findings = check(&dir, None, Some("base"));
        let lines: Vec<usize> = findings.iter().map(|f| f.line).collect();
        assert_eq!(lines, vec![1, 3, 4], "{findings:?}");
        assert_eq!(findings[1].column, 5);
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
