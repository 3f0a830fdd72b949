//! The check of an `x-windlass` hook given as an ASL state. It lives with
//! the reader so that reading a Compose file needs nothing of the deploy
//! workflow, which re-exports it (`workflow::hooks::check_state`).

use serde_json::Value as Json;

/// A hook state must go on (no Choice, Succeed or Fail) and have no
/// transition of its own: windlass chains hooks itself.
pub fn check_state(state: &Json) -> Result<(), String> {
    let Some(object) = state.as_object() else {
        return Err("a hook state must be a JSON object (an ASL state)".into());
    };
    match object.get("Type").and_then(Json::as_str) {
        Some("Pass" | "Wait" | "Task" | "Parallel" | "Map") => {}
        Some(other) => {
            return Err(format!(
                "a hook state of Type {other} cannot be used: expected Pass, Wait, Task, Parallel or Map"
            ))
        }
        None => return Err("a hook state needs a Type".into()),
    }
    if object.contains_key("Next") {
        return Err("a hook state must not have Next: windlass chains hooks itself".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::check_state;

    #[test]
    fn only_states_that_go_on() {
        assert!(check_state(&json!({ "Type": "Pass" })).is_ok());
        assert!(check_state(&json!({ "Type": "Choice" })).is_err());
        assert!(check_state(&json!({ "Type": "Pass", "Next": "X" })).is_err());
        assert!(check_state(&json!("Pass")).is_err());
    }
}
