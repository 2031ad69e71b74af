//! Fuzz target: `ipkit_fuzz::ocf_env` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ipkit_fuzz::ocf_env(data));
