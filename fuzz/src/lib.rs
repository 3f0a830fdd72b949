//! The bodies of the fuzz targets. The same files are compiled into the
//! regression tests (`crates/asl/tests/fuzz_regressions.rs`,
//! `crates/engine/tests/fuzz_regressions.rs`, `crates/aws/tests/fuzz_regressions.rs`), which replay
//! `fuzz/regressions/<target>/*` under a plain `cargo test`.

pub mod asl;
pub mod aws;
pub mod run;
