//! Fuzz target: `ipkit_fuzz::frame` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ipkit_fuzz::frame(data));
