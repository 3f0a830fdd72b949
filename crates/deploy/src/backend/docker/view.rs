//! The agent's live view of windlass's containers (those labelled
//! `windlass.service`): their state, health, exit code and published ports
//! as the engine's list shows them, kept from Docker's event stream
//! (`GET /events`, container events) and seeded by one list each time the
//! stream (re)connects. A glance ([`crate::Backend::glance_containers`]) then
//! reads memory instead of asking the engine, which takes the Docker list
//! off a warm rollback's path.
//!
//! The view never answers with what it may have missed: while the stream is
//! not connected (before its first seed, after it dropped, until it is
//! seeded again), and while a container is being read again after an event,
//! it does not answer and the caller lists. A change reaches it as soon as
//! the engine's event does (under a millisecond on an idle machine).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::EventMessage;
use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::container_of_summary;
use crate::backend::{Container, Health, SERVICE_LABEL};

/// How long the view waits before it connects again after the stream
/// dropped (the engine restarting, say); meanwhile glances list.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// How far before its list the view asks for events: the engine's clock
/// may be a little behind this process's.
const SINCE_MARGIN: Duration = Duration::from_secs(1);

/// The container events that change what the list shows. `health_status`
/// matches `health_status: healthy` and the like (the engine matches that
/// one by prefix); exec events (each healthcheck probe is one) are left out.
const ACTIONS: [&str; 9] = [
    "create",
    "start",
    "die",
    "destroy",
    "health_status",
    "pause",
    "unpause",
    "rename",
    "restart",
];

/// What an event asks of the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Change {
    /// The container is gone.
    Destroyed { id: String },
    /// Docker's healthcheck reported a new status.
    Health { id: String, health: Health },
    /// Anything else (created, started, died, paused, renamed, ...): the
    /// container is read again from the list, which says its state, exit
    /// code and ports as a glance would.
    Reread { id: String },
}

impl Change {
    /// The change a container event makes, if any. An event older than
    /// the list that seeded the view (`listed_at`, nanoseconds since the
    /// epoch) may be older than what the list said: its health is not
    /// taken as it is, the container is read again.
    pub(super) fn of(event: &EventMessage, listed_at: i64) -> Option<Change> {
        let id = event.actor.as_ref()?.id.clone()?;
        let action = event.action.as_deref()?;
        let old = event.time_nano.is_none_or(|t| t < listed_at);
        if let Some(status) = action.strip_prefix("health_status:") {
            if old {
                return Some(Change::Reread { id });
            }
            let health = match status.trim() {
                "healthy" => Health::Healthy,
                "unhealthy" => Health::Unhealthy,
                "starting" => Health::Starting,
                _ => return Some(Change::Reread { id }),
            };
            return Some(Change::Health { id, health });
        }
        match action {
            "destroy" => Some(Change::Destroyed { id }),
            "create" | "start" | "die" | "pause" | "unpause" | "rename" | "restart" => {
                Some(Change::Reread { id })
            }
            _ => None,
        }
    }

    fn id(&self) -> &str {
        match self {
            Change::Destroyed { id } | Change::Health { id, .. } | Change::Reread { id } => id,
        }
    }
}

/// The view's memory; pure, so its rules are tested without an engine.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Seeded by a list on the connected stream and followed since.
    synced: bool,
    /// Containers being read again after an event: until then a glance
    /// cannot tell what they are.
    rereading: usize,
    containers: HashMap<String, Container>,
}

impl State {
    /// The stream is connected and `listed` is what the engine listed.
    pub(super) fn seed(&mut self, listed: Vec<Container>) {
        self.containers = listed.into_iter().map(|c| (c.id.clone(), c)).collect();
        self.rereading = 0;
        self.synced = true;
    }

    /// The stream dropped: nothing is known until it is seeded again.
    pub(super) fn disconnect(&mut self) {
        self.synced = false;
        self.rereading = 0;
        self.containers.clear();
    }

    /// Applies a change; true when the container must be read again
    /// (then [`State::reread`] follows with what the list said).
    pub(super) fn apply(&mut self, change: &Change) -> bool {
        match change {
            Change::Destroyed { id } => {
                self.containers.remove(id);
                false
            }
            Change::Health { id, health } => match self.containers.get_mut(id) {
                Some(container) => {
                    container.health = *health;
                    false
                }
                None => self.begin_reread(),
            },
            Change::Reread { .. } => self.begin_reread(),
        }
    }

    fn begin_reread(&mut self) -> bool {
        self.rereading += 1;
        true
    }

    /// What the list said of container `id` after an event (`None`: it is
    /// gone, or carries no `windlass.service` label any more).
    pub(super) fn reread(&mut self, id: &str, listed: Option<Container>) {
        self.rereading = self.rereading.saturating_sub(1);
        match listed {
            Some(container) => {
                self.containers.insert(id.to_owned(), container);
            }
            None => {
                self.containers.remove(id);
            }
        }
    }

    /// The containers carrying every one of `labels`, when the view can
    /// tell: synced, nothing being read again, and `labels` naming the
    /// service (the view holds windlass's containers only).
    pub(super) fn glance(&self, labels: &BTreeMap<String, String>) -> Option<Vec<Container>> {
        if !self.synced || self.rereading > 0 || !labels.contains_key(SERVICE_LABEL) {
            return None;
        }
        let mut found: Vec<Container> = self
            .containers
            .values()
            .filter(|c| labels.iter().all(|(k, v)| c.labels.get(k) == Some(v)))
            .cloned()
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Some(found)
    }
}

/// The live view, shared by every clone of the backend; its task stops
/// when the last clone goes.
#[derive(Debug, Clone)]
pub(super) struct View {
    shared: Arc<Shared>,
    _task: Arc<Task>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Counts the view's changes, for whoever waits for one.
    changes: watch::Sender<u64>,
}

impl Shared {
    fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
        self.changes.send_modify(|n| *n += 1);
        out
    }
}

#[derive(Debug)]
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl View {
    /// Starts following the engine's events on the current tokio runtime.
    pub(super) fn start(client: bollard::Docker) -> View {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changes: watch::channel(0).0,
        });
        let task = tokio::spawn(follow(client, Arc::clone(&shared)));
        View {
            shared,
            _task: Arc::new(Task(task)),
        }
    }

    pub(super) fn glance(&self, labels: &BTreeMap<String, String>) -> Option<Vec<Container>> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .glance(labels)
    }

    /// Changes each time the view does (seeded, an event applied, dropped).
    pub(super) fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }
}

/// Follows the stream, connecting again whenever it drops.
async fn follow(client: bollard::Docker, shared: Arc<Shared>) {
    loop {
        let why = follow_once(&client, &shared).await;
        tracing::warn!(%why, "the container view lost Docker's event stream; glances list until it is back");
        shared.update(State::disconnect);
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// One connection of the stream: seeds the view and applies events until
/// the stream ends; returns why it ended.
async fn follow_once(client: &bollard::Docker, shared: &Shared) -> String {
    // Events from just before the list on are asked for (`since`): the
    // engine sends the ones it still has and then follows, so nothing
    // between the list and the subscription is missed whichever reaches it
    // first.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let listed_at = i64::try_from(now.as_nanos()).unwrap_or(i64::MAX);
    let since = now.saturating_sub(SINCE_MARGIN);
    let since = format!("{}.{:09}", since.as_secs(), since.subsec_nanos());
    let filters = HashMap::from([
        ("type".to_owned(), vec!["container".to_owned()]),
        ("label".to_owned(), vec![SERVICE_LABEL.to_owned()]),
        (
            "event".to_owned(),
            ACTIONS.iter().map(|a| (*a).to_owned()).collect(),
        ),
    ]);
    let options = EventsOptionsBuilder::default()
        .since(&since)
        .filters(&filters)
        .build();
    let mut stream = client.events(Some(options));
    // The request goes out when the stream is first polled: a task of its
    // own polls it while the list runs.
    let (sender, mut events) = mpsc::unbounded_channel();
    let reader = Task(tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let failed = item.is_err();
            if sender.send(item).is_err() || failed {
                return;
            }
        }
    }));
    let listed = match list(client, None).await {
        Ok(listed) => listed,
        Err(e) => return format!("listing the containers failed: {e}"),
    };
    shared.update(|state| state.seed(listed));
    while let Some(item) = events.recv().await {
        let event = match item {
            Ok(event) => event,
            Err(e) => return e.to_string(),
        };
        let Some(change) = Change::of(&event, listed_at) else {
            continue;
        };
        if shared.update(|state| state.apply(&change)) {
            let id = change.id();
            let listed = match reread(client, id).await {
                Ok(listed) => listed,
                Err(e) => return format!("reading container {id} again failed: {e}"),
            };
            shared.update(|state| state.reread(id, listed));
        }
    }
    drop(reader);
    "the engine ended the stream".to_owned()
}

/// Container `id` as the engine's list shows it after an event. The engine
/// sends some events (`die`, `pause`) before its list says so, holding the
/// container's lock until it does; an inspection waits for that lock, so
/// the list read after it is the new one.
async fn reread(client: &bollard::Docker, id: &str) -> Result<Option<Container>, String> {
    match client.inspect_container(id, None).await {
        Ok(_) => {}
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    Ok(list(client, Some(id)).await?.into_iter().next())
}

/// The engine's list of windlass's containers (only `id` when given).
async fn list(client: &bollard::Docker, id: Option<&str>) -> Result<Vec<Container>, String> {
    let mut filters = HashMap::from([("label", vec![SERVICE_LABEL.to_owned()])]);
    if let Some(id) = id {
        filters.insert("id", vec![id.to_owned()]);
    }
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let summaries = client
        .list_containers(Some(options))
        .await
        .map_err(|e| e.to_string())?;
    Ok(summaries.into_iter().map(container_of_summary).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::RunState;

    fn container(id: &str, service: &str) -> Container {
        Container {
            id: id.into(),
            name: format!("{service}-{id}"),
            image: "web:v1".into(),
            labels: BTreeMap::from([(SERVICE_LABEL.to_owned(), service.to_owned())]),
            state: RunState::Running,
            health: Health::Starting,
            published: BTreeMap::new(),
            published_udp: BTreeMap::new(),
            health_log: None,
        }
    }

    fn of(service: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(SERVICE_LABEL.to_owned(), service.to_owned())])
    }

    fn event(id: &str, action: &str) -> EventMessage {
        EventMessage {
            action: Some(action.into()),
            time_nano: Some(2_000),
            actor: Some(bollard::models::EventActor {
                id: Some(id.into()),
                attributes: None,
            }),
            ..EventMessage::default()
        }
    }

    #[test]
    fn answers_only_once_seeded_and_never_after_the_stream_dropped() {
        let mut state = State::default();
        assert_eq!(state.glance(&of("web")), None, "not seeded yet");
        state.seed(vec![container("a", "web"), container("b", "api")]);
        let web = state.glance(&of("web")).expect("seeded");
        assert_eq!(web.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["a"]);
        state.disconnect();
        assert_eq!(state.glance(&of("web")), None, "dropped: the caller lists");
    }

    #[test]
    fn labels_other_than_the_service_are_not_the_views_to_answer() {
        let mut state = State::default();
        state.seed(vec![container("a", "web")]);
        let test = BTreeMap::from([("windlass.test".to_owned(), "1".to_owned())]);
        assert_eq!(state.glance(&test), None);
    }

    #[test]
    fn a_container_being_read_again_holds_answers_until_it_is() {
        let mut state = State::default();
        state.seed(vec![container("a", "web")]);
        let change = Change::of(&event("a", "die"), 1_000).expect("a change");
        assert!(state.apply(&change), "a death is read again");
        assert_eq!(state.glance(&of("web")), None);
        let exited = Container {
            state: RunState::Exited { code: 137 },
            health: Health::None,
            ..container("a", "web")
        };
        state.reread("a", Some(exited.clone()));
        assert_eq!(state.glance(&of("web")), Some(vec![exited]));
    }

    #[test]
    fn health_is_applied_and_destruction_removes() {
        let mut state = State::default();
        state.seed(vec![container("a", "web")]);
        let unhealthy = Change::of(&event("a", "health_status: unhealthy"), 1_000).expect("change");
        assert!(!state.apply(&unhealthy));
        let seen = state.glance(&of("web")).expect("answers");
        assert_eq!(seen[0].health, Health::Unhealthy);
        assert!(!state.apply(&Change::of(&event("a", "destroy"), 1_000).expect("change")));
        assert_eq!(state.glance(&of("web")), Some(vec![]));
        // A health older than the seed's list is read again, not taken.
        let old = Change::of(&event("a", "health_status: healthy"), 3_000).expect("change");
        assert_eq!(old, Change::Reread { id: "a".into() });
        // Unknown actions change nothing.
        assert_eq!(
            Change::of(&event("a", "exec_start: /app probe"), 1_000),
            None
        );
    }
}
