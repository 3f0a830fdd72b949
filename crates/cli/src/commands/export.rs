//! `windlass export -f compose.yaml --target ecs [SERVICE]`: a CloudFormation
//! template (JSON on stdout) that puts a service and its deploy on AWS: the
//! Step Functions state machine with the definition `windlass deploy
//! --target ecs` runs, its IAM role, the ECR repository, the task
//! definition, the ECS service and the log group.

use windlass_aws::Config;
use windlass_deploy::compose::Target;
use windlass_deploy::target::ecs::{definition, export, plan::plan};

use super::compose_files::ComposeArgs;
use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    compose: ComposeArgs,
    /// The service to export (default: the file's only service).
    service: Option<String>,
    /// Where the template goes: `ecs` (the only one so far).
    #[arg(long, value_name = "TARGET", value_enum, default_value = "ecs")]
    target: Target,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if args.target != Target::Ecs {
        crate::failure::say!("export knows the target ecs only, not {}", args.target);
        return Ok(exit::INVALID);
    }
    let pinned = match args.compose.pin(None) {
        Ok(pinned) => pinned,
        Err(code) => return Ok(code),
    };
    let names: Vec<&String> = pinned.project.services.keys().collect();
    let name = match (&args.service, names.as_slice()) {
        (Some(name), _) if pinned.project.services.contains_key(name) => name.clone(),
        (None, [only]) => (*only).clone(),
        (given, _) => {
            crate::failure::say!(
                "{}: name the service to export (one template per service); {} has {}",
                given
                    .as_deref()
                    .map_or("several services".to_string(), |g| format!(
                        "no service {g}"
                    )),
                pinned.file.display(),
                names
                    .iter()
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Ok(exit::INVALID);
        }
    };
    let service = &pinned.project.services[&name];
    let region = Config::from_env()
        .region
        .unwrap_or_else(|| "us-east-1".into());
    let refused = |refusals: Vec<windlass_deploy::target::ecs::task_definition::Refusal>| {
        crate::failure::say!("the Compose file cannot be deployed to ECS:");
        for refusal in refusals {
            eprintln!("  {refusal}");
        }
        exit::INVALID
    };
    let plan = match plan(&name, service, &region) {
        Ok(plan) => plan,
        Err(refusals) => return Ok(refused(refusals)),
    };
    // The image is the repository's (a template parameter), not a digest.
    let task = match plan.task_definition(service, "IMAGE") {
        Ok(task) => task,
        Err(refusals) => return Ok(refused(refusals)),
    };
    let definition = definition::deploy(&plan.rollout);
    println!(
        "{}",
        serde_json::to_string_pretty(&export::template(&plan, &task, &definition))?
    );
    Ok(exit::OK)
}
