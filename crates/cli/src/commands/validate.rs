//! `windlass validate FILE...`

use std::path::PathBuf;

use anyhow::Context;
use windlass_asl::parse::parse_text;

use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// Definition files, JSON or YAML.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print diagnostics as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let mut all_valid = true;
    let mut report = Vec::new();
    for file in &args.files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let parsed = parse_text(&text);
        let valid = parsed.definition.is_some() && parsed.diagnostics.is_empty();
        all_valid &= valid;
        let diagnostics: Vec<serde_json::Value> = parsed
            .diagnostics
            .iter()
            .map(|d| {
                let line = windlass_asl::parse::line_of(&text, &d.pointer);
                if !args.json {
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
        if args.json {
            report.push(serde_json::json!({
                "file": file.display().to_string(),
                "result": if valid { "OK" } else { "FAIL" },
                "diagnostics": diagnostics,
            }));
        } else if valid {
            println!("{}: valid", file.display());
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(if all_valid { exit::OK } else { exit::INVALID })
}
