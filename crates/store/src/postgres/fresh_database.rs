// A fresh database on the private PostgreSQL cluster of `scripts/pg-cluster`
// (started when needed), named for the test: shared by the PostgreSQL tests
// of the store and of the runtime through `include!`. The includer imports
// `std::process::Command` and `postgres::{Client, NoTls}`.

/// The URL of a new, empty database `windlass_<name>_<pid>`.
fn fresh_database(name: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-cluster");
    let output = Command::new(script)
        .arg("start")
        .output()
        .expect("scripts/pg-cluster runs");
    assert!(
        output.status.success(),
        "cannot start PostgreSQL (install Debian's postgresql, as scripts/setup does): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let admin = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let database = format!("windlass_{name}_{}", std::process::id());
    let mut client = Client::connect(&admin, NoTls).expect("connect to the cluster");
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
        .expect("drop");
    client
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .expect("create");
    let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
    format!("{base}/{database}")
}
