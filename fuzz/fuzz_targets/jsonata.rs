//! Fuzz target `jsonata`: see `fuzz/src/` for what it does with the bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| windlass_fuzz::asl::jsonata(data));
