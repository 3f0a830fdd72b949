//! `hook`: runs one of the release's command hooks (`x-windlass.hooks`) to
//! its end; the Task state that calls it is written by `workflow::hooks`.

use serde::Deserialize;
use windlass_asl::Failure;

use crate::target::{HookRef, HookRun};
use crate::workflow::{Inner, ReleaseRef};

#[derive(Debug, Deserialize)]
pub(crate) struct Input {
    #[serde(flatten)]
    at: ReleaseRef,
    /// Which hook: written into the state's Parameters.
    hook: HookRef,
}

impl super::Subject for Input {
    fn subject(&self) -> (&str, &str) {
        (&self.at.service, &self.at.release)
    }
}

/// The hook state's ResultPath is null: nothing is written.
pub(crate) type Output = HookRun;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let release = input.at.load(ctx.releases.as_ref())?;
    ctx.target.run_hook(&release, &input.hook).await
}
