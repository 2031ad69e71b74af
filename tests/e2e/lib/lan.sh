# shellcheck shell=bash
# A LAN of network namespaces for the OCF end-to-end scripts and the
# IPaddr2 benchmark (sourced, not run: tests/e2e/*.sh does not match it).
# lan_up PREFIX makes PREFIX-sw with the bridge "lan", PREFIX-node with eth0
# and eth1 on it, and PREFIX-peer with eth0 198.51.100.1/24 on it. The
# caller deletes the namespaces (ip netns del) in its cleanup.

# lan_ns NAME: a network namespace with its loopback up.
lan_ns() {
  ip netns add "$1"
  ip -n "$1" link set lo up
}

# lan_plug PREFIX NS IF PORT: NS gets IF, up, wired to the bridge's PORT.
lan_plug() {
  ip -n "$1-sw" link add "$4" type veth peer name "$3" netns "$2"
  ip -n "$1-sw" link set "$4" master lan up
  ip -n "$2" link set "$3" up
}

lan_up() {
  local n
  for n in sw node peer; do lan_ns "$1-$n"; done
  ip -n "$1-sw" link add lan type bridge stp_state 0 forward_delay 0
  ip -n "$1-sw" link set lan up
  lan_plug "$1" "$1-node" eth0 neth0
  lan_plug "$1" "$1-node" eth1 neth1
  lan_plug "$1" "$1-peer" eth0 peer0
  ip -n "$1-peer" addr add 198.51.100.1/24 dev eth0
}
