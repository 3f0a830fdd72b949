//! Activity tasks waiting for a worker's GetActivityTask.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::Value as Json;
use tokio::sync::Notify;
use windlass_engine::TaskRequest;

/// A task handed to an activity worker.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityTask {
    pub token: String,
    pub input: Json,
}

impl ActivityTask {
    pub(crate) fn from_request(request: &TaskRequest) -> Self {
        ActivityTask {
            token: request.token.clone().unwrap_or_default(),
            input: request.input.clone(),
        }
    }
}

/// Whether a resource is an activity ARN (`arn:aws:states:<region>:<account>:activity:<name>`).
pub(crate) fn is_activity(resource: &str) -> bool {
    resource.starts_with("arn:") && resource.split(':').nth(5) == Some("activity")
}

/// An activity's waiting tasks, and how pollers learn of a new one.
type Queue = (VecDeque<ActivityTask>, Arc<Notify>);

#[derive(Default)]
pub(crate) struct Queues {
    queues: Mutex<HashMap<String, Queue>>,
}

impl Queues {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Queue>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, activity: &str, task: ActivityTask) {
        let notify = {
            let mut queues = self.lock();
            let entry = queues.entry(activity.to_string()).or_default();
            entry.0.push_back(task);
            entry.1.clone()
        };
        notify.notify_one();
    }

    /// Wakes whoever waits for a task of `activity` without queueing one.
    pub fn wake(&self, activity: &str) {
        let notify = self
            .lock()
            .entry(activity.to_string())
            .or_default()
            .1
            .clone();
        notify.notify_one();
    }

    pub fn pop(&self, activity: &str) -> Option<ActivityTask> {
        self.lock()
            .get_mut(activity)
            .and_then(|(queue, _)| queue.pop_front())
    }

    /// Resolves when a task may have been pushed for `activity`.
    pub fn notified(&self, activity: &str) -> impl std::future::Future<Output = ()> {
        let notify = self
            .lock()
            .entry(activity.to_string())
            .or_default()
            .1
            .clone();
        async move { notify.notified().await }
    }
}
