//! Where a BuildKit step comes from in its Dockerfile. BuildKit names a
//! step after its instruction (`[2/5] RUN make`, `[build 3/4] COPY . .`),
//! and the engine's build API passes on no source position: the line is
//! found by reading the Dockerfile the build was given.

/// One instruction, joined across its continuation lines.
#[derive(Debug, Clone, PartialEq)]
struct Instruction {
    /// The line it starts on, from 1.
    line: usize,
    keyword: String,
    /// Its arguments with runs of whitespace made one space.
    args: String,
    /// The name of the stage it belongs to (`FROM ... AS NAME`).
    stage: Option<String>,
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The escape character a leading `# escape=` directive sets, else `\`.
fn escape_of(text: &str) -> char {
    for line in text.lines() {
        let Some(comment) = line.trim_start().strip_prefix('#') else {
            break;
        };
        if let Some((key, value)) = comment.split_once('=') {
            if key.trim().eq_ignore_ascii_case("escape") {
                return value.trim().chars().next().unwrap_or('\\');
            }
        }
    }
    '\\'
}

fn instructions(text: &str) -> Vec<Instruction> {
    let escape = escape_of(text);
    let mut found = Vec::new();
    let mut stage = None;
    let mut open: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        let (start, mut joined) = open.take().unwrap_or((i + 1, String::new()));
        match line.trim_end().strip_suffix(escape) {
            Some(rest) => {
                joined.push_str(rest);
                open = Some((start, joined));
                continue;
            }
            None => joined.push_str(line),
        }
        let joined = joined.trim_start();
        let (keyword, args) = joined
            .split_once(char::is_whitespace)
            .unwrap_or((joined, ""));
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "FROM" {
            let words: Vec<&str> = args.split_whitespace().collect();
            stage = words
                .iter()
                .position(|w| w.eq_ignore_ascii_case("as"))
                .and_then(|at| words.get(at + 1))
                .map(|name| name.to_ascii_lowercase());
        }
        found.push(Instruction {
            line: start,
            keyword,
            args: collapse(args),
            stage: stage.clone(),
        });
    }
    found
}

/// `docker.io/library/web:latest` and `web` are one image.
fn normal_image(reference: &str) -> String {
    let reference = reference.strip_prefix("docker.io/").unwrap_or(reference);
    let reference = reference.strip_prefix("library/").unwrap_or(reference);
    let named = reference.rsplit('/').next().unwrap_or(reference);
    if named.contains(':') || named.contains('@') {
        reference.to_owned()
    } else {
        format!("{reference}:latest")
    }
}

/// The line of `dockerfile` (its text) that BuildKit's step `step` runs.
pub fn locate(dockerfile: &str, step: &str) -> Option<usize> {
    let all = instructions(dockerfile);
    if let Some(image) = step.strip_prefix("[internal] load metadata for ") {
        let image = normal_image(image.trim());
        return all.iter().find_map(|i| {
            let from = i.args.split(' ').find(|w| !w.starts_with("--"))?;
            (i.keyword == "FROM" && normal_image(from) == image).then_some(i.line)
        });
    }
    let (stage, body) = match step.strip_prefix('[').and_then(|s| s.split_once("] ")) {
        Some((prefix, body)) => {
            let words: Vec<&str> = prefix.split_whitespace().collect();
            let stage = (words.len() > 1).then(|| words[0].to_ascii_lowercase());
            (stage, body)
        }
        None => (None, step),
    };
    let (keyword, args) = body.split_once(' ').unwrap_or((body, ""));
    let args = collapse(args);
    let same = |i: &&Instruction| i.keyword.eq_ignore_ascii_case(keyword) && i.args == args;
    let in_stage = |i: &&Instruction| stage.is_none() || i.stage == stage;
    all.iter()
        .filter(in_stage)
        .find(same)
        .or_else(|| all.iter().find(same))
        .map(|i| i.line)
}

/// The line an error of the Dockerfile's parser names (`dockerfile parse
/// error line 4: unknown instruction`).
pub fn line_in_error(error: &str) -> Option<usize> {
    let (_, after) = error.split_once("line ")?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERFILE: &str = "# escape=\\\nFROM base:1 AS build\n\nRUN --mount=type=tmpfs,target=/t make \\\n    all\n# a comment\nCOPY . /src\nFROM scratch AS final\nCOPY . /src\nRUN echo one \\\n  && exit 3\n";

    #[test]
    fn steps_are_found_by_their_instruction_across_continuations_and_stages() {
        let at = |step| locate(DOCKERFILE, step);
        assert_eq!(
            at("[build 2/3] RUN --mount=type=tmpfs,target=/t make     all"),
            Some(4)
        );
        assert_eq!(at("[final 2/2] RUN echo one   && exit 3"), Some(10));
        assert_eq!(at("[build 3/3] COPY . /src"), Some(7));
        assert_eq!(at("[final 1/2] COPY . /src"), Some(9));
        assert_eq!(at("[3/3] RUN echo one && exit 3"), Some(10));
        assert_eq!(
            at("[internal] load metadata for docker.io/library/base:1"),
            Some(2)
        );
        assert_eq!(at("[2/2] RUN not in the file"), None);
    }

    #[test]
    fn parse_errors_name_their_line() {
        let error = "failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse error line 4: unknown instruction: ECHO";
        assert_eq!(line_in_error(error), Some(4));
        assert_eq!(line_in_error("exit code: 3"), None);
    }
}
