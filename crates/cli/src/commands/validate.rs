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
        let parsed = parse_text(&text);
        let valid = parsed.definition.is_some() && parsed.diagnostics.is_empty();
        all_valid &= valid;
        let diagnostics: Vec<serde_json::Value> = parsed
            .diagnostics
            .iter()
            .map(|d| {
                let line = windlass_asl::parse::diagnostic_line(&text, d);
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
