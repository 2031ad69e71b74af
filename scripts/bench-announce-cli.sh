#!/usr/bin/env bash
# Whole-process timings of `ipkit restore` where packet sockets are closed
# without a background sender holding them (see docs/lab.md, "Packet
# sockets"): announce_count 1, and the default 200 ms in-use probe.
#
# Usage (as root):  scripts/bench-announce-cli.sh [RUNS] [BINARY]
# Needs hyperfine and iproute2; not run by CI. Without BINARY, builds
# --release. A throwaway pair of network namespaces joined by a veth pair;
# temporary config and state directories; everything is removed on exit,
# also on failure or Ctrl-C. Addresses only from 198.51.100.0/24, inside
# the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-100}
BIN=${2:-}
command -v hyperfine >/dev/null || { echo "bench-announce-cli: needs hyperfine" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench-announce-cli: needs root (network namespaces)" >&2; exit 3; }
if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/ipkit
fi

NS=ipkann$$
PEER=ipkann$$p
TMP=$(mktemp -d /tmp/ipkit-bench-announce.XXXXXX)
cleanup() {
  ip netns del "$NS" 2>/dev/null || true
  ip netns del "$PEER" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ip netns add "$NS"
ip netns add "$PEER"
ip -n "$NS" link set lo up
ip -n "$PEER" link set lo up
ip -n "$NS" link add eth0 type veth peer name peer0 netns "$PEER"
ip -n "$NS" link set eth0 up
ip -n "$PEER" link set peer0 up

export IPKIT_CONFIG_DIR=$TMP/etc IPKIT_STATE_DIR=$TMP/var
inns() { ip netns exec "$NS" "$@"; }
inns "$BIN" create one --address 198.51.100.11/24 --adapter eth0 \
  --probe-timeout 0 --announce-count 1 --no-probe >/dev/null 2>&1
inns "$BIN" create prb --address 198.51.100.12/24 --adapter eth0 --no-probe >/dev/null 2>&1

H=(hyperfine -N --style basic --warmup 10 --runs "$RUNS" --export-json)
echo "== restore, announce_count 1, no probe (address removed before each run)"
inns "${H[@]}" "$TMP/one.json" --prepare "$BIN remove one" "$BIN restore one" 2>/dev/null
echo "== restore, default probe 200 ms (address removed before each run)"
inns "${H[@]}" "$TMP/prb.json" --prepare "$BIN remove prb" "$BIN restore prb" 2>/dev/null

stats() {
  python3 - "$1" <<'PY'
import json, statistics, sys
t = sorted(json.load(open(sys.argv[1]))["results"][0]["times"])
p99 = t[min(len(t) - 1, round(0.99 * (len(t) - 1)))]
print(f"{statistics.median(t)*1e3:.2f} ms median, {statistics.mean(t)*1e3:.2f} ms mean, p99 {p99*1e3:.2f} ms")
PY
}
echo
echo "restore, announce_count 1:  $(stats "$TMP/one.json")"
echo "restore, 200 ms probe:      $(stats "$TMP/prb.json")"
