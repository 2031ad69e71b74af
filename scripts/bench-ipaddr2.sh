#!/usr/bin/env bash
# The ipkit OCF agent side by side with ocf:heartbeat:IPaddr2 (issue 5,
# point 6; issue 11 section 4). Results go into BENCHMARKS.md, "Pacemaker
# agent vs IPaddr2".
#
# Part 1 - the agents' own costs: both agents in the same network namespace
#   (eth0, eth1 on a bridge with a peer), runtime state on tmpfs (as
#   /run/resource-agents under Pacemaker), alternating runs (ipkit,
#   IPaddr2, ...), each run one whole process (fork+exec to exit, timed
#   with bash's EPOCHREALTIME around the call). Medians of RUNS runs of:
#   - monitor (depth 0, the resource running);
#   - start+stop without a collision check: ipkit probe_timeout=0 against
#     IPaddr2's default (no arping); each pair summed, then the median;
#   - start+stop collision-checked: ipkit's default 200 ms in-use probe
#     against IPaddr2 run_arping=true (arping -D -c 2 -w 3), over
#     COLLISION_RUNS runs (default 10: each IPaddr2 start waits for arping);
#   - `ipkit --version` and /usr/bin/true: the floor of a process.
#   The load average is printed before and after: other work on the machine
#   slows the shell agent (dozens of forks) more than ipkit.
# Part 2 - client-observed outage for scenario 2 (node1's primary cable
#   pulled) in the two-node Pacemaker lab (tests/pacemaker/lab.sh): a client
#   pings the VIP every 5 ms; the outage is the longest gap between two
#   replies. ipkit recovers onto node1's eth1 at the next monitor; IPaddr2
#   (no local recovery) fails over to node2 when the cloned ethmonitor
#   reports eth0 down (the usual "rule -inf: ethmonitor-eth0 ne 1" setup).
#
#   A fourth row runs ipkit with a 2 s monitor plus `ipkit daemon` on
#   node1 serving the agent's state dir (/run/ipkit; docs/pacemaker.md,
#   "Event-driven recovery with the daemon"): the daemon recovers on the
#   netlink event instead of the next monitor. The daemon runs only for
#   that row.
#
#   scripts/bench-ipaddr2.sh [RUNS=50] [ROUNDS=3]
# RUNS=0 skips part 1, ROUNDS=0 part 2. COLLISION_RUNS=N: the runs of the
# collision-checked row (0 leaves it out). OUTAGE_ROWS="ipkit-2s-daemon ..."
# limits part 2 to some of ipkit-2s, ipaddr2-2s, ipkit-100ms,
# ipkit-2s-daemon.
# Needs root, resource-agents, iputils-arping, pacemaker, corosync
# (scripts/apt-packages.txt); times target/release/ipkit as it ships,
# statically linked by scripts/build-release.sh (run first, a relink at
# most), or IPKIT_BIN=... . Addresses only from 198.51.100.0/24, only inside its
# own namespaces, which it deletes on exit and on interrupt.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
ROUNDS=${2:-3}
repo=$(pwd)
# The release build as installed (static); IPKIT_BIN=... to time another.
if [ -z "${IPKIT_BIN:-}" ]; then scripts/build-release.sh --quiet; fi
bin=${IPKIT_BIN:-$repo/target/release/ipkit}
ipaddr2=/usr/lib/ocf/resource.d/heartbeat/IPaddr2

ns=ipkbench$$
tmp=$(mktemp -d /tmp/ipkit-bench.XXXXXX)
cleanup() {
  set +e
  for n in node peer sw; do ip netns del "$ns-$n" 2>/dev/null || true; done
  type pm_down >/dev/null 2>&1 && pm_down
  rm -rf "$tmp" "${shm:-}"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck source=tests/e2e/lib/lan.sh
source tests/e2e/lib/lan.sh
lan_up "$ns"
mkdir -p "$tmp/agent"
# Runtime state on tmpfs, as under Pacemaker (/run/resource-agents).
shm=$(mktemp -d /dev/shm/ipkit-bench.XXXXXX)
mkdir -p "$shm/rsctmp"
ln -s "$bin" "$tmp/agent/vip"

# One timing loop inside the node namespace: prints "row what micros rc".
cat >"$tmp/loop.sh" <<'EOF'
set -u
runs=$1 tmp=$2 ipaddr2=$3 collision_runs=$5 bin=$6
export OCF_ROOT=/usr/lib/ocf HA_RSCTMP=$4/rsctmp OCF_RESKEY_CRM_meta_interval=10000 OCF_RESKEY_CRM_meta_timeout=20000
us() { local a=${1/./} b=${2/./}; echo $(( 10#$b - 10#$a )); }
# One whole process: its time in microseconds into $t, its status into $rc.
t=0 rc=0
timed() {
  local t0 t1
  t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1
  rc=$?
  t1=$EPOCHREALTIME
  t=$(us "$t0" "$t1")
}
# Parameters as prefix assignments: no extra process between the timer and
# the agent.
ipkit() { OCF_RESOURCE_INSTANCE=vip-ipkit OCF_RESKEY_ip=198.51.100.50 OCF_RESKEY_cidr_netmask=24 \
  OCF_RESKEY_nic=eth0 OCF_RESKEY_recovery_nic=eth1 OCF_RESKEY_probe_timeout=0 "$tmp/agent/vip" "$@"; }
ipkit_probe() { OCF_RESOURCE_INSTANCE=vip-ipkitp OCF_RESKEY_ip=198.51.100.52 OCF_RESKEY_cidr_netmask=24 \
  OCF_RESKEY_nic=eth0 OCF_RESKEY_recovery_nic=eth1 "$tmp/agent/vip" "$@"; }
ipaddr2() { OCF_RESOURCE_INSTANCE=vip-ipaddr2 OCF_RESKEY_ip=198.51.100.51 OCF_RESKEY_cidr_netmask=24 \
  OCF_RESKEY_nic=eth0 "$ipaddr2" "$@"; }
ipaddr2_arping() { OCF_RESOURCE_INSTANCE=vip-ipaddr2a OCF_RESKEY_ip=198.51.100.53 OCF_RESKEY_cidr_netmask=24 \
  OCF_RESKEY_nic=eth0 OCF_RESKEY_run_arping=true "$ipaddr2" "$@"; }
# start (and, with "monitor", a monitor of the running resource) and stop:
# a line each, and start+stop as one pair.
cycle() { # agent [monitor]
  local start rc_start
  timed "$1" start; start=$t rc_start=$rc
  echo "$1 start $t $rc"
  if [ -n "${2:-}" ]; then timed "$1" monitor; echo "$1 monitor $t $rc"; fi
  timed "$1" stop
  echo "$1 stop $t $rc"
  echo "$1 start+stop $((start + t)) $((rc_start + rc))"
}
for i in $(seq "$runs"); do
  cycle ipkit monitor
  cycle ipaddr2 monitor
  timed "$bin" --version; echo "version ipkit $t $rc"
  timed /usr/bin/true; echo "version true $t $rc"
done
for i in $(seq "$collision_runs"); do
  cycle ipkit_probe
  cycle ipaddr2_arping
done
EOF
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
if [ "$RUNS" -gt 0 ]; then
collision_runs=${COLLISION_RUNS:-10}
echo "part 1: $RUNS alternating runs per agent and action, $collision_runs collision-checked ..." >&2
load_before=$(loadavg)
ip netns exec "$ns-node" bash "$tmp/loop.sh" "$RUNS" "$tmp" "$ipaddr2" "$shm" "$collision_runs" "$bin" >"$tmp/times"
load_after=$(loadavg)
if awk '$4 != 0 { bad = 1; print "non-zero exit: " $0 > "/dev/stderr" } END { exit bad }' "$tmp/times"; then :; else
  echo "an agent action failed; numbers would be meaningless" >&2
  exit 1
fi
med() { awk -v a="$1" -v b="$2" '$1 == a && $2 == b { print $3 }' "$tmp/times" | median; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
row() { # label ipkit-agent what other-agent what
  local a b
  a=$(med "$2" "$3")
  b=$(med "$4" "$5")
  [ -n "$a" ] && [ -n "$b" ] || return 0
  echo "| $1 | $(ms "$a") ms | $(ms "$b") ms | $(ratio "$b" "$a") |"
}
echo
echo "### The agents' own costs"
echo
echo "Median of $RUNS whole-process runs ($collision_runs for the collision-checked row); load average $load_before before, $load_after after."
echo
echo "| action | ipkit | IPaddr2 | ratio |"
echo "|---|---|---|---|"
row "monitor" ipkit monitor ipaddr2 monitor
row "start+stop, no collision check (ipkit \`probe_timeout=0\` vs IPaddr2 default)" ipkit start+stop ipaddr2 start+stop
row "start+stop, collision-checked (ipkit default probe vs IPaddr2 \`run_arping=true\`)" ipkit_probe start+stop ipaddr2_arping start+stop
row "start" ipkit start ipaddr2 start
row "stop" ipkit stop ipaddr2 stop
echo
echo "| process | time |"
echo "|---|---|"
echo "| \`ipkit --version\` | $(ms "$(med version ipkit)") ms |"
echo "| \`/usr/bin/true\` | $(ms "$(med version true)") ms |"
fi
for n in node peer sw; do ip netns del "$ns-$n" 2>/dev/null || true; done

# ---- part 2: client-observed outage in the Pacemaker lab
[ "$ROUNDS" -gt 0 ] || exit 0
set +e
echo "part 2: $ROUNDS rounds of scenario 2 per agent in the two-node lab ..." >&2
# shellcheck source=tests/pacemaker/lab.sh
source tests/pacemaker/lab.sh
PM_BIN=$bin
pm_up >&2
pm_ethmonitors >&2

create_ipkit() { # monitor interval
  pm_x n1 cibadmin -C -o resources -X "<primitive id='vip' class='ocf' provider='ipkit' type='vip'>
    <instance_attributes id='vip-ia'>
      <nvpair id='vip-ip' name='ip' value='$PM_VIP/24'/>
      <nvpair id='vip-nic' name='nic' value='eth0'/>
      <nvpair id='vip-rnic' name='recovery_nic' value='eth1'/>
    </instance_attributes>
    <operations><op id='vip-mon' name='monitor' interval='$1' timeout='20s'/></operations>
  </primitive>"
}
create_ipaddr2() { pm_ipaddr2 "$1"; }
remove_vip() {
  pm_x n1 crm_resource -r vip --meta -p target-role -v Stopped >/dev/null 2>&1
  pm_wait 30 eval '[ -z "$(pm_vip_where)" ]'
  pm_x n1 cibadmin -D -o constraints -X "<rsc_location id='vip-on-eth0-link'/>" >/dev/null 2>&1 || true
  pm_x n1 cibadmin -D -o constraints -X "<rsc_location id='vip-prefers-node1'/>" >/dev/null 2>&1 || true
  pm_x n1 cibadmin -D -o resources -X "<primitive id='vip'/>" >/dev/null 2>&1
  pm_x n1 crm_resource --cleanup >/dev/null 2>&1
  sleep 1
}
rundir=/run/ipkit # the agent's state dir under Pacemaker (no HA_RSCTMP)
daemon_up() {
  pm_x n1 setsid -f "$bin" --config-dir "$rundir" --state-dir "$rundir" daemon \
    </dev/null >>"$PM_LAB/daemon.out" 2>&1
  pm_wait 10 pm_x n1 test -s "$rundir/daemon.pid" || { echo "daemon did not start" >&2; return 1; }
}
daemon_down() {
  local pid
  pid=$(pm_x n1 cat "$rundir/daemon.pid" 2>/dev/null) || return 0
  pm_x n1 kill -TERM "$pid"
  pm_wait 10 eval "! pm_x n1 test -e $rundir/daemon.pid" || echo "daemon did not stop" >&2
}
create_ipkit_daemon() { daemon_up && create_ipkit "$@"; }
outage() { # label create-function interval
  local label=$1 create=$2 interval=$3 gap where
  case " ${OUTAGE_ROWS:-$label} " in *" $label "*) ;; *) return 0 ;; esac
  $create "$interval" >/dev/null
  pm_x n1 cibadmin -C -o constraints -X "<rsc_location id='vip-prefers-node1' rsc='vip' node='node1' score='50'/>" >/dev/null
  pm_wait 60 pm_vip_is n1 eth0 || { echo "$label: did not start on node1 eth0" >&2; return 1; }
  pm_wait 10 pm_client_mac_is "${PM_MAC[n1-eth0]}" || true
  pm_cli ping -D -n -i 0.005 -W 1 "$PM_VIP" >"$PM_LAB/ping.log" 2>&1 &
  local pinger=$!
  sleep 1
  pm_pull n1-eth0 2>/dev/null
  # Until the client is answered from the new place, bounded.
  pm_wait 60 eval '[ "$(pm_vip_where)" = "n1 eth1" ] || [ "$(pm_vip_where)" = "n2 eth0" ]' || true
  sleep 1.5
  kill "$pinger" 2>/dev/null
  wait "$pinger" 2>/dev/null || true
  where=$(pm_vip_where | xargs)
  # Only well-formed "[epoch.micros] NN bytes from" lines count (some
  # other line once gave an epoch-sized "gap").
  gap=$(awk -F'[][]' '/bytes from/ && $2 ~ /^[0-9]+[.][0-9]+$/ && $2 > 1000000000 { t = $2 + 0; if (p > 0) { g = t - p; if (g > m) m = g }; p = t } END { printf "%.0f", m * 1000 }' "$PM_LAB/ping.log")
  echo "$label $gap $where"
  pm_plug n1-eth0 2>/dev/null
  remove_vip
  daemon_down
  pm_wait 30 eval '[ "$(pm_attr node1 ethmonitor-eth0)" = 1 ]' || true
}
pm_wait 30 eval '[ "$(pm_attr node1 ethmonitor-eth0)" = 1 ] && [ "$(pm_attr node2 ethmonitor-eth0)" = 1 ]'
: >"$tmp/outage"
for r in $(seq "$ROUNDS"); do
  outage "ipkit-2s" create_ipkit 2s >>"$tmp/outage"
  outage "ipaddr2-2s" create_ipaddr2 2s >>"$tmp/outage"
  outage "ipkit-100ms" create_ipkit 100ms >>"$tmp/outage"
  outage "ipkit-2s-daemon" create_ipkit_daemon 2s >>"$tmp/outage"
done
cat "$tmp/outage" >&2
echo
echo "### Client-observed outage, scenario 2 (ping every 5 ms, longest gap between replies; $ROUNDS rounds)"
echo
echo "| agent, monitor interval | where the VIP went | outage per round | median |"
echo "|---|---|---|---|"
for label in ipkit-2s-daemon ipkit-100ms ipkit-2s ipaddr2-2s; do
  grep >/dev/null "^$label " "$tmp/outage" || continue
  per=$(awk -v l="$label" '$1 == l { printf "%s%d ms", sep, $2; sep = ", " }' "$tmp/outage")
  where=$(awk -v l="$label" '$1 == l { print $3 "/" $4 }' "$tmp/outage" | sort -u | xargs)
  m=$(awk -v l="$label" '$1 == l { print $2 }' "$tmp/outage" | median)
  echo "| $label | $where | $per | $m ms |"
done
