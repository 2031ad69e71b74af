//! The one module that speaks netlink (netlink-packet-route + netlink-sys).
//!
//! A [`Netlink`] handle is one synchronous `NETLINK_ROUTE` socket, opened in
//! the network namespace of the thread that calls [`Netlink::open`] (a
//! netlink socket stays bound to the namespace it was created in, whatever
//! thread later uses it). Requests carry a sequence number; replies with
//! another sequence number (left over from an interrupted exchange) are
//! skipped. A request ends at its ACK / error, a dump at `NLMSG_DONE`. A dump
//! that the kernel marks `NLM_F_DUMP_INTR` (the table changed while it was
//! being read), or that loses messages to ENOBUFS, is read again from the
//! start.
//!
//! Messages are built with the crate's types and parsed selectively: only
//! the attributes ipkit needs are decoded, so the fast path (quickCheck:
//! one link lookup and one address dump) allocates almost nothing.
//!
//! [`Monitor`] is a second socket subscribed to the link and address
//! multicast groups, for the daemon (SPEC §6: react to netlink events).
//!
//! Errors keep the kernel's errno in [`KernelError`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REQUEST, NLMSG_DONE,
    NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NlasIterator,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkHeader, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourHeader, NeighbourMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::net::{KernelError, KernelOp};
use crate::resource::{Address, Mac};

// rtnetlink message types and attribute numbers (linux/rtnetlink.h,
// if_link.h, if_addr.h, neighbour.h) for the selective parsers.
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_NEWNEIGH: u16 = 28;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_CARRIER: u16 = 33;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const IFF_UP: u32 = 1;
const IFF_LOWER_UP: u32 = 1 << 16;
const IFA_F_DADFAILED: u32 = 0x08;
const IFA_F_TENTATIVE: u32 = 0x40;
const LINK_HEADER_LEN: usize = 16;
const ADDR_HEADER_LEN: usize = 8;
const NEIGH_HEADER_LEN: usize = 12;
const NL_HEADER_LEN: usize = 16;

/// Receive buffer: the kernel caps dump batches at 32 KiB.
const RECV_BUF: usize = 64 * 1024;
/// How many times a dump is read again after NLM_F_DUMP_INTR / ENOBUFS.
const DUMP_ATTEMPTS: usize = 8;
/// A reply the kernel never sends would otherwise hang the caller.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Address family filter for dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    fn af(family: Option<Family>) -> AddressFamily {
        match family {
            None => AddressFamily::Unspec,
            Some(Family::V4) => AddressFamily::Inet,
            Some(Family::V6) => AddressFamily::Inet6,
        }
    }
}

/// One network interface as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    pub index: u32,
    pub name: String,
    pub mac: Option<Mac>,
    /// `IFF_UP`: administratively up.
    pub admin_up: bool,
    /// `IFLA_CARRIER` (falls back to `IFF_LOWER_UP`).
    pub carrier: bool,
    /// `IFLA_OPERSTATE` (RFC 2863: 2 = down, 6 = up, ...).
    pub operstate: u8,
}

/// One address on one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRecord {
    pub ifindex: u32,
    pub ip: IpAddr,
    pub prefix: u8,
    /// IPv6 duplicate address detection still running (`IFA_F_TENTATIVE`).
    pub tentative: bool,
    /// IPv6 duplicate address detection failed (`IFA_F_DADFAILED`).
    pub dadfailed: bool,
}

/// One neighbour (ARP / NDP) cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighRecord {
    pub ifindex: u32,
    pub ip: IpAddr,
    pub mac: Option<Mac>,
    /// `NUD_*` state bits.
    pub state: u16,
}

/// Why an exchange failed, before it is given its operation and target.
#[derive(Debug)]
enum NlError {
    Errno(i32),
    Decode(String),
}

impl NlError {
    fn io(e: &std::io::Error) -> Self {
        NlError::Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }

    fn into_kernel(self, op: KernelOp, target: Option<String>) -> KernelError {
        match self {
            NlError::Errno(n) => KernelError::new(op, target, n),
            NlError::Decode(m) => KernelError::with_message(
                op,
                target,
                libc::EPROTO,
                format!("malformed netlink reply: {m}"),
            ),
        }
    }
}

impl From<netlink_packet_core::DecodeError> for NlError {
    fn from(e: netlink_packet_core::DecodeError) -> Self {
        NlError::Decode(e.to_string())
    }
}

/// A closure that turns an [`NlError`] into a [`KernelError`] about `target`.
fn ke<'a>(
    op: KernelOp,
    target: impl std::fmt::Display + 'a,
) -> impl FnOnce(NlError) -> KernelError + 'a {
    move |e| e.into_kernel(op, Some(target.to_string()))
}

struct Inner {
    seq: u32,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
}

/// A synchronous `NETLINK_ROUTE` socket (see the module docs).
pub struct Netlink {
    sock: Socket,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.sock.as_raw_fd())
            .finish()
    }
}

fn open_socket() -> Result<Socket, KernelError> {
    let open_err =
        |e: std::io::Error| KernelError::from_io(KernelOp::Open, Some("netlink".into()), &e);
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(open_err)?;
    sock.bind_auto().map_err(open_err)?;
    Ok(sock)
}

fn set_recv_timeout(fd: RawFd, d: Duration) -> std::io::Result<()> {
    let tv = libc::timeval {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_usec: libc::suseconds_t::from(d.subsec_micros()),
    };
    // SAFETY: fd is an open socket; tv is a valid timeval of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn read_i32(b: &[u8]) -> i32 {
    match b.get(..4) {
        Some(s) => i32::from_ne_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

fn ip_from(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        _ => None,
    }
}

fn mac_from(b: &[u8]) -> Option<Mac> {
    let a: [u8; 6] = b.try_into().ok()?;
    Some(Mac(a))
}

/// Decode the fields of an `RTM_NEWLINK` ipkit needs.
fn parse_link(payload: &[u8]) -> Result<LinkRecord, NlError> {
    let h = LinkHeader::parse(payload)?;
    let flags = h.flags.bits();
    let mut rec = LinkRecord {
        index: h.index,
        name: String::new(),
        mac: None,
        admin_up: flags & IFF_UP != 0,
        carrier: flags & IFF_LOWER_UP != 0,
        operstate: 0,
    };
    for nla in NlasIterator::new(payload.get(LINK_HEADER_LEN..).unwrap_or(&[])) {
        let nla = nla?;
        let v = nla.value();
        match nla.kind() {
            IFLA_IFNAME => {
                let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
                rec.name = String::from_utf8_lossy(&v[..end]).into_owned();
            }
            IFLA_ADDRESS => rec.mac = mac_from(v),
            IFLA_CARRIER => {
                if let Some(c) = v.first() {
                    rec.carrier = *c != 0;
                }
            }
            IFLA_OPERSTATE => rec.operstate = v.first().copied().unwrap_or(0),
            _ => {}
        }
    }
    Ok(rec)
}

/// Decode an `RTM_NEWADDR` / `RTM_DELADDR`; `None` for other families.
fn parse_addr(payload: &[u8]) -> Result<Option<AddrRecord>, NlError> {
    let h = netlink_packet_route::address::AddressHeader::parse(payload)?;
    if !matches!(h.family, AddressFamily::Inet | AddressFamily::Inet6) {
        return Ok(None);
    }
    let mut flags = u32::from(h.flags.bits());
    let (mut local, mut address) = (None, None);
    for nla in NlasIterator::new(payload.get(ADDR_HEADER_LEN..).unwrap_or(&[])) {
        let nla = nla?;
        match nla.kind() {
            IFA_LOCAL => local = ip_from(nla.value()),
            IFA_ADDRESS => address = ip_from(nla.value()),
            IFA_FLAGS => {
                if let Ok(b) = <[u8; 4]>::try_from(nla.value()) {
                    flags = u32::from_ne_bytes(b);
                }
            }
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
    // point-to-point links and equal to IFA_LOCAL otherwise.
    Ok(local.or(address).map(|ip| AddrRecord {
        ifindex: h.index,
        ip,
        prefix: h.prefix_len,
        tentative: flags & IFA_F_TENTATIVE != 0,
        dadfailed: flags & IFA_F_DADFAILED != 0,
    }))
}

/// Decode an `RTM_NEWNEIGH`; `None` without an IP destination.
fn parse_neigh(payload: &[u8]) -> Result<Option<NeighRecord>, NlError> {
    let h = NeighbourHeader::parse(payload)?;
    let (mut ip, mut mac) = (None, None);
    for nla in NlasIterator::new(payload.get(NEIGH_HEADER_LEN..).unwrap_or(&[])) {
        let nla = nla?;
        match nla.kind() {
            NDA_DST => ip = ip_from(nla.value()),
            NDA_LLADDR => mac = mac_from(nla.value()),
            _ => {}
        }
    }
    Ok(ip.map(|ip| NeighRecord {
        ifindex: h.ifindex,
        ip,
        mac,
        state: h.state.into(),
    }))
}

/// How a reply ended.
enum Reply {
    /// Complete, in this many datagrams.
    Complete { datagrams: usize },
    /// A dump the kernel marked `NLM_F_DUMP_INTR`: read it again.
    Interrupted,
}

/// What a request expects back.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A request with NLM_F_ACK: data messages (if any), then an ACK.
    Ack,
    /// A dump: data messages, then NLMSG_DONE.
    Dump,
}

impl Netlink {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, KernelError> {
        let sock = open_socket()?;
        let open_err =
            |e: std::io::Error| KernelError::from_io(KernelOp::Open, Some("netlink".into()), &e);
        // Error ACKs without a copy of our request; strict dump filtering
        // (both best effort: older kernels lack them).
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_netlink_get_strict_chk(true);
        set_recv_timeout(sock.as_raw_fd(), REPLY_TIMEOUT).map_err(open_err)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(open_err)?;
        Ok(Self {
            sock,
            inner: Mutex::new(Inner {
                seq: 0,
                rbuf: Vec::with_capacity(RECV_BUF),
                wbuf: Vec::with_capacity(512),
            }),
        })
    }

    /// A dump request: every reply of type `reply` that `parse` keeps.
    fn dump<T: PartialEq>(
        &self,
        msg: RouteNetlinkMessage,
        reply: u16,
        op: KernelOp,
        mut parse: impl FnMut(&[u8]) -> Result<Option<T>, NlError>,
    ) -> Result<Vec<T>, KernelError> {
        let mut out = Vec::new();
        self.exchange(msg, Kind::Dump, 0, &mut out, |t, p| {
            if t == reply { parse(p) } else { Ok(None) }
        })
        .map_err(|e| e.into_kernel(op, None))?;
        Ok(out)
    }

    /// Send one request and feed every data message of its reply to
    /// `parse`, collecting what it returns in `out`.
    ///
    /// A dump is read again (and `out` reset) when the kernel marks it
    /// interrupted (`NLM_F_DUMP_INTR`) or drops part of it (ENOBUFS). A dump
    /// that spans several datagrams is not atomic, and the kernel does not
    /// flag every change made between them (seen on 6.18 with IPv6
    /// addresses: an entry lost or repeated, no flag), so such a dump is
    /// read until two readings in a row agree. A dump that fits one
    /// datagram (the common case) is read once.
    fn exchange<T: PartialEq>(
        &self,
        msg: RouteNetlinkMessage,
        kind: Kind,
        flags: u16,
        out: &mut Vec<T>,
        mut parse: impl FnMut(u16, &[u8]) -> Result<Option<T>, NlError>,
    ) -> Result<(), NlError> {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let Inner { seq, rbuf, wbuf } = &mut *guard;

        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST
            | flags
            | match kind {
                Kind::Ack => NLM_F_ACK,
                Kind::Dump => NLM_F_DUMP,
            };
        let mut message = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        message.finalize();
        wbuf.clear();
        wbuf.resize(message.buffer_len(), 0);
        message.serialize(wbuf);

        let start = out.len();
        // The previous complete multi-datagram reading, to compare with.
        let mut previous: Option<Vec<T>> = None;
        // Interrupted every time: "try again" (EAGAIN) unless ENOBUFS said more.
        let mut last = NlError::Errno(libc::EAGAIN);
        for _ in 0..DUMP_ATTEMPTS {
            out.truncate(start);
            *seq = seq.wrapping_add(1).max(1);
            wbuf[8..12].copy_from_slice(&seq.to_ne_bytes());
            loop {
                match self.sock.send(wbuf, 0) {
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(NlError::io(&e)),
                }
            }
            match self.read_reply(*seq, rbuf, out, &mut parse) {
                Ok(Reply::Complete { datagrams }) => {
                    if kind == Kind::Ack || datagrams <= 1 {
                        return Ok(());
                    }
                    let reading = out.split_off(start);
                    if previous.as_ref() == Some(&reading) {
                        out.extend(reading);
                        return Ok(());
                    }
                    previous = Some(reading);
                }
                Ok(Reply::Interrupted) => last = NlError::Errno(libc::EAGAIN),
                Err(NlError::Errno(libc::ENOBUFS)) if kind == Kind::Dump => {
                    last = NlError::Errno(libc::ENOBUFS);
                }
                Err(e) => return Err(e),
            }
        }
        // A table that keeps changing: the last complete reading is as
        // good as any.
        match previous {
            Some(reading) => {
                out.truncate(start);
                out.extend(reading);
                Ok(())
            }
            None => Err(last),
        }
    }

    /// Read until the reply to `seq` is complete.
    fn read_reply<T>(
        &self,
        seq: u32,
        rbuf: &mut Vec<u8>,
        out: &mut Vec<T>,
        parse: &mut impl FnMut(u16, &[u8]) -> Result<Option<T>, NlError>,
    ) -> Result<Reply, NlError> {
        let mut interrupted = false;
        let mut datagrams = 0;
        loop {
            rbuf.clear();
            let n = match self.sock.recv(rbuf, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Err(NlError::Errno(libc::ETIMEDOUT));
                }
                Err(e) => return Err(NlError::io(&e)),
            };
            if n > rbuf.len() {
                return Err(NlError::Decode(format!(
                    "reply of {n} bytes exceeds the {}-byte buffer",
                    rbuf.len()
                )));
            }
            let mut off = 0;
            let mut ours = false;
            while off + NL_HEADER_LEN <= n {
                let buf = NetlinkBuffer::new_checked(&rbuf[off..n])?;
                let len = buf.length() as usize;
                off += align4(len);
                if buf.sequence_number() != seq {
                    continue; // left over from an earlier, abandoned exchange
                }
                if !ours {
                    ours = true;
                    datagrams += 1;
                }
                if buf.flags() & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                let payload = buf.payload();
                match buf.message_type() {
                    NLMSG_NOOP => {}
                    NLMSG_ERROR => {
                        let code = read_i32(payload);
                        return if code == 0 {
                            Ok(Reply::Complete { datagrams })
                        } else {
                            Err(NlError::Errno(code.saturating_neg()))
                        };
                    }
                    NLMSG_DONE => {
                        let code = read_i32(payload);
                        if code < 0 {
                            return Err(NlError::Errno(code.saturating_neg()));
                        }
                        return Ok(if interrupted {
                            Reply::Interrupted
                        } else {
                            Reply::Complete { datagrams }
                        });
                    }
                    NLMSG_OVERRUN => return Err(NlError::Errno(libc::ENOBUFS)),
                    t => {
                        // Data (a GET's reply precedes its ACK).
                        if let Some(item) = parse(t, payload)? {
                            out.push(item);
                        }
                    }
                }
            }
        }
    }

    fn ack(&self, msg: RouteNetlinkMessage, flags: u16) -> Result<(), NlError> {
        let mut none: Vec<()> = Vec::new();
        self.exchange(msg, Kind::Ack, flags, &mut none, |_, _| Ok(None))
    }

    fn get_link(&self, msg: LinkMessage) -> Result<Option<LinkRecord>, NlError> {
        let mut out = Vec::with_capacity(1);
        match self.exchange(
            RouteNetlinkMessage::GetLink(msg),
            Kind::Ack,
            0,
            &mut out,
            |t, p| {
                if t == RTM_NEWLINK {
                    parse_link(p).map(Some)
                } else {
                    Ok(None)
                }
            },
        ) {
            Ok(()) => Ok(out.pop()),
            Err(NlError::Errno(libc::ENODEV)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The interface called `name`, if there is one.
    pub fn link_by_name(&self, name: &str) -> Result<Option<LinkRecord>, KernelError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        msg.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        self.get_link(msg).map_err(ke(KernelOp::GetLink, name))
    }

    /// The interface with index `index`, if there is one.
    pub fn link_by_index(&self, index: u32) -> Result<Option<LinkRecord>, KernelError> {
        if index == 0 {
            return Ok(None);
        }
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        self.get_link(msg)
            .map_err(ke(KernelOp::GetLink, format_args!("ifindex {index}")))
    }

    /// Every interface.
    pub fn links(&self) -> Result<Vec<LinkRecord>, KernelError> {
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        self.dump(
            RouteNetlinkMessage::GetLink(msg),
            RTM_NEWLINK,
            KernelOp::GetLink,
            |p| parse_link(p).map(Some),
        )
    }

    /// Every address of `family` (all when `None`), on every interface.
    pub fn addresses(&self, family: Option<Family>) -> Result<Vec<AddrRecord>, KernelError> {
        let mut msg = AddressMessage::default();
        msg.header.family = Family::af(family);
        self.dump(
            RouteNetlinkMessage::GetAddress(msg),
            RTM_NEWADDR,
            KernelOp::DumpAddresses,
            parse_addr,
        )
    }

    /// Add `addr` to interface `ifindex` (SPEC §2 `RTM_NEWADDR`). IPv4 gets
    /// IFA_LOCAL, IFA_ADDRESS and the computed broadcast; IPv6 always gets
    /// IFA_F_NODAD so it is usable at once (never tentative, never
    /// dadfailed: the in-use probe is ipkit's own). EEXIST counts as done.
    pub fn add_address(
        &self,
        ifindex: u32,
        addr: &Address,
        noprefixroute: bool,
    ) -> Result<(), KernelError> {
        let mut msg = AddressMessage::default();
        msg.header.index = ifindex;
        msg.header.prefix_len = addr.prefix();
        msg.header.scope = AddressScope::Universe;
        let mut flags = AddressFlags::empty();
        if noprefixroute {
            flags |= AddressFlags::Noprefixroute;
        }
        match addr.ip() {
            ip @ IpAddr::V4(_) => {
                msg.header.family = AddressFamily::Inet;
                msg.attributes.push(AddressAttribute::Local(ip));
                msg.attributes.push(AddressAttribute::Address(ip));
                if let Some(b) = addr.broadcast_v4() {
                    msg.attributes.push(AddressAttribute::Broadcast(b));
                }
            }
            ip @ IpAddr::V6(_) => {
                msg.header.family = AddressFamily::Inet6;
                msg.header.flags = AddressHeaderFlags::Nodad;
                flags |= AddressFlags::Nodad;
                msg.attributes.push(AddressAttribute::Address(ip));
            }
        }
        if !flags.is_empty() {
            msg.attributes.push(AddressAttribute::Flags(flags));
        }
        match self.ack(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(()) | Err(NlError::Errno(libc::EEXIST)) => Ok(()),
            Err(e) => Err(e.into_kernel(
                KernelOp::AddAddress,
                Some(format!("{addr} ifindex {ifindex}")),
            )),
        }
    }

    /// Delete `ip/prefix` from interface `ifindex` (SPEC §2 `RTM_DELADDR`).
    /// The address attribute is included so that the kernel never removes
    /// another address of the interface. ENOENT / EADDRNOTAVAIL count as done.
    pub fn delete_address(&self, ifindex: u32, ip: IpAddr, prefix: u8) -> Result<(), KernelError> {
        let mut msg = AddressMessage::default();
        msg.header.index = ifindex;
        msg.header.prefix_len = prefix;
        match ip {
            IpAddr::V4(_) => {
                msg.header.family = AddressFamily::Inet;
                msg.attributes.push(AddressAttribute::Local(ip));
                msg.attributes.push(AddressAttribute::Address(ip));
            }
            IpAddr::V6(_) => {
                msg.header.family = AddressFamily::Inet6;
                msg.attributes.push(AddressAttribute::Address(ip));
            }
        }
        match self.ack(RouteNetlinkMessage::DelAddress(msg), 0) {
            Ok(()) | Err(NlError::Errno(libc::ENOENT | libc::EADDRNOTAVAIL)) => Ok(()),
            Err(e) => Err(e.into_kernel(
                KernelOp::DeleteAddress,
                Some(format!("{ip}/{prefix} ifindex {ifindex}")),
            )),
        }
    }

    /// Every neighbour cache entry of `family` (all when `None`).
    pub fn neighbours(&self, family: Option<Family>) -> Result<Vec<NeighRecord>, KernelError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = Family::af(family);
        self.dump(
            RouteNetlinkMessage::GetNeighbour(msg),
            RTM_NEWNEIGH,
            KernelOp::FlushNeighbours,
            parse_neigh,
        )
    }

    /// Add (or replace) a permanent neighbour entry: test set-up (e.g. a
    /// stale entry left by a previous owner of an address).
    pub fn add_neighbour(&self, ifindex: u32, ip: IpAddr, mac: Mac) -> Result<(), KernelError> {
        let mut msg = NeighbourMessage::default();
        msg.header.ifindex = ifindex;
        msg.header.state = netlink_packet_route::neighbour::NeighbourState::Permanent;
        let dst = match ip {
            IpAddr::V4(a) => {
                msg.header.family = AddressFamily::Inet;
                NeighbourAddress::Inet(a)
            }
            IpAddr::V6(a) => {
                msg.header.family = AddressFamily::Inet6;
                NeighbourAddress::Inet6(a)
            }
        };
        msg.attributes.push(NeighbourAttribute::Destination(dst));
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
        self.ack(
            RouteNetlinkMessage::NewNeighbour(msg),
            NLM_F_CREATE | netlink_packet_core::NLM_F_REPLACE,
        )
        .map_err(ke(
            KernelOp::AddNeighbour,
            format_args!("{ip} ifindex {ifindex}"),
        ))
    }

    /// Delete every neighbour entry for `ip`, on every interface (SPEC §2
    /// `arp -d`). Returns how many were deleted.
    pub fn delete_neighbours(&self, ip: IpAddr) -> Result<usize, KernelError> {
        let entries = self.neighbours(Some(Family::of(ip)))?;
        let mut deleted = 0;
        for n in entries.iter().filter(|n| n.ip == ip) {
            let mut msg = NeighbourMessage::default();
            msg.header.ifindex = n.ifindex;
            let dst = match ip {
                IpAddr::V4(v4) => {
                    msg.header.family = AddressFamily::Inet;
                    NeighbourAddress::Inet(v4)
                }
                IpAddr::V6(v6) => {
                    msg.header.family = AddressFamily::Inet6;
                    NeighbourAddress::Inet6(v6)
                }
            };
            msg.attributes.push(NeighbourAttribute::Destination(dst));
            match self.ack(RouteNetlinkMessage::DelNeighbour(msg), 0) {
                Ok(()) => deleted += 1,
                // Gone meanwhile (expired or deleted by someone else).
                Err(NlError::Errno(libc::ENOENT)) => {}
                Err(e) => {
                    return Err(e.into_kernel(
                        KernelOp::FlushNeighbours,
                        Some(format!("{ip} ifindex {}", n.ifindex)),
                    ));
                }
            }
        }
        Ok(deleted)
    }
}

/// What the [`Monitor`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// A link appeared or changed (carrier, flags, name, ...).
    Link(LinkRecord),
    LinkRemoved {
        index: u32,
        name: String,
    },
    AddressAdded(AddrRecord),
    AddressRemoved(AddrRecord),
    /// The kernel dropped events (ENOBUFS): re-read all state.
    Overrun,
}

/// A netlink socket subscribed to `RTNLGRP_LINK`, `RTNLGRP_IPV4_IFADDR` and
/// `RTNLGRP_IPV6_IFADDR`, in the network namespace of the opening thread.
pub struct Monitor {
    sock: Socket,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("fd", &self.sock.as_raw_fd())
            .finish()
    }
}

impl Monitor {
    pub fn open() -> Result<Self, KernelError> {
        let err = |e: std::io::Error| {
            KernelError::from_io(KernelOp::Open, Some("netlink monitor".into()), &e)
        };
        let sock = open_socket()?;
        for group in [
            libc::RTNLGRP_LINK,
            libc::RTNLGRP_IPV4_IFADDR,
            libc::RTNLGRP_IPV6_IFADDR,
        ] {
            sock.add_membership(group).map_err(err)?;
        }
        // A larger queue makes overruns rarer; capped by net.core.rmem_max.
        let _ = sock.set_rx_buf_sz(1usize << 20);
        sock.set_non_blocking(true).map_err(err)?;
        Ok(Self {
            sock,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Blocks at most `timeout` (None = forever); Ok(vec![]) on timeout.
    /// ENOBUFS yields [`NetEvent::Overrun`] (the caller re-reads all state).
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Vec<NetEvent>, KernelError> {
        let err = |n: i32| KernelError::new(KernelOp::Monitor, None, n);
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let ms: libc::c_int = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Round up so that a short timeout does not spin.
                    let ms = left.as_micros().div_ceil(1000);
                    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
                }
            };
            let mut pfd = libc::pollfd {
                fd: self.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: pfd is one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err(e.raw_os_error().unwrap_or(libc::EIO)));
            }
            if rc == 0 {
                return Ok(Vec::new());
            }
            let events = self
                .drain()
                .map_err(|e| e.into_kernel(KernelOp::Monitor, None))?;
            if !events.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(events);
            }
        }
    }

    /// Read every queued datagram without blocking.
    fn drain(&mut self) -> Result<Vec<NetEvent>, NlError> {
        let mut events = Vec::new();
        loop {
            self.buf.clear();
            let n = match self.sock.recv(&mut self.buf, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => return Ok(events),
                    Some(libc::ENOBUFS) => {
                        if events.last() != Some(&NetEvent::Overrun) {
                            events.push(NetEvent::Overrun);
                        }
                        continue;
                    }
                    _ => return Err(NlError::io(&e)),
                },
            };
            if n > self.buf.len() {
                // A truncated datagram lost events: same as an overrun.
                events.push(NetEvent::Overrun);
                continue;
            }
            let mut off = 0;
            while off + NL_HEADER_LEN <= n {
                let buf = NetlinkBuffer::new_checked(&self.buf[off..n])?;
                off += align4(buf.length() as usize);
                let p = buf.payload();
                let ev = match buf.message_type() {
                    RTM_NEWLINK => Some(NetEvent::Link(parse_link(p)?)),
                    RTM_DELLINK => {
                        let l = parse_link(p)?;
                        Some(NetEvent::LinkRemoved {
                            index: l.index,
                            name: l.name,
                        })
                    }
                    RTM_NEWADDR => parse_addr(p)?.map(NetEvent::AddressAdded),
                    RTM_DELADDR => parse_addr(p)?.map(NetEvent::AddressRemoved),
                    NLMSG_OVERRUN => Some(NetEvent::Overrun),
                    _ => None,
                };
                events.extend(ev);
            }
        }
    }
}

impl AsRawFd for Monitor {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    //! Each test runs on a thread inside a fresh network namespace, so it
    //! never sees or touches the host's interfaces; links are made and
    //! changed with the lab's own netlink socket. Addresses come from the
    //! documentation ranges only.

    use super::*;
    use ipkit_lab::netlink::RouteSocket;

    /// Run `f` on a thread that has its own, new network namespace.
    fn in_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            let h = s.spawn(|| {
                // SAFETY: plain syscall; affects only this thread.
                let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
                assert_eq!(
                    rc,
                    0,
                    "unshare(CLONE_NEWNET): {}",
                    std::io::Error::last_os_error()
                );
                f()
            });
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    fn v4(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn addr(s: &str) -> Address {
        s.parse().expect("test address")
    }

    /// A veth pair a/b, both down, made through the lab's own socket
    /// (which is returned for further link changes).
    fn veth() -> RouteSocket {
        let admin = RouteSocket::open().expect("open the lab's netlink");
        admin.create_veth("a", "b", None).expect("create veth");
        admin
    }

    /// A veth pair a/b, both up (so both have carrier).
    fn veth_up() -> RouteSocket {
        let admin = veth();
        admin.set_up("a", true).expect("a up");
        admin.set_up("b", true).expect("b up");
        admin
    }

    /// Raw IFA_BROADCAST and IFA_FLAGS of `ip`, decoded with the crate's
    /// full parser (a cross-check of the selective one).
    fn raw_addr(nl: &Netlink, ip: IpAddr) -> Option<(Option<Ipv4Addr>, u32)> {
        let mut msg = AddressMessage::default();
        msg.header.family = Family::af(Some(Family::of(ip)));
        let mut out = Vec::new();
        nl.exchange(
            RouteNetlinkMessage::GetAddress(msg),
            Kind::Dump,
            0,
            &mut out,
            |t, p| {
                use netlink_packet_core::Parseable;
                if t != RTM_NEWADDR {
                    return Ok(None);
                }
                Ok(Some(AddressMessage::parse(p)?))
            },
        )
        .expect("dump");
        let m = out.into_iter().find(|m| {
            m.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Address(x) if *x == ip))
        })?;
        let mut bcast = None;
        let mut flags = u32::from(m.header.flags.bits());
        for a in &m.attributes {
            match a {
                AddressAttribute::Broadcast(b) => bcast = Some(*b),
                AddressAttribute::Flags(f) => flags = f.bits(),
                _ => {}
            }
        }
        Some((bcast, flags))
    }

    #[test]
    fn link_lookup_reports_index_mac_flags_and_carrier() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            assert_eq!(nl.link_by_name("a").expect("lookup"), None);
            let admin = veth();
            let a = nl.link_by_name("a").expect("lookup").expect("a exists");
            assert_eq!(a.name, "a");
            assert!(a.index > 1);
            assert!(a.mac.is_some_and(|m| m != Mac::default()));
            assert!(!a.admin_up);

            admin.set_up("a", true).expect("a up");
            let a = nl.link_by_name("a").expect("lookup").expect("a exists");
            assert!(a.admin_up);
            assert!(!a.carrier, "peer b is still down");

            admin.set_up("b", true).expect("b up");
            let a2 = nl
                .link_by_index(a.index)
                .expect("lookup")
                .expect("a by index");
            assert_eq!(a2.name, "a");
            assert!(a2.admin_up && a2.carrier);

            let names: Vec<String> = nl
                .links()
                .expect("links")
                .into_iter()
                .map(|l| l.name)
                .collect();
            for n in ["lo", "a", "b"] {
                assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
            }
            assert_eq!(nl.link_by_index(999_999).expect("lookup"), None);
        });
    }

    #[test]
    fn ipv4_add_is_idempotent_and_sets_local_address_and_broadcast() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            let a = addr("198.51.100.10/24");
            nl.add_address(idx, &a, false).expect("add");
            nl.add_address(idx, &a, false)
                .expect("second add is EEXIST = ok");
            let held: Vec<AddrRecord> = nl
                .addresses(Some(Family::V4))
                .expect("dump")
                .into_iter()
                .filter(|r| r.ip == a.ip())
                .collect();
            assert_eq!(held.len(), 1, "{held:?}");
            assert_eq!((held[0].ifindex, held[0].prefix), (idx, 24));
            let (bcast, _) = raw_addr(&nl, a.ip()).expect("raw");
            assert_eq!(bcast, Some(Ipv4Addr::new(198, 51, 100, 255)));
            // The family filter works: no IPv4 address in an IPv6 dump.
            assert!(
                nl.addresses(Some(Family::V6))
                    .expect("dump")
                    .iter()
                    .all(|r| r.ip.is_ipv6())
            );
        });
    }

    #[test]
    fn delete_matches_the_address_and_prefix_and_is_idempotent() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            nl.add_address(idx, &addr("198.51.100.10/24"), false)
                .expect("add .10");
            nl.add_address(idx, &addr("198.51.100.11/24"), false)
                .expect("add .11");
            let on_a = |nl: &Netlink| -> Vec<IpAddr> {
                nl.addresses(Some(Family::V4))
                    .expect("dump")
                    .into_iter()
                    .filter(|r| r.ifindex == idx)
                    .map(|r| r.ip)
                    .collect()
            };
            // Wrong prefix length: the kernel finds nothing, nothing goes.
            nl.delete_address(idx, v4("198.51.100.11"), 25)
                .expect("no-op delete");
            assert_eq!(on_a(&nl).len(), 2);
            // .11 is the secondary (deleting the primary .10 would take its
            // secondaries along unless promote_secondaries is set).
            nl.delete_address(idx, v4("198.51.100.11"), 24)
                .expect("delete");
            assert_eq!(on_a(&nl), vec![v4("198.51.100.10")], "only .11 is gone");
            nl.delete_address(idx, v4("198.51.100.11"), 24)
                .expect("second delete is ok");
        });
    }

    #[test]
    fn ipv6_add_is_usable_at_once_and_honours_noprefixroute() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            let a = addr("2001:db8:1::10/64");
            nl.add_address(idx, &a, true).expect("add");
            nl.add_address(idx, &a, true).expect("add again");
            let r = nl
                .addresses(Some(Family::V6))
                .expect("dump")
                .into_iter()
                .find(|r| r.ip == a.ip())
                .expect("present");
            assert_eq!((r.ifindex, r.prefix), (idx, 64));
            assert!(!r.tentative && !r.dadfailed, "{r:?}");
            let (_, flags) = raw_addr(&nl, a.ip()).expect("raw");
            assert_ne!(flags & 0x02, 0, "IFA_F_NODAD");
            assert_ne!(flags & 0x200, 0, "IFA_F_NOPREFIXROUTE");
            nl.delete_address(idx, a.ip(), 64).expect("delete");
            assert!(
                nl.addresses(Some(Family::V6))
                    .expect("dump")
                    .iter()
                    .all(|r| r.ip != a.ip())
            );
        });
    }

    #[test]
    fn delete_neighbours_removes_every_entry_for_the_address_only() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let ia = nl.link_by_name("a").expect("lookup").expect("a").index;
            let ib = nl.link_by_name("b").expect("lookup").expect("b").index;
            let vip = v4("198.51.100.20");
            let other = v4("198.51.100.21");
            let vip6: IpAddr = "2001:db8::20".parse().expect("v6");
            nl.add_neighbour(ia, vip, Mac([2, 0, 0, 0, 0, 1]))
                .expect("neigh");
            nl.add_neighbour(ib, vip, Mac([2, 0, 0, 0, 0, 2]))
                .expect("neigh");
            nl.add_neighbour(ia, other, Mac([2, 0, 0, 0, 0, 3]))
                .expect("neigh");
            nl.add_neighbour(ia, vip6, Mac([2, 0, 0, 0, 0, 4]))
                .expect("neigh");
            let n = nl.neighbours(None).expect("dump");
            let e = n
                .iter()
                .find(|n| n.ip == vip && n.ifindex == ia)
                .expect("entry");
            assert_eq!(e.mac, Some(Mac([2, 0, 0, 0, 0, 1])));

            assert_eq!(nl.delete_neighbours(vip).expect("flush"), 2);
            let n = nl.neighbours(None).expect("dump");
            assert!(n.iter().all(|n| n.ip != vip), "{n:?}");
            assert!(n.iter().any(|n| n.ip == other));
            assert!(n.iter().any(|n| n.ip == vip6));
            assert_eq!(nl.delete_neighbours(vip).expect("flush again"), 0);
            assert_eq!(nl.delete_neighbours(vip6).expect("flush v6"), 1);
        });
    }

    #[test]
    fn dumps_stay_consistent_while_the_table_changes() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            // Enough addresses that a dump spans several datagrams.
            let stable: Vec<IpAddr> = (1..=600u16)
                .map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, i)))
                .collect();
            for ip in &stable {
                nl.add_address(idx, &Address::new(*ip, 128).expect("addr"), false)
                    .expect("add");
            }
            /// Stops the churn when dropped, also while a failed assertion
            /// unwinds (the scope would otherwise wait for it forever).
            struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
            impl Drop for Stop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let stop = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|s| {
                // Churn on another socket of the same namespace.
                s.spawn(|| {
                    let nl2 = Netlink::open().expect("open");
                    let extra = addr("2001:db8:3::1/128");
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        nl2.add_address(idx, &extra, false).expect("add");
                        nl2.delete_address(idx, extra.ip(), 128).expect("delete");
                        // Load generation, not a wait: a change every
                        // millisecond or so, as a busy host might see.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                });
                let _stop = Stop(&stop);
                for _ in 0..50 {
                    let got = nl.addresses(Some(Family::V6)).expect("dump");
                    let mut seen: Vec<IpAddr> = got
                        .iter()
                        .filter(|r| stable.contains(&r.ip))
                        .map(|r| r.ip)
                        .collect();
                    seen.sort();
                    seen.dedup();
                    let n = got.iter().filter(|r| stable.contains(&r.ip)).count();
                    assert_eq!(
                        (seen.len(), n),
                        (stable.len(), stable.len()),
                        "a dump lost or repeated entries"
                    );
                }
            });
        });
    }

    #[test]
    fn errno_is_kept() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            let e = nl
                .add_address(999_999, &addr("198.51.100.10/24"), false)
                .expect_err("no such link");
            assert_eq!(e.errno, libc::ENODEV);
            assert_eq!(e.op, KernelOp::AddAddress);
            let e = nl
                .add_neighbour(999_999, v4("198.51.100.20"), Mac([2, 0, 0, 0, 0, 1]))
                .expect_err("no such link");
            assert_eq!(e.errno, libc::ENODEV);
            assert_eq!(e.op, KernelOp::AddNeighbour);
        });
    }

    /// Read events until `pred` matches one (or 50 reads of up to 2 s).
    /// Events after the match stay in `pending` for the next call.
    fn wait_for(
        m: &mut Monitor,
        pending: &mut Vec<NetEvent>,
        what: &str,
        pred: impl Fn(&NetEvent) -> bool,
    ) -> NetEvent {
        let mut seen = Vec::new();
        for _ in 0..50 {
            if let Some(i) = pending.iter().position(&pred) {
                let ev = pending.remove(i);
                seen.extend(pending.drain(..i));
                return ev;
            }
            seen.append(pending);
            pending.extend(m.recv(Some(Duration::from_secs(2))).expect("recv"));
        }
        panic!("{what}: expected event never came; saw {seen:#?}");
    }

    #[test]
    fn monitor_reports_links_and_addresses() {
        in_netns(|| {
            let mut m = Monitor::open().expect("monitor");
            let mut pending = Vec::new();
            let nl = Netlink::open().expect("open");
            assert_eq!(m.recv(Some(Duration::ZERO)).expect("recv"), vec![]);
            let admin = veth_up();
            let ev = wait_for(
                &mut m,
                &mut pending,
                "a carrier",
                |e| matches!(e, NetEvent::Link(l) if l.name == "a" && l.carrier),
            );
            let NetEvent::Link(a) = ev else {
                unreachable!()
            };
            let v4a = addr("198.51.100.10/24");
            let v6a = addr("2001:db8::10/64");
            nl.add_address(a.index, &v4a, false).expect("add");
            nl.add_address(a.index, &v6a, false).expect("add");
            for ip in [v4a.ip(), v6a.ip()] {
                wait_for(
                    &mut m,
                    &mut pending,
                    "added",
                    |e| matches!(e, NetEvent::AddressAdded(r) if r.ip == ip && r.ifindex == a.index),
                );
            }
            nl.delete_address(a.index, v4a.ip(), 24).expect("delete");
            wait_for(
                &mut m,
                &mut pending,
                "added",
                |e| matches!(e, NetEvent::AddressRemoved(r) if r.ip == v4a.ip()),
            );
            admin.set_up("b", false).expect("b down");
            wait_for(
                &mut m,
                &mut pending,
                "removed",
                |e| matches!(e, NetEvent::Link(l) if l.name == "a" && !l.carrier),
            );
            admin.delete_link("a").expect("delete");
            wait_for(
                &mut m,
                &mut pending,
                "a no carrier",
                |e| matches!(e, NetEvent::LinkRemoved { name, .. } if name == "a"),
            );
        });
    }

    #[test]
    fn monitor_overflow_is_reported_as_overrun() {
        in_netns(|| {
            let mut m = Monitor::open().expect("monitor");
            let small: libc::c_int = 1024;
            // SAFETY: valid fd and option value.
            let rc = unsafe {
                libc::setsockopt(
                    m.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUF,
                    (&small as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0);
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            for i in 1..=200u8 {
                nl.add_address(idx, &addr(&format!("203.0.113.{i}/24")), false)
                    .expect("add");
            }
            wait_for(&mut m, &mut Vec::new(), "overrun", |e| {
                *e == NetEvent::Overrun
            });
        });
    }
}
