//! `windlass conformance DIR`

use std::collections::BTreeMap;
use std::path::PathBuf;

use windlass_conformance::{case_files, load_case, run_case};

use crate::exit;

#[derive(clap::Args)]
pub struct Args {
    /// A folder of case files (`DIR/cases/*.json` or `DIR/*.json`).
    dir: PathBuf,
    /// Run only this category.
    #[arg(long)]
    category: Option<String>,
    /// Run only cases whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Do not list the failures.
    #[arg(long, short)]
    quiet: bool,
    /// Exit non-zero when fewer than this many cases pass.
    #[arg(long)]
    floor: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let mut per_category: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut message_mismatches = 0usize;
    for path in case_files(&args.dir)? {
        let case = load_case(&path)?;
        if args.category.as_ref().is_some_and(|c| *c != case.category) {
            continue;
        }
        if args
            .filter
            .as_ref()
            .is_some_and(|f| !case.name.contains(f.as_str()))
        {
            continue;
        }
        let verdict = run_case(&case);
        let entry = per_category.entry(verdict.category.clone()).or_default();
        if verdict.passed {
            entry.0 += 1;
            if !verdict.message_matched {
                message_mismatches += 1;
            }
        } else {
            entry.1 += 1;
            failures.push(verdict);
        }
    }
    if !args.quiet {
        for failure in &failures {
            println!("FAIL {} [{}]", failure.name, failure.category);
            println!("  expected: {}", truncate(&failure.expected));
            println!("  actual:   {}", truncate(&failure.actual));
        }
    }
    let (mut passed, mut failed) = (0, 0);
    println!(
        "{:<22} {:>7} {:>7} {:>7}",
        "category", "passed", "failed", "rate"
    );
    for (category, (p, f)) in &per_category {
        passed += p;
        failed += f;
        let rate = 100.0 * *p as f64 / (*p + *f).max(1) as f64;
        println!("{category:<22} {p:>7} {f:>7} {rate:>6.1}%");
    }
    println!("rejected cases whose AWS message differs: {message_mismatches}");
    println!("{passed} passed, {failed} failed");
    if args.floor.is_some_and(|floor| passed < floor) {
        crate::failure::say!(
            "{passed} cases passed, below the floor of {}",
            args.floor.unwrap_or(0)
        );
        return Ok(exit::INVALID);
    }
    Ok(exit::OK)
}

fn truncate(text: &str) -> String {
    if text.len() > 600 {
        let mut end = 600;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &text[..end])
    } else {
        text.to_string()
    }
}
