//! `rollback`: a step failed (`$.failure`): the release that was live
//! before takes traffic again and this one is recorded as rolled back, with
//! why and how long the flip took.

use serde::Deserialize;
use windlass_asl::Failure;
use windlass_store::releases::{Event, Happened};

use crate::failures;
use crate::target::{CaughtFailure, Mode, RolledBack};
use crate::workflow::{Inner, ReleaseRef};

#[derive(Debug, Deserialize)]
pub(crate) struct Input {
    #[serde(flatten)]
    at: ReleaseRef,
    /// What the Catch caught.
    #[serde(default)]
    failure: Option<CaughtFailure>,
}

impl super::Subject for Input {
    fn subject(&self) -> (&str, &str) {
        (&self.at.service, &self.at.release)
    }
}

/// Written to `$.rollback`.
pub(crate) type Output = RolledBack;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let release = input.at.load(ctx.releases.as_ref())?;
    let failure = input.failure.as_ref();
    let rolled = ctx.target.roll_back(&release, failure).await?;
    if release.mode == Mode::Deploy {
        let cause = failure.map_or_else(
            || "rolled back".to_owned(),
            |f| format!("{}: {}", f.error, f.cause),
        );
        let cause = if failure.is_some_and(|f| f.error == failures::PAUSED) {
            format!("{cause} (update_config.failure_action pause: its containers are left running, never switched to, for inspection; the next deploy removes them)")
        } else {
            cause
        };
        let what = Happened::RolledBack {
            to: rolled.live.clone(),
            rollback_millis: rolled.flip_millis,
            detail: Some(cause),
        };
        let at = ctx.target.now_millis();
        ctx.releases
            .record(&release.key, release.id(), &Event::at(at, what))
            .map_err(failures::store)?;
    }
    Ok(rolled)
}
