//! A throwaway lab of network namespaces: a LAN bridge, node A (primary + backup adapter), node B, a client.
//!
//! ```text
//!            switch namespace: bridge "lan"
//!        a0 ──────── a1 ──────── b0 ──────── c0          (switch-side veths)
//!        │           │           │           │
//!      eth0        eth1        eth0        eth0          (node-side veths)
//!      └─ node A ──┘           node B      client  198.51.100.100/24
//!                                                  2001:db8:1::100/64
//! ```
//!
//! Used by `ipkit demo`, the kernel tests and the benchmarks. Everything is
//! built in-process with [`NetNs`] and [`RouteSocket`]; nothing touches the
//! host's interfaces. Dropping the [`Lab`] (also while unwinding from a
//! panic) closes every namespace descriptor, so the kernel deletes the
//! namespaces and their interfaces, and unmounts the `/run/netns` names.
//!
//! IPv6 duplicate address detection is off in every lab namespace
//! (`accept_dad=0`), so no address is ever left tentative.
//!
//! With [`LabConfig::with_base_addresses`], node A also has a base address
//! of its own on each adapter, both in the LAN's subnet, as real nodes do:
//! 198.51.100.1/24 and 2001:db8:1::1/64 on eth0, 198.51.100.2/24 and
//! 2001:db8:1::2/64 on eth1. The kernel then has a connected route to the
//! LAN through each adapter.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::capture::Capture;
use crate::netlink::RouteSocket;
use crate::netns::NetNs;
use crate::ping::ping;

/// The client's addresses (SPEC: only documentation ranges, only in the lab).
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 100);
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
/// Prefix lengths of the LAN (198.51.100.0/24, 2001:db8:1::/64).
pub const LAN_V4_PREFIX: u8 = 24;
pub const LAN_V6_PREFIX: u8 = 64;
/// Node A's base addresses with [`LabConfig::with_base_addresses`]: on
/// eth0, then on eth1.
pub const A_BASE_V4: [Ipv4Addr; 2] = [
    Ipv4Addr::new(198, 51, 100, 1),
    Ipv4Addr::new(198, 51, 100, 2),
];
pub const A_BASE_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2),
];
/// The bridge in the switch namespace.
pub const BRIDGE: &str = "lan";

/// How long [`Lab::client_reaches`] waits in total.
pub const REACH_TIMEOUT: Duration = Duration::from_secs(1);

/// A cable between the switch and a node adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Port {
    /// Node A's primary adapter `eth0`.
    APrimary,
    /// Node A's backup adapter `eth1`.
    ABackup,
    /// Node B's `eth0`.
    B,
    /// The client's `eth0`.
    Client,
}

impl Port {
    pub const ALL: [Port; 4] = [Port::APrimary, Port::ABackup, Port::B, Port::Client];

    /// The switch-side veth name (in the switch namespace).
    pub fn switch_side(self) -> &'static str {
        match self {
            Port::APrimary => "a0",
            Port::ABackup => "a1",
            Port::B => "b0",
            Port::Client => "c0",
        }
    }

    /// The node-side adapter name (in the node's namespace).
    pub fn adapter(self) -> &'static str {
        match self {
            Port::APrimary => "eth0",
            Port::ABackup => "eth1",
            Port::B => "eth0",
            Port::Client => "eth0",
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.switch_side())
    }
}

/// How to build a lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabConfig {
    /// Unique per lab: the namespaces are `/run/netns/<prefix>-{sw,a,b,c}`.
    pub prefix: String,
    /// Give the client its IPv6 address (otherwise IPv6 is disabled in the
    /// lab namespaces).
    pub ipv6: bool,
    /// Give node A a base address on each adapter (see the module docs).
    pub base_addresses: bool,
}

impl LabConfig {
    /// A prefix unique in this process and among live processes:
    /// `ipk<pid>x<n>`; IPv6 on.
    pub fn unique() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self {
            prefix: format!("ipk{}x{n}", std::process::id()),
            ipv6: true,
            base_addresses: false,
        }
    }

    /// Node A gets its base addresses ([`A_BASE_V4`], [`A_BASE_V6`]).
    pub fn with_base_addresses(self) -> Self {
        Self {
            base_addresses: true,
            ..self
        }
    }
}

impl Default for LabConfig {
    fn default() -> Self {
        Self::unique()
    }
}

fn context(what: String) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("lab: {what}: {e}"))
}

/// The lab; see the module docs. Drop tears everything down.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    ipv6: bool,
    // Netlink sockets, one per namespace (each works in the namespace it
    // was opened in). Declared before the namespaces: dropped first.
    switch_nl: RouteSocket,
    a_nl: RouteSocket,
    b_nl: RouteSocket,
    client_nl: RouteSocket,
    switch: NetNs,
    node_a: NetNs,
    node_b: NetNs,
    client: NetNs,
}

impl Lab {
    pub fn build(cfg: LabConfig) -> io::Result<Lab> {
        let LabConfig {
            prefix,
            ipv6,
            base_addresses,
        } = cfg;
        if prefix.is_empty() || prefix.len() > 200 || prefix.contains('/') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("lab prefix {prefix:?}: must be 1..=200 bytes without '/'"),
            ));
        }
        let named = |suffix: &str| {
            let name = format!("{prefix}-{suffix}");
            NetNs::new_named(&name).map_err(context(format!("create netns {name}")))
        };
        let switch = named("sw")?;
        let node_a = named("a")?;
        let node_b = named("b")?;
        let client = named("c")?;

        for ns in [&switch, &node_a, &node_b, &client] {
            prepare_sysctls(ns, ipv6, std::ptr::eq(ns, &client))?;
        }
        let open = |ns: &NetNs| -> io::Result<RouteSocket> {
            ns.run(RouteSocket::open)?
                .map_err(context(format!("netlink in {}", ns.name().unwrap_or("?"))))
        };
        let switch_nl = open(&switch)?;
        let a_nl = open(&node_a)?;
        let b_nl = open(&node_b)?;
        let client_nl = open(&client)?;

        let lab = Lab {
            prefix,
            ipv6,
            switch_nl,
            a_nl,
            b_nl,
            client_nl,
            switch,
            node_a,
            node_b,
            client,
        };
        lab.wire()?;
        if base_addresses {
            lab.add_base_addresses()?;
        }
        Ok(lab)
    }

    /// Bridge, veths (peer created directly in the node namespace), links up,
    /// client addresses.
    fn wire(&self) -> io::Result<()> {
        let sw = &self.switch_nl;
        let step = |what: String, r: io::Result<()>| r.map_err(context(what));
        step(format!("create bridge {BRIDGE}"), sw.create_bridge(BRIDGE))?;
        step(format!("set {BRIDGE} up"), sw.set_up(BRIDGE, true))?;
        for port in Port::ALL {
            let (side, adapter) = (port.switch_side(), port.adapter());
            let ns = self.ns_of(port);
            step(
                format!("create veth {side}/{adapter}"),
                sw.create_veth(side, adapter, Some(ns.fd())),
            )?;
            step(
                format!("attach {side} to {BRIDGE}"),
                sw.set_master(side, BRIDGE),
            )?;
            step(format!("set {side} up"), sw.set_up(side, true))?;
            step(
                format!("set {adapter} up on {port}"),
                self.nl_of(port).set_up(adapter, true),
            )?;
        }
        // Retry neighbour resolution after 100 ms instead of 1 s: a first
        // ARP request / NS can be missed by a peer whose address is only
        // milliseconds old (IPv6 joins the solicited-node group from a
        // kernel worker after the add returns). Per device: a namespace
        // has no neigh/default sysctls.
        for (ns, adapters) in [
            (&self.node_a, &["eth0", "eth1"][..]),
            (&self.node_b, &["eth0"][..]),
            (&self.client, &["eth0"][..]),
        ] {
            let mut settings = Vec::new();
            for a in adapters {
                settings.push((format!("net/ipv4/neigh/{a}/retrans_time_ms"), "100"));
                if self.ipv6 {
                    settings.push((format!("net/ipv6/neigh/{a}/retrans_time_ms"), "100"));
                }
            }
            write_sysctls(ns, &settings)?;
        }
        // Until the kernel's link watcher has processed a carrier change,
        // a device drops what it is given to send: wait for every end (and
        // the bridge) to be operationally up, so the first ARP / NS of a
        // test is not lost (which would cost a 1 s retransmission).
        for port in Port::ALL {
            self.wait_port_up(port)?;
        }
        wait_operstate(sw, BRIDGE, true)?;
        let eth0 = self
            .client_nl
            .link_by_name(Port::Client.adapter())?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "lab: client eth0 vanished"))?;
        let mut addrs = vec![(IpAddr::V4(CLIENT_V4), LAN_V4_PREFIX)];
        if self.ipv6 {
            addrs.push((IpAddr::V6(CLIENT_V6), LAN_V6_PREFIX));
        }
        for (ip, prefix) in addrs {
            step(
                format!("add {ip}/{prefix} to the client"),
                self.client_nl.add_address(eth0.index, ip, prefix),
            )?;
        }
        Ok(())
    }

    /// Node A's own address on each adapter, in the LAN's subnet.
    fn add_base_addresses(&self) -> io::Result<()> {
        for (i, port) in [Port::APrimary, Port::ABackup].into_iter().enumerate() {
            self.add_address(port, IpAddr::V4(A_BASE_V4[i]), LAN_V4_PREFIX)?;
            if self.ipv6 {
                self.add_address(port, IpAddr::V6(A_BASE_V6[i]), LAN_V6_PREFIX)?;
            }
        }
        Ok(())
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn ipv6(&self) -> bool {
        self.ipv6
    }

    pub fn node_a(&self) -> &NetNs {
        &self.node_a
    }

    pub fn node_b(&self) -> &NetNs {
        &self.node_b
    }

    pub fn client(&self) -> &NetNs {
        &self.client
    }

    pub fn switch(&self) -> &NetNs {
        &self.switch
    }

    /// The namespace of the node behind `port`.
    pub fn ns_of(&self, port: Port) -> &NetNs {
        match port {
            Port::APrimary | Port::ABackup => &self.node_a,
            Port::B => &self.node_b,
            Port::Client => &self.client,
        }
    }

    /// A netlink handle in the namespace of the node behind `port`.
    pub fn nl_of(&self, port: Port) -> &RouteSocket {
        match port {
            Port::APrimary | Port::ABackup => &self.a_nl,
            Port::B => &self.b_nl,
            Port::Client => &self.client_nl,
        }
    }

    /// A netlink handle in the switch namespace.
    pub fn switch_nl(&self) -> &RouteSocket {
        &self.switch_nl
    }

    /// Switch-side veth down: the node adapter loses carrier. Returns once
    /// the kernel has processed the change (the node adapter's operstate
    /// is no longer up), so what follows sees a settled link.
    pub fn pull_cable(&self, port: Port) -> io::Result<()> {
        self.switch_nl
            .set_up(port.switch_side(), false)
            .map_err(context(format!("pull cable {port}")))?;
        wait_operstate(self.nl_of(port), port.adapter(), false)
            .map_err(context(format!("pull cable {port}")))
    }

    /// Switch-side veth up again. Returns once both ends are
    /// operationally up (frames sent before that could be dropped).
    pub fn plug_cable(&self, port: Port) -> io::Result<()> {
        self.switch_nl
            .set_up(port.switch_side(), true)
            .map_err(context(format!("plug cable {port}")))?;
        self.wait_port_up(port)
            .map_err(context(format!("plug cable {port}")))
    }

    fn wait_port_up(&self, port: Port) -> io::Result<()> {
        wait_operstate(&self.switch_nl, port.switch_side(), true)?;
        wait_operstate(self.nl_of(port), port.adapter(), true)
    }

    /// Hot-unplug: delete the veth pair (the node adapter disappears).
    pub fn delete_adapter(&self, port: Port) -> io::Result<()> {
        self.switch_nl
            .delete_link(port.switch_side())
            .map_err(context(format!("delete adapter {port}")))
    }

    /// Puts `ip/prefix` on the node-side adapter behind `port`, as a person
    /// would by hand (`ip addr add`).
    pub fn add_address(&self, port: Port, ip: IpAddr, prefix: u8) -> io::Result<()> {
        let index = self.ifindex_of(port)?;
        self.nl_of(port)
            .add_address(index, ip, prefix)
            .map_err(context(format!("add {ip}/{prefix} on {port}")))
    }

    /// The MAC of the node-side adapter behind `port`.
    pub fn mac_of(&self, port: Port) -> io::Result<[u8; 6]> {
        let link = self.nl_of(port).link_by_name(port.adapter())?;
        link.and_then(|l| l.mac).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("lab: adapter {} behind {port} is gone", port.adapter()),
            )
        })
    }

    /// The interface index of the node-side adapter behind `port` (in its
    /// node's namespace).
    pub fn ifindex_of(&self, port: Port) -> io::Result<u32> {
        let link = self.nl_of(port).link_by_name(port.adapter())?;
        link.map(|l| l.index).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("lab: adapter {} behind {port} is gone", port.adapter()),
            )
        })
    }

    /// The MAC the client's neighbour table holds for `ip` (a resolved or
    /// stale entry), if any.
    pub fn client_neighbour(&self, ip: IpAddr) -> io::Result<Option<[u8; 6]>> {
        const NUD_INCOMPLETE: u16 = 0x01;
        const NUD_FAILED: u16 = 0x20;
        Ok(self
            .client_nl
            .neighbours()?
            .into_iter()
            .filter(|n| n.ip == ip && n.state & (NUD_INCOMPLETE | NUD_FAILED) == 0)
            .find_map(|n| n.mac))
    }

    /// Does `ip` answer an ICMP / ICMPv6 echo from the client? In-process
    /// (a ping socket in the client namespace), waiting at most
    /// [`REACH_TIMEOUT`].
    pub fn client_reaches(&self, ip: IpAddr) -> io::Result<bool> {
        self.client_reaches_within(ip, REACH_TIMEOUT)
    }

    pub fn client_reaches_within(&self, ip: IpAddr, timeout: Duration) -> io::Result<bool> {
        self.client.run(|| ping(ip, timeout))?
    }

    /// Sends `frame` as it is from the node-side adapter behind `port`, as
    /// the host there would (see [`crate::inject`] for frames to send).
    pub fn send_frame(&self, port: Port, frame: &[u8]) -> io::Result<()> {
        let index = self.ifindex_of(port)?;
        crate::inject::send(self.ns_of(port), index, frame)
            .map_err(context(format!("send a frame from {port}")))
    }

    /// Starts capturing every frame on the switch-side veth of `port`.
    pub fn capture(&self, port: Port) -> io::Result<Capture> {
        let side = port.switch_side();
        let link = self.switch_nl.link_by_name(side)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("lab: no port {side}"))
        })?;
        Capture::start(&self.switch, link.index).map_err(context(format!("capture on {side}")))
    }
}

/// How long the lab waits for the kernel to settle a link change.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits (polling, at most [`SETTLE_TIMEOUT`]) until `name`'s RFC 2863
/// operstate is up (6) or, with `up` false, anything else.
fn wait_operstate(nl: &RouteSocket, name: &str, up: bool) -> io::Result<()> {
    const IF_OPER_UP: u8 = 6;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let link = nl.link_by_name(name)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("link {name} is gone"))
        })?;
        if (link.operstate == IF_OPER_UP) == up {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "link {name} did not become {} within {SETTLE_TIMEOUT:?} (operstate {})",
                    if up { "up" } else { "down" },
                    link.operstate
                ),
            ));
        }
        thread::sleep(Duration::from_micros(500));
    }
}

/// Sysctls for a lab namespace, written from a thread inside it.
fn prepare_sysctls(ns: &NetNs, ipv6: bool, client: bool) -> io::Result<()> {
    let mut settings: Vec<(&str, &str)> = vec![
        // Node A has two adapters on one LAN: answer ARP only on the
        // adapter that holds the address and announce from it ("ARP flux"
        // would otherwise hand the client the backup adapter's MAC).
        ("net/ipv4/conf/all/arp_ignore", "1"),
        ("net/ipv4/conf/default/arp_ignore", "1"),
        ("net/ipv4/conf/all/arp_announce", "2"),
        ("net/ipv4/conf/default/arp_announce", "2"),
        // IPv4 sysctls of a new namespace may be copied from the host's:
        // pin the reverse-path filter off so replies are never dropped.
        ("net/ipv4/conf/all/rp_filter", "0"),
        ("net/ipv4/conf/default/rp_filter", "0"),
    ];
    if ipv6 {
        settings.extend([
            ("net/ipv6/conf/all/accept_dad", "0"),
            ("net/ipv6/conf/default/accept_dad", "0"),
            ("net/ipv6/conf/all/accept_ra", "0"),
            ("net/ipv6/conf/default/accept_ra", "0"),
        ]);
    } else {
        settings.extend([
            ("net/ipv6/conf/all/disable_ipv6", "1"),
            ("net/ipv6/conf/default/disable_ipv6", "1"),
        ]);
    }
    if client {
        // Lets the in-process ping socket of client_reaches work as root.
        settings.push(("net/ipv4/ping_group_range", "0 2147483647"));
    }
    write_sysctls(ns, &settings)
}

/// Writes sysctls (`key` relative to /proc/sys) from a thread inside `ns`.
fn write_sysctls<K: AsRef<str> + Sync>(ns: &NetNs, settings: &[(K, &str)]) -> io::Result<()> {
    let name = ns.name().unwrap_or("?").to_owned();
    ns.run(|| -> io::Result<()> {
        for (key, value) in settings {
            let key = key.as_ref();
            let path = format!("/proc/sys/{key}");
            std::fs::write(&path, value).map_err(context(format!("write {path} in {name}")))?;
        }
        Ok(())
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_and_capture_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Lab>();
        shareable::<Capture>();
        shareable::<NetNs>();
    }

    #[test]
    fn unique_prefixes_differ_and_fit() {
        let a = LabConfig::unique();
        let b = LabConfig::unique();
        assert_ne!(a.prefix, b.prefix);
        assert!(a.prefix.starts_with("ipk"));
        assert!(a.ipv6);
    }
}
