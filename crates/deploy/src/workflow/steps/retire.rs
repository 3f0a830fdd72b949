//! `retire`: the deploy went well: the release is recorded live (and the
//! one it replaced retired by it, in their histories), and what is neither
//! live nor kept warm is stopped.

use windlass_asl::Failure;
use windlass_store::releases::{Event, Happened};

use super::release_only_input;
use crate::failures;
use crate::target::{Mode, Retired};
use crate::workflow::Inner;

release_only_input!();

/// Written to `$.retired`.
pub(crate) type Output = Retired;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let release = input.at.load(ctx.releases.as_ref())?;
    if release.mode == Mode::Deploy {
        let at = ctx.target.now_millis();
        ctx.releases
            .record(
                &release.key,
                release.id(),
                &Event::at(at, Happened::WentLive),
            )
            .map_err(failures::store)?;
        if let Some(previous) = release.other_previous() {
            let by = Happened::Retired {
                by: release.id().to_owned(),
            };
            ctx.releases
                .record(&release.key, previous, &Event::at(at, by))
                .map_err(failures::store)?;
        }
    }
    ctx.target.retire(&release).await
}
