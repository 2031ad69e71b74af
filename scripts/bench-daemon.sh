#!/usr/bin/env bash
# Daemon benchmarks (BENCHMARKS.md, "Daemon"): failover latency over N cable
# pulls, and RSS / idle CPU with 1, 100 and 1,000 resources; with --batch,
# every VIP of a pulled adapter (issue 11: carrier loss -> address on the
# other adapter, for 1, 20, 100 ... VIPs). Root; runs entirely in throwaway
# network namespaces.
#   scripts/bench-daemon.sh [--pulls 60] [--idle-secs 30] [--settle-secs 0] [--only latency|footprint] [--sizes 1,100,1000]
#   scripts/bench-daemon.sh --batch [--vips 1,5,20,100] [--pulls 30] [--family v6]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --batch ]; then
    shift
    exec cargo bench --locked --bench daemon_batch -- "$@"
fi
exec cargo bench --locked --bench daemon -- "$@"
