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
}
