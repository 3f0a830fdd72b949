//! Each state's colour folded from a history the engine made: every case
//! in `tests/status/*.json` is a definition, an input and what each Task
//! resource answers; the runner runs it with the engine's `simulate` (on
//! its virtual clock), folds the history with the dashboard's `Tracker`
//! and compares every state's status with the case's `states` (all of
//! them, so a node left uncoloured is a difference too).
//!
//! A case may name the diagnostics its definition has (`diagnostics`, by
//! code): the engine then runs the definition the parser built anyway, as
//! the dashboard draws invalid definitions too. Repeated state names
//! (`DUPLICATE_STATE_NAME`, refused by windlass and by AWS) are how the
//! `same_names_*` cases check that branches of one Parallel with states
//! of the same name and type each get their own colour.
//!
//! A case may give `retries` of some states (the attempts a Retry started
//! again), checked too.
//!
//! A case's `tasks` maps a resource to `{"result": JSON}`, or to `{"error",
//! "cause"}` with, optionally, `"times": N` (fail the first N calls, then
//! answer `result`) or `"when_input": JSON` (fail only calls with that
//! input, answer `result` to the others).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value as Json;
use windlass_asl::Failure;
use windlass_dashboard::graph;
use windlass_dashboard::status::Tracker;
use windlass_engine::simulate::{simulate, SimulateConfig, SyncInvoker};
use windlass_engine::{ExecutionMeta, TaskRequest};

#[derive(Deserialize)]
struct Case {
    definition: Json,
    #[serde(default)]
    input: Json,
    /// The validator's diagnostics (codes) of the definition: a definition
    /// windlass and AWS refuse can still be drawn, and its history folded.
    #[serde(default)]
    diagnostics: Vec<String>,
    tasks: HashMap<String, Answer>,
    /// The execution's status at its end.
    status: String,
    /// Every state's status, by JSON pointer.
    states: BTreeMap<String, String>,
    /// The retries counted on some states (attempts a Retry started again).
    #[serde(default)]
    retries: BTreeMap<String, u32>,
}

#[derive(Clone, Deserialize)]
struct Answer {
    #[serde(default)]
    result: Json,
    error: Option<String>,
    #[serde(default)]
    cause: String,
    times: Option<u32>,
    when_input: Option<Json>,
}

struct Tasks {
    answers: HashMap<String, Answer>,
    calls: HashMap<String, u32>,
}

impl SyncInvoker for Tasks {
    fn invoke(&mut self, request: &TaskRequest) -> Option<Result<Json, Failure>> {
        let Some(answer) = self.answers.get(&request.resource) else {
            let cause = format!("the case has no answer for {}", request.resource);
            return Some(Err(Failure::new("Case.NoAnswer", cause)));
        };
        let calls = self.calls.entry(request.resource.clone()).or_default();
        *calls += 1;
        let fails = match (&answer.error, answer.times, &answer.when_input) {
            (None, _, _) => false,
            (Some(_), Some(times), _) => *calls <= times,
            (Some(_), None, Some(input)) => &request.input == input,
            (Some(_), None, None) => true,
        };
        Some(match (&answer.error, fails) {
            (Some(error), true) => Err(Failure::new(error.clone(), answer.cause.clone())),
            _ => Ok(answer.result.clone()),
        })
    }
}

fn run(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case: Case = serde_json::from_str(&text).map_err(|e| format!("not a case: {e}"))?;
    let parsed = windlass_asl::parse::parse_text(&case.definition.to_string());
    let codes: Vec<&str> = parsed.diagnostics.iter().map(|d| d.code).collect();
    if codes != case.diagnostics {
        return Err(format!(
            "diagnostics {:?}, not {:?}",
            parsed.diagnostics, case.diagnostics
        ));
    }
    let definition = parsed.definition.ok_or("no definition was built")?;
    let meta = ExecutionMeta {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:case:run".into(),
        name: "run".into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:case".into(),
        state_machine_name: "case".into(),
        role_arn: "arn:aws:iam::123456789012:role/case".into(),
        input: case.input.clone(),
        start_millis: 1_000,
        seed: 7,
        express: false,
    };
    let mut tasks = Tasks {
        answers: case.tasks.clone(),
        calls: HashMap::new(),
    };
    let ran = simulate(&definition, meta, &mut tasks, &SimulateConfig::default());
    let status = ran.execution.status.as_str();
    if status != case.status {
        return Err(format!("the execution ended {status}, not {}", case.status));
    }
    let mut tracker = Tracker::new(&graph::layout(&case.definition));
    for event in &ran.history {
        tracker.push(event);
    }
    let got: BTreeMap<String, String> = tracker
        .all()
        .into_iter()
        .map(|(id, s)| {
            let status = serde_json::to_value(s.status).expect("a status");
            (id, status.as_str().unwrap_or_default().to_string())
        })
        .collect();
    if got != case.states {
        let history: Vec<String> = ran
            .history
            .iter()
            .map(|e| {
                format!(
                    "{} <- {} {} {}",
                    e.id, e.previous_event_id, e.kind, e.details
                )
            })
            .collect();
        return Err(format!(
            "states differ\n  got:  {got:?}\n  want: {:?}\nhistory:\n  {}",
            case.states,
            history.join("\n  ")
        ));
    }
    let all = tracker.all();
    for (id, want) in &case.retries {
        let got = all.get(id).map(|s| s.retries);
        if got != Some(*want) {
            return Err(format!("{id}: {got:?} retries, not {want}"));
        }
    }
    Ok(())
}

#[test]
fn every_case_colours_each_state_as_it_ran() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/status");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/status")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no cases in {}", dir.display());
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|p| run(p).err().map(|e| format!("{}: {e}", p.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n\n")
    );
}
