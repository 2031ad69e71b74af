#!/bin/bash
# PID 1 of one lab node's PID namespace (started by tests/pacemaker/lab.sh
# through `ip netns exec NS unshare --mount --uts --ipc --pid --fork`).
# Gives the node its own hostname, /run, /dev/shm and Pacemaker/Corosync
# state directories, and the ipkit agent at /usr/lib/ocf/resource.d/ipkit,
# then waits (reaping orphans) until it is killed.
#   node-init.sh LAB_DIR NODE_NAME
set -e
lab=$1 name=$2 d=$1/nodes/$2
hostname "$name"
# mount -n everywhere: libmount must not create /run/mount/utab on the
# host's /run before this node's /run hides it.
mount -n -t tmpfs -o mode=0755,size=64m ipk-run /run
mkdir -p /run/lock /run/crm /run/resource-agents
chown hacluster:haclient /run/crm
chmod 0750 /run/crm
mount -n -t tmpfs -o mode=1777,size=64m ipk-shm /dev/shm
mount -n --bind "$d/etc-corosync" /etc/corosync
mount -n --bind "$d/var-lib-corosync" /var/lib/corosync
mount -n --bind "$d/var-lib-pacemaker" /var/lib/pacemaker
mount -n --bind "$d/var-log-pacemaker" /var/log/pacemaker
mount -n --bind "$d/var-log-corosync" /var/log/corosync
# The agents: the host's providers plus ipkit, on a tmpfs of this node's
# own. Nothing is created on the host's /usr/lib/ocf/resource.d: a mount
# point there would vanish from this node when anything on the host (a
# package purge, another lab) removed that directory.
mkdir -p "$d/ocf-host"
mount -n --bind /usr/lib/ocf/resource.d "$d/ocf-host"
mount -n -t tmpfs -o mode=0755,size=1m ipk-ocf /usr/lib/ocf/resource.d
for p in "$d"/ocf-host/*/; do
  p=$(basename "$p")
  [ "$p" = ipkit ] && continue
  mkdir "/usr/lib/ocf/resource.d/$p"
  mount -n --bind "$d/ocf-host/$p" "/usr/lib/ocf/resource.d/$p"
done
mkdir /usr/lib/ocf/resource.d/ipkit
mount -n --bind "$lab/ocf-ipkit" /usr/lib/ocf/resource.d/ipkit
set +e
echo ready > "$d/init.ready"
trap 'exit 0' TERM
while :; do sleep 3600 & wait $!; done
