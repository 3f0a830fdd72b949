//! `windlass validate FILE...`: state machine definitions (JSON or YAML)
//! and Compose files, told apart by name and content. Every problem of
//! every file is reported, as `file:line:column: ...`; a valid Compose file
//! gets a summary of its services. Needs no Docker engine.

use std::path::{Path, PathBuf};

use anyhow::Context;
use windlass_asl::parse::parse_text;
use windlass_deploy::compose::{self, Diagnostic, FieldPath, Location, Options, Severity, Target};

use windlass_store::releases::Environment;

use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// Definition files (JSON or YAML) and Compose files. None: the Compose
    /// files a deploy here would read ($COMPOSE_FILE, else compose.yaml and
    /// its override, ...), merged.
    files: Vec<PathBuf>,
    /// Print diagnostics as JSON.
    #[arg(long)]
    json: bool,
    /// Check the Compose files given as one project, merged in order, as
    /// `docker compose -f A -f B` does (by default each is checked alone).
    #[arg(long)]
    merge: bool,
    /// Activate a Compose profile (besides those in COMPOSE_PROFILES).
    #[arg(long = "profile", value_name = "NAME")]
    profiles: Vec<String>,
    /// Also check every service for this target (`ecs`: what windlass and
    /// AWS would refuse; `swarm`: the files read with a Swarm's meaning,
    /// such as external secrets and `deploy.placement`). Services with
    /// `x-windlass.target: ecs` are always checked for ECS.
    #[arg(long, value_name = "TARGET", value_enum)]
    target: Option<Target>,
    /// Check the Compose files as environment ENV reads them: with the
    /// override file beside each (`compose.ENV.yaml` beside `compose.yaml`)
    /// and `x-windlass.environments.ENV` merged.
    #[arg(long = "env", value_name = "ENV")]
    env: Option<Environment>,
}

pub fn run(mut args: Args) -> anyhow::Result<u8> {
    if args.files.is_empty() {
        let here = super::compose_files::ComposeArgs {
            files: Vec::new(),
            profiles: Vec::new(),
            env: None,
        };
        match here.chosen() {
            Ok(files) => {
                args.files = files;
                args.merge = true;
            }
            Err(why) => {
                let why = why.trim_end_matches("; name one with -f FILE");
                crate::failure::say!("no file given, and {why}: name the files to check (`windlass validate FILE...`)");
                return Ok(exit::INVALID);
            }
        }
    }
    let mut all_valid = true;
    let mut report = Vec::new();
    let mut compose_files = Vec::new();
    for file in &args.files {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                // Readable, but not a definition: an invalid file, not an error of windlass's.
                let at = e.utf8_error().valid_up_to();
                let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
                let message = format!(
                    "the file is not UTF-8 text: byte {} (line {line}) is not valid UTF-8",
                    at + 1
                );
                all_valid = false;
                if args.json {
                    report.push(serde_json::json!({
                        "file": file.display().to_string(),
                        "result": "FAIL",
                        "diagnostics": [{
                            "severity": "ERROR",
                            "code": windlass_asl::parse::INVALID_JSON_DESCRIPTION,
                            "message": message,
                            "location": "",
                            "line": line,
                        }],
                    }));
                } else {
                    eprintln!("{}:{line}: {message}", file.display());
                }
                continue;
            }
        };
        if compose::is_compose_file(file, &text) {
            compose_files.push(file.clone());
            continue;
        }
        let (valid, entry) = state_machine(file, &text, args.json);
        all_valid &= valid;
        report.extend(entry);
    }
    let options = Options {
        profiles: args.profiles.clone(),
        env: args.env.clone(),
        target: args.target,
        ..Options::from_process()
    };
    let mut groups: Vec<Vec<PathBuf>> = if args.merge && !compose_files.is_empty() {
        vec![compose_files]
    } else {
        compose_files.into_iter().map(|f| vec![f]).collect()
    };
    if let Some(env) = &args.env {
        for files in &mut groups {
            let found = files
                .first()
                .and_then(|first| compose::override_file(first, env));
            if let Some(file) = found.filter(|f| !files.contains(f)) {
                files.push(file);
            }
        }
    }
    for files in groups {
        let (valid, entry) = compose_project(&files, &options, args.json, args.target);
        all_valid &= valid;
        report.extend(entry);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        crate::failure::answered();
    }
    Ok(if all_valid { exit::OK } else { exit::INVALID })
}

/// Checks a state machine definition; prints its diagnostics unless `json`.
fn state_machine(file: &Path, text: &str, json: bool) -> (bool, Option<serde_json::Value>) {
    let mut parsed = parse_text(text);
    if parsed.definition.is_some() {
        // aws-sdk Task states must name a service and action windlass has
        // the model of (windlass-asl knows no AWS models: it stays pure).
        if let Ok(document) = windlass_asl::parse::document_from_text(text) {
            for unknown in windlass_aws::check::unknown_resources(&document) {
                parsed
                    .diagnostics
                    .push(windlass_asl::parse::Diagnostic::schema(
                        unknown.pointer,
                        unknown.message,
                    ));
            }
        }
    }
    let valid = parsed.definition.is_some() && parsed.diagnostics.is_empty();
    let diagnostics: Vec<serde_json::Value> = parsed
        .diagnostics
        .iter()
        .map(|d| {
            let line = windlass_asl::parse::diagnostic_line(text, d);
            if !json {
                match line {
                    Some(line) => eprintln!("{}:{}: {}", file.display(), line, d),
                    None => eprintln!("{}: {}", file.display(), d),
                }
            }
            serde_json::json!({
                "severity": "ERROR",
                "code": d.code,
                "message": d.message,
                "location": d.pointer,
                "line": line,
            })
        })
        .collect();
    if json {
        let entry = serde_json::json!({
            "file": file.display().to_string(),
            "result": if valid { "OK" } else { "FAIL" },
            "diagnostics": diagnostics,
        });
        return (valid, Some(entry));
    }
    if valid {
        println!("{}: valid", file.display());
    }
    (valid, None)
}

/// Checks Compose files as one project: every diagnostic to stderr (or the
/// JSON entry), the summary of a valid project to stdout.
fn compose_project(
    files: &[PathBuf],
    options: &Options,
    json: bool,
    target: Option<Target>,
) -> (bool, Option<serde_json::Value>) {
    let (project, mut diagnostics) = compose::check_files(files, options);
    if let Some(project) = &project {
        diagnostics.extend(ecs_refusals(project, target));
    }
    let valid = project.is_some() && !diagnostics.iter().any(|d| d.severity == Severity::Error);
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    if json {
        let entry = serde_json::json!({
            "file": names.join(" "),
            "kind": "compose",
            "result": if valid { "OK" } else { "FAIL" },
            "diagnostics": diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
            "summary": project.as_ref().map(compose::Project::summary),
        });
        return (valid, Some(entry));
    }
    for d in &diagnostics {
        eprintln!("{d}");
    }
    if let Some(project) = project.filter(|_| valid) {
        println!("{}: valid Compose file", names.join(" + "));
        print!("{}", project.summary());
    }
    (valid, None)
}

/// What ECS would refuse of each service deployed there (`--target ecs`,
/// or `x-windlass.target: ecs`), located in the first file.
fn ecs_refusals(project: &compose::Project, target: Option<Target>) -> Vec<Diagnostic> {
    let region = windlass_aws::Config::from_env()
        .region
        .unwrap_or_else(|| "us-east-1".into());
    let text = std::fs::read_to_string(&project.file).unwrap_or_default();
    let mut out = Vec::new();
    for (name, service) in &project.services {
        if target.or(service.windlass.target) != Some(Target::Ecs) {
            continue;
        }
        for refusal in windlass_deploy::target::ecs::plan::check(name, service, &region) {
            let mut path = FieldPath::of(&["services", name]);
            for key in refusal.field.split('.') {
                path = path.key(key);
            }
            let (line, column, _) = compose::locate(&text, &path);
            out.push(Diagnostic {
                severity: Severity::Error,
                location: Location {
                    file: project.file.clone(),
                    line,
                    column,
                },
                field: format!("services.{name}.{}", refusal.field),
                message: format!("on ECS: {}", refusal.reason),
            });
        }
    }
    out
}

fn diagnostic_json(d: &Diagnostic) -> serde_json::Value {
    serde_json::json!({
        "severity": match d.severity {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
        },
        "code": "COMPOSE",
        "message": d.message,
        "location": d.field,
        "file": d.location.file.display().to_string(),
        "line": d.location.line,
        "column": d.location.column,
    })
}
