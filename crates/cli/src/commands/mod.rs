//! One module per subcommand.

pub mod conformance;
pub mod run;
pub mod validate;
