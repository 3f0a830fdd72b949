//! The deterministic ASL interpreter.
//!
//! An [`Execution`] is plain data. [`Execution::start`] and
//! [`Execution::handle`] take the definition, an [`Event`] and the current
//! time, change the execution and return a [`Step`]: the history events to
//! append and the [`Action`]s to carry out. Nothing here does I/O or reads a
//! clock; the runtime persists the execution and its history before it
//! carries out the actions.

mod context;
mod event;
mod execution;
mod history;
mod host;
mod interpreter;
pub mod map_run;
pub mod simulate;
mod status;
pub mod test_state;
mod time_fmt;

pub use event::{Action, Event, Step, TaskRequest};
pub use execution::{
    redrive_summary, summary, Execution, ExecutionMeta, Outcome, StartOptions, StartedVia, Status,
    Summary, TaskId, TimerId,
};
pub use history::HistoryEvent;
pub use interpreter::redrive::{RedriveRefusal, MAX_REDRIVES};
pub use interpreter::states::is_lambda_function;
pub use time_fmt::format_timestamp;
