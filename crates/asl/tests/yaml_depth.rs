//! A 200 KB YAML definition that nests lists deeply is refused with a
//! diagnostic naming its line, before libyaml (whose time grows with the
//! square of the depth: 36 s to 76 s for such a file) reads it. The time
//! taken is printed, never asserted.

use std::time::Instant;

use windlass_asl::parse::{diagnostic_line, parse_text, INVALID_JSON_DESCRIPTION};

/// Nested lists in three spellings, each about 200 KB.
fn deep_documents() -> Vec<(&'static str, String, usize)> {
    let flow = format!(
        "StartAt: A\nStates: {}1{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let inline = format!("StartAt: A\nStates:\n  {}x\n", "- ".repeat(100_000));
    let mut block = String::from("StartAt: A\nStates:\n");
    let mut level = 0;
    while block.len() < 200_000 {
        block.push_str(&" ".repeat(level));
        block.push_str("-\n");
        level += 1;
    }
    // Where each first nests past the limit: the flow lists and the inline
    // dashes on their one line, the block lists on the 128th line of dashes (the
    // `States` mapping is the first).
    vec![
        ("flow", flow, 2),
        ("inline", inline, 3),
        ("block", block, 3 + 127),
    ]
}

#[test]
fn deeply_nested_yaml_is_refused_with_its_line() {
    for (shape, text, line) in deep_documents() {
        let started = Instant::now();
        let parsed = parse_text(&text);
        println!(
            "{shape}: {} bytes refused in {:?}",
            text.len(),
            started.elapsed()
        );
        assert!(parsed.definition.is_none(), "{shape}");
        let diagnostic = &parsed.diagnostics[0];
        assert_eq!(diagnostic.code, INVALID_JSON_DESCRIPTION, "{shape}");
        assert!(
            diagnostic
                .message
                .contains(&format!("nests more than 128 levels deep at line {line}")),
            "{shape}: {}",
            diagnostic.message
        );
        assert_eq!(diagnostic_line(&text, diagnostic), Some(line), "{shape}");
    }
}

#[test]
fn yaml_nested_within_the_limit_still_parses() {
    let text = format!(
        "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: {}1{}\n    End: true\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    let parsed = parse_text(&text);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    assert!(parsed.definition.is_some());
}
