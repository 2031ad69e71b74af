#!/usr/bin/env bash
# ipkit side by side with the tools users would pick instead (issue 11,
# part 3). Not run by CI. Results go into BENCHMARKS.md, "Side by side",
# and the README's opening section.
#
# One lab (tests/pacemaker/lab.sh: two nodes, a switch, a client), one
# fault: the active node's primary cable (node1 eth0) pulled. Each node
# also gets a base address on both LAN adapters (keepalived's VRRP adverts
# need one on eth0), and the kernel's default ignore_routes_with_linkdown=0
# (the lab keeps arp_ignore=1 / arp_announce=2, which two adapters on one
# LAN need). For each row, per round:
#   - the client pings the VIP every 1 ms; the outage is the longest gap
#     between two replies;
#   - a TCP stream from a server bound to the VIP on node1 to the client
#     (1,000 bytes every ms, crates/ipkit-lab/examples/tcp_stream.rs): its
#     fate (survived, reset, or dead: 5 s without a byte) and, when it
#     survived, its stall: the longest pause between two reads that began
#     around the pull.
# Rows:
#   ipkit        `ipkit daemon` on node1, local recovery onto eth1
#   keepalived-1 keepalived (Debian), VRRP v2, two nodes, track_interface
#                eth0, advert_int 1
#   keepalived-fast  the same with VRRP v3 and advert_int $KA_FAST
#                (default 0.01 s, the protocol's smallest: one centisecond)
#   pacemaker    Pacemaker + ocf:heartbeat:IPaddr2 (monitor 2 s) with the
#                cloned ethmonitor (monitor 2 s) and the usual
#                "rule -inf: ethmonitor-eth0 ne 1"
#
#   scripts/bench-compare.sh [ROUNDS=3]
# ROWS="ipkit keepalived-1 ..." limits the rows. Needs root, keepalived,
# pacemaker, corosync, resource-agents; builds target/release/ipkit and
# the tcp_stream example when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
ROWS=${ROWS:-ipkit keepalived-1 keepalived-fast pacemaker}
KA_FAST=${KA_FAST:-0.01}
repo=$(pwd)
bin=${IPKIT_BIN:-$repo/target/release/ipkit}
stream=$repo/target/release/examples/tcp_stream
[ -x "$bin" ] || cargo build --release --quiet
[ -x "$stream" ] || cargo build --release --quiet -p ipkit-lab --example tcp_stream
command -v keepalived >/dev/null || { echo "needs keepalived (apt-get install keepalived)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/ipkit-compare.XXXXXX)
# The lab's helpers test commands that fail on purpose while they wait.
set +e +o pipefail
# shellcheck source=tests/pacemaker/lab.sh
source tests/pacemaker/lab.sh
PM_BIN=$bin
cleanup() {
  set +e
  [ -n "${pinger:-}" ] && kill "$pinger" 2>/dev/null
  [ -n "${reader:-}" ] && kill "$reader" 2>/dev/null
  ka_down 2>/dev/null
  ipkit_down 2>/dev/null
  pm_down
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pm_up >&2
pm_ethmonitors >&2
declare -A BASE=([n1-eth0]=198.51.100.11 [n1-eth1]=198.51.100.12 [n2-eth0]=198.51.100.21 [n2-eth1]=198.51.100.22)
for n in n1 n2; do
  for a in eth0 eth1; do ip -n "$PM_P-$n" addr add "${BASE[$n-$a]}/24" dev "$a"; done
  ip netns exec "$PM_P-$n" sh -c 'for k in all default eth0 eth1; do
    sysctl -qw net.ipv4.conf.$k.ignore_routes_with_linkdown=0; done'
done
pm_wait 30 eval '[ "$(pm_attr node1 ethmonitor-eth0)" = 1 ] && [ "$(pm_attr node2 ethmonitor-eth0)" = 1 ]'

# ---- the rows' set-up and tear-down (the VIP ends up on node1 eth0)
ipkit_dir=$tmp/ipkit
ipkit_up() {
  mkdir -p "$ipkit_dir"
  printf '[daemon]\nlisten = "off"\n' >"$ipkit_dir/ipkit.toml"
  local x=(pm_x n1 "$bin" --config-dir "$ipkit_dir" --state-dir "$ipkit_dir")
  "${x[@]}" create vip --address "$PM_VIP/24" --adapter eth0 --recovery-adapter eth1 >/dev/null 2>&1
  "${x[@]}" restore vip >/dev/null 2>&1
  pm_x n1 setsid -f "$bin" --config-dir "$ipkit_dir" --state-dir "$ipkit_dir" daemon \
    </dev/null >>"$tmp/ipkit-daemon.out" 2>&1
  pm_wait 10 pm_x n1 test -s "$ipkit_dir/daemon.pid"
}
ipkit_down() {
  [ -d "$ipkit_dir" ] || return 0
  local pid
  pid=$(pm_x n1 cat "$ipkit_dir/daemon.pid" 2>/dev/null) && pm_x n1 kill -TERM "$pid"
  pm_wait 10 eval "! pm_x n1 test -e $ipkit_dir/daemon.pid" || true
  pm_x n1 "$bin" --config-dir "$ipkit_dir" --state-dir "$ipkit_dir" remove vip >/dev/null 2>&1
  pm_x n1 "$bin" --config-dir "$ipkit_dir" --state-dir "$ipkit_dir" delete vip >/dev/null 2>&1
  rm -rf "$ipkit_dir"
}

ka_conf() { # node priority version advert_int
  cat <<CONF
global_defs {
    router_id ${PM_NAME[$1]}
    vrrp_version $3
    script_user root
}
vrrp_instance VIP {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority $2
    advert_int $4
    track_interface {
        eth0
    }
    virtual_ipaddress {
        $PM_VIP/24 dev eth0
    }
}
CONF
}
ka_up() { # version advert_int
  local n prio
  for n in n1 n2; do
    prio=$([ "$n" = n1 ] && echo 150 || echo 100)
    mkdir -p "$tmp/ka-$n"
    ka_conf "$n" "$prio" "$1" "$2" >"$tmp/ka-$n/keepalived.conf"
    # In the foreground (-n) under a shell that records its own PID in the
    # node's PID namespace, then becomes keepalived: the PID to stop.
    pm_x "$n" setsid -f sh -c 'echo $$ >"$1"; shift; exec "$@"' _ "$tmp/ka-$n/main.pid" \
      keepalived -n -f "$tmp/ka-$n/keepalived.conf" -p "$tmp/ka-$n/keepalived.pid" \
      -r "$tmp/ka-$n/vrrp.pid" -c "$tmp/ka-$n/checkers.pid" --vrrp -l -D \
      </dev/null >>"$tmp/ka-$n/out" 2>&1
  done
}
ka_down() {
  local n pid
  for n in n1 n2; do
    pid=$(cat "$tmp/ka-$n/main.pid" 2>/dev/null) || continue
    pm_x "$n" kill -TERM "$pid" 2>/dev/null
    pm_wait 10 eval "! pm_x $n kill -0 $pid 2>/dev/null" || echo "keepalived on $n did not stop" >&2
  done
  pm_wait 10 eval '[ -z "$(pm_vip_where)" ]' || true
  rm -rf "$tmp"/ka-n1 "$tmp"/ka-n2
}
ka1_up() { ka_up 2 1; }
kafast_up() { ka_up 3 "$KA_FAST"; }

pcmk_up() {
  pm_ipaddr2 2s >/dev/null
  pm_x n1 cibadmin -C -o constraints -X "<rsc_location id='vip-prefers-node1' rsc='vip' node='node1' score='50'/>" >/dev/null
}
pcmk_down() {
  pm_x n1 crm_resource -r vip --meta -p target-role -v Stopped >/dev/null 2>&1
  pm_wait 30 eval '[ -z "$(pm_vip_where)" ]' || true
  local c
  for c in vip-on-eth0-link vip-prefers-node1; do
    pm_x n1 cibadmin -D -o constraints -X "<rsc_location id='$c'/>" >/dev/null 2>&1
  done
  pm_x n1 cibadmin -D -o resources -X "<primitive id='vip'/>" >/dev/null 2>&1
  pm_x n1 crm_resource --cleanup >/dev/null 2>&1
  pm_wait 30 eval '[ "$(pm_attr node1 ethmonitor-eth0)" = 1 ]' || true
}

# ---- one round: "label outage_ms fate stall_ms where"
pinger= reader=
round() { # label up down
  local label=$1 up=$2 down=$3 t_pull t_end gap fate stall where
  pm_plug n1-eth0 2>/dev/null
  $up
  pm_wait 60 pm_vip_is n1 eth0 || { echo "$label: the VIP did not come up on node1 eth0" >&2; $down; return 1; }
  pm_wait 10 pm_client_mac_is "${PM_MAC[n1-eth0]}" || true
  pm_x n1 setsid -f sh -c 'echo $$ >"$1"; exec "$2" serve "$3" 5001' _ "$tmp/serve.pid" "$stream" "$PM_VIP" \
    </dev/null >>"$tmp/serve.out" 2>&1
  sleep 0.3
  # Not through pm_cli: $! must be the process itself (ip netns exec
  # execs it), not a subshell that would leave it running when killed.
  ip netns exec "$PM_P-cli" "$stream" read "$PM_VIP" 5001 15 >"$tmp/stream.out" 2>&1 &
  reader=$!
  ip netns exec "$PM_P-cli" ping -D -n -i 0.001 -W 1 "$PM_VIP" >"$tmp/ping.log" 2>&1 &
  pinger=$!
  sleep 1
  t_pull=$(date +%s.%N)
  pm_pull n1-eth0 2>/dev/null
  pm_wait 60 eval '[ "$(pm_vip_where)" = "n1 eth1" ] || [ "$(pm_vip_where)" = "n2 eth0" ]' || true
  sleep 3
  t_end=$(date +%s.%N)
  kill "$pinger" 2>/dev/null
  wait "$pinger" 2>/dev/null || true
  wait "$reader" 2>/dev/null || true
  where=$(pm_vip_where | xargs | tr ' ' /)
  # The longest gap between replies, counting the time from the last
  # reply to the end when replies never came back.
  gap=$(awk -F'[][]' -v end="$t_end" '/bytes from/ && $2 ~ /^[0-9]+[.][0-9]+$/ && $2 > 1000000000 { t = $2 + 0; if (p > 0) { g = t - p; if (g > m) m = g }; p = t } END { if (p > 0 && end - p > m) m = end - p; printf "%.0f", m * 1000 }' "$tmp/ping.log")
  fate=$(sed -n 's/^end=\([a-z]*\).*/\1/p' "$tmp/stream.out")
  case $fate in stopped|closed) fate=survived ;; timeout) fate=dead ;; esac
  stall=$(awk -v t="$t_pull" '$1 == "pause" && $2 + $3 / 1000 >= t && $2 <= t + 0.5 { if ($3 > m) m = $3 } END { printf "%.1f", m }' "$tmp/stream.out")
  [ "$fate" = survived ] || stall=-
  pm_x n1 kill "$(cat "$tmp/serve.pid")" 2>/dev/null || true
  echo "$label ${gap:-0} ${fate:-none} $stall ${where:-none}"
  pm_plug n1-eth0 2>/dev/null
  $down
  if [ -n "$(pm_vip_where)" ]; then
    echo "$label: the VIP is still on $(pm_vip_where | xargs) after the tear-down" >&2
    return 1
  fi
}

: >"$tmp/results"
for r in $(seq "$ROUNDS"); do
  for row in $ROWS; do
    case $row in
      ipkit) round ipkit ipkit_up ipkit_down ;;
      keepalived-1) round keepalived-1 ka1_up ka_down ;;
      keepalived-fast) round keepalived-fast kafast_up ka_down ;;
      pacemaker) round pacemaker pcmk_up pcmk_down ;;
    esac >>"$tmp/results" || true
  done
done
cat "$tmp/results" >&2
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "### Side by side: node1's primary cable pulled ($ROUNDS rounds; ping every 1 ms, TCP stream from the VIP)"
echo
echo "| tool | where the VIP went | client-observed outage, median (rounds) | TCP stream | stall, median |"
echo "|---|---|---|---|---|"
for label in $ROWS; do
  grep >/dev/null "^$label " "$tmp/results" || continue
  per=$(awk -v l="$label" '$1 == l { printf "%s%d", sep, $2; sep = ", " }' "$tmp/results")
  m=$(awk -v l="$label" '$1 == l { print $2 }' "$tmp/results" | median)
  fates=$(awk -v l="$label" '$1 == l { print $3 }' "$tmp/results" | sort | uniq -c | awk '{ printf "%s%s %d/'"$ROUNDS"'", sep, $2, $1; sep = ", " }')
  stall=$(awk -v l="$label" '$1 == l && $4 != "-" { print $4 }' "$tmp/results" | median)
  where=$(awk -v l="$label" '$1 == l { print $5 }' "$tmp/results" | sort -u | xargs)
  echo "| $label | $where | $m ms ($per) | $fates | ${stall} ms |"
done
