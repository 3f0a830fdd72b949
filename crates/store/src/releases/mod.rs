//! Releases of deployed services, which release each service's proxy serves,
//! and the per-service deploy lock. Kept apart from the [`crate::Store`] of
//! executions: a deploy is an execution, and these tables say what it did to
//! the world.
//!
//! [`SqliteReleases`] opens its own connection, to the same file as the
//! execution store or another; `:memory:` keeps everything in memory for tests.

mod aborts;
mod apps;
mod history;
mod key;
mod migrate;
mod origin;
mod standing;

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub use aborts::Abort;
pub use apps::{AppRelease, Member, NewAppRelease};
pub use history::{Event, Happened};
pub use key::{ecs_app, split_app, BadEnvironment, BadKey, Environment, Installation, ServiceKey};
pub use origin::{origin_of, Origin, OriginImage, ORIGIN};
pub use standing::{rollback_target, AppState};

/// The state a release is in, in one word: the latest of its
/// [`Release::history`] (which keeps them all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Its deploy (or rollback to it) is running.
    Deploying,
    /// It went live (it may have been retired since by a newer deploy).
    Live,
    /// It was taken out again by a rollback, of its own deploy or later.
    RolledBack,
    /// It never took traffic (a build or start failed before the switch).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deploying => "deploying",
            Outcome::Live => "live",
            Outcome::RolledBack => "rolled-back",
            Outcome::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Outcome> {
        Ok(match text {
            "deploying" => Outcome::Deploying,
            "live" => Outcome::Live,
            "rolled-back" => Outcome::RolledBack,
            "failed" => Outcome::Failed,
            other => return Err(Error::Corrupt(format!("unknown release outcome '{other}'"))),
        })
    }
}

/// One release of a service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Release {
    pub service: ServiceKey,
    /// `r1`, `r2`, ... per service.
    pub id: String,
    /// The Compose file it came from, and its text, pinned at deploy time so
    /// that the release can be started again as it was.
    pub compose_file: String,
    pub compose_text: String,
    /// The reference its containers run (a tag windlass gave it), once built.
    pub image: Option<String>,
    /// The image's registry digest, or its id when it was never pushed.
    pub digest: Option<String>,
    pub created_millis: i64,
    /// Who deployed it (user@host).
    pub by: String,
    /// The latest state it is in; `history` says what happened and when.
    pub outcome: Outcome,
    /// How long the newest rollback away from it took, from the decision
    /// to the traffic flip.
    pub rollback_millis: Option<i64>,
    /// Why it was rolled back or failed, the newest reason.
    pub detail: Option<String>,
    /// The execution that deployed it.
    pub execution: Option<String>,
    /// What happened to it and when, oldest first.
    #[serde(default)]
    pub history: Vec<Event>,
    /// When its image was let go because newer releases filled
    /// `x-windlass.retain`; a pruned release cannot be rolled back to.
    #[serde(default)]
    pub pruned_millis: Option<i64>,
    /// What the service was deployed from, as one digest: its resolved
    /// configuration and what it reads (env files, secrets, the build
    /// context). A deploy whose fingerprint and image equal the live
    /// release's leaves the service alone.
    #[serde(default)]
    pub fingerprint: Option<String>,
}

impl Release {
    /// Whether it ever went live (passed its deploy, or was rolled back
    /// to), whatever happened since.
    pub fn went_live(&self) -> bool {
        history::went_live(&self.history)
    }

    /// Whether a rollback may go back to it without naming it: it went
    /// live and its image is retained.
    pub fn is_rollback_target(&self) -> bool {
        self.went_live() && self.pruned_millis.is_none()
    }

    /// Whether a rollback may go back to it when named: it took traffic
    /// (it went live, or its own deploy was rolled back after the switch)
    /// and its image is retained.
    pub fn took_traffic(&self) -> bool {
        history::took_traffic(&self.history)
    }
}

/// What a service's proxies serve: written before the proxies are
/// switched, so that after a crash they are restored to exactly this
/// release.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Live {
    pub service: ServiceKey,
    pub release: String,
    /// The first port's proxy's listening address (empty without a proxy);
    /// every port's is in `ports`.
    pub address: String,
    /// The first port's upstreams: the release containers' published
    /// addresses (127.0.0.1:PORT); on ECS, the task definition revision.
    pub upstreams: Vec<String>,
    /// Every published port's proxy, in the service's order. Empty in a
    /// pointer written before ports were recorded one by one (it had one
    /// port: `address` and `upstreams`), and on ECS.
    #[serde(default)]
    pub ports: Vec<LivePort>,
    pub since_millis: i64,
}

/// One published port of a live release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivePort {
    /// Where its proxy listens (`[::]:8080` is every interface).
    pub address: String,
    /// What the proxy carries: `http`, `tcp` or `udp`.
    pub protocol: String,
    /// The container port it carries traffic to, `80/tcp`.
    pub target: String,
    /// The release containers' addresses for that port (127.0.0.1:PORT).
    pub upstreams: Vec<String>,
}

impl Live {
    /// A pointer whose `address` and `upstreams` are its first port's.
    pub fn of_ports(
        service: ServiceKey,
        release: String,
        ports: Vec<LivePort>,
        since_millis: i64,
    ) -> Live {
        let (address, upstreams) = ports
            .first()
            .map(|p| (p.address.clone(), p.upstreams.clone()))
            .unwrap_or_default();
        Live {
            service,
            release,
            address,
            upstreams,
            ports,
            since_millis,
        }
    }

    /// Where its proxies listen, for people: `[::]:8080 (http), [::]:5353
    /// (udp)`; `None` without a proxy.
    pub fn listening(&self) -> Option<String> {
        if self.ports.is_empty() {
            return Some(self.address.clone()).filter(|a| !a.is_empty());
        }
        let ports: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("{} ({})", p.address, p.protocol))
            .collect();
        Some(ports.join(", "))
    }

    /// Every port's upstreams, each with the container port it serves
    /// (`80/tcp=127.0.0.1:32768`; bare in a pointer of before ports).
    pub fn upstream_lines(&self) -> Vec<String> {
        if self.ports.is_empty() {
            return self.upstreams.clone();
        }
        let mut lines: Vec<String> = Vec::new();
        for port in &self.ports {
            for upstream in &port.upstreams {
                let line = format!("{}={upstream}", port.target);
                if !lines.contains(&line) {
                    lines.push(line);
                }
            }
        }
        lines
    }
}

/// Who holds a service's deploy lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub service: ServiceKey,
    /// The execution that deploys.
    pub holder: String,
    /// The windlass process that runs it, on [`Lock::host`].
    pub pid: u32,
    /// The name of the machine that process runs on: a pid means something
    /// only there (empty in a lock written before hosts were recorded).
    #[serde(default)]
    pub host: String,
    pub heartbeat_millis: i64,
}

/// A new release, before it has an id.
#[derive(Clone, Debug)]
pub struct NewRelease {
    pub service: ServiceKey,
    pub compose_file: String,
    pub compose_text: String,
    pub by: String,
    pub created_millis: i64,
    /// See [`Release::fingerprint`].
    pub fingerprint: Option<String>,
}

/// Where releases, live pointers and locks live.
pub trait Releases: Send + Sync + 'static {
    /// Gives the next id of `new.service` (`r<n>`) and stores it as deploying.
    fn create(&self, new: NewRelease) -> Result<Release>;
    fn get(&self, service: &ServiceKey, id: &str) -> Result<Option<Release>>;
    /// A service's releases, newest first.
    fn list(&self, service: &ServiceKey) -> Result<Vec<Release>>;
    /// Every service that has a release.
    fn keys(&self) -> Result<Vec<ServiceKey>>;
    /// The services of `app` that have a release.
    fn keys_of(&self, app: &str) -> Result<Vec<ServiceKey>> {
        Ok(self
            .keys()?
            .into_iter()
            .filter(|k| k.app() == app)
            .collect())
    }
    /// This store's installation: made once, the same ever after.
    fn installation(&self) -> Result<Installation>;
    fn set_image(&self, service: &ServiceKey, id: &str, image: &str, digest: &str) -> Result<()>;
    fn set_execution(&self, service: &ServiceKey, id: &str, execution: &str) -> Result<()>;
    /// Records that the release's image was let go (see
    /// `Release::pruned_millis`), and so in its history.
    fn set_pruned(&self, service: &ServiceKey, id: &str, millis: i64) -> Result<()>;
    /// Records what happened to a release: appends `event` to its history
    /// and, in the same write, sets its outcome to the state the event
    /// leaves it in (a rollback's time and a reason are kept too).
    fn record(&self, service: &ServiceKey, id: &str, event: &Event) -> Result<()>;
    /// Sets the one-word outcome and records it in the history as an
    /// event of unknown date (`Deploying` records nothing). Callers that
    /// know when, and what a rollback went to, use [`Releases::record`].
    fn set_outcome(
        &self,
        service: &ServiceKey,
        id: &str,
        outcome: Outcome,
        rollback_millis: Option<i64>,
        detail: Option<&str>,
    ) -> Result<()>;
    fn live(&self, service: &ServiceKey) -> Result<Option<Live>>;
    fn all_live(&self) -> Result<Vec<Live>>;
    fn set_live(&self, live: &Live) -> Result<()> {
        self.set_lives(std::slice::from_ref(live))
    }
    /// Writes several services' live pointers in one transaction: an app's
    /// traffic moves as one.
    fn set_lives(&self, lives: &[Live]) -> Result<()>;
    fn clear_live(&self, service: &ServiceKey) -> Result<()>;
    /// Takes `service`'s lock for `holder` unless another holder (or the
    /// same holder in another process: another pid or host) has it with
    /// a heartbeat newer than `stale_before_millis`; the same holder of the
    /// same process takes it again, and the same holder of a process that is
    /// gone once the caller's `stale_before_millis` is past that heartbeat (a
    /// deploy resumed after a crash). Returns the other holder when the lock
    /// is taken.
    fn try_lock(&self, lock: &Lock, stale_before_millis: i64) -> Result<Option<Lock>>;
    /// Takes every lock of `locks` (each with its own stale-before time, as
    /// [`Releases::try_lock`]) in one transaction, or none of them: one
    /// commit for the services of an app. Returns the first other holder.
    ///
    /// The commit need not wait for the disk (SQLite: `synchronous=NORMAL`
    /// for it): a lock guards an execution that the caller starts next by a
    /// durable commit to the same database, whose fsync of the one WAL
    /// makes the lock durable too. A crash before that loses a lock that
    /// guards nothing yet.
    fn try_lock_all(&self, locks: &[(Lock, i64)]) -> Result<Option<Lock>>;
    /// Renews the heartbeat of every lock process `pid` of `host` holds.
    fn heartbeat(&self, host: &str, pid: u32, now_millis: i64) -> Result<()>;
    /// Frees `service`'s lock if `holder` has it.
    fn unlock(&self, service: &ServiceKey, holder: &str) -> Result<()>;
    fn lock_of(&self, service: &ServiceKey) -> Result<Option<Lock>>;
    /// Keeps an abort of a deploy that has not reached a bake or gate yet,
    /// across a crash, until [`Releases::drop_abort`] (it replaces any
    /// other abort of the same app).
    fn keep_abort(&self, abort: &Abort) -> Result<()>;
    /// The abort kept for `app`.
    fn abort_of(&self, app: &str) -> Result<Option<Abort>>;
    /// No longer keeps `app`'s abort (its deploy ended).
    fn drop_abort(&self, app: &str) -> Result<()>;
    /// Gives the next id of `new.app` (`a<n>`) and stores it as deploying.
    fn create_app(&self, new: NewAppRelease) -> Result<AppRelease>;
    fn app_release(&self, app: &str, id: &str) -> Result<Option<AppRelease>>;
    /// An app's releases, newest first.
    fn app_releases(&self, app: &str) -> Result<Vec<AppRelease>>;
    /// Every app that has a release.
    fn apps(&self) -> Result<Vec<String>>;
    /// As [`Releases::set_outcome`], for an app release.
    fn set_app_outcome(
        &self,
        app: &str,
        id: &str,
        outcome: Outcome,
        rollback_millis: Option<i64>,
        detail: Option<&str>,
    ) -> Result<()>;
    /// As [`Releases::record`], for an app release.
    fn record_app(&self, app: &str, id: &str, event: &Event) -> Result<()>;
    fn set_app_execution(&self, app: &str, id: &str, execution: &str) -> Result<()>;
    /// Which of `app`'s releases serves and which one a rollback of the app
    /// goes back to, by the one rule the agent, the CLI and the dashboard
    /// share (see [`AppState`]).
    fn app_state(&self, app: &str) -> Result<AppState> {
        let releases = self.app_releases(app)?;
        let mut live = std::collections::HashMap::new();
        for key in self.keys_of(app)? {
            if let Some(pointer) = self.live(&key)? {
                live.insert(key.service().to_owned(), pointer.release);
            }
        }
        Ok(AppState::of(&releases, &live))
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS releases (
    service TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    compose_file TEXT NOT NULL,
    compose_text TEXT NOT NULL,
    image TEXT,
    digest TEXT,
    created_millis INTEGER NOT NULL,
    by TEXT NOT NULL,
    outcome TEXT NOT NULL,
    rollback_millis INTEGER,
    detail TEXT,
    execution TEXT,
    PRIMARY KEY (service, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS releases_by_id ON releases(service, id);
CREATE TABLE IF NOT EXISTS live_releases (
    service TEXT PRIMARY KEY,
    release TEXT NOT NULL,
    address TEXT NOT NULL,
    upstreams TEXT NOT NULL,
    since_millis INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deploy_locks (
    service TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    pid INTEGER NOT NULL,
    heartbeat_millis INTEGER NOT NULL,
    host TEXT NOT NULL DEFAULT ''
);
";

const SELECT_RELEASE: &str =
    "SELECT service, id, compose_file, compose_text, image, digest, created_millis, by, \
     outcome, rollback_millis, detail, execution, pruned_millis, fingerprint, history FROM releases";

/// [`Releases`] in SQLite (WAL, `synchronous=FULL`).
pub struct SqliteReleases {
    conn: Mutex<Connection>,
}

impl SqliteReleases {
    pub fn open(path: &Path) -> Result<Self> {
        let open_error = |e: rusqlite::Error| Error::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(open_error)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;",
        )
        .map_err(open_error)?;
        conn.execute_batch(SCHEMA).map_err(open_error)?;
        conn.execute_batch(apps::SCHEMA).map_err(open_error)?;
        conn.execute_batch(aborts::SCHEMA).map_err(open_error)?;
        migrate::migrate(&conn).map_err(open_error)?;
        // Made now, so that a reader that cannot write finds it.
        migrate::installation(&conn).map_err(open_error)?;
        Ok(SqliteReleases {
            conn: Mutex::new(conn),
        })
    }

    /// The database at `path` for reading only: nothing is created,
    /// migrated or written (a dry run's plan, beside a stopped agent). A
    /// database an older windlass wrote is refused until an agent has
    /// opened it once.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        let open_error = |e: rusqlite::Error| Error::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_error)?;
        conn.execute_batch("PRAGMA busy_timeout=5000;")
            .map_err(open_error)?;
        if !migrate::is_current(&conn).map_err(open_error)? {
            return Err(Error::Open {
                path: path.display().to_string(),
                reason: "it was written by an older windlass; start the agent once (windlass agent) so that it is brought up to date".into(),
            });
        }
        Ok(SqliteReleases {
            conn: Mutex::new(conn),
        })
    }

    pub fn in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(apps::SCHEMA)?;
        conn.execute_batch(aborts::SCHEMA)?;
        migrate::migrate(&conn)?;
        Ok(SqliteReleases {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// [`Releases::try_lock_all`]'s transaction.
fn take_locks(conn: &mut Connection, locks: &[(Lock, i64)]) -> Result<Option<Lock>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (lock, stale_before_millis) in locks {
        let current = tx
            .query_row(
                "SELECT service, holder, pid, heartbeat_millis, host FROM deploy_locks WHERE service = ?1",
                params![lock.service],
                lock_from_row,
            )
            .optional()?;
        if let Some(current) = current {
            let another = current.holder != lock.holder
                || current.pid != lock.pid
                || current.host != lock.host;
            if another && current.heartbeat_millis >= *stale_before_millis {
                // Dropping the transaction takes none of the locks.
                return Ok(Some(current));
            }
        }
        tx.execute(
            "INSERT INTO deploy_locks (service, holder, pid, heartbeat_millis, host) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT(service) DO UPDATE SET holder = ?2, pid = ?3, heartbeat_millis = ?4, host = ?5",
            params![lock.service, lock.holder, lock.pid, lock.heartbeat_millis, lock.host],
        )?;
    }
    tx.commit()?;
    Ok(None)
}

fn release_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Release, String, String)> {
    let outcome: String = row.get(8)?;
    Ok((
        Release {
            service: row.get(0)?,
            id: row.get(1)?,
            compose_file: row.get(2)?,
            compose_text: row.get(3)?,
            image: row.get(4)?,
            digest: row.get(5)?,
            created_millis: row.get(6)?,
            by: row.get(7)?,
            outcome: Outcome::Deploying,
            rollback_millis: row.get(9)?,
            detail: row.get(10)?,
            execution: row.get(11)?,
            pruned_millis: row.get(12)?,
            fingerprint: row.get(13)?,
            history: Vec::new(),
        },
        outcome,
        row.get(14)?,
    ))
}

fn finish(row: (Release, String, String)) -> Result<Release> {
    let (mut release, outcome, history) = row;
    release.outcome = Outcome::parse(&outcome)?;
    release.history = read_history(&history, &release.id)?;
    Ok(release)
}

fn read_history(text: &str, id: &str) -> Result<Vec<Event>> {
    serde_json::from_str(text)
        .map_err(|e| Error::Corrupt(format!("the history of release {id}: {e}")))
}

/// `set_outcome`'s history: its event (?6, JSON) appended, if it has one.
const APPEND_OUTCOME_EVENT: &str =
    "history = CASE WHEN ?6 IS NULL THEN history ELSE json_insert(history, '$[#]', json(?6)) END";

/// The one event `set_outcome` records for an outcome.
fn outcome_event(
    outcome: Outcome,
    rollback_millis: Option<i64>,
    detail: Option<&str>,
) -> Option<Event> {
    let detail = detail.map(str::to_owned);
    let what = match outcome {
        Outcome::Deploying => return None,
        Outcome::Live => Happened::WentLive,
        Outcome::RolledBack => Happened::RolledBack {
            to: None,
            rollback_millis,
            detail,
        },
        Outcome::Failed => Happened::Failed { detail },
    };
    Some(Event {
        at_millis: None,
        what,
    })
}

/// What an event writes: itself (JSON, appended to the history) and the
/// columns it sets beside it: the outcome it leaves, a rollback's time, a
/// reason.
struct Written<'a> {
    json: String,
    outcome: Option<&'static str>,
    rollback_millis: Option<i64>,
    detail: Option<&'a str>,
}

fn event_columns(event: &Event) -> Result<Written<'_>> {
    let json = serde_json::to_string(event).map_err(|e| Error::Corrupt(e.to_string()))?;
    let (rollback_millis, detail) = match &event.what {
        Happened::RolledBack {
            rollback_millis,
            detail,
            ..
        } => (*rollback_millis, detail.as_deref()),
        Happened::Failed { detail } => (None, detail.as_deref()),
        _ => (None, None),
    };
    Ok(Written {
        json,
        outcome: event.outcome().map(Outcome::as_str),
        rollback_millis,
        detail,
    })
}

const LIVE_COLUMNS: &str = "service, release, address, upstreams, since_millis, ports";

fn live_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Live, String, String)> {
    Ok((
        Live {
            service: row.get(0)?,
            release: row.get(1)?,
            address: row.get(2)?,
            upstreams: Vec::new(),
            ports: Vec::new(),
            since_millis: row.get(4)?,
        },
        row.get(3)?,
        row.get(5)?,
    ))
}

fn finish_live(row: (Live, String, String)) -> Result<Live> {
    let (mut live, upstreams, ports) = row;
    live.upstreams = serde_json::from_str(&upstreams)
        .map_err(|e| Error::Corrupt(format!("upstreams of {}: {e}", live.service)))?;
    live.ports = serde_json::from_str(&ports)
        .map_err(|e| Error::Corrupt(format!("ports of {}: {e}", live.service)))?;
    Ok(live)
}

fn lock_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Lock> {
    Ok(Lock {
        service: row.get(0)?,
        holder: row.get(1)?,
        pid: row.get(2)?,
        heartbeat_millis: row.get(3)?,
        host: row.get(4)?,
    })
}

impl Releases for SqliteReleases {
    fn create(&self, new: NewRelease) -> Result<Release> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let seq: i64 = tx.query_row(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM releases WHERE service = ?1",
            params![new.service],
            |row| row.get(0),
        )?;
        let id = format!("r{seq}");
        tx.execute(
            "INSERT INTO releases (service, seq, id, compose_file, compose_text, created_millis, by, outcome, fingerprint) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                new.service,
                seq,
                id,
                new.compose_file,
                new.compose_text,
                new.created_millis,
                new.by,
                Outcome::Deploying.as_str(),
                new.fingerprint
            ],
        )?;
        tx.commit()?;
        Ok(Release {
            service: new.service,
            id,
            compose_file: new.compose_file,
            compose_text: new.compose_text,
            image: None,
            digest: None,
            created_millis: new.created_millis,
            by: new.by,
            outcome: Outcome::Deploying,
            rollback_millis: None,
            detail: None,
            execution: None,
            pruned_millis: None,
            fingerprint: new.fingerprint,
            history: Vec::new(),
        })
    }

    fn get(&self, service: &ServiceKey, id: &str) -> Result<Option<Release>> {
        let conn = self.lock();
        let row = conn
            .prepare_cached(&format!("{SELECT_RELEASE} WHERE service = ?1 AND id = ?2"))?
            .query_row(params![service, id], release_from_row)
            .optional()?;
        row.map(finish).transpose()
    }

    fn list(&self, service: &ServiceKey) -> Result<Vec<Release>> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached(&format!(
            "{SELECT_RELEASE} WHERE service = ?1 ORDER BY seq DESC"
        ))?;
        let rows = statement.query_map(params![service], release_from_row)?;
        rows.map(|row| finish(row?)).collect()
    }

    fn keys(&self) -> Result<Vec<ServiceKey>> {
        let conn = self.lock();
        let mut statement =
            conn.prepare_cached("SELECT DISTINCT service FROM releases ORDER BY service")?;
        let rows = statement.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn installation(&self) -> Result<Installation> {
        Ok(migrate::installation(&self.lock())?)
    }

    fn set_image(&self, service: &ServiceKey, id: &str, image: &str, digest: &str) -> Result<()> {
        self.lock().execute(
            "UPDATE releases SET image = ?3, digest = ?4 WHERE service = ?1 AND id = ?2",
            params![service, id, image, digest],
        )?;
        Ok(())
    }

    fn set_execution(&self, service: &ServiceKey, id: &str, execution: &str) -> Result<()> {
        self.lock().execute(
            "UPDATE releases SET execution = ?3 WHERE service = ?1 AND id = ?2",
            params![service, id, execution],
        )?;
        Ok(())
    }

    fn set_pruned(&self, service: &ServiceKey, id: &str, millis: i64) -> Result<()> {
        let event = serde_json::to_string(&Event::at(millis, Happened::Pruned))
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        self.lock().execute(
            "UPDATE releases SET pruned_millis = ?3, history = json_insert(history, '$[#]', json(?4)) \
             WHERE service = ?1 AND id = ?2",
            params![service, id, millis, event],
        )?;
        Ok(())
    }

    fn record(&self, service: &ServiceKey, id: &str, event: &Event) -> Result<()> {
        let w = event_columns(event)?;
        self.lock().execute(
            "UPDATE releases SET history = json_insert(history, '$[#]', json(?3)), \
             outcome = COALESCE(?4, outcome), rollback_millis = COALESCE(?5, rollback_millis), \
             detail = COALESCE(?6, detail) WHERE service = ?1 AND id = ?2",
            params![service, id, w.json, w.outcome, w.rollback_millis, w.detail],
        )?;
        Ok(())
    }

    fn set_outcome(
        &self,
        service: &ServiceKey,
        id: &str,
        outcome: Outcome,
        rollback_millis: Option<i64>,
        detail: Option<&str>,
    ) -> Result<()> {
        let event = outcome_event(outcome, rollback_millis, detail)
            .map(|e| serde_json::to_string(&e))
            .transpose()
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        self.lock().execute(
            &format!(
                "UPDATE releases SET outcome = ?3, rollback_millis = COALESCE(?4, rollback_millis), \
                 detail = COALESCE(?5, detail), {APPEND_OUTCOME_EVENT} WHERE service = ?1 AND id = ?2"
            ),
            params![service, id, outcome.as_str(), rollback_millis, detail, event],
        )?;
        Ok(())
    }

    fn live(&self, service: &ServiceKey) -> Result<Option<Live>> {
        let conn = self.lock();
        let row = conn
            .prepare_cached(&format!(
                "SELECT {LIVE_COLUMNS} FROM live_releases WHERE service = ?1"
            ))?
            .query_row(params![service], live_from_row)
            .optional()?;
        row.map(finish_live).transpose()
    }

    fn all_live(&self) -> Result<Vec<Live>> {
        let conn = self.lock();
        let mut statement = conn.prepare_cached(&format!(
            "SELECT {LIVE_COLUMNS} FROM live_releases ORDER BY service"
        ))?;
        let rows = statement.query_map([], live_from_row)?;
        rows.map(|row| finish_live(row?)).collect()
    }

    fn set_lives(&self, lives: &[Live]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for live in lives {
            let upstreams = serde_json::to_string(&live.upstreams)
                .map_err(|e| Error::Corrupt(e.to_string()))?;
            let ports =
                serde_json::to_string(&live.ports).map_err(|e| Error::Corrupt(e.to_string()))?;
            tx.execute(
                "INSERT INTO live_releases (service, release, address, upstreams, since_millis, ports) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT(service) DO UPDATE SET release = ?2, address = ?3, upstreams = ?4, since_millis = ?5, ports = ?6",
                params![live.service, live.release, live.address, upstreams, live.since_millis, ports],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn clear_live(&self, service: &ServiceKey) -> Result<()> {
        self.lock().execute(
            "DELETE FROM live_releases WHERE service = ?1",
            params![service],
        )?;
        Ok(())
    }

    fn try_lock(&self, lock: &Lock, stale_before_millis: i64) -> Result<Option<Lock>> {
        self.try_lock_all(&[(lock.clone(), stale_before_millis)])
    }

    fn try_lock_all(&self, locks: &[(Lock, i64)]) -> Result<Option<Lock>> {
        let mut conn = self.lock();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let taken = take_locks(&mut conn, locks);
        conn.pragma_update(None, "synchronous", "FULL")?;
        taken
    }

    fn heartbeat(&self, host: &str, pid: u32, now_millis: i64) -> Result<()> {
        self.lock().execute(
            "UPDATE deploy_locks SET heartbeat_millis = ?2 WHERE pid = ?1 AND host = ?3",
            params![pid, now_millis, host],
        )?;
        Ok(())
    }

    fn unlock(&self, service: &ServiceKey, holder: &str) -> Result<()> {
        self.lock().execute(
            "DELETE FROM deploy_locks WHERE service = ?1 AND holder = ?2",
            params![service, holder],
        )?;
        Ok(())
    }

    fn keep_abort(&self, abort: &Abort) -> Result<()> {
        self.insert_abort(abort)
    }

    fn abort_of(&self, app: &str) -> Result<Option<Abort>> {
        self.select_abort(app)
    }

    fn drop_abort(&self, app: &str) -> Result<()> {
        self.delete_abort(app)
    }

    fn create_app(&self, new: NewAppRelease) -> Result<AppRelease> {
        self.create_app_release(new)
    }

    fn app_release(&self, app: &str, id: &str) -> Result<Option<AppRelease>> {
        self.get_app_release(app, id)
    }

    fn app_releases(&self, app: &str) -> Result<Vec<AppRelease>> {
        self.list_app_releases(app)
    }

    fn apps(&self) -> Result<Vec<String>> {
        self.list_apps()
    }

    fn set_app_outcome(
        &self,
        app: &str,
        id: &str,
        outcome: Outcome,
        rollback_millis: Option<i64>,
        detail: Option<&str>,
    ) -> Result<()> {
        self.update_app_release(app, id, outcome, rollback_millis, detail)
    }

    fn record_app(&self, app: &str, id: &str, event: &Event) -> Result<()> {
        self.record_app_event(app, id, event)
    }

    fn set_app_execution(&self, app: &str, id: &str, execution: &str) -> Result<()> {
        self.update_app_execution(app, id, execution)
    }

    fn lock_of(&self, service: &ServiceKey) -> Result<Option<Lock>> {
        let conn = self.lock();
        let lock = conn
            .prepare_cached(
                "SELECT service, holder, pid, heartbeat_millis, host FROM deploy_locks WHERE service = ?1",
            )?
            .query_row(params![service], lock_from_row)
            .optional()?;
        Ok(lock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ServiceKey {
        text.parse().expect("a key")
    }

    fn new(service: &str) -> NewRelease {
        NewRelease {
            service: key(&format!("shop/{service}")),
            compose_file: "compose.yaml".into(),
            compose_text: "services: {}".into(),
            by: "me@here".into(),
            created_millis: 1,
            fingerprint: Some(format!("fp-{service}")),
        }
    }

    #[test]
    fn releases_are_numbered_per_service_and_keep_their_outcome() -> Result<()> {
        let store = SqliteReleases::in_memory()?;
        assert_eq!(store.create(new("web"))?.id, "r1");
        assert_eq!(store.create(new("web"))?.id, "r2");
        assert_eq!(store.create(new("api"))?.id, "r1");
        store.set_image(&key("shop/web"), "r2", "windlass/web:r2", "sha256:ab")?;
        store.set_outcome(
            &key("shop/web"),
            "r2",
            Outcome::RolledBack,
            Some(3),
            Some("unhealthy"),
        )?;
        let list = store.list(&key("shop/web"))?;
        assert_eq!(
            list.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["r2", "r1"]
        );
        assert_eq!(list[0].outcome, Outcome::RolledBack);
        assert_eq!(list[0].rollback_millis, Some(3));
        assert_eq!(list[0].digest.as_deref(), Some("sha256:ab"));
        assert_eq!(list[0].fingerprint.as_deref(), Some("fp-web"));
        assert_eq!(store.keys()?, [key("shop/api"), key("shop/web")]);
        assert_eq!(store.keys_of("other")?, []);
        Ok(())
    }

    #[test]
    fn a_pruned_release_says_when_and_an_older_database_gains_the_column() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("windlass-releases-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::Corrupt(e.to_string()))?;
        let path = dir.join("old.db");
        let _ = std::fs::remove_file(&path);
        {
            // SCHEMA is the table as the first versions made it, without
            // pruned_millis (which `migrate` adds).
            let conn = Connection::open(&path)?;
            conn.execute_batch(SCHEMA)?;
            conn.execute(
                "INSERT INTO releases (service, seq, id, compose_file, compose_text, created_millis, by, outcome) \
                 VALUES ('web', 1, 'r1', 'c.yaml', '', 1, 'me', 'live')",
                [],
            )?;
        }
        let store = SqliteReleases::open(&path)?;
        assert_eq!(
            store
                .get(&key("default/web"), "r1")?
                .map(|r| r.pruned_millis),
            Some(None)
        );
        store.set_pruned(&key("default/web"), "r1", 42)?;
        assert_eq!(store.list(&key("default/web"))?[0].pruned_millis, Some(42));
        drop(store);
        // Opening again does not add the column twice.
        let again = SqliteReleases::open(&path)?;
        assert_eq!(
            again
                .get(&key("default/web"), "r1")?
                .and_then(|r| r.pruned_millis),
            Some(42)
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn the_live_pointer_is_replaced_whole() -> Result<()> {
        let store = SqliteReleases::in_memory()?;
        let port = |address: &str, target: &str, upstreams: &[&str]| LivePort {
            address: address.into(),
            protocol: "tcp".into(),
            target: target.into(),
            upstreams: upstreams.iter().map(|u| (*u).to_owned()).collect(),
        };
        let mut live = Live::of_ports(
            key("shop/web"),
            "r1".into(),
            vec![port("127.0.0.1:8080", "80/tcp", &["127.0.0.1:1"])],
            1,
        );
        store.set_live(&live)?;
        live = Live::of_ports(
            key("shop/web"),
            "r2".into(),
            vec![
                port("127.0.0.1:8080", "80/tcp", &["127.0.0.1:2", "127.0.0.1:3"]),
                port("[::]:5353", "53/udp", &["127.0.0.1:4", "127.0.0.1:5"]),
            ],
            1,
        );
        store.set_live(&live)?;
        assert_eq!(store.live(&key("shop/web"))?, Some(live.clone()));
        assert_eq!(live.address, "127.0.0.1:8080");
        store.clear_live(&key("shop/web"))?;
        assert_eq!(store.all_live()?, []);
        Ok(())
    }

    /// A row of a store from before ports were recorded one by one reads
    /// with its one port in `address` and `upstreams`, and no `ports`.
    #[test]
    fn a_live_pointer_of_before_ports_reads() -> Result<()> {
        let store = SqliteReleases::in_memory()?;
        store.lock().execute(
            "INSERT INTO live_releases (service, release, address, upstreams, since_millis) \
             VALUES ('shop/db', 'r3', '127.0.0.1:6380', '[\"127.0.0.1:9\"]', 5)",
            [],
        )?;
        let live = store.live(&key("shop/db"))?.expect("the row reads");
        assert_eq!(live.address, "127.0.0.1:6380");
        assert_eq!(live.upstreams, vec!["127.0.0.1:9".to_owned()]);
        assert_eq!(live.ports, Vec::<LivePort>::new());
        Ok(())
    }

    #[test]
    fn a_lock_frees_itself_when_its_holder_stops_beating() -> Result<()> {
        let store = SqliteReleases::in_memory()?;
        let lock = |holder: &str, pid, at| Lock {
            service: key("shop/web"),
            holder: holder.into(),
            pid,
            host: "here".into(),
            heartbeat_millis: at,
        };
        assert_eq!(store.try_lock(&lock("a", 1, 100), 0)?, None);
        // Another deploy while the holder beats: refused, told who holds it.
        assert_eq!(
            store.try_lock(&lock("b", 2, 150), 50)?,
            Some(lock("a", 1, 100))
        );
        // The same deploy resumed by a new process takes it again.
        assert_eq!(store.try_lock(&lock("a", 3, 160), 110)?, None);
        store.heartbeat("there", 3, 190)?;
        assert_eq!(
            store.lock_of(&key("shop/web"))?,
            Some(lock("a", 3, 160)),
            "pid 3 of another host beats its own locks only"
        );
        store.heartbeat("here", 3, 200)?;
        assert_eq!(store.lock_of(&key("shop/web"))?, Some(lock("a", 3, 200)));
        // The same holder in another live process (two resumers): refused.
        assert_eq!(
            store.try_lock(&lock("a", 4, 210), 150)?,
            Some(lock("a", 3, 200))
        );
        let elsewhere = Lock {
            host: "there".into(),
            ..lock("a", 3, 210)
        };
        assert_eq!(
            store.try_lock(&elsewhere, 150)?,
            Some(lock("a", 3, 200)),
            "pid 3 of another host is another process"
        );
        // The holder is gone: no heartbeat since 200, stale before 250.
        assert_eq!(store.try_lock(&lock("b", 2, 300), 250)?, None);
        store.unlock(&key("shop/web"), "a")?;
        assert!(
            store.lock_of(&key("shop/web"))?.is_some(),
            "only the holder unlocks"
        );
        store.unlock(&key("shop/web"), "b")?;
        assert_eq!(store.lock_of(&key("shop/web"))?, None);
        Ok(())
    }
}
