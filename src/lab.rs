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
//! built in-process with [`NetNs`] and [`Netlink`]; nothing touches the
//! host's interfaces. Dropping the [`Lab`] (also while unwinding from a
//! panic) closes every namespace descriptor, so the kernel deletes the
//! namespaces and their interfaces, and unmounts the `/run/netns` names.
//!
//! IPv6 duplicate address detection is off in every lab namespace
//! (`accept_dad=0`), so no address is ever left tentative.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::net::KernelError;
use crate::net::linux::netlink::{Family, Netlink};
use crate::net::linux::pdu::{arp::ArpOp, ethernet::EthernetFrame, ndp::NdKind};
use crate::netns::NetNs;
use crate::resource::{Address, Mac};

/// The client's addresses (SPEC: only documentation ranges, only in the lab).
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 100);
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
/// Prefix lengths of the LAN (198.51.100.0/24, 2001:db8:1::/64).
pub const LAN_V4_PREFIX: u8 = 24;
pub const LAN_V6_PREFIX: u8 = 64;
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
        }
    }
}

impl Default for LabConfig {
    fn default() -> Self {
        Self::unique()
    }
}

fn io_err(e: KernelError) -> io::Error {
    let kind = io::Error::from_raw_os_error(e.errno).kind();
    io::Error::new(kind, e)
}

fn context(what: String) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("lab: {what}: {e}"))
}

/// The lab; see the module docs. Drop tears everything down.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    ipv6: bool,
    // Netlink handles, one per namespace (each works in the namespace it
    // was opened in). Declared before the namespaces: dropped first.
    switch_nl: Netlink,
    a_nl: Netlink,
    b_nl: Netlink,
    client_nl: Netlink,
    switch: NetNs,
    node_a: NetNs,
    node_b: NetNs,
    client: NetNs,
}

impl Lab {
    pub fn build(cfg: LabConfig) -> io::Result<Lab> {
        let LabConfig { prefix, ipv6 } = cfg;
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
        let open = |ns: &NetNs| -> io::Result<Netlink> {
            ns.run(Netlink::open)?
                .map_err(io_err)
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
        Ok(lab)
    }

    /// Bridge, veths (peer created directly in the node namespace), links up,
    /// client addresses.
    fn wire(&self) -> io::Result<()> {
        let sw = &self.switch_nl;
        let step =
            |what: String, r: Result<(), KernelError>| r.map_err(io_err).map_err(context(what));
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
            .link_by_name(Port::Client.adapter())
            .map_err(io_err)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "lab: client eth0 vanished"))?;
        let mut addrs = vec![(IpAddr::V4(CLIENT_V4), LAN_V4_PREFIX)];
        if self.ipv6 {
            addrs.push((IpAddr::V6(CLIENT_V6), LAN_V6_PREFIX));
        }
        for (ip, prefix) in addrs {
            let addr = Address::new(ip, prefix)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            step(
                format!("add {ip}/{prefix} to the client"),
                self.client_nl.add_address(eth0.index, &addr, false),
            )?;
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
    pub fn nl_of(&self, port: Port) -> &Netlink {
        match port {
            Port::APrimary | Port::ABackup => &self.a_nl,
            Port::B => &self.b_nl,
            Port::Client => &self.client_nl,
        }
    }

    /// A netlink handle in the switch namespace.
    pub fn switch_nl(&self) -> &Netlink {
        &self.switch_nl
    }

    /// Switch-side veth down: the node adapter loses carrier. Returns once
    /// the kernel has processed the change (the node adapter's operstate
    /// is no longer up), so what follows sees a settled link.
    pub fn pull_cable(&self, port: Port) -> io::Result<()> {
        self.switch_nl
            .set_up(port.switch_side(), false)
            .map_err(io_err)
            .map_err(context(format!("pull cable {port}")))?;
        wait_operstate(self.nl_of(port), port.adapter(), false)
            .map_err(context(format!("pull cable {port}")))
    }

    /// Switch-side veth up again. Returns once both ends are
    /// operationally up (frames sent before that could be dropped).
    pub fn plug_cable(&self, port: Port) -> io::Result<()> {
        self.switch_nl
            .set_up(port.switch_side(), true)
            .map_err(io_err)
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
            .map_err(io_err)
            .map_err(context(format!("delete adapter {port}")))
    }

    /// The MAC of the node-side adapter behind `port`.
    pub fn mac_of(&self, port: Port) -> io::Result<Mac> {
        let link = self
            .nl_of(port)
            .link_by_name(port.adapter())
            .map_err(io_err)?;
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
        let link = self
            .nl_of(port)
            .link_by_name(port.adapter())
            .map_err(io_err)?;
        link.map(|l| l.index).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("lab: adapter {} behind {port} is gone", port.adapter()),
            )
        })
    }

    /// The MAC the client's neighbour table holds for `ip` (a resolved or
    /// stale entry), if any.
    pub fn client_neighbour(&self, ip: IpAddr) -> io::Result<Option<Mac>> {
        const NUD_INCOMPLETE: u16 = 0x01;
        const NUD_FAILED: u16 = 0x20;
        let entries = self
            .client_nl
            .neighbours(Some(Family::of(ip)))
            .map_err(io_err)?;
        Ok(entries
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

    /// Starts capturing every frame on the switch-side veth of `port`.
    pub fn capture(&self, port: Port) -> io::Result<Capture> {
        let side = port.switch_side();
        let link = self
            .switch_nl
            .link_by_name(side)
            .map_err(io_err)?
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("lab: no port {side}"))
            })?;
        let sock = self
            .switch
            .run(|| open_capture_socket(link.index))?
            .map_err(context(format!("capture on {side}")))?;
        Capture::start(sock)
    }
}

/// How long the lab waits for the kernel to settle a link change.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits (polling, at most [`SETTLE_TIMEOUT`]) until `name`'s RFC 2863
/// operstate is up (6) or, with `up` false, anything else.
fn wait_operstate(nl: &Netlink, name: &str, up: bool) -> io::Result<()> {
    const IF_OPER_UP: u8 = 6;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let link = nl.link_by_name(name).map_err(io_err)?.ok_or_else(|| {
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

/// One ICMP(v6) echo exchange over a ping socket (the kernel fills in the
/// identifier and checksum and only delivers our replies).
fn ping(ip: IpAddr, timeout: Duration) -> io::Result<bool> {
    use socket2::{Domain, Protocol, Socket, Type};
    let (domain, proto, request, reply) = match ip {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8, 0u8),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128, 129),
    };
    let sock: UdpSocket = Socket::new(domain, Type::DGRAM, Some(proto))?.into();
    let dest = SocketAddr::new(ip, 0);
    let deadline = Instant::now() + timeout;
    // Resend every 200 ms: the first echo may wait for neighbour resolution.
    let resend = Duration::from_millis(200);
    let mut seq: u16 = 0;
    let mut buf = [0u8; 256];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        seq = seq.wrapping_add(1);
        let mut msg = [0u8; 16];
        msg[0] = request;
        msg[6..8].copy_from_slice(&seq.to_be_bytes());
        msg[8..16].copy_from_slice(b"ipk-lab!");
        match sock.send_to(&msg, dest) {
            Ok(_) => {}
            // No route / neighbour failed: unreachable for now; retry.
            Err(e) if is_unreachable(&e) => {}
            Err(e) => return Err(e),
        }
        let round_end = (now + resend).min(deadline);
        loop {
            let left = round_end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(left))?;
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if from.ip() == ip
                        && n >= 8
                        && buf[0] == reply
                        && buf[8..n].starts_with(b"ipk-lab!")
                    {
                        return Ok(true);
                    }
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    break;
                }
                Err(e) if is_unreachable(&e) => break,
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_unreachable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH) | Some(libc::ENETDOWN)
    )
}

// ---------------------------------------------------------------------------
// Capture
// ---------------------------------------------------------------------------

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Sent by the node behind the port (received by the switch side);
    /// false for frames the switch forwarded towards the node.
    pub from_node: bool,
    pub bytes: Vec<u8>,
}

/// What a frame says about an address (see [`kind_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// ARP request with sender IP = the address (gratuitous / announcement).
    ArpRequest,
    /// ARP reply with sender IP = the address.
    ArpReply,
    /// RFC 5227 probe: ARP request, sender IP 0.0.0.0, target = the address.
    ArpProbe,
    /// Neighbour advertisement for target = the address.
    NeighbourAdvertisement,
    /// Neighbour solicitation for target = the address (DAD if from ::).
    NeighbourSolicitation,
}

/// Classifies `frame` with respect to `ip`; `None` if it says nothing
/// about it.
pub fn kind_of(frame: &[u8], ip: IpAddr) -> Option<FrameKind> {
    let eth = EthernetFrame::parse(frame).ok()?;
    match ip {
        IpAddr::V4(v4) => {
            let arp = eth.arp().ok()?;
            if arp.sender_ip() == v4 {
                Some(match arp.operation() {
                    ArpOp::Request => FrameKind::ArpRequest,
                    ArpOp::Reply => FrameKind::ArpReply,
                })
            } else if arp.operation() == ArpOp::Request
                && arp.sender_ip().is_unspecified()
                && arp.target_ip() == v4
            {
                Some(FrameKind::ArpProbe)
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let nd = eth.ipv6().ok()?.nd().ok()?;
            if nd.target() != v6 {
                return None;
            }
            Some(match nd.kind() {
                NdKind::Advertisement => FrameKind::NeighbourAdvertisement,
                NdKind::Solicitation => FrameKind::NeighbourSolicitation,
            })
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    frames: Mutex<Vec<Frame>>,
    arrived: Condvar,
}

/// Frames seen on one switch port, collected by a background thread until
/// [`Capture::stop`] (or drop).
#[derive(Debug)]
pub struct Capture {
    shared: Arc<Shared>,
    wake: Option<OwnedFd>,
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

const PACKET_OUTGOING: u8 = 4;

fn open_capture_socket(ifindex: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2).
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: zeroed sockaddr_ll is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    sll.sll_ifindex =
        i32::try_from(ifindex).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    // SAFETY: valid sockaddr_ll of the given size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

impl Capture {
    fn start(sock: OwnedFd) -> io::Result<Capture> {
        let mut fds = [0; 2];
        // SAFETY: fds has room for two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh fds we own.
        let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("lab-capture".into())
            .spawn(move || capture_loop(&sock, &rx, &worker))?;
        Ok(Capture {
            shared,
            wake: Some(tx),
            thread: Some(thread),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Frame>> {
        self.shared.frames.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every frame so far (both directions).
    pub fn frames(&self) -> Vec<Vec<u8>> {
        self.lock().iter().map(|f| f.bytes.clone()).collect()
    }

    /// Every frame so far, with its direction.
    pub fn all(&self) -> Vec<Frame> {
        self.lock().clone()
    }

    /// Frames sent by the node behind the port so far.
    pub fn frames_from_node(&self) -> Vec<Vec<u8>> {
        self.lock()
            .iter()
            .filter(|f| f.from_node)
            .map(|f| f.bytes.clone())
            .collect()
    }

    /// How many frames of `kind` about `ip` the node behind the port sent.
    pub fn count(&self, kind: FrameKind, ip: IpAddr) -> usize {
        self.lock()
            .iter()
            .filter(|f| f.from_node && kind_of(&f.bytes, ip) == Some(kind))
            .count()
    }

    /// How many frames of `kind` about `ip` crossed the port either way.
    pub fn count_any_direction(&self, kind: FrameKind, ip: IpAddr) -> usize {
        self.lock()
            .iter()
            .filter(|f| kind_of(&f.bytes, ip) == Some(kind))
            .count()
    }

    /// Waits until `done(frames)` holds or `timeout` passes; returns whether
    /// it holds.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[Frame]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut frames = self.lock();
        loop {
            if done(&frames) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            frames = self
                .shared
                .arrived
                .wait_timeout(frames, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Waits until the node sent at least `n` frames of `kind` about `ip`.
    pub fn wait_for_count(&self, kind: FrameKind, ip: IpAddr, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |frames| {
            frames
                .iter()
                .filter(|f| f.from_node && kind_of(&f.bytes, ip) == Some(kind))
                .count()
                >= n
        })
    }

    /// Stops the capture and returns every frame (with direction).
    pub fn stop(mut self) -> io::Result<Vec<Frame>> {
        self.halt()?;
        Ok(std::mem::take(&mut *self.lock()))
    }

    fn halt(&mut self) -> io::Result<()> {
        // Closing the pipe's write end wakes the thread (POLLHUP).
        drop(self.wake.take());
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            None => Ok(()),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

fn capture_loop(sock: &OwnedFd, wake: &OwnedFd, shared: &Shared) -> io::Result<()> {
    let mut buf = vec![0u8; 65536];
    loop {
        let mut pfds = [
            libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), 2, -1) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if pfds[0].revents & libc::POLLIN != 0 {
            // SAFETY: zeroed sockaddr_ll is valid; sizes match the buffers.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            let n = unsafe {
                libc::recvfrom(
                    sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n > 0 {
                let frame = Frame {
                    from_node: from.sll_pkttype != PACKET_OUTGOING,
                    bytes: buf[..n as usize].to_vec(),
                };
                shared
                    .frames
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(frame);
                shared.arrived.notify_all();
            } else if n < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::EINTR) => {}
                    // The port was deleted (hot-unplug): nothing more to see.
                    Some(libc::ENETDOWN) | Some(libc::ENXIO) | Some(libc::ENODEV) => {}
                    _ => return Err(e),
                }
            }
            continue;
        }
        if pfds[1].revents != 0 {
            // Drain what is already queued before stopping.
            return Ok(());
        }
        if pfds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            // Socket error (e.g. interface gone): wait for stop only.
            let mut one = [libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(one.as_mut_ptr(), 1, -1) };
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::linux::pdu::arp::{arp_probe, gratuitous_arp_reply, gratuitous_arp_request};
    use crate::net::linux::pdu::ndp::{dad_ns, unsolicited_na};

    #[test]
    fn frames_are_classified() {
        let mac = Mac([2, 0, 0, 0, 0, 1]);
        let v4 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
        let v6: Ipv6Addr = "2001:db8:1::10".parse().expect("ip");
        let IpAddr::V4(a4) = v4 else { unreachable!() };
        assert_eq!(
            kind_of(&gratuitous_arp_request(mac, a4), v4),
            Some(FrameKind::ArpRequest)
        );
        assert_eq!(
            kind_of(&gratuitous_arp_reply(mac, a4), v4),
            Some(FrameKind::ArpReply)
        );
        assert_eq!(kind_of(&arp_probe(mac, a4), v4), Some(FrameKind::ArpProbe));
        assert_eq!(
            kind_of(&unsolicited_na(mac, v6), IpAddr::V6(v6)),
            Some(FrameKind::NeighbourAdvertisement)
        );
        assert_eq!(
            kind_of(&dad_ns(mac, v6), IpAddr::V6(v6)),
            Some(FrameKind::NeighbourSolicitation)
        );
        let other = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 11));
        assert_eq!(kind_of(&gratuitous_arp_request(mac, a4), other), None);
        assert_eq!(kind_of(&unsolicited_na(mac, v6), v4), None);
    }

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
