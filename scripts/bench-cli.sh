#!/usr/bin/env bash
# Whole-process timings of the ipkit command line (issue 4 "Done when"):
#   quickcheck                     target <= 3 ms median
#   restore, no probe              target <= 5 ms median
#   status with 1,000 resources    target <= 20 ms median
#
# Usage (as root):  scripts/bench-cli.sh [RUNS]
# Needs hyperfine (Debian: apt-get install hyperfine) and iproute2. Not run
# by CI. Builds a release binary, then a throwaway lab of two network
# namespaces joined by a veth pair (node "eth0" <-> peer), with temporary
# config and state directories; everything is removed on exit, also on
# failure or Ctrl-C. Never touches the host's interfaces. Addresses come
# from 198.51.100.0/24 and 2001:db8::/32 only, inside the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-300}

command -v hyperfine >/dev/null || { echo "bench-cli: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "bench-cli: needs root (network namespaces)" >&2; exit 3; }

cargo build --release --quiet
BIN=$PWD/target/release/ipkit

NS=ipkbench$$
PEER=ipkbench$$p
TMP=$(mktemp -d /tmp/ipkit-bench.XXXXXX)
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
ip -n "$NS" link add eth1 type veth peer name peer1 netns "$PEER"
for l in eth0 eth1; do ip -n "$NS" link set "$l" up; done
for l in peer0 peer1; do ip -n "$PEER" link set "$l" up; done

export IPKIT_CONFIG_DIR=$TMP/etc IPKIT_STATE_DIR=$TMP/var
inns() { ip netns exec "$NS" "$@"; }

# One resource for quickcheck / restore: no probe (probe_timeout 0).
inns "$BIN" create vip --address 198.51.100.10/24 --adapter eth0 \
  --recovery-adapter eth1 --probe-timeout 0 --no-probe >/dev/null 2>&1
inns "$BIN" restore vip >/dev/null 2>&1

# hyperfine runs inside the namespace, so its children inherit it without
# the cost of `ip netns exec` per run.
H=(hyperfine -N --style basic --warmup 20 --runs "$RUNS" --export-json)

echo "== quickcheck (address in service, cable in)"
inns "${H[@]}" "$TMP/qc.json" "$BIN quickcheck vip" 2>/dev/null
echo "== restore, no probe (address removed before each run)"
inns "${H[@]}" "$TMP/restore.json" --prepare "$BIN remove vip" "$BIN restore vip" 2>/dev/null

# 1,000 more resources for status (created through the real command, in
# 2001:db8:5::/64, never brought up).
for i in $(seq 1 1000); do
  printf 'create r%04d --address 2001:db8:5::%x/64 --adapter eth0 --recovery-adapter eth1 --no-probe\n' "$i" "$i"
done | while read -r line; do
  # shellcheck disable=SC2086
  inns "$BIN" $line >/dev/null 2>&1
done
echo "== status with $(ls "$IPKIT_CONFIG_DIR/resources" | wc -l) resources"
inns "${H[@]}" "$TMP/status.json" "$BIN status" 2>/dev/null
inns "${H[@]}" "$TMP/status-json.json" "$BIN status --json" 2>/dev/null

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.2f ms median, %.2f ms mean, p99 %.2f ms" % (r["median"]*1e3, r["mean"]*1e3, sorted(r["times"])[int(len(r["times"])*0.99)-1]*1e3))' "$1"; }
echo
echo "quickcheck:            $(median "$TMP/qc.json")"
echo "restore (no probe):    $(median "$TMP/restore.json")"
echo "status (1,001 res.):   $(median "$TMP/status.json")"
echo "status --json:         $(median "$TMP/status-json.json")"
