#!/usr/bin/env bash
# The one test command (README "Run the tests"; .ci/run calls it).
# Installs what the tests need on a fresh Debian machine, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
cargo build --locked --all-targets
cargo test --locked -- --test-threads=2
