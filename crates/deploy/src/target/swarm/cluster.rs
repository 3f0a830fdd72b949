//! Which Swarm a manager is of: its cluster ID (`GET /info`,
//! `Swarm.Cluster.ID`, given by managers only), recorded in the input of
//! every execution a Swarm agent starts ([`INPUT_FIELD`]), so that a
//! process that did not deploy an app (`windlass server`'s rollback from
//! the dashboard) can tell whether the manager it reaches is of the Swarm
//! the app's releases run on before it touches anything.

use bollard::Docker;
use serde_json::Value;

/// The field of a Swarm execution's input that holds the cluster ID.
pub const INPUT_FIELD: &str = "swarm_cluster";

/// The cluster ID of the Swarm `docker` manages; an error that says why
/// when the engine did not answer or is no Swarm's manager.
pub async fn cluster_id(docker: &Docker) -> Result<String, String> {
    let info = docker.info().await.map_err(|e| format!("GET /info: {e}"))?;
    let swarm = info.swarm.unwrap_or_default();
    match swarm.cluster.and_then(|c| c.id).filter(|id| !id.is_empty()) {
        Some(id) if swarm.control_available == Some(true) => Ok(id),
        _ => Err(format!(
            "the engine is not a Swarm manager (its Swarm state: {})",
            swarm
                .local_node_state
                .map_or_else(|| "none".to_owned(), |s| s.to_string())
        )),
    }
}

/// `input` with the cluster ID added (an object; anything else as it is).
pub fn record(mut input: Value, cluster: &str) -> Value {
    if let Value::Object(fields) = &mut input {
        fields.insert(INPUT_FIELD.to_owned(), Value::String(cluster.to_owned()));
    }
    input
}

/// The cluster ID an execution's input recorded, if it did.
pub fn recorded(input: &Value) -> Option<&str> {
    input.get(INPUT_FIELD).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_records_its_cluster_and_gives_it_back() {
        let input = record(serde_json::json!({"app": "shop"}), "k3x9");
        assert_eq!(recorded(&input), Some("k3x9"));
        assert_eq!(input["app"], "shop");
        assert_eq!(recorded(&serde_json::json!({"app": "shop"})), None);
        assert_eq!(record(Value::Null, "k3x9"), Value::Null);
    }
}
