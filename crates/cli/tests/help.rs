//! What `windlass --help` says of each command agrees with the README:
//! `validate` checks Compose files too (it said "state machine
//! definitions" only, and a newcomer with a Compose file looked elsewhere).

use std::process::Command;

#[test]
fn the_command_list_says_validate_checks_compose_files() {
    let output = Command::new(env!("CARGO_BIN_EXE_windlass"))
        .arg("--help")
        .output()
        .expect("windlass runs");
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    let line = help
        .lines()
        .find(|l| l.trim_start().starts_with("validate "))
        .expect("a validate line");
    assert!(line.contains("Compose files"), "{line}");
}
