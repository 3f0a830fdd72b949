//! The error names deploy steps fail with (`Deploy.*`), and the few ways
//! of turning a lower error into one. The built-in definitions catch every
//! one of them into the rollback and never retry them; only
//! `States.TaskFailed` (an interrupted step) is retried.

use windlass_asl::Failure;

pub const BUILD: &str = "Deploy.BuildFailed";
pub const IMAGE: &str = "Deploy.ImageUnavailable";
pub const PUSH: &str = "Deploy.PushFailed";
pub const START: &str = "Deploy.StartFailed";
pub const UNHEALTHY: &str = "Deploy.Unhealthy";
pub const PROXY: &str = "Deploy.ProxyFailed";
pub const SERVER_ERRORS: &str = "Deploy.ServerErrors";
pub const LATENCY: &str = "Deploy.SlowAnswers";
pub const INPUT: &str = "Deploy.BadInput";
pub const STORE: &str = "Deploy.StoreFailed";
pub const ENGINE: &str = "Deploy.EngineFailed";
pub const HOOK: &str = "Deploy.HookFailed";
/// update_config.failure_action pause: the new release is left as it is,
/// not switched to, for a person to look at.
pub const PAUSED: &str = "Deploy.Paused";
/// A rollout step's analysis found the new release worse than the old one
/// (or could not judge it); the numbers are in the cause.
pub const ANALYSIS: &str = "Deploy.AnalysisFailed";
/// A person stopped a rollout (`windlass abort`).
pub const ABORTED: &str = "Deploy.Aborted";
/// What a deploy execution fails with once it has rolled back.
pub const ROLLED_BACK: &str = "Deploy.RolledBack";

/// The names the built-in definitions' first retrier lists with
/// `MaxAttempts: 0`: a step that fails with one of them is not retried.
pub const NOT_RETRIED: [&str; 11] = [
    BUILD,
    IMAGE,
    PUSH,
    START,
    UNHEALTHY,
    PROXY,
    SERVER_ERRORS,
    LATENCY,
    INPUT,
    STORE,
    ENGINE,
];

/// The store could not be read or written.
pub fn store(error: windlass_store::Error) -> Failure {
    Failure::new(STORE, error.to_string())
}

/// The container engine refused or failed a call.
pub fn engine(error: crate::backend::Error) -> Failure {
    Failure::new(ENGINE, error.to_string())
}

/// A step's input or output did not have the shape it needs.
pub fn input(message: impl Into<String>) -> Failure {
    Failure::new(INPUT, message.into())
}
