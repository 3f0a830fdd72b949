//! `retire`: the deploy went well: the release is recorded live, and what
//! is neither live nor kept warm is stopped.

use windlass_asl::Failure;
use windlass_store::releases::Outcome;

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
        ctx.releases
            .set_outcome(&release.key, release.id(), Outcome::Live, None, None)
            .map_err(failures::store)?;
    }
    ctx.target.retire(&release).await
}
