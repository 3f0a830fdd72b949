//! The shared conformance cases (`../shared/conformance/asl`) run through
//! `windlass server`'s HTTP API with boto3 (`server/conformance_client.py`)
//! pass at the same rate as in process: the client reports what the API
//! returned, and `windlass_conformance::judge_reported` judges it by the
//! rules `windlass conformance` uses.

mod server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use server::{python, temp_dir, Server};
use windlass_conformance::{case_files, judge_reported, load_case, run_case, Case};

fn cases_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WINDLASS_CONFORMANCE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/asl");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing; CI must have it",
        dir.display()
    );
    eprintln!("skipping: {} does not exist here", dir.display());
    None
}

#[test]
fn shared_cases_pass_through_the_api_as_in_process() {
    let Some(cases_dir) = cases_dir() else { return };
    let cases: Vec<Case> = case_files(&cases_dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(|path| load_case(path).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert!(cases.len() >= 1000, "only {} cases found", cases.len());

    let dir = temp_dir("conformance");
    // The recorder's account, so that ARNs in outputs look like the recorded ones.
    let server = Server::start_with(&dir.join("data"), &["--account", "111111111111"]);
    let report_path = dir.join("report.json");
    let output = python(
        "conformance_client.py",
        &[
            &cases_dir.display().to_string(),
            &server.url,
            &report_path.display().to_string(),
        ],
    );
    assert!(output.status.success(), "the conformance client failed");
    drop(server);
    let text = std::fs::read_to_string(&report_path).expect("the client wrote its report");
    let reports: BTreeMap<String, Json> = serde_json::from_str(&text).expect("the report is JSON");
    let _ = std::fs::remove_dir_all(&dir);

    let (mut in_process, mut through_api) = (0, 0);
    let (mut lost, mut failing) = (Vec::new(), Vec::new());
    for case in &cases {
        let local = run_case(case);
        let reported = reports.get(&case.name).cloned().unwrap_or(Json::Null);
        let api = judge_reported(case, &reported);
        in_process += usize::from(local.passed);
        through_api += usize::from(api.passed);
        if !api.passed {
            failing.push(api.name.clone());
        }
        if local.passed && !api.passed {
            lost.push(format!(
                "{} [{}]\n  expected: {}\n  api:      {}",
                api.name, api.category, api.expected, api.actual
            ));
        }
    }
    println!(
        "{} cases: {in_process} pass in process, {through_api} through the HTTP API; failing through the API: {failing:?}",
        cases.len()
    );
    assert!(
        // No tolerance: the API runs the same engine on the same definitions
        // and inputs; only the clock, the machine names and the request path
        // differ, and the recorder redacted names and dates. A case lost here
        // is a bug in the server's wire conversions.
        through_api >= in_process && lost.is_empty(),
        "{through_api} cases pass through the API against {in_process} in process; {} pass only in process:\n{}",
        lost.len(),
        lost.join("\n")
    );
}
