//! The context object (`$$`) and the variable scopes a frame sees.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use windlass_asl::Variables;

use crate::execution::{Execution, Frame, FrameId};
use crate::format_timestamp;

/// Builds `$$` for a state of `frame`.
pub(crate) fn context_object(
    execution: &Execution,
    frame: &Frame,
    state_name: &str,
    retry_count: Option<u64>,
    task_token: Option<&str>,
) -> Json {
    let meta = &execution.meta;
    let mut context = json!({
        "Execution": {
            "Id": meta.execution_arn,
            "Input": meta.input,
            "Name": meta.name,
            "RoleArn": meta.role_arn,
            "StartTime": format_timestamp(meta.start_millis),
            "RedriveCount": execution.redrive.count,
        },
        "State": {
            "EnteredTime": format_timestamp(frame.entered_millis),
            "Name": state_name,
        },
        "StateMachine": {
            "Id": meta.state_machine_arn,
            "Name": meta.state_machine_name,
        },
    });
    if let Some(map) = context.as_object_mut() {
        // Express executions cannot be redriven and have no RedriveCount.
        if let (Some(millis), Some(Json::Object(execution))) =
            (execution.redrive.last_millis, map.get_mut("Execution"))
        {
            execution.insert("RedriveTime".into(), json!(format_timestamp(millis)));
        }
        if meta.express {
            if let Some(Json::Object(execution)) = map.get_mut("Execution") {
                execution.remove("RedriveCount");
            }
        }
        if let (Some(retry_count), Some(Json::Object(state))) = (retry_count, map.get_mut("State"))
        {
            state.insert("RetryCount".into(), json!(retry_count));
        }
        if let Some(token) = task_token {
            map.insert("Task".into(), json!({ "Token": token }));
        }
        if let Some((index, value)) = &frame.map_item {
            map.insert(
                "Map".into(),
                json!({ "Item": { "Index": index, "Value": value } }),
            );
        }
    }
    context
}

/// The variables visible from a frame: its own, then its parents' while the
/// frames inherit (inline Map iterations and Parallel branches do).
pub(crate) struct FrameVariables<'a> {
    pub frames: &'a BTreeMap<FrameId, Box<Frame>>,
    pub frame: FrameId,
}

impl Variables for FrameVariables<'_> {
    fn get(&self, name: &str) -> Option<&Json> {
        let mut id = self.frame;
        loop {
            let frame = self.frames.get(&id)?;
            if let Some(value) = frame.vars.get(name) {
                return Some(value);
            }
            match frame.parent {
                Some(link) if frame.inherit_vars => id = link.frame,
                _ => return None,
            }
        }
    }
}
