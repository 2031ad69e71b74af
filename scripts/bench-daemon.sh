#!/usr/bin/env bash
# Daemon benchmarks (BENCHMARKS.md, "Daemon"): failover latency over N cable
# pulls, and RSS / idle CPU with 1, 100 and 1,000 resources. Root; runs
# entirely in throwaway network namespaces.
#   scripts/bench-daemon.sh [--pulls 60] [--idle-secs 30] [--only latency|footprint]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked --bench daemon -- "$@"
