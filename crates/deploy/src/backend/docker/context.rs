//! The build context as the `docker` CLI sends it: the context folder as an
//! uncompressed tar, without what its `.dockerignore` excludes (the
//! Dockerfile's own `NAME.dockerignore` beside it first, as BuildKit reads
//! it), and without sockets, FIFOs and devices (a tar cannot hold them; the
//! CLI leaves them out too). The Dockerfile and the ignore file are always
//! sent. Patterns follow Docker's rules: Go's `filepath.Match` per path
//! element (`*`, `?`, `[...]`, `\` escapes), `**` for any number of
//! elements, `!` for an exception, the last matching line winning, and a
//! pattern that matches a folder excluding what is in it.

use std::path::{Path, PathBuf};

/// One line of an ignore file.
#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    elements: Vec<String>,
    exception: bool,
}

/// The rules of an ignore file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Reads the lines of an ignore file.
    pub fn parse(text: &str) -> Ignore {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|line| {
                let (exception, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                let elements: Vec<String> = pattern
                    .split('/')
                    .filter(|e| !e.is_empty() && *e != ".")
                    .map(str::to_owned)
                    .collect();
                (!elements.is_empty()).then_some(Pattern {
                    elements,
                    exception,
                })
            })
            .collect();
        Ignore { patterns }
    }

    /// Whether `path` (relative to the context, `/`-separated elements) is
    /// left out: the last pattern that matches it or a folder above it
    /// decides.
    pub fn excludes(&self, path: &[&str]) -> bool {
        let mut excluded = false;
        for pattern in &self.patterns {
            let matched = (1..=path.len()).any(|n| elements_match(&pattern.elements, &path[..n]));
            if matched {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// Whether an exception could bring back something inside a folder
    /// that is excluded (then the folder is walked anyway).
    fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

fn elements_match(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            elements_match(rest, path)
                || path
                    .split_first()
                    .is_some_and(|(_, tail)| elements_match(pattern, tail))
        }
        Some((first, rest)) => path.split_first().is_some_and(|(name, tail)| {
            glob(first.as_bytes(), name.as_bytes()) && elements_match(rest, tail)
        }),
    }
}

/// Go's `filepath.Match` for one path element.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && glob(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some((&c, tail)) = name.split_first() else {
                return false;
            };
            match class(rest, c) {
                Some((true, after)) => glob(after, tail),
                _ => false,
            }
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            name.first() == Some(&rest[0]) && glob(&rest[1..], &name[1..])
        }
        Some((&p, rest)) => name.first() == Some(&p) && glob(rest, &name[1..]),
    }
}

/// A `[...]` class (after its `[`): whether `c` is in it, and the pattern
/// after its `]`; `None` for a class without its `]`.
fn class(pattern: &[u8], c: u8) -> Option<(bool, &[u8])> {
    let (negated, mut rest) = match pattern.split_first() {
        Some((b'^', rest)) => (true, rest),
        _ => (false, pattern),
    };
    let mut found = false;
    let mut first = true;
    loop {
        let (&lo, after) = rest.split_first()?;
        if lo == b']' && !first {
            return Some((found != negated, after));
        }
        first = false;
        let (lo, after) = if lo == b'\\' {
            let (&escaped, after) = after.split_first()?;
            (escaped, after)
        } else {
            (lo, after)
        };
        match after {
            [b'-', hi, tail @ ..] if *hi != b']' => {
                found |= lo <= c && c <= *hi;
                rest = tail;
            }
            _ => {
                found |= lo == c;
                rest = after;
            }
        }
    }
}

/// The ignore rules for a build of `dockerfile` (relative to `context`):
/// `DOCKERFILE.dockerignore` beside it, else `.dockerignore` in the context.
pub fn ignore_for(context: &Path, dockerfile: &str) -> std::io::Result<Ignore> {
    let own = context.join(format!("{dockerfile}.dockerignore"));
    for file in [own, context.join(".dockerignore")] {
        match std::fs::read_to_string(&file) {
            Ok(text) => return Ok(Ignore::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", file.display()),
                ))
            }
        }
    }
    Ok(Ignore::default())
}

/// The context folder as a tar, without what `ignore` excludes (but the
/// Dockerfile and the ignore files), sockets, FIFOs and devices.
pub fn archive(context: &Path, dockerfile: &str, ignore: &Ignore) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    let always: Vec<String> = vec![
        dockerfile.trim_start_matches("./").to_owned(),
        format!("{}.dockerignore", dockerfile.trim_start_matches("./")),
        ".dockerignore".to_owned(),
    ];
    let mut folders = vec![PathBuf::new()];
    while let Some(folder) = folders.pop() {
        let mut entries: Vec<_> =
            std::fs::read_dir(context.join(&folder))?.collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let relative = folder.join(entry.file_name());
            let shown = relative.to_string_lossy().replace('\\', "/");
            let elements: Vec<&str> = shown.split('/').collect();
            let kind = entry.file_type()?;
            let kept = always.contains(&shown) || !ignore.excludes(&elements);
            if kind.is_dir() {
                // An excluded folder is walked only when an exception may
                // bring back something in it.
                if kept || ignore.has_exceptions() {
                    if kept {
                        tar.append_dir(&relative, entry.path())?;
                    }
                    folders.push(relative);
                }
            } else if kept && (kind.is_file() || kind.is_symlink()) {
                tar.append_path_with_name(entry.path(), &relative)?;
            } else if kept {
                tracing::debug!(path = %shown, "not a file, a folder or a link: left out of the build context");
            }
        }
    }
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excluded(rules: &str, path: &str) -> bool {
        let elements: Vec<&str> = path.split('/').collect();
        Ignore::parse(rules).excludes(&elements)
    }

    #[test]
    fn patterns_follow_dockers_rules() {
        let rules =
            "# comment\nnode_modules\n*.log\n!keep.log\n**/*.tmp\n/build/\ndocs/**/draft?.md\n";
        assert!(excluded(rules, "node_modules"));
        assert!(
            excluded(rules, "node_modules/left-pad/index.js"),
            "a folder's contents"
        );
        assert!(!excluded(rules, "src/node_modules"), "only at the top");
        assert!(excluded(rules, "app.log"));
        assert!(!excluded(rules, "keep.log"), "an exception after");
        assert!(!excluded(rules, "logs/app.log"), "* stays in one element");
        assert!(
            excluded(rules, "a/b/c.tmp") && excluded(rules, "c.tmp"),
            "** is any depth"
        );
        assert!(excluded(rules, "build/out.bin"));
        assert!(excluded(rules, "docs/x/y/draft1.md") && excluded(rules, "docs/draft2.md"));
        assert!(!excluded(rules, "docs/drafts.md.bak"));
        assert!(!excluded(rules, "src/main.rs"));
    }

    #[test]
    fn the_last_matching_line_wins_and_classes_work() {
        assert!(!excluded("*\n!src\n", "src/main.rs"));
        assert!(excluded("!src\n*\n", "src/main.rs"));
        assert!(excluded("file[0-9].txt\n", "file7.txt"));
        assert!(!excluded("file[^0-9].txt\n", "file7.txt"));
        assert!(excluded("file[^0-9].txt\n", "filex.txt"));
        assert!(excluded("a\\*b\n", "a*b") && !excluded("a\\*b\n", "axb"));
    }

    #[test]
    fn the_archive_leaves_out_ignored_files_and_sockets_but_keeps_the_dockerfile() {
        let dir = std::env::temp_dir().join(format!("windlass-context-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("node_modules/pkg")).expect("folders");
        std::fs::create_dir_all(dir.join("src")).expect("folders");
        for (file, text) in [
            ("Dockerfile", "FROM scratch\n"),
            (
                ".dockerignore",
                "node_modules\nDockerfile\n*.sock\nsecret.txt\n",
            ),
            ("secret.txt", "no"),
            ("src/main.rs", "fn main() {}"),
            ("node_modules/pkg/index.js", "x"),
        ] {
            std::fs::write(dir.join(file), text).expect("file");
        }
        let _socket =
            std::os::unix::net::UnixListener::bind(dir.join("src/agent")).expect("socket");
        let ignore = ignore_for(&dir, "Dockerfile").expect("ignore");
        let bytes = archive(&dir, "Dockerfile", &ignore).expect("archive");
        let mut names: Vec<String> = tar::Archive::new(bytes.as_slice())
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        names.sort();
        assert_eq!(names, [".dockerignore", "Dockerfile", "src", "src/main.rs"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
