#!/usr/bin/env bash
# The two-node Pacemaker lab's scenarios (tests/e2e/pacemaker.sh) with an
# IPv6 address: unsolicited neighbour advertisements instead of gratuitous
# ARP, the client's NDP entry instead of its ARP entry (issue 12, item 7).
exec env PM_FAMILY=6 bash "$(dirname "$0")/pacemaker.sh" "$@"
