//! The one log subscriber of every `windlass` command: lines to stderr (so
//! journald and container runtimes keep them), filtered by `RUST_LOG`, as
//! text or as one JSON object a line (`--log-format json`).

use std::io::IsTerminal;

use tracing_subscriber::filter::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text an event, for people.
    #[default]
    Text,
    /// One JSON object an event, for log collectors.
    Json,
}

/// Where the log format comes from when `--log-format` is not given; a
/// child process (the proxy an agent starts) inherits it.
pub const FORMAT_ENV: &str = "WINDLASS_LOG_FORMAT";

/// The format `--log-format` gives, else WINDLASS_LOG_FORMAT's, else text.
pub fn format(flag: Option<LogFormat>) -> anyhow::Result<LogFormat> {
    if let Some(format) = flag {
        return Ok(format);
    }
    match std::env::var(FORMAT_ENV) {
        Ok(text) if !text.trim().is_empty() => {
            <LogFormat as clap::ValueEnum>::from_str(text.trim(), true)
                .map_err(|_| anyhow::anyhow!("{FORMAT_ENV} is text or json, not '{text}'"))
        }
        _ => Ok(LogFormat::Text),
    }
}

/// How much a command logs when `RUST_LOG` does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// A process that runs until stopped (server, agent, proxy): what it
    /// does is worth a line (`info`).
    LongRunning,
    /// A command that does one thing and ends: only what went wrong (`warn`).
    OneShot,
}

/// Installs the subscriber. `RUST_LOG` (e.g. `windlass_server=debug,info`)
/// replaces the default filter; directives it cannot read are skipped.
/// The default: a long-running process logs windlass's own `info` lines
/// and its libraries' warnings (a database driver's notices are not news);
/// a one-shot command only warnings.
pub fn install(format: LogFormat, verbosity: Verbosity) {
    let default = match verbosity {
        Verbosity::LongRunning => "warn,windlass=info",
        Verbosity::OneShot => "warn",
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => {
            EnvFilter::builder().parse_lossy(directives)
        }
        _ => EnvFilter::new(default),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init`: a second install (never done by the binary) is a no-op.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
