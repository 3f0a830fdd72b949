//! Fuzz target `aws`: see `fuzz/src/aws.rs` for what it does with the bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_fuzz::aws::wire(data));
