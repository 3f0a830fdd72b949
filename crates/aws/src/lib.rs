//! Task states that call AWS services (AWS itself or a local emulator):
//! the AWS SDK integrations (`aws-sdk:SERVICE:ACTION`) driven by botocore's
//! API models read as data, and the optimized integrations (`lambda:invoke`,
//! `dynamodb:putItem`, `sqs:sendMessage`, ...) with their own shapes.

pub mod check;
pub mod client;
pub mod config;
pub mod distributed;
mod error;
mod metadata;
pub mod model;
pub mod optimized;
pub mod protocol;
pub mod sdk;
pub mod services;

use std::sync::Arc;

use windlass_runtime::Invokers;

pub use client::Client;
pub use config::{Config, Credentials};
pub use error::{error_name, Error};
pub use sdk::{SdkInvoker, SdkResource};
pub use services::Service;

/// Registers the AWS integrations for Task states, and Distributed Map's
/// ItemReader and ResultWriter, with `config`.
pub fn register(invokers: &mut Invokers, config: Config) {
    let client = Client::new(config);
    invokers.register(sdk::RESOURCE, Arc::new(SdkInvoker::new(client.clone())));
    distributed::register(invokers, client.clone());
    for resource in optimized::RESOURCES {
        invokers.register(
            *resource,
            Arc::new(optimized::OptimizedInvoker::new(client.clone())),
        );
    }
}
