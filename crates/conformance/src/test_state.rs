//! TestState cases: one state run on its own, as the TestState API does.

use crate::run::Actual;
use crate::Case;

pub(crate) fn run(_case: &Case) -> Actual {
    Actual::rejected("NotImplemented", "TestState is not implemented yet".into())
}
