//! The routes of windlass's entry point on a Docker Swarm, shared by the
//! deploy crate's Swarm target (which writes them) and the entry binary
//! (which serves them): one typed module for both sides.
//!
//! The entry point is one global Swarm service per app, on the managers.
//! Its routing table is a label of that service ([`ROUTES_LABEL`]): a
//! switch is one update of the service's labels, one write to the Swarm's
//! Raft store, which every entry task reads from its manager's engine
//! (labels of a service, unlike its task template, change without
//! restarting its tasks). So the table survives windlass, moves all of an
//! app's services at once, and is the same on every node.

use serde::{Deserialize, Serialize};
use windlass_proxy::daemon::api::ReleaseStats;
use windlass_proxy::{Sticky, Weight};

/// The label of the entry service that holds its [`Routes`] as JSON.
pub const ROUTES_LABEL: &str = "windlass.routes";
/// The environment variable that tells an entry task its service's name.
pub const SERVICE_ENV: &str = "WINDLASS_ENTRY_SERVICE";

/// Every published port of an app and where it goes now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routes {
    pub ports: Vec<Route>,
}

/// One published port, routed to one release of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// The port the entry listens on (on every interface of its task, which
    /// the node publishes in host mode).
    pub published: u16,
    /// `http`, `tcp` or `udp` (`windlass_proxy::Protocol`).
    pub protocol: String,
    /// The Compose service it belongs to.
    pub service: String,
    /// The live release (`r3`).
    pub release: String,
    /// The release's Swarm DNS name for its tasks (`tasks.NAME`), resolved
    /// again and again, so replicas that move are followed.
    pub upstream: String,
    /// The container port.
    pub target: u16,
    /// A rollout's new release beside the live one, taking `weight` of new
    /// traffic (the proxy's weighted routing); none outside a rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<RouteCanary>,
    /// The gap of a stop-first deploy: the live release is stopping (or
    /// stopped) and the next one not yet switched in, so new connections
    /// and requests wait (the proxy's hold) rather than fail. Ends when the
    /// route names another release without a hold (the switch), or at its
    /// deadline, so a hold never outlives a windlass that died in the gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<RouteHold>,
}

/// A route's hold, written with the routes (one write, read by every entry
/// task at once). Its deadline is a duration each entry task counts on its
/// own monotonic clock from when it first read this hold ([`Holds`]), so
/// it does not depend on the nodes' clocks agreeing with windlass's host:
/// a node whose clock is off by hours holds as long as the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteHold {
    /// How long the hold counts, in milliseconds from when an entry task
    /// first read it; then the route's release is served again. (A label
    /// written before holds had a duration reads as 0: no hold.)
    #[serde(default)]
    pub for_millis: u64,
    /// Names this hold, so that a task tells a hold it already counts from
    /// one written afresh (counted from its own first read): the release
    /// that waits and when windlass wrote it.
    #[serde(default)]
    pub id: String,
}

/// What an entry task remembers of the holds it has read: when it first
/// read each port's hold, by the monotonic clock of its own process.
#[derive(Debug, Default)]
pub struct Holds {
    seen: std::collections::BTreeMap<u16, (String, std::time::Instant)>,
}

impl Holds {
    /// Whether `route` holds its traffic at `now`: it has a hold, read first
    /// less than the hold's duration ago (now, when this is its first read).
    pub fn holds(&mut self, route: &Route, now: std::time::Instant) -> bool {
        let Some(hold) = &route.hold else {
            self.seen.remove(&route.published);
            return false;
        };
        let first = match self.seen.get(&route.published) {
            Some((id, at)) if *id == hold.id => *at,
            _ => {
                self.seen.insert(route.published, (hold.id.clone(), now));
                now
            }
        };
        now.saturating_duration_since(first) < std::time::Duration::from_millis(hold.for_millis)
    }
}

/// A rollout's canary on one published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteCanary {
    /// The new release (`r4`).
    pub release: String,
    /// Its tasks' DNS name (`tasks.NAME`).
    pub upstream: String,
    /// Its container port.
    pub target: u16,
    /// Its share of new requests (connections, flows): exactly `weight` of
    /// every 100. 0 takes its share back at once.
    pub weight: Weight,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<Sticky>,
}

/// What starts an entry task's line of counters on its standard output,
/// so that a reader of the service's logs tells it from anything else.
pub const COUNTERS_PREFIX: &str = "windlass-entry-counters ";

/// One entry task's cumulative counters, per published port and release,
/// as it prints them (one line, [`COUNTERS_PREFIX`] then JSON). They count
/// from the task's start: `instance` names the process (its hostname, the
/// container's id, and its start time), so a reader takes a window as the
/// difference of two lines of the same instance, and a task that restarted
/// as a new instance counted from zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountersLine {
    pub instance: String,
    /// Milliseconds since the Unix epoch when the line was printed.
    pub at_millis: i64,
    pub ports: Vec<PortCounters>,
}

/// One published port's counters, per release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortCounters {
    pub published: u16,
    pub releases: Vec<ReleaseStats>,
}

impl CountersLine {
    /// The line as printed.
    pub fn to_line(&self) -> String {
        format!(
            "{COUNTERS_PREFIX}{}",
            serde_json::to_string(self).unwrap_or_default()
        )
    }

    /// A line of a log (a timestamp or other text before the prefix is
    /// skipped); `None` when it is no counters line.
    pub fn parse(line: &str) -> Option<CountersLine> {
        let (_, json) = line.split_once(COUNTERS_PREFIX)?;
        serde_json::from_str(json.trim()).ok()
    }
}

impl Routes {
    /// Parses the label's text; a missing or bad label routes nothing.
    pub fn parse(text: Option<&str>) -> Routes {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }

    pub fn to_label(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The route of `published`, if any.
    pub fn of(&self, published: u16) -> Option<&Route> {
        self.ports.iter().find(|r| r.published == published)
    }

    /// These routes with every port of `service` replaced by `routes`.
    pub fn with_service(&self, service: &str, routes: Vec<Route>) -> Routes {
        let mut ports: Vec<Route> = self
            .ports
            .iter()
            .filter(|r| r.service != service)
            .cloned()
            .collect();
        ports.extend(routes);
        ports.sort_by_key(|r| r.published);
        Routes { ports }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(published: u16, service: &str, release: &str) -> Route {
        Route {
            published,
            protocol: "http".into(),
            service: service.into(),
            release: release.into(),
            upstream: format!("tasks.app_{service}_{release}"),
            target: 8080,
            canary: None,
            hold: None,
        }
    }

    #[test]
    fn a_service_s_routes_are_replaced_whole_and_others_kept() {
        let before = Routes {
            ports: vec![route(8000, "web", "r1"), route(8001, "api", "r1")],
        };
        let after = before.with_service("web", vec![route(8000, "web", "r2")]);
        assert_eq!(after.of(8000).map(|r| r.release.as_str()), Some("r2"));
        assert_eq!(after.of(8001).map(|r| r.release.as_str()), Some("r1"));
        assert_eq!(Routes::parse(Some(&after.to_label())), after);
        assert_eq!(Routes::parse(Some("not json")), Routes::default());
    }

    #[test]
    fn a_canary_survives_the_label_and_old_labels_have_none() {
        let mut with = route(8000, "web", "r1");
        with.canary = Some(RouteCanary {
            release: "r2".into(),
            upstream: "tasks.app_web_r2".into(),
            target: 8080,
            weight: Weight::try_from(10).expect("weight"),
            sticky: Some(Sticky::Cookie("session".into())),
        });
        let routes = Routes { ports: vec![with] };
        assert_eq!(Routes::parse(Some(&routes.to_label())), routes);
        let old = r#"{"ports":[{"published":8000,"protocol":"http","service":"web","release":"r1","upstream":"tasks.x","target":8080}]}"#;
        assert_eq!(Routes::parse(Some(old)).ports[0].canary, None);
    }

    #[test]
    fn a_hold_counts_from_its_first_read_on_the_task_s_own_clock() {
        let mut held = route(8002, "db", "r1");
        held.protocol = "tcp".into();
        held.hold = Some(RouteHold {
            for_millis: 1_000,
            id: "r2-1".into(),
        });
        let routes = Routes {
            ports: vec![held.clone()],
        };
        assert_eq!(Routes::parse(Some(&routes.to_label())), routes);
        // Whatever the writer's clock said, the task counts from its read.
        let read = std::time::Instant::now();
        let ms = std::time::Duration::from_millis;
        let mut holds = Holds::default();
        assert!(holds.holds(&held, read + ms(5_000)));
        assert!(holds.holds(&held, read + ms(5_999)));
        assert!(
            !holds.holds(&held, read + ms(6_000)),
            "a hold never lasts for ever"
        );
        // The same hold read again still ends; one written afresh counts anew.
        assert!(!holds.holds(&held, read + ms(7_000)));
        held.hold = Some(RouteHold {
            for_millis: 1_000,
            id: "r2-2".into(),
        });
        assert!(holds.holds(&held, read + ms(7_000)));
        // The switch's routes carry no hold.
        assert!(!holds.holds(&route(8002, "db", "r2"), read + ms(7_001)));
        assert!(!Holds::default().holds(&route(8000, "web", "r1"), read));
        let old = r#"{"ports":[{"published":8000,"protocol":"http","service":"web","release":"r1","upstream":"tasks.x","target":8080}]}"#;
        assert_eq!(Routes::parse(Some(old)).ports[0].hold, None);
        // A hold written by an older windlass (a deadline on its clock)
        // still parses, and holds nothing.
        let older = r#"{"ports":[{"published":8000,"protocol":"http","service":"web","release":"r1","upstream":"tasks.x","target":8080,"hold":{"until_millis":99}}]}"#;
        let parsed = Routes::parse(Some(older));
        assert!(!Holds::default().holds(&parsed.ports[0], read));
    }

    #[test]
    fn a_counters_line_is_found_after_a_timestamp_and_other_lines_are_not() {
        let line = CountersLine {
            instance: "abc-1".into(),
            at_millis: 5,
            ports: vec![PortCounters {
                published: 8000,
                releases: Vec::new(),
            }],
        };
        let logged = format!("2026-12-07T14:00:00.000000000Z {}\n", line.to_line());
        assert_eq!(CountersLine::parse(&logged), Some(line));
        assert_eq!(CountersLine::parse("INFO switch port=8000"), None);
    }
}
