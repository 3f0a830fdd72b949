//! The deploy side of windlass: Compose files ([`compose`]); the release-level
//! [`target::Target`] trait (prepare, start, wait healthy, switch, watch,
//! retire, roll back) with its Docker implementation
//! ([`target::docker::DockerTarget`]), built on the low-level [`Backend`]
//! trait of container engine calls ([`backend::docker::Docker`]); health
//! probes ([`probe`]); the deploy as an ASL execution ([`workflow`]: the
//! built-in definitions and one file per step, calling only the target
//! trait); and the long-lived process that holds the services' proxies and
//! runs deploys ([`agent`], with its typed API contract shared by the CLI).

pub mod agent;
pub mod backend;
pub mod compose;
pub mod credentials;
pub mod failures;
pub mod holder;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod target;
#[cfg(any(test, feature = "test-util"))]
pub mod test_util;
pub mod timing;
pub mod workflow;

pub use backend::{
    Backend, BuildSpec, Container, ContainerSpec, Error, Health, Healthcheck, RegistryAuth,
    RunState,
};
