//! TagResource, UntagResource, ListTagsForResource on state machines and activities.

use windlass_store::machines::{ActivityRecord, MachineRecord, MachineStoreExt};

use super::required;
use crate::arn::{self, Resource};
use crate::error::{ApiError, ApiResult};
use crate::region::Regional;
use crate::wire;

/// AWS's limit on tags per resource.
const MAX_TAGS: usize = 50;

/// Checks tags' keys and values and returns them as pairs.
pub(crate) fn pairs(tags: &[wire::Tag]) -> ApiResult<Vec<(String, String)>> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::new(
            "TooManyTags",
            format!(
                "The number of tags ({}) is more than {MAX_TAGS}",
                tags.len()
            ),
        ));
    }
    tags.iter()
        .map(|tag| {
            if tag.key.is_empty() || tag.key.chars().count() > 128 || tag.value.chars().count() > 256 {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: tag '{}' must have a key of 1 to 128 characters and a value of at most 256",
                    tag.key
                )));
            }
            Ok((tag.key.clone(), tag.value.clone()))
        })
        .collect()
}

/// The tagged resource must exist: a state machine or an activity.
fn check_resource(server: &Regional<'_>, resource_arn: &str) -> ApiResult<()> {
    required(resource_arn, "resourceArn")?;
    let exists = match arn::parse(resource_arn) {
        Some(Resource::StateMachine { .. }) => server
            .machines
            .get::<MachineRecord>(resource_arn)?
            .is_some(),
        Some(Resource::Activity { .. }) => server
            .machines
            .get::<ActivityRecord>(resource_arn)?
            .is_some(),
        _ => return Err(ApiError::invalid_arn(resource_arn)),
    };
    if !exists || !server.owns(resource_arn) {
        return Err(ApiError::new(
            "ResourceNotFound",
            format!("Resource not found: '{resource_arn}'"),
        ));
    }
    Ok(())
}

pub fn tag(server: &Regional<'_>, input: wire::TagResourceInput) -> ApiResult<wire::Empty> {
    check_resource(server, &input.resource_arn)?;
    let new = pairs(&input.tags)?;
    let mut keys: Vec<String> = server
        .machines
        .tags(&input.resource_arn)?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.extend(new.iter().map(|(k, _)| k.clone()));
    keys.sort();
    keys.dedup();
    if keys.len() > MAX_TAGS {
        return Err(ApiError::new(
            "TooManyTags",
            format!("A resource can have at most {MAX_TAGS} tags"),
        ));
    }
    server.machines.tag(&input.resource_arn, &new)?;
    Ok(wire::Empty {})
}

pub fn untag(server: &Regional<'_>, input: wire::UntagResourceInput) -> ApiResult<wire::Empty> {
    check_resource(server, &input.resource_arn)?;
    server
        .machines
        .untag(&input.resource_arn, &input.tag_keys)?;
    Ok(wire::Empty {})
}

pub fn list(
    server: &Regional<'_>,
    input: wire::ResourceArnInput,
) -> ApiResult<wire::ListTagsOutput> {
    check_resource(server, &input.resource_arn)?;
    let tags = server
        .machines
        .tags(&input.resource_arn)?
        .into_iter()
        .map(|(key, value)| wire::Tag { key, value })
        .collect();
    Ok(wire::ListTagsOutput { tags })
}
