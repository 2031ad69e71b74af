#!/usr/bin/env bash
# ocf-tester (Debian resource-agents) against the ipkit OCF agent, plus the
# OCF points ocf-tester does not cover (meta-data validity, exit codes and
# exit reasons of failures, a probe on a node without the adapter).
#
# Everything runs in namespaces this script creates: a "node" network
# namespace (eth0, eth1) and a "peer" one (198.51.100.1/24) joined by a
# bridge in a "switch" one; a private mount namespace puts the agent at
# /usr/lib/ocf/resource.d/ipkit/vip (the documented install path) without
# touching the host's /usr. Addresses: 198.51.100.0/24 (ocf-tester and IPv4
# checks) and 2001:db8:1::/64 (one IPv6 check). The trap removes
# everything, also on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
bin=${IPKIT_BIN:-$repo/target/debug/ipkit}
[ -x "$bin" ] || cargo build --quiet

ns=ipkocf$$
tmp=$(mktemp -d /tmp/ipkit-ocf.XXXXXX)
created_dir=0
cleanup() {
  set +e
  for n in node node2 peer sw; do ip netns del "$ns-$n" 2>/dev/null || true; done
  [ "$created_dir" = 1 ] && rmdir /usr/lib/ocf/resource.d/ipkit 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0
failed=0
ok() { echo "PASS: $*"; passed=$((passed + 1)); }
bad() { echo "FAIL: $*"; failed=$((failed + 1)); }

# The agent: a copy named vip, world-executable (ocf-tester runs meta-data
# as nobody, who may not reach a build tree).
chmod 0755 "$tmp"
mkdir -p "$tmp/agent"
install -m 0755 "$bin" "$tmp/agent/vip"
mkdir -p "$tmp/rsctmp"
if [ ! -d /usr/lib/ocf/resource.d/ipkit ]; then
  mkdir -p /usr/lib/ocf/resource.d/ipkit
  created_dir=1
fi

# shellcheck source=tests/e2e/lib/lan.sh
source tests/e2e/lib/lan.sh
lan_up "$ns"
lan_ns "$ns-node2"
lan_plug "$ns" "$ns-node2" eth0 n2eth0

# Run a command in the node's network namespace, with the agent mounted at
# its install path and a private HA_RSCTMP.
in_node() {
  ip netns exec "${node_ns:-$ns-node}" unshare --mount --propagation private \
    env HA_RSCTMP="$tmp/rsctmp" OCF_ROOT=/usr/lib/ocf \
    sh -c 'mount --bind "$0/agent" /usr/lib/ocf/resource.d/ipkit && exec "$@"' "$tmp" "$@"
}
agent=/usr/lib/ocf/resource.d/ipkit/vip
params=(-o ip=198.51.100.50/24 -o nic=eth0 -o recovery_nic=eth1 -o probe_timeout=100)

# ---- ocf-tester itself
if in_node ocf-tester -n vip "${params[@]}" "$agent" >"$tmp/tester.out" 2>&1; then
  ok "ocf-tester: $(tail -1 "$tmp/tester.out")"
else
  bad "ocf-tester failed:"
  cat "$tmp/tester.out"
fi
if ! grep -q 'passed all tests' "$tmp/tester.out"; then
  bad "ocf-tester did not report 'passed all tests'"
fi

# ---- meta-data is valid against ra-api-1.dtd
if "$tmp/agent/vip" meta-data | (cd /usr/share/resource-agents && xmllint --noout --valid -); then
  ok "meta-data validates against ra-api-1.dtd (xmllint --valid)"
else
  bad "meta-data does not validate"
fi

# ---- exit codes and exit reasons
# run_rc EXPECTED DESCRIPTION ENV... -- ACTION
run_rc() {
  local want=$1 what=$2 rc=0
  shift 2
  in_node env "$@" "$agent" "${action:?}" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [ "$rc" = "$want" ]; then
    ok "$what (rc $rc)"
  else
    bad "$what: rc $rc, want $want; stderr: $(cat "$tmp/err")"
  fi
}
base=(OCF_RESOURCE_INSTANCE=vip2 OCF_RESKEY_ip=198.51.100.60/24 OCF_RESKEY_nic=eth0 OCF_RESKEY_probe_timeout=0)

action=frobnicate run_rc 3 "unknown action" "${base[@]}"
action=validate-all run_rc 6 "validate-all with a bad ip" "${base[@]}" OCF_RESKEY_ip=198.51.100.300
grep -q '^ocf-exit-reason:invalid ip: ' "$tmp/err" && ok "bad ip: exit reason names the parameter" \
  || bad "bad ip: exit reason is [$(cat "$tmp/err")]"
action=validate-all run_rc 6 "validate-all with a contradicting cidr_netmask" "${base[@]}" OCF_RESKEY_cidr_netmask=16
action=validate-all run_rc 5 "validate-all with a nic missing on this node" "${base[@]}" OCF_RESKEY_nic=nosuch0
action=monitor run_rc 7 "probe with the nic missing on this node" "${base[@]}" OCF_RESKEY_nic=nosuch0 OCF_RESKEY_CRM_meta_interval=0
action=start run_rc 5 "start with the nic missing on this node" "${base[@]}" OCF_RESKEY_nic=nosuch0
grep -q '^ocf-exit-reason:' "$tmp/err" && ok "start failure writes ocf-exit-reason" || bad "no exit reason on a failed start"
action=reload-agent run_rc 0 "reload-agent" "${base[@]}" OCF_RESKEY_arp_count=3

# The address really is where the agent says (then cleaned up).
action=start run_rc 0 "start" "${base[@]}"
if ip -n "$ns-node" -o addr show dev eth0 | grep >/dev/null ' 198.51.100.60/24 ' \
  && ip netns exec "$ns-peer" ping -c 1 -W 2 198.51.100.60 >/dev/null; then
  ok "start put 198.51.100.60/24 on eth0 and the peer reaches it"
else
  bad "after start: $(ip -n "$ns-node" -o addr show | grep 198.51.100.60 || echo 'address nowhere')"
fi
# Pull eth0's cable: the monitor recovers onto eth1 and returns 0.
ip -n "$ns-sw" link set neth0 down
action=monitor run_rc 0 "monitor after eth0's cable is pulled recovers locally" "${base[@]}" OCF_RESKEY_recovery_nic=eth1
if ip -n "$ns-node" -o addr show dev eth1 | grep >/dev/null ' 198.51.100.60/24 '; then
  ok "the address moved to eth1"
else
  bad "the address is not on eth1: $(ip -n "$ns-node" -o addr show | grep 198.51.100.60 || echo nowhere)"
fi
grep -q 'Information 6603 Recover IP Address 198.51.100.60 End: Successful' "$tmp/err" \
  && ok "monitor logged 6603" || bad "no 6603 in: $(cat "$tmp/err")"
# Both cables pulled: monitor fails with OCF_ERR_GENERIC and a reason.
ip -n "$ns-sw" link set neth1 down
action=monitor run_rc 1 "monitor with both cables pulled" "${base[@]}" OCF_RESKEY_recovery_nic=eth1
grep -q '^ocf-exit-reason:6507 ' "$tmp/err" && ok "failed monitor's exit reason is 6507" \
  || bad "exit reason: $(grep ocf-exit-reason "$tmp/err")"
action=stop run_rc 0 "stop" "${base[@]}" OCF_RESKEY_recovery_nic=eth1
if ip -n "$ns-node" -o addr show | grep >/dev/null 198.51.100.60; then
  bad "stop left the address behind"
else
  ok "stop removed the address"
fi

# IPv6: the same agent, an address from 2001:db8::/32.
v6=(OCF_RESOURCE_INSTANCE=vip6 OCF_RESKEY_ip=2001:db8:1::50/64 OCF_RESKEY_nic=eth0 OCF_RESKEY_probe_timeout=0)
ip -n "$ns-sw" link set neth0 up
ip -n "$ns-sw" link set neth1 up
action=start run_rc 0 "IPv6 start" "${v6[@]}"
ip -n "$ns-node" -o addr show dev eth0 | grep >/dev/null ' 2001:db8:1::50/64 ' \
  && ok "IPv6: 2001:db8:1::50/64 is on eth0" || bad "IPv6: not on eth0"
action=monitor run_rc 0 "IPv6 monitor" "${v6[@]}"
action=stop run_rc 0 "IPv6 stop" "${v6[@]}"
action=monitor run_rc 7 "IPv6 monitor after stop" "${v6[@]}"

# A move: stop here, start at once on another node (whose in-use probe
# listens 300 ms). The stopped node's remaining background announcements
# (arp_count=5 x 200 ms) must end with the address, or the new owner hears
# them and refuses the address as in use (7001).
ip -n "$ns-sw" link set neth0 up
mv_env=(OCF_RESOURCE_INSTANCE=vip3 OCF_RESKEY_ip=198.51.100.70/24 OCF_RESKEY_nic=eth0 OCF_RESKEY_probe_timeout=0
  OCF_RESKEY_arp_count=5 OCF_RESKEY_arp_interval=200)
action=start run_rc 0 "move: start on node 1" "${mv_env[@]}"
action=stop run_rc 0 "move: stop on node 1" "${mv_env[@]}"
action=start node_ns=$ns-node2 run_rc 0 "move: start on node 2 right after, with a 300 ms in-use probe" \
  "${mv_env[@]}" OCF_RESKEY_probe_timeout=300 HA_RSCTMP="$tmp/rsctmp2"
action=stop node_ns=$ns-node2 run_rc 0 "move: stop on node 2" "${mv_env[@]}" HA_RSCTMP="$tmp/rsctmp2"

echo "ocf-tester e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
