#!/usr/bin/env bash
# The release binary as it ships: target/release/ipkit, statically linked
# (static-pie) on Linux with glibc (docs/packaging.md, "Static linking").
# Pacemaker starts the agent as a new process for every monitor, and a
# dynamically linked ipkit spent about a third of a monitor in the dynamic
# loader (mapping libc and libgcc_s, binding symbols); static, it starts
# nearly as fast as /usr/bin/true (BENCHMARKS.md, "The agent's own costs").
#
#   scripts/build-release.sh [CARGO OPTIONS...]   e.g. --quiet
#
# `cargo build --release` cannot do this: Cargo has no per-binary flags,
# and `-C target-feature=+crt-static` for every crate (RUSTFLAGS or
# .cargo/config.toml) breaks the proc-macro crates (clap_derive, serde_derive)
# unless every build names `--target`, which moves the binary out of
# target/release. `cargo rustc` hands the flag to the final link of the
# binary only; the dependencies are the ones `cargo build --release` built.
# A later `cargo build --release` relinks target/release/ipkit dynamically
# (same code, slower start); run this again before timing or packaging it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo rustc --release --locked --bin ipkit "$@" -- -C target-feature=+crt-static
# What ships must be what this says: a static binary has no program
# interpreter (PT_INTERP, the dynamic loader).
headers=$(LC_ALL=C readelf -lW target/release/ipkit) # fails the script if readelf does
if grep -q 'INTERP' <<<"$headers"; then
  echo "build-release.sh: target/release/ipkit is dynamically linked" >&2
  exit 1
fi
