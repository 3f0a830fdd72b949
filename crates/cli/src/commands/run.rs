//! `windlass run FILE`

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::Value as Json;
use windlass_asl::parse::parse_text;
use windlass_engine::simulate::{simulate, NoTasks, SimulateConfig};
use windlass_engine::{ExecutionMeta, Outcome, Status};

use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// The state machine definition (JSON or YAML).
    file: PathBuf,
    /// Execution input: JSON text, or @FILE to read it from a file.
    #[arg(long, default_value = "{}")]
    input: String,
    /// Print the execution history (one JSON event per line) to stderr.
    #[arg(long)]
    history: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let definition = match parse_text(&text).valid() {
        Ok(definition) => definition,
        Err(diagnostics) => {
            for d in diagnostics {
                let line = windlass_asl::parse::line_of(&text, &d.pointer).map_or(String::new(), |l| format!("{l}:"));
                eprintln!("{}:{line} {d}", args.file.display());
            }
            return Ok(exit::INVALID);
        }
    };
    let input = read_input(&args.input)?;
    let name = args.file.file_stem().map_or("machine".into(), |s| s.to_string_lossy().to_string());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let meta = ExecutionMeta {
        execution_arn: format!("arn:aws:states:local:000000000000:execution:{name}:run"),
        name: "run".into(),
        state_machine_arn: format!("arn:aws:states:local:000000000000:stateMachine:{name}"),
        state_machine_name: name,
        role_arn: "arn:aws:iam::000000000000:role/windlass".into(),
        input,
        start_millis: now,
        seed: now as u64,
        express: false,
    };
    let run = simulate(&definition, meta, &mut NoTasks, &SimulateConfig::default());
    if args.history {
        for event in &run.history {
            eprintln!("{}", event.to_aws(false));
        }
    }
    Ok(report(&run.execution.status, run.execution.outcome.as_ref()))
}

fn report(status: &Status, outcome: Option<&Outcome>) -> u8 {
    match (status, outcome) {
        (Status::Succeeded, Some(Outcome::Output(output))) => {
            println!("{output}");
            exit::OK
        }
        (status, Some(Outcome::Error { error, cause })) => {
            eprintln!("execution {}: error: {error}; cause: {cause}", status.as_str());
            match status {
                Status::TimedOut => exit::TIMED_OUT,
                Status::Aborted => exit::ABORTED,
                _ => exit::FAILED,
            }
        }
        (status, _) => {
            eprintln!("execution ended {}", status.as_str());
            exit::FAILED
        }
    }
}

/// `--input`: JSON text or `@FILE`.
pub fn read_input(input: &str) -> anyhow::Result<Json> {
    let text = match input.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read input file {path}"))?,
        None => input.to_string(),
    };
    match serde_json::from_str(&text) {
        Ok(value) => Ok(value),
        Err(e) => bail!("the input is not valid JSON (line {}, column {}): {e}", e.line(), e.column()),
    }
}
