//! `windlass run FILE`: runs an execution to its end on the durable runtime.
//!
//! With `--db`, the execution lives in a SQLite file: if windlass is killed,
//! running the same command again (same `--name`) carries the execution on
//! from its last committed step.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use serde_json::Value as Json;
use windlass_asl::parse::parse_text;
use windlass_engine::{ExecutionMeta, Outcome, Status};
use windlass_runtime::{Invokers, MockInvoker, Runtime, StartRequest, Started, SystemClock};
use windlass_store::memory::MemoryStore;
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::Store;

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
    /// A Step Functions Local mock configuration file answering Task states.
    #[arg(long, requires = "test_case")]
    mock_config: Option<PathBuf>,
    /// The test case of the mock configuration to use.
    #[arg(long)]
    test_case: Option<String>,
    /// Keep the execution in this SQLite file; running again resumes it.
    #[arg(long)]
    db: Option<PathBuf>,
    /// The execution's name (default: a new UUID). With --db, the same name resumes the same execution.
    #[arg(long)]
    name: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let definition = match parse_text(&text).valid() {
        Ok(definition) => definition,
        Err(diagnostics) => {
            for d in diagnostics {
                let line = windlass_asl::parse::diagnostic_line(&text, &d)
                    .map_or(String::new(), |l| format!("{l}:"));
                eprintln!("{}:{line} {d}", args.file.display());
            }
            return Ok(exit::INVALID);
        }
    };
    let input = read_input(&args.input)?;
    let machine = args
        .file
        .file_stem()
        .map_or("machine".into(), |s| s.to_string_lossy().to_string());
    let mut invokers = Invokers::new();
    if let (Some(path), Some(case)) = (&args.mock_config, &args.test_case) {
        let config_text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let config: Json = serde_json::from_str(&config_text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        let mock = MockInvoker::new(&config, &machine, case)
            .with_context(|| format!("in {}", path.display()))?;
        invokers.register("", Arc::new(mock));
    } else {
        // Task states call AWS (or the emulator AWS_ENDPOINT_URL names) as
        // the SDKs' configuration in the environment says.
        windlass_aws::register(&mut invokers, windlass_aws::Config::from_env());
    }
    let store: Arc<dyn Store> = match &args.db {
        Some(path) => Arc::new(SqliteStore::open(path, Durability::Full)?),
        None => Arc::new(MemoryStore::new()),
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async move {
        let runtime =
            Runtime::with_standard_invokers(store.clone(), invokers, Arc::new(SystemClock));
        runtime.recover().await?;
        let now = runtime.now_millis();
        let meta = ExecutionMeta {
            execution_arn: format!("arn:aws:states:local:000000000000:execution:{machine}:{name}"),
            name,
            state_machine_arn: format!("arn:aws:states:local:000000000000:stateMachine:{machine}"),
            state_machine_name: machine,
            role_arn: "arn:aws:iam::000000000000:role/windlass".into(),
            input,
            start_millis: now,
            seed: rand_seed(),
            express: false,
        };
        let arn = meta.execution_arn.clone();
        let started = runtime
            .start(StartRequest {
                definition_text: text,
                definition: Arc::new(definition),
                meta,
            })
            .await?;
        if let Started::Existing(record) = &started {
            if record.definition != std::fs::read_to_string(&args.file).unwrap_or_default() {
                crate::failure::say!(
                    "note: execution {arn} exists already and runs the definition it started with"
                );
            }
        }
        let finished = runtime.wait(&arn).await?;
        if args.history {
            for event in store.history(&arn, 1, u64::MAX)? {
                eprintln!("{}", event.to_aws(false));
            }
        }
        Ok(report(finished.status, finished.outcome.as_ref()))
    })
}

fn rand_seed() -> u64 {
    let id = uuid::Uuid::new_v4();
    let (high, low) = id.as_u64_pair();
    high ^ low
}

fn report(status: Status, outcome: Option<&Outcome>) -> u8 {
    match (status, outcome) {
        (Status::Succeeded, Some(Outcome::Output(output))) => {
            println!("{output}");
            exit::OK
        }
        (status, Some(Outcome::Error { error, cause })) => {
            eprintln!(
                "execution {}: error: {error}; cause: {cause}",
                status.as_str()
            );
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
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read input file {path}"))?,
        None => input.to_string(),
    };
    match serde_json::from_str(&text) {
        Ok(value) => Ok(value),
        Err(e) => bail!(
            "the input is not valid JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        ),
    }
}
