//! Two callers resuming the same interrupted execution at once (the ECS
//! deploy of the CLI resumes one execution of a store it shares with
//! others through `Runtime::resume_one`): the execution is resumed once,
//! so its interrupted task is failed once and carried out again once by
//! the state's Retry, and it ends once.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value as Json};
use windlass_asl::Failure;
use windlass_engine::{Status, TaskRequest};
use windlass_runtime::invoke::BoxFuture;
use windlass_runtime::{Invoker, Invokers, Runtime, StartRequest, SystemClock};
use windlass_store::memory::MemoryStore;
use windlass_store::Store;

const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:m:resumed";
const WORK: &str = "arn:windlass:::test:work";

/// Counts its calls; answers them, or never (a process that died mid-call).
struct Work {
    answers: bool,
    calls: Arc<AtomicUsize>,
}

impl Invoker for Work {
    fn invoke(&self, _request: TaskRequest) -> BoxFuture<Result<Json, Failure>> {
        let answers = self.answers;
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if !answers {
                std::future::pending::<()>().await;
            }
            Ok(json!({ "done": true }))
        })
    }
}

fn runtime(store: &Arc<MemoryStore>, answers: bool, calls: &Arc<AtomicUsize>) -> Runtime {
    let mut invokers = Invokers::new();
    invokers.register(
        WORK,
        Arc::new(Work {
            answers,
            calls: calls.clone(),
        }),
    );
    let store: Arc<dyn Store> = store.clone();
    Runtime::new(store, invokers, Arc::new(SystemClock))
}

fn request() -> StartRequest {
    support::start_request(
        json!({ "StartAt": "Work", "States": { "Work": {
        "Type": "Task", "Resource": WORK,
        "Retry": [{ "ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 3 }],
        "End": true } } }),
        ARN,
        "resumed",
        json!({}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_resumers_resume_an_execution_once() {
    for round in 0..5 {
        let store = Arc::new(MemoryStore::new());
        let first_calls = Arc::new(AtomicUsize::new(0));
        // The first process dies with the task in flight.
        let first = runtime(&store, false, &first_calls);
        first.start(request()).await.expect("started");
        assert_eq!(store.running().expect("running").len(), 1);

        let calls = Arc::new(AtomicUsize::new(0));
        let second = runtime(&store, true, &calls);
        let resumers: Vec<_> = (0..2)
            .map(|_| {
                let second = second.clone();
                tokio::spawn(async move { second.resume_one(ARN).await })
            })
            .collect();
        for resumer in resumers {
            assert!(
                resumer.await.expect("joined").expect("resumed"),
                "both callers see it running here"
            );
        }
        let finished = second.wait(ARN).await.expect("it ends");
        assert_eq!(finished.status, Status::Succeeded, "round {round}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "round {round}: the interrupted task is carried out again once"
        );
        let history = store.history(ARN, 1, u64::MAX).expect("history");
        let failed = history.iter().filter(|e| e.kind == "TaskFailed").count();
        assert_eq!(failed, 1, "round {round}: failed as interrupted once");
        let ended = history
            .iter()
            .filter(|e| e.kind == "ExecutionSucceeded")
            .count();
        assert_eq!(ended, 1, "round {round}: ends once");
    }
}
