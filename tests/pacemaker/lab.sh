# shellcheck shell=bash
# A throwaway two-node Pacemaker + Corosync cluster on one host, sourced by
# tests/e2e/pacemaker.sh and scripts/bench-ipaddr2.sh.
#
# Topology (every name below lives in namespaces this file creates):
#
#   switch netns "<P>-sw": bridge "lan" (the LAN) and bridge "hb" (the cluster
#   interconnect), one veth port per adapter.
#   node1 / node2: each its own network, mount, UTS, IPC and PID namespaces
#     eth0  primary LAN adapter   (no address of its own; the VIP goes here)
#     eth1  backup LAN adapter    (recovery_nic)
#     hb0   interconnect, 203.0.113.1/24 and .2/24: Corosync's ring, so that
#           pulling LAN cables tests the resource, not cluster membership.
#   client netns "<P>-cli": eth0 198.51.100.100/24 on the LAN.
#   VIP: 198.51.100.50/24.
#   With PM_FAMILY=6 the LAN is IPv6 instead: client 2001:db8:50::100/64,
#   VIP 2001:db8:50::50/64 (the interconnect stays IPv4; it carries
#   Corosync, not the resource).
#
# Node sysctls follow what a host with two adapters on one LAN needs:
# arp_ignore=1 / arp_announce=2 (only the adapter holding the VIP answers for
# it) and ignore_routes_with_linkdown=1 (for both families).
#
# Everything started is recorded under $PM_LAB and torn down by pm_down (set
# as an EXIT trap by pm_up's callers): SIGKILL to each node's PID 1 ends
# every process of that node; then the network namespaces are deleted.

PM_P=${PM_P:-ipkpm$$}
PM_LAB=${PM_LAB:-}
PM_FAMILY=${PM_FAMILY:-4}
case $PM_FAMILY in
  4) PM_VIP=198.51.100.50 PM_CLIENT_IP=198.51.100.100 PM_PREFIX=24 ;;
  6) PM_VIP=2001:db8:50::50 PM_CLIENT_IP=2001:db8:50::100 PM_PREFIX=64 ;;
  *) echo "PM_FAMILY must be 4 or 6, not $PM_FAMILY" >&2; exit 2 ;;
esac
PM_REPO=${PM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PM_BIN=${PM_BIN:-$PM_REPO/target/debug/ipkit}
declare -A PM_MAC=(
  [n1-eth0]=02:00:00:00:01:01 [n1-eth1]=02:00:00:00:01:02 [n1-hb0]=02:00:00:00:01:03
  [n2-eth0]=02:00:00:00:02:01 [n2-eth1]=02:00:00:00:02:02 [n2-hb0]=02:00:00:00:02:03
  [cli-eth0]=02:00:00:00:0c:01
)
declare -A PM_HB=([n1]=203.0.113.1 [n2]=203.0.113.2)
declare -A PM_NAME=([n1]=node1 [n2]=node2 [node1]=n1 [node2]=n2)

pm_log() { printf '%(%H:%M:%S)T pacemaker-lab: %s\n' -1 "$*" >&2; }
pm_die() { pm_log "FAIL: $*"; exit 1; }

# Run a command inside a node (all of its namespaces), clean environment.
pm_x() {
  local n=$1 p
  shift
  p=$(cat "$PM_LAB/state/$n.init" 2>/dev/null) || pm_die "node $n has no init"
  nsenter -t "$p" -m -u -i -n -p --wd=/ \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"
}
pm_cli() { ip netns exec "$PM_P-cli" "$@"; }
pm_sw() { ip -n "$PM_P-sw" "$@"; }

# Switch-side port of an adapter: n1-eth0 -> s1e0 (the "cable").
pm_port() { local n=${1%%-*} a=${1#*-}; echo "s${n#n}${a:0:1}${a: -1}"; }
pm_pull() { pm_sw link set "$(pm_port "$1")" down; pm_log "cable of $1 pulled"; }
pm_plug() { pm_sw link set "$(pm_port "$1")" up; pm_log "cable of $1 plugged"; }

pm_corosync_conf() {
  cat <<CONF
totem {
    version: 2
    cluster_name: ipkitlab
    transport: knet
    crypto_cipher: aes256
    crypto_hash: sha256
    token: 1000
}
nodelist {
    node {
        name: node1
        nodeid: 1
        ring0_addr: ${PM_HB[n1]}
    }
    node {
        name: node2
        nodeid: 2
        ring0_addr: ${PM_HB[n2]}
    }
}
quorum {
    provider: corosync_votequorum
    two_node: 1
}
logging {
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_stderr: no
    to_syslog: no
    timestamp: on
}
CONF
}

pm_net() {
  local ns n a port
  for ns in sw n1 n2 cli; do
    ip netns add "$PM_P-$ns" || pm_die "netns $PM_P-$ns"
    echo "$PM_P-$ns" >>"$PM_LAB/state/netns"
    ip -n "$PM_P-$ns" link set lo up
  done
  pm_sw link add lan type bridge stp_state 0 forward_delay 0
  pm_sw link add hb type bridge stp_state 0 forward_delay 0
  pm_sw link set lan up
  pm_sw link set hb up
  for n in n1 n2; do
    for a in eth0 eth1 hb0; do
      port=$(pm_port "$n-$a")
      pm_sw link add "$port" type veth peer name "$a" netns "$PM_P-$n"
      if [ "$a" = hb0 ]; then pm_sw link set "$port" master hb up; else pm_sw link set "$port" master lan up; fi
      ip -n "$PM_P-$n" link set "$a" address "${PM_MAC[$n-$a]}"
    done
    ip netns exec "$PM_P-$n" sh -c '
      for k in all default; do
        sysctl -qw net.ipv4.conf.$k.arp_ignore=1 net.ipv4.conf.$k.arp_announce=2 \
                    net.ipv4.conf.$k.ignore_routes_with_linkdown=1
      done
      for a in eth0 eth1 hb0; do
        sysctl -qw net.ipv4.conf.$a.arp_ignore=1 net.ipv4.conf.$a.arp_announce=2 \
                    net.ipv4.conf.$a.ignore_routes_with_linkdown=1
        sysctl -qw net.ipv6.conf.$a.ignore_routes_with_linkdown=1
      done'
    ip -n "$PM_P-$n" addr add "${PM_HB[$n]}/24" dev hb0
    for a in eth0 eth1 hb0; do ip -n "$PM_P-$n" link set "$a" up; done
  done
  pm_sw link add scle type veth peer name eth0 netns "$PM_P-cli"
  pm_sw link set scle master lan up
  ip -n "$PM_P-cli" link set eth0 address "${PM_MAC[cli-eth0]}"
  # nodad: the client's own address is usable at once.
  ip -n "$PM_P-cli" addr add "$PM_CLIENT_IP/$PM_PREFIX" dev eth0 $([ "$PM_FAMILY" = 6 ] && echo nodad)
  ip -n "$PM_P-cli" link set eth0 up
}

pm_nodes() {
  local n d c i
  corosync-keygen -k "$PM_LAB/authkey" >/dev/null 2>&1 || pm_die "corosync-keygen"
  pm_corosync_conf >"$PM_LAB/corosync.conf"
  # An initial CIB written offline, so the first DC election already uses a
  # short dc-deadtime and the cluster runs without fencing.
  cibadmin --empty >"$PM_LAB/cib-seed.xml"
  for kv in stonith-enabled=false no-quorum-policy=ignore dc-deadtime=2s cluster-recheck-interval=1min; do
    CIB_file=$PM_LAB/cib-seed.xml crm_attribute -t crm_config -n "${kv%%=*}" -v "${kv#*=}" \
      || pm_die "seed CIB"
  done
  mkdir -p "$PM_LAB/ocf-ipkit"
  ln -s "$PM_BIN" "$PM_LAB/ocf-ipkit/vip"
  for n in n1 n2; do
    d=$PM_LAB/nodes/${PM_NAME[$n]}
    mkdir -p "$d"/{etc-corosync,var-lib-corosync,var-log-corosync,var-log-pacemaker}
    cp -a /var/lib/pacemaker "$d/var-lib-pacemaker"
    rm -rf "$d"/var-lib-pacemaker/cib/* "$d"/var-lib-pacemaker/pengine/*
    chown hacluster:haclient "$d/var-log-pacemaker"
    chmod 0770 "$d/var-log-pacemaker"
    install -m 0644 "$PM_LAB/corosync.conf" "$d/etc-corosync/corosync.conf"
    install -m 0400 "$PM_LAB/authkey" "$d/etc-corosync/authkey"
    install -o hacluster -g haclient -m 0600 "$PM_LAB/cib-seed.xml" "$d/var-lib-pacemaker/cib/cib.xml"
    ip netns exec "$PM_P-$n" unshare --mount --uts --ipc --pid --fork --mount-proc \
      --propagation private "$PM_REPO/tests/pacemaker/node-init.sh" "$PM_LAB" "${PM_NAME[$n]}" \
      </dev/null >"$d/init.out" 2>&1 &
    echo $! >"$PM_LAB/state/$n.unshare"
    c=
    for i in $(seq 100); do
      c=$(cat "/proc/$!/task/$!/children" 2>/dev/null)
      [ -n "$c" ] && [ -e "$d/init.ready" ] && break
      sleep 0.05
    done
    [ -e "$d/init.ready" ] || pm_die "node $n did not come up: $(cat "$d/init.out")"
    echo "${c%% *}" >"$PM_LAB/state/$n.init"
  done
}

pm_cluster() {
  local n i q1 q2
  for n in n1 n2; do pm_x "$n" corosync || pm_die "corosync on $n"; done
  for i in $(seq 120); do
    q1=$(pm_x n1 corosync-quorumtool -s 2>/dev/null | awk '/Quorate:/{print $2}')
    q2=$(pm_x n2 corosync-quorumtool -s 2>/dev/null | awk '/Quorate:/{print $2}')
    [ "$q1" = Yes ] && [ "$q2" = Yes ] && break
    sleep 0.25
  done
  [ "$q1" = Yes ] && [ "$q2" = Yes ] || pm_die "corosync did not become quorate"
  pm_log "corosync quorate"
  for n in n1 n2; do
    pm_x "$n" setsid -f env PCMK_logfile=/var/log/pacemaker/pacemaker.log PCMK_logfacility=none \
      PCMK_debug=no /usr/sbin/pacemakerd </dev/null >>"$PM_LAB/nodes/${PM_NAME[$n]}/pacemakerd.out" 2>&1
  done
  local ok= s1 s2
  for i in $(seq 240); do
    s1=$(pm_x n1 crm_mon -1 2>/dev/null)
    s2=$(pm_x n2 crm_mon -1 2>/dev/null)
    if grep -q 'Online: \[ node1 node2 \]' <<<"$s1" && grep -q 'Online: \[ node1 node2 \]' <<<"$s2" \
      && grep -q 'Current DC: node' <<<"$s1" && grep -q 'Current DC: node' <<<"$s2"; then
      ok=1
      break
    fi
    sleep 0.25
  done
  [ -n "$ok" ] || pm_die "pacemaker: both nodes did not come online: $s1"
  pm_log "pacemaker: both nodes online"
  pm_x n1 crm_attribute -t rsc_defaults -n resource-stickiness -v 100 >/dev/null
}

# One cloned ethmonitor per LAN adapter: publishes ethmonitor-<nic> (1/0)
# on every node, which ipkit's deep monitor reads (docs/pacemaker.md).
pm_ethmonitors() {
  local a
  for a in eth0 eth1; do
    pm_x n1 cibadmin -C -o resources -X "<clone id='ethmon-$a-clone'>
      <primitive id='ethmon-$a' class='ocf' provider='heartbeat' type='ethmonitor'>
        <instance_attributes id='ethmon-$a-ia'>
          <nvpair id='ethmon-$a-if' name='interface' value='$a'/>
          <nvpair id='ethmon-$a-lso' name='link_status_only' value='true'/>
          <nvpair id='ethmon-$a-rc' name='repeat_count' value='1'/>
          <nvpair id='ethmon-$a-ri' name='repeat_interval' value='1'/>
        </instance_attributes>
        <operations><op id='ethmon-$a-mon' name='monitor' interval='2s' timeout='20s'/></operations>
      </primitive></clone>" || pm_die "ethmonitor clone $a"
  done
}

# ocf:heartbeat:IPaddr2 as resource "vip" on eth0, monitored every $1, kept
# off a node whose ethmonitor-eth0 is not 1 (the usual
# "rule -inf: ethmonitor-eth0 ne 1"): what users pair with ethmonitor.
pm_ipaddr2() {
  pm_x n1 cibadmin -C -o resources -X "<primitive id='vip' class='ocf' provider='heartbeat' type='IPaddr2'>
    <instance_attributes id='vip-ia'>
      <nvpair id='vip-ip' name='ip' value='$PM_VIP'/>
      <nvpair id='vip-mask' name='cidr_netmask' value='$PM_PREFIX'/>
      <nvpair id='vip-nic' name='nic' value='eth0'/>
    </instance_attributes>
    <operations><op id='vip-mon' name='monitor' interval='$1' timeout='20s'/></operations>
  </primitive>"
  pm_x n1 cibadmin -C -o constraints -X "<rsc_location id='vip-on-eth0-link' rsc='vip'>
    <rule id='vip-on-eth0-link-rule' score='-INFINITY' boolean-op='or'>
      <expression id='vip-eth0-undef' attribute='ethmonitor-eth0' operation='not_defined'/>
      <expression id='vip-eth0-down' attribute='ethmonitor-eth0' operation='ne' value='1'/>
    </rule></rsc_location>"
}

# Node attribute value as node1 sees it (empty when unset).
pm_attr() { pm_x n1 attrd_updater -Q -n "$2" -N "$1" 2>/dev/null | sed -n 's/.*value="\([^"]*\)".*/\1/p'; }

pm_up() {
  [ -n "$PM_LAB" ] || PM_LAB=$(mktemp -d /tmp/ipkit-pacemaker.XXXXXX)
  mkdir -p "$PM_LAB/state"
  [ -x "$PM_BIN" ] || pm_die "$PM_BIN is missing: run cargo build first"
  pm_net
  pm_nodes
  pm_cluster
}

pm_down() {
  set +e
  local n p i
  [ -n "$PM_LAB" ] && [ -d "$PM_LAB/state" ] || return 0
  for n in n1 n2; do
    p=$(cat "$PM_LAB/state/$n.init" 2>/dev/null) && kill -KILL "$p" 2>/dev/null
  done
  for n in n1 n2; do
    p=$(cat "$PM_LAB/state/$n.unshare" 2>/dev/null) || continue
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  if [ -f "$PM_LAB/state/netns" ]; then
    while read -r ns; do ip netns del "$ns" 2>/dev/null; done <"$PM_LAB/state/netns"
  fi
  if [ "${PM_KEEP:-0}" = 1 ]; then
    pm_log "logs kept in $PM_LAB/nodes"
    rm -rf "$PM_LAB/state"
  else
    rm -rf "$PM_LAB"
  fi
  PM_LAB=
}

# Which node and adapter hold the VIP: "n1 eth0", "" when none. Several
# holders print several lines.
pm_vip_where() {
  local n a
  for n in n1 n2; do
    for a in eth0 eth1; do
      ip -n "$PM_P-$n" -o "-$PM_FAMILY" addr show dev "$a" 2>/dev/null | grep >/dev/null " $PM_VIP/" && echo "$n $a"
    done
  done
}
pm_client_mac() {
  ip -n "$PM_P-cli" neigh show "$PM_VIP" | awk '{for(i=1;i<=NF;i++) if($i=="lladdr") print $(i+1)}'
}
# Wait until CMD succeeds, at most SECONDS (a bound against hanging, not a
# timing assertion).
pm_wait() {
  local secs=$1 i
  shift
  for i in $(seq $((secs * 10))); do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}
pm_vip_is() { [ "$(pm_vip_where)" = "$*" ]; }
pm_client_mac_is() { pm_cli ping "-$PM_FAMILY" -c 1 -W 1 "$PM_VIP" >/dev/null 2>&1; [ "$(pm_client_mac)" = "$1" ]; }
# Failures Pacemaker recorded (failed operations), as "rsc op node rc" lines.
pm_failures() {
  pm_x n1 crm_mon -1 --output-as=xml 2>/dev/null \
    | grep -o '<failure [^>]*>' | sed 's/.*op_key="\([^"]*\)".*node="\([^"]*\)".*/\1 \2/'
}
