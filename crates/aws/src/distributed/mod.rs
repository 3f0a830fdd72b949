//! Distributed Map on S3: the invokers of the engine's Map Run requests,
//! reading the items of an `ItemReader` ([`READ_ITEMS`]) and writing the
//! result files of a `ResultWriter` ([`WRITE_RESULTS`]), through the same
//! [`Client`] as the Task states' S3 calls.

pub mod items;
mod reader;
mod writer;

use std::sync::Arc;

use serde_json::Value as Json;
use windlass_asl::Failure;
use windlass_engine::map_run::{ReadItems, WriteResults, READ_ITEMS, WRITE_RESULTS};
use windlass_engine::TaskRequest;
use windlass_runtime::invoke::BoxFuture;
use windlass_runtime::{Invoker, Invokers};

use crate::client::Client;
use crate::model::Model;
use crate::services::Service;
use crate::Error;

/// Registers both invokers on `client`.
pub fn register(invokers: &mut Invokers, client: Client) {
    invokers.register(READ_ITEMS, Arc::new(ItemReaderInvoker(client.clone())));
    invokers.register(WRITE_RESULTS, Arc::new(ResultWriterInvoker(client)));
}

/// Reads a Distributed Map's items from S3.
pub struct ItemReaderInvoker(Client);

/// Writes a Map Run's result files and manifest to S3.
pub struct ResultWriterInvoker(Client);

impl Invoker for ItemReaderInvoker {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let client = self.0.clone();
        Box::pin(async move {
            let read: ReadItems = serde_json::from_value(request.input).map_err(|e| {
                Failure::new(
                    windlass_asl::failure::names::ITEM_READER_FAILED,
                    format!(
                        "the ItemReader request of state '{}' is not one windlass made: {e}",
                        request.state_name
                    ),
                )
            })?;
            reader::read(&S3::new(client)?, &read)
                .await
                .map(Json::Array)
        })
    }
}

impl Invoker for ResultWriterInvoker {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let client = self.0.clone();
        Box::pin(async move {
            let write: WriteResults = serde_json::from_value(request.input).map_err(|e| {
                Failure::new(
                    windlass_asl::failure::names::RESULT_WRITER_FAILED,
                    format!(
                        "the ResultWriter request of state '{}' is not one windlass made: {e}",
                        request.state_name
                    ),
                )
            })?;
            writer::write(&S3::new(client)?, &write).await
        })
    }
}

/// S3 through the model-driven client.
struct S3 {
    client: Client,
    model: Arc<Model>,
}

impl S3 {
    fn new(client: Client) -> Result<S3, Failure> {
        let service = Service::named("s3")
            .ok_or_else(|| Failure::new("States.Runtime", "windlass has no model of S3"))?;
        let model =
            Model::of(service).map_err(|e| Failure::new("States.Runtime", e.to_string()))?;
        Ok(S3 { client, model })
    }

    async fn call(&self, action: &str, input: &Json) -> Result<Json, Error> {
        self.client.call(&self.model, action, input, None).await
    }
}

/// How an S3 error reads in a cause: the service's own words, or why the
/// call could not be made.
fn describe(error: Error) -> String {
    match error {
        Error::Service {
            code,
            message,
            status,
            ..
        } => format!("{message} (Service: S3, Status Code: {status}, Error Code: {code})"),
        other => other.to_string(),
    }
}
