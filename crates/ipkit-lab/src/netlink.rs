//! The lab's own small `NETLINK_ROUTE` client: link administration, lab addresses, neighbour reads.
//!
//! The only module of this crate that names the netlink crates (its
//! records and request messages in `netlink/messages.rs`). It is simpler
//! than ipkit's own netlink module on purpose: replies are decoded whole
//! with the crate's parsers, and a dump is only read again when the kernel
//! marks it interrupted (lab tables are small and change only when a test
//! changes them). A [`RouteSocket`] works in the network namespace of the
//! thread that opened it. Errors are `io::Error`s carrying the kernel's
//! errno, so callers can match on `raw_os_error()`.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Mutex, PoisonError};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
    NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{NeighbourAttribute, NeighbourMessage, NeighbourState};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

mod messages;

pub use messages::{AddressEntry, Link, NeighbourEntry};
use messages::{
    address_from, family_of, link_from, neighbour_from, neighbour_message, new_address,
};

/// Receive buffer: the kernel caps dump batches at 32 KiB.
const RECEIVE_BUFFER: usize = 64 * 1024;
/// How often a dump the kernel marked interrupted is read again.
const DUMP_ATTEMPTS: usize = 8;

/// The sequence number and receive buffer of the exchange in progress.
#[derive(Debug)]
struct Exchange {
    sequence: u32,
    buffer: Vec<u8>,
}

impl Exchange {
    /// The next request's sequence number (never 0).
    fn next_sequence(&mut self) -> u32 {
        self.sequence = self.sequence.wrapping_add(1).max(1);
        self.sequence
    }
}

/// The netlink messages of one received datagram, in order.
fn messages_in(datagram: &[u8]) -> io::Result<Vec<NetlinkMessage<RouteNetlinkMessage>>> {
    let mut messages = Vec::new();
    let mut offset = 0;
    while offset < datagram.len() {
        let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&datagram[offset..])
            .map_err(malformed)?;
        let length = message.header.length as usize;
        if length == 0 {
            return Err(malformed("a message of length 0"));
        }
        offset += (length + 3) & !3;
        messages.push(message);
    }
    Ok(messages)
}

/// A synchronous `NETLINK_ROUTE` socket (see the module docs).
pub struct RouteSocket {
    socket: Socket,
    exchange: Mutex<Exchange>,
}

impl std::fmt::Debug for RouteSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteSocket")
            .field("fd", &self.socket.as_raw_fd())
            .finish()
    }
}

fn malformed(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed netlink reply: {e}"),
    )
}

/// How many requests [`RouteSocket::add_addresses`] has in flight: their
/// acknowledgements stay well inside a default receive buffer.
const PIPELINE: usize = 64;

impl RouteSocket {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<RouteSocket> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(RouteSocket {
            socket,
            exchange: Mutex::new(Exchange {
                sequence: 0,
                buffer: Vec::with_capacity(RECEIVE_BUFFER),
            }),
        })
    }

    /// Sends `message` and returns the data messages of the reply: a dump
    /// (`NLM_F_DUMP`) ends at `NLMSG_DONE` and is read again when the
    /// kernel marks it interrupted; anything else asks for an ACK.
    fn request(
        &self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut exchange = self.exchange.lock().unwrap_or_else(PoisonError::into_inner);
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        let mut request = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        for _ in 0..DUMP_ATTEMPTS {
            request.header.sequence_number = exchange.next_sequence();
            request.finalize();
            let mut bytes = vec![0; request.buffer_len()];
            request.serialize(&mut bytes);
            self.socket.send(&bytes, 0)?;
            let Exchange { sequence, buffer } = &mut *exchange;
            if let Some(reply) = self.read_reply(*sequence, buffer)? {
                return Ok(reply);
            }
        }
        Err(io::Error::other(format!(
            "netlink dump interrupted {DUMP_ATTEMPTS} times in a row"
        )))
    }

    /// Reads until the reply to `sequence` ends; `None` for a dump the
    /// kernel marked interrupted.
    fn read_reply(
        &self,
        sequence: u32,
        buffer: &mut Vec<u8>,
    ) -> io::Result<Option<Vec<RouteNetlinkMessage>>> {
        let mut messages = Vec::new();
        let mut interrupted = false;
        loop {
            buffer.clear();
            let size = self.socket.recv(buffer, 0)?;
            for message in messages_in(&buffer[..size])? {
                if message.header.sequence_number != sequence {
                    continue; // left over from an earlier exchange
                }
                interrupted |= message.header.flags & NLM_F_DUMP_INTR != 0;
                match message.payload {
                    NetlinkPayload::InnerMessage(inner) => messages.push(inner),
                    NetlinkPayload::Error(error) if error.code.is_some() => {
                        return Err(error.to_io());
                    }
                    NetlinkPayload::Error(_) => return Ok(Some(messages)),
                    NetlinkPayload::Done(done) if done.code < 0 => {
                        return Err(io::Error::from_raw_os_error(-done.code));
                    }
                    NetlinkPayload::Done(_) => return Ok((!interrupted).then_some(messages)),
                    NetlinkPayload::Overrun(_) => {
                        return Err(io::Error::from_raw_os_error(libc::ENOBUFS));
                    }
                    NetlinkPayload::Noop => {}
                    _ => {}
                }
            }
        }
    }

    fn acknowledged(&self, message: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.request(message, flags).map(drop)
    }

    /// Every interface.
    pub fn links(&self) -> io::Result<Vec<Link>> {
        let mut message = LinkMessage::default();
        message
            .attributes
            .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
        self.dump(RouteNetlinkMessage::GetLink(message), |m| match m {
            RouteNetlinkMessage::NewLink(link) => Some(link_from(link)),
            _ => None,
        })
    }

    /// A dump request: every reply message that `pick` keeps.
    fn dump<T>(
        &self,
        message: RouteNetlinkMessage,
        pick: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> io::Result<Vec<T>> {
        let reply = self.request(message, NLM_F_DUMP)?;
        Ok(reply.into_iter().filter_map(pick).collect())
    }

    fn get_link(&self, message: LinkMessage) -> io::Result<Option<Link>> {
        match self.request(RouteNetlinkMessage::GetLink(message), 0) {
            Ok(reply) => Ok(reply.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => Some(link_from(link)),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The interface called `name`, if there is one.
    pub fn link_by_name(&self, name: &str) -> io::Result<Option<Link>> {
        let mut message = LinkMessage::default();
        message
            .attributes
            .push(LinkAttribute::IfName(name.to_owned()));
        self.get_link(message)
    }

    /// The interface with index `index`, if there is one.
    pub fn link_by_index(&self, index: u32) -> io::Result<Option<Link>> {
        let mut message = LinkMessage::default();
        message.header.index = index;
        self.get_link(message)
    }

    fn index_of(&self, name: &str) -> io::Result<u32> {
        self.link_by_name(name)?
            .map(|link| link.index)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
    }

    /// Every address of every family, on every interface.
    pub fn addresses(&self) -> io::Result<Vec<AddressEntry>> {
        let message = AddressMessage::default();
        self.dump(RouteNetlinkMessage::GetAddress(message), |m| match m {
            RouteNetlinkMessage::NewAddress(address) => address_from(address),
            _ => None,
        })
    }

    /// The names of the interfaces that hold `ip` (any prefix), sorted.
    pub fn holders(&self, ip: IpAddr) -> io::Result<Vec<String>> {
        let links = self.links()?;
        let mut out: Vec<String> = self
            .addresses()?
            .into_iter()
            .filter(|a| a.ip == ip)
            .filter_map(|a| links.iter().find(|l| l.index == a.ifindex))
            .map(|l| l.name.clone())
            .collect();
        out.sort();
        Ok(out)
    }

    /// Adds `ip/prefix` to interface `ifindex`, as `ip addr add` does (IPv4
    /// with its broadcast address, IPv6 without duplicate address
    /// detection so it is usable at once).
    pub fn add_address(&self, ifindex: u32, ip: IpAddr, prefix: u8) -> io::Result<()> {
        self.acknowledged(
            RouteNetlinkMessage::NewAddress(new_address(ifindex, ip, prefix)),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// [`RouteSocket::add_address`] of many addresses, pipelined: requests
    /// go out in rounds of [`PIPELINE`], several per datagram, and their
    /// acknowledgements are read after each round (a bench's 10,000 VIPs,
    /// issue 11). The first refusal is the error; the round it was in is
    /// read to its end.
    pub fn add_addresses(&self, ifindex: u32, addresses: &[(IpAddr, u8)]) -> io::Result<()> {
        let mut exchange = self.exchange.lock().unwrap_or_else(PoisonError::into_inner);
        for round in addresses.chunks(PIPELINE) {
            let first = exchange.sequence.wrapping_add(1).max(1);
            let mut bytes = Vec::new();
            for &(ip, prefix) in round {
                let mut header = NetlinkHeader::default();
                header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
                header.sequence_number = exchange.next_sequence();
                let mut request = NetlinkMessage::new(
                    header,
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(new_address(
                        ifindex, ip, prefix,
                    ))),
                );
                request.finalize();
                let at = bytes.len();
                bytes.resize(at + request.buffer_len(), 0);
                request.serialize(&mut bytes[at..]);
            }
            self.socket.send(&bytes, 0)?;
            let last = exchange.sequence;
            let in_round = |seq: u32| seq.wrapping_sub(first) <= last.wrapping_sub(first);
            let mut acked = 0;
            let mut refused = None;
            let buffer = &mut exchange.buffer;
            while acked < round.len() {
                buffer.clear();
                let size = self.socket.recv(buffer, 0)?;
                for message in messages_in(&buffer[..size])? {
                    if !in_round(message.header.sequence_number) {
                        continue;
                    }
                    if let NetlinkPayload::Error(error) = message.payload {
                        acked += 1;
                        if error.code.is_some() && refused.is_none() {
                            refused = Some(error.to_io());
                        }
                    }
                }
            }
            if let Some(e) = refused {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Deletes `ip/prefix` from interface `ifindex`.
    pub fn delete_address(&self, ifindex: u32, ip: IpAddr, prefix: u8) -> io::Result<()> {
        let mut message = AddressMessage::default();
        message.header.index = ifindex;
        message.header.prefix_len = prefix;
        message.header.family = family_of(ip);
        if ip.is_ipv4() {
            message.attributes.push(AddressAttribute::Local(ip));
        }
        message.attributes.push(AddressAttribute::Address(ip));
        self.acknowledged(RouteNetlinkMessage::DelAddress(message), 0)
    }

    /// Every neighbour cache entry of every family.
    pub fn neighbours(&self) -> io::Result<Vec<NeighbourEntry>> {
        let message = NeighbourMessage::default();
        self.dump(RouteNetlinkMessage::GetNeighbour(message), |m| match m {
            RouteNetlinkMessage::NewNeighbour(neighbour) => neighbour_from(neighbour),
            _ => None,
        })
    }

    /// Adds (or replaces) a permanent neighbour entry, e.g. a stale entry
    /// as a previous owner of an address would leave it.
    pub fn add_neighbour(&self, ifindex: u32, ip: IpAddr, mac: [u8; 6]) -> io::Result<()> {
        let mut message = neighbour_message(ifindex, ip);
        message.header.state = NeighbourState::Permanent;
        message
            .attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
        self.acknowledged(
            RouteNetlinkMessage::NewNeighbour(message),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// Creates a veth pair `name` / `peer`; the peer end goes into
    /// `peer_netns` when given.
    pub fn create_veth(
        &self,
        name: &str,
        peer: &str,
        peer_netns: Option<BorrowedFd<'_>>,
    ) -> io::Result<()> {
        let mut peer_message = LinkMessage::default();
        peer_message
            .attributes
            .push(LinkAttribute::IfName(peer.to_owned()));
        if let Some(fd) = peer_netns {
            peer_message
                .attributes
                .push(LinkAttribute::NetNsFd(fd.as_raw_fd()));
        }
        self.create_link(
            name,
            vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_message))),
            ],
        )
    }

    /// Creates a bridge `name`.
    pub fn create_bridge(&self, name: &str) -> io::Result<()> {
        self.create_link(name, vec![LinkInfo::Kind(InfoKind::Bridge)])
    }

    fn create_link(&self, name: &str, info: Vec<LinkInfo>) -> io::Result<()> {
        let mut message = LinkMessage::default();
        message
            .attributes
            .push(LinkAttribute::IfName(name.to_owned()));
        message.attributes.push(LinkAttribute::LinkInfo(info));
        self.acknowledged(
            RouteNetlinkMessage::NewLink(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    fn change_link(&self, name: &str, change: impl FnOnce(&mut LinkMessage)) -> io::Result<()> {
        let mut message = LinkMessage::default();
        message.header.index = self.index_of(name)?;
        change(&mut message);
        self.acknowledged(RouteNetlinkMessage::SetLink(message), 0)
    }

    /// Enslaves `name` to the bridge `master`.
    pub fn set_master(&self, name: &str, master: &str) -> io::Result<()> {
        let master = self.index_of(master)?;
        self.change_link(name, |m| {
            m.attributes.push(LinkAttribute::Controller(master))
        })
    }

    /// Administratively up or down.
    pub fn set_up(&self, name: &str, up: bool) -> io::Result<()> {
        self.change_link(name, |m| {
            m.header.flags = if up {
                LinkFlags::Up
            } else {
                LinkFlags::empty()
            };
            m.header.change_mask = LinkFlags::Up;
        })
    }

    pub fn set_mac(&self, name: &str, mac: [u8; 6]) -> io::Result<()> {
        self.change_link(name, |m| {
            m.attributes.push(LinkAttribute::Address(mac.to_vec()))
        })
    }

    pub fn rename(&self, name: &str, new_name: &str) -> io::Result<()> {
        self.change_link(name, |m| {
            m.attributes
                .push(LinkAttribute::IfName(new_name.to_owned()))
        })
    }

    pub fn move_to_netns(&self, name: &str, netns: BorrowedFd<'_>) -> io::Result<()> {
        self.change_link(name, |m| {
            m.attributes.push(LinkAttribute::NetNsFd(netns.as_raw_fd()))
        })
    }

    /// Deletes the interface (for a veth, both ends go).
    pub fn delete_link(&self, name: &str) -> io::Result<()> {
        let mut message = LinkMessage::default();
        message.header.index = self.index_of(name)?;
        self.acknowledged(RouteNetlinkMessage::DelLink(message), 0)
    }
}

#[cfg(test)]
mod tests {
    //! Each test runs inside a fresh network namespace ([`NetNs`]), so it
    //! never sees or touches the host's interfaces.

    use super::*;
    use crate::netns::NetNs;

    #[test]
    fn bridge_master_mac_rename_move_and_delete() {
        let near = NetNs::new().expect("netns");
        let far = NetNs::new().expect("netns");
        near.run(|| {
            let nl = RouteSocket::open().expect("open");
            nl.create_bridge("lan").expect("bridge");
            let e = nl.create_bridge("lan").expect_err("duplicate");
            assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
            nl.create_veth("p0", "n0", Some(far.fd()))
                .expect("veth with far peer");
            assert_eq!(
                nl.link_by_name("n0").expect("lookup"),
                None,
                "peer is in the far netns"
            );
            nl.set_master("p0", "lan").expect("enslave");
            nl.set_mac("p0", [2, 0x11, 0x22, 0x33, 0x44, 0x55])
                .expect("mac");
            let p = nl.link_by_name("p0").expect("lookup").expect("p0");
            assert_eq!(p.mac, Some([2, 0x11, 0x22, 0x33, 0x44, 0x55]));
            nl.rename("p0", "port0").expect("rename");
            assert_eq!(nl.link_by_name("p0").expect("lookup"), None);
            let p2 = nl.link_by_name("port0").expect("lookup").expect("renamed");
            assert_eq!(p2.index, p.index);
            nl.move_to_netns("port0", far.fd()).expect("move");
            assert_eq!(nl.link_by_name("port0").expect("lookup"), None);
            nl.delete_link("lan").expect("delete");
            assert_eq!(nl.link_by_name("lan").expect("lookup"), None);
            let e = nl.delete_link("lan").expect_err("already gone");
            assert_eq!(e.raw_os_error(), Some(libc::ENODEV), "{e}");
        })
        .expect("run");
        let names: Vec<String> = far
            .run(|| RouteSocket::open().expect("open").links().expect("links"))
            .expect("run")
            .into_iter()
            .map(|l| l.name)
            .collect();
        for name in ["n0", "port0"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
    }

    #[test]
    fn links_report_flags_carrier_and_operstate() {
        let ns = NetNs::new().expect("netns");
        ns.run(|| {
            let nl = RouteSocket::open().expect("open");
            nl.create_veth("a", "b", None).expect("veth");
            let a = nl.link_by_name("a").expect("lookup").expect("a");
            assert!(!a.admin_up && !a.carrier, "{a:?}");
            assert!(a.mac.is_some_and(|m| m != [0; 6]));
            nl.set_up("a", true).expect("a up");
            nl.set_up("b", true).expect("b up");
            let a = nl.link_by_index(a.index).expect("lookup").expect("a");
            assert!(a.admin_up && a.carrier, "{a:?}");
            let e = nl.set_up("nope", true).expect_err("no such link");
            assert_eq!(e.raw_os_error(), Some(libc::ENODEV), "{e}");
        })
        .expect("run");
    }

    #[test]
    fn addresses_and_neighbours_are_added_read_and_deleted() {
        let ns = NetNs::new().expect("netns");
        ns.run(|| {
            let nl = RouteSocket::open().expect("open");
            nl.create_veth("a", "b", None).expect("veth");
            nl.set_up("a", true).expect("a up");
            let a = nl.link_by_name("a").expect("lookup").expect("a").index;
            let v4: IpAddr = "198.51.100.10".parse().expect("ip");
            let v6: IpAddr = "2001:db8:1::10".parse().expect("ip");
            nl.add_address(a, v4, 24).expect("add v4");
            nl.add_address(a, v6, 64).expect("add v6");
            let e = nl.add_address(a, v4, 24).expect_err("twice");
            assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
            let held: Vec<AddressEntry> = nl
                .addresses()
                .expect("dump")
                .into_iter()
                .filter(|r| r.ifindex == a)
                .collect();
            for (ip, prefix) in [(v4, 24), (v6, 64)] {
                let entry = held.iter().find(|r| r.ip == ip).expect("held");
                assert_eq!(entry.prefix, prefix);
                assert!(!entry.tentative && !entry.dad_failed, "{entry:?}");
            }
            nl.delete_address(a, v4, 24).expect("delete");
            assert!(nl.addresses().expect("dump").iter().all(|r| r.ip != v4));

            let mac = [2, 0, 0, 0, 0, 1];
            nl.add_neighbour(a, v4, mac).expect("neighbour");
            let entry = nl
                .neighbours()
                .expect("dump")
                .into_iter()
                .find(|n| n.ip == v4)
                .expect("entry");
            assert_eq!((entry.ifindex, entry.mac), (a, Some(mac)));
        })
        .expect("run");
    }
}
