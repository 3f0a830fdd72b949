//! `switch`: makes the release the one that takes traffic. For an explicit
//! rollback it also records, in both releases' histories, that the one it
//! left was rolled back (with the time from the request to the flip) and
//! that this one went live again.

use serde::Deserialize;
use windlass_asl::Failure;
use windlass_store::releases::{Event, Happened};

use crate::failures;
use crate::target::{Mode, ReleaseContext, Switched, Upstreams};
use crate::workflow::{Inner, ReleaseRef};

#[derive(Debug, Deserialize)]
pub(crate) struct Input {
    #[serde(flatten)]
    at: ReleaseRef,
    /// The wait-healthy step's output.
    upstreams: Upstreams,
}

impl super::Subject for Input {
    fn subject(&self) -> (&str, &str) {
        (&self.at.service, &self.at.release)
    }
}

/// Written to `$.switch`.
pub(crate) type Output = Switched;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let release = input.at.load(ctx.releases.as_ref())?;
    let mut switched = ctx.target.switch(&release, &input.upstreams).await?;
    record_rollback(ctx, &release, &mut switched)?;
    Ok(switched)
}

/// For an explicit rollback: the release left is recorded rolled back, with
/// the time from the request to the flip, and this one live again, both at
/// the flip's time. The release left keeps that it went live: it stays a
/// rollback target.
pub(super) fn record_rollback(
    ctx: &Inner,
    release: &ReleaseContext,
    switched: &mut Switched,
) -> Result<(), Failure> {
    if release.mode != Mode::Rollback {
        return Ok(());
    }
    let rollback_millis = release.requested_millis.map(|at| switched.at_millis - at);
    switched.rollback_millis = rollback_millis;
    let at = switched.at_millis;
    if let Some(previous) = release.other_previous() {
        let left = Happened::RolledBack {
            to: Some(release.id().to_owned()),
            rollback_millis,
            detail: Some(format!("rolled back to {} on request", release.id())),
        };
        ctx.releases
            .record(&release.key, previous, &Event::at(at, left))
            .map_err(failures::store)?;
    }
    ctx.releases
        .record(
            &release.key,
            release.id(),
            &Event::at(at, Happened::WentLive),
        )
        .map_err(failures::store)?;
    Ok(())
}
