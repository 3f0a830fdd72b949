//! `windlass config [-f FILE...] [--format yaml|json]`: the app as windlass
//! resolved it, printed in Compose's canonical form as `docker compose
//! config` prints it (files merged, variables interpolated, paths absolute,
//! short syntaxes long). Every problem goes to stderr; nothing is printed
//! on stdout for a file windlass refuses. Needs no Docker engine.

use windlass_deploy::compose::canonical::{Format, Normalize};
use windlass_deploy::compose::{self, Severity};

use super::compose_files::ComposeArgs;
use crate::exit;

/// The printed form, as `docker compose config --format` names it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum OutputFormat {
    #[default]
    Yaml,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    compose: ComposeArgs,
    /// Print YAML (the default) or JSON.
    #[arg(long, value_enum, default_value_t = OutputFormat::Yaml)]
    format: OutputFormat,
    /// Print what was read without Compose's normalisation (no `default`
    /// network added, no resource names given).
    #[arg(long)]
    no_normalize: bool,
    /// Print the services' names, one a line, instead.
    #[arg(long)]
    services: bool,
    /// Print the named volumes' keys, one a line, instead.
    #[arg(long)]
    volumes: bool,
    /// Only check: print nothing but the problems.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let files = match args.compose.chosen() {
        Ok(files) => files,
        Err(e) => {
            crate::failure::say!("{e}");
            return Ok(exit::INVALID);
        }
    };
    let options = args.compose.options(None);
    let (project, diagnostics) = compose::check_files(&files, &options);
    for diagnostic in &diagnostics {
        crate::failure::problem(diagnostic);
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let project = match project {
        Some(project) if errors == 0 => project,
        _ => {
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            crate::failure::say!("{} refused ({errors} error(s))", names.join(" + "));
            return Ok(exit::INVALID);
        }
    };
    if args.quiet {
        return Ok(exit::OK);
    }
    if args.services || args.volumes {
        let names: Vec<&String> = if args.services {
            project.services.keys().collect()
        } else {
            project.volumes.keys().collect()
        };
        for name in names {
            println!("{name}");
        }
        return Ok(exit::OK);
    }
    let environment = compose::environment(&project, &options);
    let settings = compose::canonical::Settings {
        environment: &environment,
        normalize: if args.no_normalize {
            Normalize::None
        } else {
            Normalize::Compose
        },
    };
    let format = match args.format {
        OutputFormat::Yaml => Format::Yaml,
        OutputFormat::Json => Format::Json,
    };
    let text = compose::canonical::text(&project, &settings, format);
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(exit::OK)
}
