#!/usr/bin/env bash
# The ipkit OCF agent in a real two-node Pacemaker + Corosync cluster
# (issue 5, point 5). Topology and teardown: tests/pacemaker/lab.sh.
#
#   1. the resource starts on node1 and the client reaches the address;
#   2. node1's primary cable pulled: ipkit recovers onto node1's backup
#      adapter within one monitor, Pacemaker records no failure and no move,
#      the client's neighbour entry follows;
#   4. node2's cable pulled: a deep monitor on node1 logs 6406 naming node2;
#   5. standby / unstandby move the resource cleanly (both ways);
#   3. both of node1's cables pulled: Pacemaker fails over to node2 and the
#      client follows (last, since it leaves a recorded failure).
#
# Waits are bounded (a hang fails the test); nothing asserts a duration.
# PM_KEEP=1 keeps the node logs for a look afterwards.
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/pacemaker/lab.sh
source tests/pacemaker/lab.sh

[ -x "$PM_BIN" ] || cargo build --quiet || exit 1

passed=0
failed=0
diagnose() {
  pm_log "---- diagnostics"
  pm_x n1 crm_mon -1 -A -r --show-detail 2>&1 | head -60 >&2
  pm_vip_where >&2
  ip -n "$PM_P-cli" neigh >&2
  for n in node1 node2; do
    pm_log "---- $n: last agent lines"
    grep -E 'vip_|ipkit|\b6[0-9]{3}\b' "$PM_LAB/nodes/$n/var-log-pacemaker/pacemaker.log" 2>/dev/null | tail -15 >&2
  done
}
ok() { pm_log "PASS: $*"; passed=$((passed + 1)); }
bad() { pm_log "FAIL: $*"; failed=$((failed + 1)); diagnose; }
finish() {
  local rc=$?
  pm_down
  echo "pacemaker e2e: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$rc" -eq 0 ] && [ "$passed" -gt 0 ] || exit 1
}
trap finish EXIT
trap 'exit 1' INT TERM

# Lines the agent wrote on a node (Pacemaker logs an agent's stderr).
agent_log() { grep -a 'vip_' "$PM_LAB/nodes/$1/var-log-pacemaker/pacemaker.log" 2>/dev/null; }
events_in_one_call() {
  # True when one agent call (same op key and pid) logged every given event.
  local node=$1
  shift
  agent_log "$node" | awk -v want="$*" '
    { if (match($0, /vip_[a-z]+_[0-9]+\[[0-9]+\]/)) { k = substr($0, RSTART, RLENGTH); seen[k] = seen[k] " " $0 } }
    END { n = split(want, w, " "); for (k in seen) { all = 1; for (i = 1; i <= n; i++) if (index(seen[k], " " w[i] " ") == 0) all = 0; if (all) { print k; exit 0 } } exit 1 }'
}
resource_node() { pm_x n1 crm_resource --locate -r vip 2>/dev/null | sed -n 's/.*running on: //p'; }

pm_log "building the cluster"
pm_up
pm_ethmonitors
pm_x n1 cibadmin -C -o resources -X "<primitive id='vip' class='ocf' provider='ipkit' type='vip'>
    <instance_attributes id='vip-ia'>
      <nvpair id='vip-ip' name='ip' value='$PM_VIP/24'/>
      <nvpair id='vip-nic' name='nic' value='eth0'/>
      <nvpair id='vip-rnic' name='recovery_nic' value='eth1'/>
    </instance_attributes>
    <meta_attributes id='vip-meta'>
      <nvpair id='vip-mt' name='migration-threshold' value='1'/>
    </meta_attributes>
    <operations>
      <op id='vip-mon' name='monitor' interval='2s' timeout='20s'/>
      <op id='vip-mon-deep' name='monitor' interval='3s' timeout='20s'>
        <instance_attributes id='vip-mon-deep-ia'>
          <nvpair id='vip-mon-deep-lvl' name='OCF_CHECK_LEVEL' value='10'/>
        </instance_attributes>
      </op>
    </operations>
  </primitive>" || exit 1
pm_x n1 cibadmin -C -o constraints -X "<rsc_location id='vip-prefers-node1' rsc='vip' node='node1' score='50'/>" || exit 1

# ---- 1. start on node1, the client reaches the address
if pm_wait 60 pm_vip_is n1 eth0 && pm_wait 10 pm_client_mac_is "${PM_MAC[n1-eth0]}"; then
  ok "1: vip started on node1 eth0; the client reaches it at ${PM_MAC[n1-eth0]}"
else
  bad "1: vip not on node1 eth0 / not reached (where: $(pm_vip_where | xargs))"
  exit 1
fi
# A reloadable parameter changes through reload-agent, without a restart.
stops_before=$(agent_log node1 | grep -c 'vip_stop_0')
pm_x n1 crm_resource -r vip -p arp_count -v 3 >/dev/null
if pm_wait 30 eval "agent_log node1 | grep >/dev/null 'vip_reload-agent_0'"; then
  ok "reload-agent ran for a changed arp_count"
else
  bad "no reload-agent after arp_count changed"
fi
[ "$(agent_log node1 | grep -c 'vip_stop_0')" = "$stops_before" ] && pm_vip_is n1 eth0 \
  && ok "reload-agent: no stop, the vip stayed on node1 eth0" \
  || bad "reload-agent: the resource was restarted or moved ($(pm_vip_where | xargs))"

# Let both ethmonitor clones publish before anything is pulled.
pm_wait 30 eval '[ "$(pm_attr node2 ethmonitor-eth0)" = 1 ] && [ "$(pm_attr node1 ethmonitor-eth0)" = 1 ]' \
  || bad "ethmonitor attributes were not published"

# ---- 2. node1's primary cable pulled: local recovery, no failure, no move
pm_pull n1-eth0
if pm_wait 30 pm_vip_is n1 eth1; then
  ok "2: vip recovered onto node1 eth1"
else
  bad "2: vip not recovered onto node1 eth1 (where: $(pm_vip_where | xargs))"
fi
if pm_wait 10 pm_client_mac_is "${PM_MAC[n1-eth1]}"; then
  ok "2: the client's neighbour entry follows to ${PM_MAC[n1-eth1]}"
else
  bad "2: client neighbour is $(pm_client_mac), expected ${PM_MAC[n1-eth1]}"
fi
sleep 3 # two more monitors: the recovered resource must stay healthy
fails=$(pm_failures)
if [ -z "$fails" ] && [ "$(resource_node)" = node1 ] && pm_vip_is n1 eth1; then
  ok "2: Pacemaker recorded no failure and no move"
else
  bad "2: failures [$fails], resource on [$(resource_node)]"
fi
if call=$(pm_wait 10 events_in_one_call node1 6507 6605 6603); then
  ok "2: one monitor call ($call) saw 6507 and recovered (6605 ... 6603)"
else
  bad "2: no single monitor call logged 6507, 6605 and 6603"
fi
pm_plug n1-eth0

# ---- 4. node2's cable pulled: the deep monitor on node1 logs 6406 naming node2
pm_pull n2-eth0
if pm_wait 30 eval '[ "$(pm_attr node2 ethmonitor-eth0)" = 0 ]'; then
  ok "4: ethmonitor published node2 eth0 down"
else
  bad "4: ethmonitor-eth0 of node2 is [$(pm_attr node2 ethmonitor-eth0)]"
fi
if pm_wait 30 eval "agent_log node1 | grep >/dev/null 'Warning 6406 The network cable for network adapter eth0 servicing protected IP address $PM_VIP on system node2 is currently disconnected'"; then
  ok "4: node1's deep monitor logged 6406 naming node2"
else
  bad "4: no 6406 naming node2 in node1's log"
fi
fails=$(pm_failures)
[ -z "$fails" ] && [ "$(resource_node)" = node1 ] \
  && ok "4: the warning failed nothing (resource still on node1)" \
  || bad "4: failures [$fails], resource on [$(resource_node)]"
pm_plug n2-eth0
pm_wait 30 eval '[ "$(pm_attr node2 ethmonitor-eth0)" = 1 ]' || bad "4: node2 eth0 not back up"

# ---- 5. standby / unstandby move the resource cleanly, both ways
pm_x n1 crm_attribute -t nodes -N node1 -n standby -v on
if pm_wait 60 pm_vip_is n2 eth0 && pm_wait 10 pm_client_mac_is "${PM_MAC[n2-eth0]}"; then
  ok "5: node1 standby: vip moved to node2 eth0 and the client follows"
else
  bad "5: after node1 standby the vip is at [$(pm_vip_where | xargs)], client at $(pm_client_mac)"
fi
pm_x n1 crm_attribute -t nodes -N node1 -n standby -D
pm_x n1 crm_attribute -t nodes -N node2 -n standby -v on
if pm_wait 60 pm_vip_is n1 eth0 && pm_wait 10 pm_client_mac_is "${PM_MAC[n1-eth0]}"; then
  ok "5: node2 standby: vip moved back to node1 eth0 (primary) and the client follows"
else
  bad "5: after node2 standby the vip is at [$(pm_vip_where | xargs)], client at $(pm_client_mac)"
fi
pm_x n1 crm_attribute -t nodes -N node2 -n standby -D
sleep 3
fails=$(pm_failures)
[ -z "$fails" ] && pm_vip_is n1 eth0 \
  && ok "5: unstandby: no failure recorded, the vip stays on node1 only" \
  || bad "5: failures [$fails], vip at [$(pm_vip_where | xargs)]"

# ---- 3. both of node1's cables pulled: failover to node2, the client follows
pm_pull n1-eth0
pm_pull n1-eth1
if pm_wait 60 pm_vip_is n2 eth0; then
  ok "3: Pacemaker failed the vip over to node2 eth0 (nothing left on node1)"
else
  bad "3: vip at [$(pm_vip_where | xargs)]"
fi
if pm_wait 10 pm_client_mac_is "${PM_MAC[n2-eth0]}"; then
  ok "3: the client reaches the vip at node2 (${PM_MAC[n2-eth0]})"
else
  bad "3: client neighbour is $(pm_client_mac), expected ${PM_MAC[n2-eth0]}"
fi
if pm_failures | grep -qE '^vip_monitor_[0-9]+ node1$'; then
  ok "3: the failed monitor on node1 is what Pacemaker recorded"
else
  bad "3: recorded failures: [$(pm_failures | xargs)]"
fi
pm_plug n1-eth0
pm_plug n1-eth1
