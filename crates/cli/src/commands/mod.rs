//! One module per subcommand.

pub mod bench;
pub mod conformance;
pub mod run;
pub mod server;
pub mod validate;
