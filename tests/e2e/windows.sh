#!/usr/bin/env bash
# The Windows build on this Linux machine (issue 13, docs/windows.md).
#
# 1. scripts/windows.sh install build test: ipkit.exe for both Windows
#    targets, and the portable core's tests (unit tests, the SPEC scenarios
#    on SimNet, the policy cases, the daemon on SimNet) under Wine. Their
#    "test result" lines are cargo's, counted by scripts/test.sh.
# 2. The Windows backend's read paths for real, under Wine, in a namespace
#    LAN this script creates (tests/e2e/lib/lan.sh; 198.51.100.0/24 only;
#    the trap removes it, also on failure): the address is added from
#    Linux; quickcheck succeeds; status shows the adapter and its cable; a
#    pulled cable makes quickcheck fail with 6507; the daemon (on readings,
#    as Wine sends no notifications) shows the pull through its status API
#    and reports 6507 itself; a restore fails cleanly (no abort) where Wine
#    lacks the IP Helper's write calls.
set -euo pipefail
cd "$(dirname "$0")/../.."

passed=0
failed=0
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

start=$(date +%s)
scripts/windows.sh install build
echo "windows: toolchain and build took $(($(date +%s) - start)) s"
start=$(date +%s)
if scripts/windows.sh test; then
  ok "the Windows tests under Wine"
else
  bad "the Windows tests under Wine"
fi
echo "windows: tests under Wine took $(($(date +%s) - start)) s"

ns=ipkwin$$
tmp=$(mktemp -d /tmp/ipkit-windows.XXXXXX)
daemon_pid=
cleanup() {
  set +e
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
  for n in node peer sw; do
    ip netns pids "$ns-$n" 2>/dev/null | xargs -r kill 2>/dev/null
    ip netns del "$ns-$n" 2>/dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck source=tests/e2e/lib/lan.sh
source tests/e2e/lib/lan.sh
lan_up "$ns"
ip -n "$ns-node" addr add 198.51.100.10/24 dev eth0

# ipkit.exe under Wine in the node's namespace, its directories in $tmp
# (Wine's Z: drive is /).
export IPKIT_CONFIG_DIR="Z:$tmp" IPKIT_STATE_DIR="Z:$tmp"
win() { ip netns exec "$ns-node" scripts/windows.sh run "$@"; }

if win create vip --address 198.51.100.10/24 --adapter eth0 --recovery-adapter eth1 \
  --no-probe >"$tmp/create.out" 2>&1; then
  ok "create adopts the address the lab added on eth0"
else
  bad "create failed: $(cat "$tmp/create.out")"
fi

if win quickcheck vip >"$tmp/qc.out" 2>&1 && grep -q 'quickCheck vip: success (active adapter eth0)' "$tmp/qc.out"; then
  ok "quickcheck succeeds (GetIfTable2, GetUnicastIpAddressTable under Wine)"
else
  bad "quickcheck did not succeed: $(cat "$tmp/qc.out")"
fi

if win --json status >"$tmp/status.json" 2>/dev/null &&
  grep -q '"carrier":"connected"' "$tmp/status.json" && grep -q '"held_by":\["eth0"\]' "$tmp/status.json"; then
  ok "status shows eth0 holding the address, its cable connected"
else
  bad "status: $(cat "$tmp/status.json")"
fi

# Pull the cable: the switch's port goes down, eth0 loses its carrier.
ip -n "$ns-sw" link set neth0 down
rc=0
win quickcheck vip >"$tmp/qc2.out" 2>&1 || rc=$?
if [ "$rc" = 1 ] && grep -q 'FAILED (event 6507)' "$tmp/qc2.out" &&
  grep -q '"id":6507' "$tmp/events.jsonl"; then
  ok "after a pulled cable quickcheck fails (exit 1) with 6507, logged to events.jsonl"
else
  bad "quickcheck after the pull (exit $rc): $(cat "$tmp/qc2.out")"
fi
if win status >"$tmp/status.txt" 2>/dev/null && grep -qE '^vip .* disconnected ' "$tmp/status.txt"; then
  ok "status shows the cable disconnected"
else
  bad "status after the pull: $(cat "$tmp/status.txt")"
fi

# Writes: Wine has no CreateUnicastIpAddressEntry; restore must fail
# cleanly (6002, exit 1) and name the missing call, not abort.
ip -n "$ns-sw" link set neth0 up
rc=0
win restore vip >"$tmp/restore.out" 2>&1 || rc=$?
if [ "$rc" = 1 ] && grep -q 'FAILED (event 6002)' "$tmp/restore.out" &&
  grep -q 'is not exported' "$tmp/events.jsonl"; then
  ok "restore fails cleanly where Wine lacks the IP Helper's write calls"
else
  bad "restore under Wine (exit $rc): $(cat "$tmp/restore.out")"
fi

# The daemon in the console, on readings of the node (Wine never calls
# the notification callbacks back).
printf '[daemon]\nlisten = "127.0.0.1:7480"\n' >"$tmp/ipkit.toml"
win daemon >"$tmp/daemon.out" 2>&1 &
daemon_pid=$!
api() { ip netns exec "$ns-node" curl -sf "http://127.0.0.1:7480$1"; }
up=0
for _ in $(seq 1 600); do
  if api /v1/adapters >"$tmp/adapters.json" 2>/dev/null; then up=1; break; fi
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.1
done
if [ "$up" = 1 ] && grep -q '"name":"eth0"[^}]*"link":"connected"' "$tmp/adapters.json"; then
  ok "the daemon's status API lists eth0 connected"
else
  bad "the daemon's status API: $(cat "$tmp/adapters.json" 2>/dev/null) $(cat "$tmp/daemon.out")"
fi
before=$(grep -c '"id":6507' "$tmp/events.jsonl" || true)
ip -n "$ns-sw" link set neth0 down
seen=0
for _ in $(seq 1 300); do
  if api /v1/adapters 2>/dev/null | grep -q '"name":"eth0"[^}]*"link":"disconnected"' &&
    [ "$(grep -c '"id":6507' "$tmp/events.jsonl")" -gt "$before" ]; then
    seen=1
    break
  fi
  sleep 0.1
done
if [ "$seen" = 1 ]; then
  ok "the daemon sees the pulled cable (status API) and reports 6507"
else
  bad "the daemon missed the pull: $(api /v1/adapters) $(cat "$tmp/daemon.out")"
fi
# Stop it: end the prefix's Wine processes (the console daemon stops on
# Ctrl-C, which a script cannot type).
ip netns exec "$ns-node" env WINEPREFIX="$(pwd)/target/windows/wine-run" /usr/lib/wine/wineserver64 -k || true
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=

echo "windows-wine: $passed passed, $failed failed"
[ "$failed" = 0 ]
