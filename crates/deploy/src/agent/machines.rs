//! The state machines of an agent's executions, named by where their
//! releases run: the local engine's (`windlass-app-deploy`, run by the
//! long-lived agent) or a Docker Swarm's (`windlass-swarm-app-deploy`, run
//! by the CLI's process). Both kinds share a state folder's store; the name
//! of an execution's machine (also in its ARN) tells a process which
//! executions it may carry on after a crash: the agent never resumes a
//! Swarm deploy with its local engine, nor the CLI a local one on the Swarm.

/// Where an agent's releases run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Place {
    /// The local engine, behind the agent's proxies.
    #[default]
    Local,
    /// The Docker Swarm whose manager `DOCKER_HOST` names.
    Swarm,
}

/// What an execution does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One service's deploy of the user's own definition.
    Deploy,
    /// One service's rollback.
    Rollback,
    /// An app release deployed as one execution.
    AppDeploy,
    /// An app put back on an earlier app release.
    AppRollback,
}

const KINDS: [Kind; 4] = [
    Kind::Deploy,
    Kind::Rollback,
    Kind::AppDeploy,
    Kind::AppRollback,
];

impl Place {
    /// The name of the state machine of `kind` here.
    pub fn machine(self, kind: Kind) -> &'static str {
        match (self, kind) {
            (Place::Local, Kind::Deploy) => "windlass-deploy",
            (Place::Local, Kind::Rollback) => "windlass-rollback",
            (Place::Local, Kind::AppDeploy) => "windlass-app-deploy",
            (Place::Local, Kind::AppRollback) => "windlass-app-rollback",
            (Place::Swarm, Kind::Deploy) => "windlass-swarm-deploy",
            (Place::Swarm, Kind::Rollback) => "windlass-swarm-rollback",
            (Place::Swarm, Kind::AppDeploy) => "windlass-swarm-app-deploy",
            (Place::Swarm, Kind::AppRollback) => "windlass-swarm-app-rollback",
        }
    }

    /// The place and kind of an execution of an agent, from its ARN or its
    /// state machine's (`...:execution:MACHINE:NAME`,
    /// `...:stateMachine:MACHINE`); `None` for any other execution (an
    /// ECS deploy's, a user's workflow).
    pub fn of_arn(arn: &str) -> Option<(Place, Kind)> {
        let machine = if let Some((_, rest)) = arn.split_once(":execution:") {
            rest.split(':').next()?
        } else {
            arn.split_once(":stateMachine:")?.1
        };
        [Place::Local, Place::Swarm]
            .into_iter()
            .flat_map(|place| KINDS.map(|kind| (place, kind)))
            .find(|(place, kind)| place.machine(*kind) == machine)
    }

    /// Whether the execution `arn` (or its state machine's ARN) is an
    /// agent's execution here.
    pub fn owns(self, arn: &str) -> bool {
        Place::of_arn(arn).is_some_and(|(place, _)| place == self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::execution_arn;

    #[test]
    fn an_execution_names_its_place_and_kind_in_its_arn() {
        for place in [Place::Local, Place::Swarm] {
            for kind in KINDS {
                let execution = execution_arn(place.machine(kind), "shop-1a2b");
                assert_eq!(Place::of_arn(&execution), Some((place, kind)));
                let machine = format!(
                    "arn:aws:states:local:000000000000:stateMachine:{}",
                    place.machine(kind)
                );
                assert_eq!(Place::of_arn(&machine), Some((place, kind)));
            }
        }
        let swarm = execution_arn(Place::Swarm.machine(Kind::AppDeploy), "shop-1");
        assert!(Place::Swarm.owns(&swarm));
        assert!(!Place::Local.owns(&swarm));
        assert_eq!(
            Place::of_arn("arn:aws:states:us-east-1:1:execution:windlass-ecs-web:x"),
            None
        );
        assert_eq!(Place::of_arn("not an arn"), None);
    }
}
