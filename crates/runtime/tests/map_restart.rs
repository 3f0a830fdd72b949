//! A Distributed Map whose runtime stops while it reads its items, then
//! while it writes its results: the runtime that recovers the execution
//! from the store carries the read (and the write) out again, and the
//! Map ends once, with every item's result.

mod support;

use std::sync::{Arc, Mutex};

use serde_json::{json, Value as Json};
use windlass_asl::Failure;
use windlass_engine::map_run::{WriteResults, READ_ITEMS, WRITE_RESULTS};
use windlass_engine::{Outcome, Status, TaskRequest};
use windlass_runtime::invoke::BoxFuture;
use windlass_runtime::{Invoker, Invokers, Runtime, StartRequest, SystemClock};
use windlass_store::memory::MemoryStore;
use windlass_store::Store;

const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:m:one";

/// Reads three items, or never answers (a runtime that stopped mid-read).
struct Reader {
    answers: bool,
}

impl Invoker for Reader {
    fn invoke(&self, _request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let answers = self.answers;
        Box::pin(async move {
            if !answers {
                std::future::pending::<()>().await;
            }
            Ok(json!([{ "n": 1 }, { "n": 2 }, { "n": 3 }]))
        })
    }
}

/// Keeps what it was asked to write, or never answers.
struct Writer {
    answers: bool,
    written: Arc<Mutex<Vec<WriteResults>>>,
}

impl Invoker for Writer {
    fn invoke(&self, request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let answers = self.answers;
        let written = self.written.clone();
        Box::pin(async move {
            let write: WriteResults =
                serde_json::from_value(request.input).expect("a WriteResults request");
            if !answers {
                std::future::pending::<()>().await;
            }
            let key = format!("{}manifest.json", write.folder());
            written.lock().expect("lock").push(write);
            Ok(json!({ "Bucket": "out", "Key": key }))
        })
    }
}

fn runtime(
    store: &Arc<MemoryStore>,
    reads: bool,
    writes: bool,
) -> (Runtime, Arc<Mutex<Vec<WriteResults>>>) {
    let written = Arc::new(Mutex::new(Vec::new()));
    let mut invokers = Invokers::new();
    invokers.register(READ_ITEMS, Arc::new(Reader { answers: reads }));
    invokers.register(
        WRITE_RESULTS,
        Arc::new(Writer {
            answers: writes,
            written: written.clone(),
        }),
    );
    let store: Arc<dyn Store> = store.clone();
    (
        Runtime::new(store, invokers, Arc::new(SystemClock)),
        written,
    )
}

fn request() -> StartRequest {
    support::start_request(
        json!({ "StartAt": "Rows", "States": { "Rows": {
        "Type": "Map",
        "ItemReader": { "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": { "InputType": "JSON" },
            "Parameters": { "Bucket": "in", "Key": "items.json" } },
        "ItemProcessor": { "ProcessorConfig": { "Mode": "DISTRIBUTED" }, "StartAt": "Double",
            "States": { "Double": { "Type": "Pass",
                "Parameters": { "n.$": "States.MathAdd($.n, $.n)" }, "End": true } } },
        "ResultWriter": { "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": { "Bucket": "out", "Prefix": "runs" } },
        "End": true } } }),
        ARN,
        "one",
        json!({}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_interrupted_by_a_stop_are_carried_out_again() {
    let store = Arc::new(MemoryStore::new());
    // The first runtime stops while the items are being read.
    let (first, _) = runtime(&store, false, false);
    first.start(request()).await.expect("started");
    assert_eq!(store.running().expect("running").len(), 1);

    // The second reads them, runs the iterations, and stops mid-write.
    let (second, unwritten) = runtime(&store, true, false);
    assert_eq!(second.recover().await.expect("recovered"), 1);
    for _ in 0..200 {
        let record = store.execution(ARN).expect("store").expect("the execution");
        if record.snapshot.contains("map:write-results") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(unwritten.lock().expect("lock").is_empty());

    // The third writes the results; the execution ends with the manifest.
    let (third, written) = runtime(&store, true, true);
    assert_eq!(third.recover().await.expect("recovered"), 1);
    let finished = third.wait(ARN).await.expect("it ends");
    assert_eq!(finished.status, Status::Succeeded);
    let Some(Outcome::Output(output)) = finished.outcome else {
        panic!("no output: {:?}", finished.outcome);
    };
    let map_run_arn = output["MapRunArn"].as_str().expect("a Map Run ARN");
    let id = map_run_arn.rsplit(':').next().expect("an id");
    assert_eq!(
        output["ResultWriterDetails"],
        json!({ "Bucket": "out", "Key": format!("runs/{id}/manifest.json") })
    );
    let written = written.lock().expect("lock");
    assert_eq!(
        written.len(),
        1,
        "the results are written once by this runtime"
    );
    let outputs: Vec<Json> = written[0]
        .succeeded
        .iter()
        .map(|r| serde_json::from_str(r["Output"].as_str().expect("Output")).expect("JSON"))
        .collect();
    assert_eq!(
        outputs,
        vec![json!({ "n": 2 }), json!({ "n": 4 }), json!({ "n": 6 })]
    );
    assert!(written[0].failed.is_empty() && written[0].pending.is_empty());
}
