//! `windlass bench`: transitions per second of the engine, in memory and
//! durable (SQLite, fsync on every commit), on fixed workloads.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value as Json};
use windlass_asl::parse::parse_value;
use windlass_asl::Definition;
use windlass_engine::simulate::{simulate, NoTasks, SimulateConfig};
use windlass_engine::ExecutionMeta;
use windlass_runtime::{Invokers, Runtime, StartRequest, SystemClock};
use windlass_store::sqlite::{Durability, SqliteStore};
use windlass_store::Store;

use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// Executions of the Pass chain and the Choice machine per in-memory run.
    #[arg(long, default_value_t = 100_000)]
    executions: usize,
    /// Executions of the Pass chain in the durable run.
    #[arg(long, default_value_t = 20_000)]
    durable_executions: usize,
    /// Executions in flight at once in the durable run.
    #[arg(long, default_value_t = 512)]
    concurrency: usize,
    /// Run only the workloads whose name contains this text (e.g. "choice",
    /// "in memory", "durable").
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

fn pass_chain(states: usize) -> Json {
    let mut map = serde_json::Map::new();
    for i in 0..states {
        let mut state = json!({ "Type": "Pass" });
        if i + 1 == states {
            state["End"] = json!(true);
        } else {
            state["Next"] = json!(format!("S{}", i + 1));
        }
        map.insert(format!("S{i}"), state);
    }
    json!({ "StartAt": "S0", "States": map })
}

fn choice_heavy() -> Json {
    // Ten Choice states in a row, each with five rules of mixed operators.
    let mut map = serde_json::Map::new();
    for i in 0..10 {
        let next = if i == 9 {
            "Done".to_string()
        } else {
            format!("C{}", i + 1)
        };
        map.insert(
            format!("C{i}"),
            json!({
                "Type": "Choice",
                "Choices": [
                    { "Variable": "$.n", "NumericLessThan": -1, "Next": "Done" },
                    { "Variable": "$.s", "StringEquals": "nope", "Next": "Done" },
                    { "And": [ { "Variable": "$.b", "BooleanEquals": false }, { "Variable": "$.n", "NumericGreaterThan": 0 } ], "Next": "Done" },
                    { "Not": { "Variable": "$.s", "StringMatches": "ab*" }, "Next": "Done" },
                    { "Variable": "$.n", "NumericGreaterThanEquals": 1, "Next": next }
                ],
                "Default": "Done"
            }),
        );
    }
    map.insert("Done".into(), json!({ "Type": "Succeed" }));
    json!({ "StartAt": "C0", "States": map })
}

/// A Distributed Map: 10,000 inline iterations would pass AWS's 25,000
/// history events per execution, so Step Functions needs Distributed mode
/// (iterations recorded as child executions) for a Map this large.
fn map_machine() -> Json {
    json!({
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "MaxConcurrency": 1000,
                "ItemProcessor": {
                    "ProcessorConfig": { "Mode": "DISTRIBUTED", "ExecutionType": "STANDARD" },
                    "StartAt": "P",
                    "States": { "P": { "Type": "Pass", "End": true } }
                },
                "End": true
            }
        }
    })
}

fn definition(document: &Json) -> anyhow::Result<Definition> {
    parse_value(document).valid().map_err(|d| {
        anyhow::anyhow!(
            "benchmark definition is invalid: {}",
            d.first().map_or(String::new(), ToString::to_string)
        )
    })
}

fn meta(i: usize, input: Json) -> ExecutionMeta {
    ExecutionMeta {
        execution_arn: format!("arn:aws:states:local:000000000000:execution:bench:e{i}"),
        name: format!("e{i}"),
        state_machine_arn: "arn:aws:states:local:000000000000:stateMachine:bench".into(),
        state_machine_name: "bench".into(),
        role_arn: "arn:aws:iam::000000000000:role/windlass".into(),
        input,
        start_millis: 1_700_000_000_000,
        seed: i as u64,
        express: false,
    }
}

struct Figure {
    name: &'static str,
    transitions: u64,
    seconds: f64,
}

impl Figure {
    fn per_second(&self) -> f64 {
        self.transitions as f64 / self.seconds.max(1e-9)
    }
}

/// The engine alone on a virtual clock (`simulate`, as the conformance
/// runner uses it). `keep_history`: every history event is built and kept;
/// without it none is built (ids are still counted, so the limit holds).
fn in_memory(
    name: &'static str,
    definition: &Definition,
    executions: usize,
    input: &Json,
    keep_history: bool,
) -> Figure {
    let config = SimulateConfig {
        keep_history,
        max_events: usize::MAX,
        ..Default::default()
    };
    // The executions' inputs are made before the clock starts: copying the
    // benchmark's input is the caller's work, not the engine's.
    let metas: Vec<ExecutionMeta> = (0..executions).map(|i| meta(i, input.clone())).collect();
    let started = Instant::now();
    let mut transitions = 0;
    for meta in metas {
        transitions += simulate(definition, meta, &mut NoTasks, &config).transitions;
    }
    Figure {
        name,
        transitions,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs `executions` executions on the durable runtime (SQLite, fsync on
/// every commit), `concurrency` at a time. Transitions are counted by a
/// simulated run of the same workload, which makes the same ones.
fn durable(
    name: &'static str,
    text: String,
    input: Json,
    executions: usize,
    concurrency: usize,
) -> anyhow::Result<Figure> {
    let definition = self::definition(&serde_json::from_str(&text)?)?;
    let config = SimulateConfig {
        keep_history: false,
        max_events: usize::MAX,
        ..Default::default()
    };
    let per_execution =
        simulate(&definition, meta(0, input.clone()), &mut NoTasks, &config).transitions;
    // A fresh directory per run: a store of an earlier run may still be
    // closing, and SQLite must not meet its WAL file.
    let dir = std::env::temp_dir().join(format!(
        "windlass-bench-{}-{}",
        std::process::id(),
        name.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bench.db");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path, Durability::Full)?);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let definition = Arc::new(definition);
    let figure = tokio.block_on(async move {
        let runtime = Runtime::new(store, Invokers::new(), Arc::new(SystemClock));
        let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let started = Instant::now();
        let mut handles = Vec::with_capacity(executions);
        for i in 0..executions {
            let permit = semaphore.clone().acquire_owned().await?;
            let runtime = runtime.clone();
            let request = StartRequest {
                definition_text: text.clone(),
                definition: definition.clone(),
                meta: meta(i, input.clone()),
            };
            handles.push(tokio::spawn(async move {
                let arn = request.meta.execution_arn.clone();
                let result = match runtime.start(request).await {
                    Ok(_) => runtime.wait(&arn).await.map(|_| ()),
                    Err(e) => Err(e),
                };
                drop(permit);
                result
            }));
        }
        for handle in handles {
            handle.await??;
        }
        let seconds = started.elapsed().as_secs_f64();
        anyhow::Ok(Figure {
            name,
            transitions: executions as u64 * per_execution,
            seconds,
        })
    })?;
    // The runtime holds the store: close it before its files go.
    tokio.shutdown_timeout(std::time::Duration::from_secs(10));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(figure)
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if cfg!(debug_assertions) {
        crate::failure::say!(
            "note: this is a debug build; build with --release for meaningful figures"
        );
    }
    let chain_document = pass_chain(10);
    let chain = definition(&chain_document)?;
    let choice = definition(&choice_heavy())?;
    let map = definition(&map_machine())?;
    let items = Json::Array((0..10_000).map(|i| json!({ "i": i })).collect());
    let choice_input = json!({ "n": 3, "s": "abc", "b": true });
    let wanted = |name: &str| args.only.as_deref().is_none_or(|only| name.contains(only));
    let mut figures = Vec::new();
    let chain_input = json!({ "a": 1 });
    let in_memory_runs: [(&'static str, &Definition, usize, &Json, bool); 6] = [
        (
            "pass chain (10 states), in memory",
            &chain,
            args.executions,
            &chain_input,
            false,
        ),
        (
            "choice-heavy (10 Choice x 5 rules), in memory",
            &choice,
            args.executions,
            &choice_input,
            false,
        ),
        (
            "distributed map over 10,000 items, in memory",
            &map,
            20,
            &items,
            false,
        ),
        (
            "pass chain, in memory, history kept",
            &chain,
            args.executions,
            &chain_input,
            true,
        ),
        (
            "choice-heavy, in memory, history kept",
            &choice,
            args.executions,
            &choice_input,
            true,
        ),
        (
            "distributed map, in memory, history kept",
            &map,
            20,
            &items,
            true,
        ),
    ];
    for (name, definition, executions, input, keep_history) in in_memory_runs {
        if wanted(name) {
            figures.push(in_memory(name, definition, executions, input, keep_history));
        }
    }
    let durable_runs = [
        (
            "pass chain (10 states), durable, fsync",
            chain_document,
            chain_input.clone(),
            args.durable_executions,
        ),
        (
            "choice-heavy, durable, fsync",
            choice_heavy(),
            choice_input.clone(),
            args.durable_executions,
        ),
        (
            "distributed map over 10,000 items, durable, fsync",
            map_machine(),
            items.clone(),
            20,
        ),
    ];
    for (name, document, input, executions) in durable_runs {
        if wanted(name) {
            figures.push(durable(
                name,
                document.to_string(),
                input,
                executions,
                args.concurrency,
            )?);
        }
    }
    if args.json {
        let rows: Vec<Json> = figures
            .iter()
            .map(|f| json!({ "workload": f.name, "transitions": f.transitions, "seconds": f.seconds, "transitions_per_second": f.per_second() }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<50} {:>12} {:>9} {:>16}",
            "workload", "transitions", "seconds", "transitions/s"
        );
        for f in &figures {
            println!(
                "{:<50} {:>12} {:>9.3} {:>16.0}",
                f.name,
                f.transitions,
                f.seconds,
                f.per_second()
            );
        }
    }
    Ok(exit::OK)
}
