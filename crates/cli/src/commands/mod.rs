//! One module per subcommand.

pub mod agent;
pub mod bench;
pub mod compose_files;
pub mod config;
pub mod conformance;
pub mod dashboard;
mod dashboard_swarm;
pub mod deploy;
pub mod down;
pub mod ecs;
pub mod environments;
pub mod export;
pub mod gate;
pub mod logs;
pub mod proxy;
pub mod releases;
pub mod rollback;
pub mod run;
pub mod server;
pub mod status;
pub mod swarm;
pub mod table;
pub mod validate;
pub mod which;
