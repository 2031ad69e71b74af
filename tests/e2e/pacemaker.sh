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
#   6. ipkit daemon on node1 serving the agent's state dir, monitors at
#      10 s: a pulled primary cable is recovered by the daemon (within 2 s),
#      no failure and no move; the client's neighbour entry follows;
#   3. both of node1's cables pulled: Pacemaker fails over to node2 and the
#      client follows (last, since it leaves a recorded failure); node1's
#      stop withdraws the definition, its daemon reloads and leaves the vip
#      alone.
#
# PM_FAMILY=6 runs the same scenarios with an IPv6 address on an IPv6 LAN
# (tests/e2e/pacemaker-ipv6.sh); the default is IPv4.
#
# Waits are bounded (a hang fails the test); only scenario 6 bounds a
# reaction (2 s against a 10 s monitor), to show who recovered.
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
  echo "pacemaker e2e (IPv$PM_FAMILY): $passed passed, $failed failed"
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

pm_log "building the cluster (the resource on IPv$PM_FAMILY)"
pm_up
pm_ethmonitors
pm_x n1 cibadmin -C -o resources -X "<primitive id='vip' class='ocf' provider='ipkit' type='vip'>
    <instance_attributes id='vip-ia'>
      <nvpair id='vip-ip' name='ip' value='$PM_VIP/$PM_PREFIX'/>
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

# ---- 6. ipkit daemon next to Pacemaker on node1 (docs/pacemaker.md): the
# agent publishes the running resource's definition in its state dir, the
# daemon serving that dir recovers a pulled cable on the netlink event,
# long before the (now 10 s) monitor could have run.
# Pacemaker does not set HA_RSCTMP (only the shell agents' ocf-directories
# does), so the agent keeps its state in /run/ipkit.
PM_RD=/run/ipkit
n1_events() { pm_x n1 cat "$PM_RD/events.jsonl" 2>/dev/null | grep -c "\"id\":$1[,}]"; }
if pm_x n1 test -s "$PM_RD/resources/vip.toml" \
  && pm_x n1 grep >/dev/null '^hold_in_service = false' "$PM_RD/resources/vip.toml"; then
  ok "6: the agent published vip's definition on node1 (hold_in_service = false)"
else
  bad "6: no published definition $PM_RD/resources/vip.toml on node1"
fi
pm_x n1 cibadmin -M -o resources -X "<op id='vip-mon' name='monitor' interval='10s' timeout='20s'/>" || bad "6: monitor interval"
pm_x n1 cibadmin -M -o resources -X "<op id='vip-mon-deep' name='monitor' interval='11s' timeout='20s'/>" || bad "6: deep monitor interval"
pm_x n1 setsid -f "$PM_BIN" --config-dir "$PM_RD" --state-dir "$PM_RD" daemon \
  </dev/null >>"$PM_LAB/nodes/node1/daemon.out" 2>&1
if pm_wait 10 pm_x n1 test -s "$PM_RD/daemon.pid"; then
  ok "6: ipkit daemon runs on node1 (pid $(pm_x n1 cat "$PM_RD/daemon.pid"))"
else
  bad "6: the daemon did not start: $(cat "$PM_LAB/nodes/node1/daemon.out")"
fi
sleep 12 # every monitor now runs on the new, long intervals
rec_agent=$(agent_log node1 | grep -c ' 6603 ')
rec_daemon=$(n1_events 6603)
pm_pull n1-eth0
# 2 s is a bound, not a measurement (BENCHMARKS.md has the outage): a
# monitor every 10 s could not have recovered this within it but by luck,
# and the checks below name who did.
if pm_wait 2 pm_vip_is n1 eth1; then
  ok "6: with a 10 s monitor the vip is on node1 eth1 within 2 s of the pull"
else
  bad "6: vip not on node1 eth1 within 2 s (where: $(pm_vip_where | xargs))"
fi
if pm_wait 10 pm_client_mac_is "${PM_MAC[n1-eth1]}"; then
  ok "6: the client's neighbour entry follows to ${PM_MAC[n1-eth1]}"
else
  bad "6: client neighbour is $(pm_client_mac), expected ${PM_MAC[n1-eth1]}"
fi
sleep 1
if [ "$(n1_events 6603)" -gt "$rec_daemon" ] && [ "$(agent_log node1 | grep -c ' 6603 ')" = "$rec_agent" ]; then
  ok "6: the daemon recovered it (6603 in node1's event log, none from an agent call)"
else
  bad "6: recoveries: event log $rec_daemon -> $(n1_events 6603), agent calls $rec_agent -> $(agent_log node1 | grep -c ' 6603 ')"
fi
sleep 12 # the next monitors (10 s, deep 11 s) find the resource healthy
fails=$(pm_failures)
if [ -z "$fails" ] && [ "$(resource_node)" = node1 ] && pm_vip_is n1 eth1; then
  ok "6: Pacemaker recorded no failure and no move"
else
  bad "6: failures [$fails], resource on [$(resource_node)], vip at [$(pm_vip_where | xargs)]"
fi
pm_plug n1-eth0
pm_x n1 cibadmin -M -o resources -X "<op id='vip-mon' name='monitor' interval='2s' timeout='20s'/>" || bad "6: monitor interval"
pm_x n1 cibadmin -M -o resources -X "<op id='vip-mon-deep' name='monitor' interval='3s' timeout='20s'/>" || bad "6: deep monitor interval"
reloads=$(n1_events 7103)

# ---- 3. both of node1's cables pulled: failover to node2, the client follows
# (with node1's daemon still running: it must not fight the move.)
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
# Pacemaker keeps one last failure per resource and node. Whether it tries
# a restart on node1 before moving depends on which comes first, ipkit's
# failed monitor or ethmonitor's attribute: the last failure is then the
# monitor, or the start that 6019 refused. Either is node1's, none node2's.
fails=$(pm_failures | xargs)
if echo "$fails" | grep -E >/dev/null '^vip_(monitor_[0-9]+|start_0) node1$'; then
  ok "3: Pacemaker recorded node1's failure only ($fails)"
else
  bad "3: recorded failures: [$(pm_failures | xargs)]"
fi
# The stop on node1 withdrew the definition and told the daemon.
if ! pm_x n1 test -e "$PM_RD/resources/vip.toml" && pm_wait 10 eval '[ "$(n1_events 7103)" -gt "$reloads" ]'; then
  ok "3: node1's stop withdrew the definition and its daemon reloaded"
else
  bad "3: definition on node1: $(pm_x n1 ls "$PM_RD/resources" 2>&1 | xargs), reloads $reloads -> $(n1_events 7103)"
fi
pm_plug n1-eth0
pm_plug n1-eth1
sleep 3
if pm_vip_is n2 eth0 && pm_x n1 kill -0 "$(pm_x n1 cat "$PM_RD/daemon.pid")"; then
  ok "3: cables back: node1's daemon (still running) leaves the vip on node2 alone"
else
  bad "3: vip at [$(pm_vip_where | xargs)] / node1's daemon gone"
fi
