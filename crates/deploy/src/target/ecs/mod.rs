//! The ECS target: a Compose service as an ECS service, its image in ECR,
//! rolled out and rolled back by an ASL definition made only of AWS
//! service integrations (`aws-sdk:ecs:*`, `lambda:invoke`), so windlass's
//! engine and AWS Step Functions run the same document. Unlike the Docker
//! target it does not implement [`super::Target`]: the rollout is ECS's
//! own, watched by the definition's polling loops.

pub mod current;
pub mod definition;
pub mod dry_run;
pub mod error;
pub mod export;
pub mod plan;
pub mod registry;
pub mod resume;
pub mod run;
pub mod strategy;
pub mod task_definition;
