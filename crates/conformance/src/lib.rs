//! The conformance runner: reads case files (see
//! `shared/conformance/README.md`), runs each against the engine, and
//! compares the result with what AWS recorded.

mod compare;
mod mocks;
mod reported;
mod run;
mod test_state;
mod timeline;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value as Json;

pub use reported::judge_reported;
pub use run::run_case;

/// One case file.
#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    pub name: String,
    pub category: String,
    pub kind: String,
    #[serde(default)]
    pub state_machine_type: Option<String>,
    pub definition: Json,
    #[serde(default)]
    pub input: Json,
    #[serde(default)]
    pub input_raw: Option<String>,
    pub expected: Expected,
    #[serde(default)]
    pub redactions: Vec<String>,
    #[serde(default)]
    pub test_state_args: Option<Json>,
    /// Task answers, in Step Functions Local's mock format for one test
    /// case (our own cases only; see `mocks.rs`). Without it every task fails.
    #[serde(default)]
    pub mocks: Option<Json>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Expected {
    pub status: String,
    #[serde(default)]
    pub output: Option<Json>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<Json>,
    #[serde(default)]
    pub cause_is_parsed_json: bool,
    #[serde(default)]
    pub output_is_raw_text: bool,
    #[serde(default, rename = "nextState")]
    pub next_state: Option<String>,
    #[serde(default, rename = "inspectionData")]
    pub inspection_data: Option<Json>,
    /// `[seconds, "EventType"]` for every history event (our own cases only;
    /// see `timeline.rs`).
    #[serde(default)]
    pub timeline: Option<Vec<Json>>,
}

/// What running one case showed.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub name: String,
    pub category: String,
    pub passed: bool,
    /// For rejected cases: whether AWS's exact message matched too.
    pub message_matched: bool,
    pub expected: String,
    pub actual: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid case file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Finds the case files: `DIR/cases/*.json`, or `DIR/*.json`.
pub fn case_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let cases_dir = if dir.join("cases").is_dir() {
        dir.join("cases")
    } else {
        dir.to_path_buf()
    };
    let entries = std::fs::read_dir(&cases_dir).map_err(|source| Error::Read {
        path: cases_dir.clone(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

pub fn load_case(path: &Path) -> Result<Case, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::Parse {
        path: path.to_path_buf(),
        source,
    })
}
