//! The deploy side of windlass: Compose files ([`compose`]), the [`Backend`]
//! trait for what a deploy does to a target with its Docker implementation
//! ([`backend::docker::Docker`]), health probes ([`probe`]), the deploy as
//! an ASL execution ([`workflow`]: the built-in definitions and the invoker
//! of their steps), and the long-lived process that holds the services'
//! proxies and runs deploys ([`agent`]).

pub mod agent;
pub mod backend;
pub mod compose;
pub mod credentials;
pub mod plan;
pub mod probe;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
pub mod workflow;

pub use backend::{
    Backend, BuildSpec, Container, ContainerSpec, Error, Health, Healthcheck, RegistryAuth,
    RunState,
};
