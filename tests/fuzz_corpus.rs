//! The fuzz corpus and every input the fuzzers found, replayed through the fuzz targets on the stable toolchain (issue 10).
//!
//! `fuzz/corpus/<target>/` holds the committed seed corpus (and whatever a
//! fuzzing run added and someone committed); `fuzz/regressions/<target>/`
//! holds each input that once made a target panic, next to the fix. Every
//! file goes through the same function `cargo fuzz run <target>` calls
//! (`fuzz/src/lib.rs`): no panic, and the target's own checks hold.
#![cfg(target_os = "linux")] // the frame and netlink targets are the Linux backend's parsers

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn replay(kind: &str, target: &str, run: targets::Target) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let files = inputs(&dir);
    for file in &files {
        let data = std::fs::read(file).expect("read an input");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} panics", file.display());
    }
    files.len()
}

#[test]
fn every_target_has_a_seed_corpus_and_none_of_it_panics() {
    for (target, run) in targets::TARGETS {
        let n = replay("corpus", target, run);
        assert!(n > 0, "fuzz/corpus/{target} is empty");
    }
}

#[test]
fn no_input_the_fuzzers_found_panics_any_more() {
    for (target, run) in targets::TARGETS {
        replay("regressions", target, run);
    }
}
