//! The Compose corpus: Compose files of real open-source projects, as
//! published (`compose-corpus/`, sources and licences in its README), each
//! checked as `windlass validate --merge FILES` checks it, with the outcome
//! `compose-corpus/corpus.yaml` says: accepted, or refused with exactly the
//! errors listed there. Prints how many windlass accepts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use windlass_deploy::compose::{check_files, Options, Severity};

#[derive(Debug, Deserialize, PartialEq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Accept,
    Refuse,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    case: String,
    files: Vec<String>,
    source: String,
    licence: String,
    /// How the install docs say to run it, when more than the file.
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
    /// What Docker Compose does with it on an engine with BuildKit.
    compose: Outcome,
    windlass: Outcome,
    /// The start of each distinct error windlass gives.
    #[serde(default)]
    because: Vec<String>,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compose-corpus")
}

/// What windlass gives for a case: its errors' messages.
fn errors(case: &Case) -> Vec<String> {
    let dir = corpus().join(&case.case);
    let files: Vec<PathBuf> = case.files.iter().map(|f| dir.join(f)).collect();
    // The machine's environment stays out: only what a fresh shell has.
    let options = Options {
        environment: BTreeMap::from([("HOME".to_owned(), "/root".to_owned())]),
        ..Options::default()
    };
    let (project, diagnostics) = check_files(&files, &options);
    let mut errors: Vec<String> = diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.message)
        .collect();
    if project.is_none() && errors.is_empty() {
        errors.push("nothing could be read".into());
    }
    errors
}

#[test]
fn every_corpus_file_gives_its_outcome() {
    let text = std::fs::read_to_string(corpus().join("corpus.yaml")).expect("corpus.yaml");
    let cases: Vec<Case> = serde_norway::from_str(&text).expect("corpus.yaml reads");
    assert!(cases.len() >= 60, "the corpus has {} cases", cases.len());
    let mut problems = Vec::new();
    let mut accepted = 0;
    let mut gaps: BTreeMap<String, usize> = BTreeMap::new();
    for case in &cases {
        assert!(
            case.source.starts_with("https://github.com/") && !case.licence.is_empty(),
            "{}: give its source and licence",
            case.case
        );
        let errors = errors(case);
        let outcome = if errors.is_empty() {
            accepted += 1;
            Outcome::Accept
        } else {
            Outcome::Refuse
        };
        if outcome != case.windlass {
            problems.push(format!(
                "{}: windlass gives {outcome:?}, corpus.yaml says {:?}: {errors:?}",
                case.case, case.windlass
            ));
            continue;
        }
        for error in &errors {
            if !case.because.iter().any(|b| error.starts_with(b.as_str())) {
                problems.push(format!(
                    "{}: an error corpus.yaml does not list: {error}",
                    case.case
                ));
            }
        }
        for because in &case.because {
            if !errors.iter().any(|e| e.starts_with(because.as_str())) {
                problems.push(format!(
                    "{}: windlass no longer says {because:?}: take it out",
                    case.case
                ));
            }
            if case.compose == Outcome::Accept {
                // "UDP port 53 cannot be published" counts with the other ports.
                let kind: String = because.chars().filter(|c| !c.is_ascii_digit()).collect();
                *gaps.entry(kind).or_default() += 1;
            }
        }
    }
    let compose_accepts = cases
        .iter()
        .filter(|c| c.compose == Outcome::Accept)
        .count();
    println!(
        "{accepted} of {} corpus cases accepted by windlass; Docker Compose accepts {compose_accepts}",
        cases.len()
    );
    for (because, count) in &gaps {
        println!("  refused in {count} case(s) Compose accepts: {because}");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
