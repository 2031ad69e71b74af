//! Fuzz target: `ipkit_fuzz::event_line` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ipkit_fuzz::event_line(data));
