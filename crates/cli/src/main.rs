//! The `windlass` command: parses arguments, wires implementations, maps
//! errors to exit codes. The work is done in the library crates.

mod commands;
mod failure;
mod logging;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The engine allocates many small JSON values; mimalloc serves them faster
/// than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Durable ASL workflows: run Amazon States Language state machines locally,
/// and deploy and roll back containers with them.
#[derive(Parser)]
#[command(name = "windlass", version, about)]
struct Cli {
    /// How log lines are written to stderr: `text` (the default), or `json`
    /// (one object a line); also WINDLASS_LOG_FORMAT, which the proxy an
    /// agent starts inherits. `RUST_LOG` filters them (default: windlass's
    /// info lines for server, agent and proxy; warnings for other commands).
    #[arg(long, global = true, value_enum)]
    log_format: Option<logging::LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check state machine definitions (JSON or YAML) and Compose files (with no file: the Compose files a deploy here would read); exit 0 only when all are valid.
    Validate(commands::validate::Args),
    /// Print the Compose app as windlass resolved it, in Compose's canonical
    /// form (as `docker compose config` does).
    Config(commands::config::Args),
    /// Run a state machine to its end and print its output.
    Run(commands::run::Args),
    /// Run ASL conformance cases and report pass/fail per category.
    Conformance(commands::conformance::Args),
    /// Measure engine throughput (transitions/s) in memory and durable.
    Bench(commands::bench::Args),
    /// Serve the Step Functions API (AWS CLI, boto3 and SDKs talk to it with --endpoint-url).
    Server(commands::server::Args),
    /// Deploy a Compose app as one release behind windlass's proxies, as an ASL execution.
    Deploy(commands::deploy::Args),
    /// Write a CloudFormation template that puts a service and its deploy
    /// state machine on AWS (`--target ecs`).
    Export(commands::export::Args),
    /// Put the app (or one service) back on an earlier release.
    Rollback(commands::rollback::Args),
    /// Let a rollout waiting at an approval gate go on to its next step; sent while a step bakes,
    /// end the bake now (the step is analysed at once and, if it holds, passes its gate).
    Approve(commands::gate::Args),
    /// Let a deploy held by `--canary` go on: the rollout's further steps, then all of the traffic;
    /// sent while a step bakes, end the bake now (the step is analysed at once).
    Promote(commands::gate::Args),
    /// Take a rollout's canaries out of service at once (0 %) and roll the deploy back at once,
    /// during a step's bake too.
    Abort(commands::gate::Args),
    /// Stop and remove an app's containers, proxies and networks (volumes with --volumes).
    Down(commands::down::Args),
    /// List the app releases, or a service's releases.
    Releases(commands::releases::Args),
    /// Show what each deployed service serves.
    Status(commands::status::Args),
    /// Print the output of a release's containers.
    Logs(commands::logs::Args),
    /// Run the process that runs deploys and drives the services' proxies.
    Agent(commands::agent::Args),
    /// Run the process that holds the services' proxies (the agent starts it).
    Proxy(commands::proxy::Args),
}

/// `windlass ... | head` closes our stdout early: leave quietly, as other
/// command-line tools do, instead of reporting a panic from `println!`.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Exit codes: what happened, for scripts.
pub mod exit {
    /// The command did what was asked (valid, succeeded).
    pub const OK: u8 = 0;
    /// The definition is invalid, or conformance fell short.
    pub const INVALID: u8 = 1;
    /// The command line is wrong (clap's own code).
    pub const USAGE: u8 = 2;
    /// The execution ran and failed.
    pub const FAILED: u8 = 3;
    /// The execution timed out.
    pub const TIMED_OUT: u8 = 4;
    /// The execution was aborted.
    pub const ABORTED: u8 = 5;
    /// The deploy was rolled back: the release live before it serves again.
    pub const ROLLED_BACK: u8 = 6;
    /// The request cannot be done as asked: an unknown service or release,
    /// nothing to roll back to, a release that never went live, nothing
    /// deployed in the state folder or no agent serving it.
    pub const REFUSED: u8 = 7;
    /// Another deploy or rollback of the service is running.
    pub const BUSY: u8 = 8;
    /// windlass itself could not do the work (I/O, store).
    pub const ERROR: u8 = 70;
    /// Ctrl-C while following a deploy or rollback: the agent carries it
    /// on (128 + SIGINT, as a shell reports it).
    pub const INTERRUPTED: u8 = 130;
}

/// Whether the command line asks for `--json` (before a `--`).
fn json_asked() -> bool {
    std::env::args()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

fn run() -> anyhow::Result<u8> {
    failure::json(json_asked());
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let _ = e.print();
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            failure::with_message(first.trim_start_matches("error: "));
            return Ok(exit::USAGE);
        }
    };
    let verbosity = match cli.command {
        Command::Server(_) | Command::Agent(_) | Command::Proxy(_) => {
            logging::Verbosity::LongRunning
        }
        _ => logging::Verbosity::OneShot,
    };
    logging::install(logging::format(cli.log_format)?, verbosity);
    let code = match cli.command {
        Command::Validate(args) => commands::validate::run(args)?,
        Command::Config(args) => commands::config::run(args)?,
        Command::Run(args) => commands::run::run(args)?,
        Command::Conformance(args) => commands::conformance::run(args)?,
        Command::Bench(args) => commands::bench::run(args)?,
        Command::Server(args) => commands::server::run(args)?,
        Command::Deploy(args) => commands::deploy::run(args)?,
        Command::Rollback(args) => commands::rollback::run(args)?,
        Command::Approve(args) | Command::Promote(args) => {
            commands::gate::run(args, windlass_deploy::agent::Decision::Approve)?
        }
        Command::Abort(args) => commands::gate::run(args, windlass_deploy::agent::Decision::Abort)?,
        Command::Export(args) => commands::export::run(args)?,
        Command::Down(args) => commands::down::run(args)?,
        Command::Releases(args) => commands::releases::run(args)?,
        Command::Status(args) => commands::status::run(args)?,
        Command::Logs(args) => commands::logs::run(args)?,
        Command::Agent(args) => commands::agent::run(args)?,
        Command::Proxy(args) => commands::proxy::run(args)?,
    };
    Ok(code)
}

/// Maps what `run` gave to the exit code, and under `--json` prints the
/// error object of a command that did not do what was asked (see
/// `failure`): the one place every command's refusal ends.
fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let code = match run() {
        Ok(code) => code,
        Err(error) => {
            failure::tell(format_args!("{error:#}"));
            if commands::which::is_refusal(&error) {
                exit::REFUSED
            } else {
                exit::ERROR
            }
        }
    };
    failure::finish(code);
    ExitCode::from(code)
}
