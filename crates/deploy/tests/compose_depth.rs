//! A Compose file that nests lists deeply is refused with an error naming
//! the file, line and column, before the YAML parser (quadratic in the
//! depth) reads it. The time taken is printed, never asserted.

use std::path::Path;
use std::time::Instant;

use windlass_deploy::compose::{is_compose_file, parse, Error};

#[test]
fn a_deeply_nested_compose_file_is_refused_where_it_nests() {
    let text = format!(
        "services:\n  web:\n    image: busybox\n    command: {}x{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let file = Path::new("compose.yaml");
    let started = Instant::now();
    let error = parse(&text, file).expect_err("too deep");
    println!("{} bytes refused in {:?}", text.len(), started.elapsed());
    let Error::Invalid {
        location, message, ..
    } = &error
    else {
        panic!("not a located error: {error}");
    };
    assert_eq!((location.line, location.column), (4, 139), "{error}");
    assert!(
        message.contains("nests more than 128 levels deep"),
        "{message}"
    );

    let started = Instant::now();
    assert!(!is_compose_file(Path::new("machine.yaml"), &text));
    println!("told from a Compose file in {:?}", started.elapsed());
}
