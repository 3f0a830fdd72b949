//! `build`: builds the release's image, or takes the one it names, pins it,
//! and records it on the release.

use windlass_asl::Failure;

use super::release_only_input;
use crate::failures;
use crate::target::Image;
use crate::workflow::Inner;

release_only_input!();

/// Written to `$.image`.
pub(crate) type Output = Image;

pub(super) async fn run(ctx: &Inner, input: Input) -> Result<Output, Failure> {
    let release = input.at.load(ctx.releases.as_ref())?;
    let image = ctx.target.prepare(&release).await?;
    ctx.releases
        .set_image(&release.key, release.id(), &image.reference, &image.digest)
        .map_err(failures::store)?;
    Ok(image)
}
