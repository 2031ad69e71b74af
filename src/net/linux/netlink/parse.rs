//! Bounds-checked decoding of what the kernel sends on a route socket: datagrams, links, addresses, neighbours.
//!
//! Every function here takes the kernel's bytes as `&[u8]`, checks each
//! length before it reads, and reports anything malformed as a
//! [`ParseError`]: none of them panics, whatever the input. Only the fields
//! ipkit needs are decoded, so the fast path (quickCheck: one link lookup
//! and one address dump) allocates almost nothing. Layouts are those of
//! `linux/netlink.h` (`nlmsghdr`, `nlattr`), `linux/rtnetlink.h`
//! (`ifinfomsg`, `ifaddrmsg`), `linux/neighbour.h` (`ndmsg`), in native
//! byte order.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::resource::Mac;

// Message types (linux/rtnetlink.h, linux/netlink.h).
pub(super) const RTM_NEWLINK: u16 = 16;
pub(super) const RTM_DELLINK: u16 = 17;
pub(super) const RTM_NEWADDR: u16 = 20;
pub(super) const RTM_DELADDR: u16 = 21;
pub(super) const RTM_NEWNEIGH: u16 = 28;
// Attribute numbers (if_link.h, if_addr.h, neighbour.h).
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_OPERSTATE: u16 = 16;
const IFLA_CARRIER: u16 = 33;
const IFLA_CARRIER_CHANGES: u16 = 35;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
// Flags.
const IFF_UP: u32 = 1;
const IFF_LOWER_UP: u32 = 1 << 16;
const IFA_F_DADFAILED: u32 = 0x08;
const IFA_F_TENTATIVE: u32 = 0x40;
pub(super) const AF_INET: u8 = 2;
pub(super) const AF_INET6: u8 = 10;
/// `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` are not part of the type.
const ATTRIBUTE_TYPE_MASK: u16 = 0x3fff;
// Fixed header sizes.
const NETLINK_HEADER_LEN: usize = 16;
pub(super) const ATTRIBUTE_HEADER_LEN: usize = 4;
const LINK_HEADER_LEN: usize = 16;
const ADDRESS_HEADER_LEN: usize = 8;
const NEIGHBOUR_HEADER_LEN: usize = 12;

/// What was wrong with the kernel's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub(super) String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

pub(super) fn too_short(what: &str, need: usize, have: usize) -> ParseError {
    ParseError(format!("{what}: {have} bytes, need {need}"))
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
    /// `IFLA_CARRIER_CHANGES` (Linux 3.15+): how often the carrier came or
    /// went since the device was created.
    pub carrier_changes: Option<u32>,
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

/// `N` bytes of `bytes` from `at`, if they are there.
pub(super) fn array_at<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

pub(super) fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    array_at(bytes, at).map(u16::from_ne_bytes)
}

pub(super) fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    array_at(bytes, at).map(u32::from_ne_bytes)
}

/// The `i32` a netlink `NLMSG_ERROR` / `NLMSG_DONE` payload starts with.
pub fn leading_i32(payload: &[u8]) -> Option<i32> {
    array_at(payload, 0).map(i32::from_ne_bytes)
}

/// Netlink lengths are padded to a multiple of 4.
pub(super) fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
pub fn ip_from(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => array_at::<4>(bytes, 0).map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        16 => array_at::<16>(bytes, 0).map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        _ => None,
    }
}

/// An Ethernet MAC (exactly 6 bytes).
pub fn mac_from(bytes: &[u8]) -> Option<Mac> {
    array_at(bytes, 0).filter(|_| bytes.len() == 6).map(Mac)
}

/// One netlink message (`nlmsghdr` and what follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub flags: u16,
    pub sequence: u32,
    pub payload: &'a [u8],
}

/// The messages of one datagram, in order; see [`messages`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
}

/// The messages of `datagram`. Fewer than a header's bytes at the end are
/// ignored; a length that is too small or runs past the datagram is an
/// error, after which the iteration ends.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages { rest: datagram }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        let length = usize::try_from(u32_at(rest, 0)?).unwrap_or(usize::MAX);
        if rest.len() < NETLINK_HEADER_LEN {
            self.rest = &[];
            return None;
        }
        let Some(payload) = rest.get(NETLINK_HEADER_LEN..length) else {
            self.rest = &[];
            return Some(Err(ParseError(format!(
                "netlink message of {length} bytes in {} remaining",
                rest.len()
            ))));
        };
        self.rest = rest.get(align4(length)..).unwrap_or(&[]);
        Some(Ok(Message {
            kind: u16_at(rest, 4)?,
            flags: u16_at(rest, 6)?,
            sequence: u32_at(rest, 8)?,
            payload,
        }))
    }
}

/// The attributes (`nlattr`: type and value) that follow a fixed header;
/// a malformed one is an error, after which the iteration ends.
#[derive(Debug, Clone)]
pub(super) struct Attributes<'a> {
    rest: &'a [u8],
}

fn attributes(bytes: &[u8]) -> Attributes<'_> {
    Attributes { rest: bytes }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(u16, &'a [u8]), ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        let (Some(length), Some(kind)) = (u16_at(rest, 0), u16_at(rest, 2)) else {
            self.rest = &[];
            return Some(Err(too_short(
                "netlink attribute",
                ATTRIBUTE_HEADER_LEN,
                rest.len(),
            )));
        };
        let length = usize::from(length);
        let Some(value) = rest.get(ATTRIBUTE_HEADER_LEN..length) else {
            self.rest = &[];
            return Some(Err(ParseError(format!(
                "netlink attribute {kind} of {length} bytes in {} remaining",
                rest.len()
            ))));
        };
        self.rest = rest.get(align4(length)..).unwrap_or(&[]);
        Some(Ok((kind & ATTRIBUTE_TYPE_MASK, value)))
    }
}

/// The attributes after a fixed header of `header_len` bytes, which must
/// be there.
pub(super) fn after_header<'a>(
    what: &str,
    payload: &'a [u8],
    header_len: usize,
) -> Result<Attributes<'a>, ParseError> {
    match payload.get(header_len..) {
        Some(rest) => Ok(attributes(rest)),
        None => Err(too_short(what, header_len, payload.len())),
    }
}

/// Decodes the fields of an `RTM_NEWLINK` / `RTM_DELLINK` ipkit needs.
pub fn parse_link(payload: &[u8]) -> Result<LinkRecord, ParseError> {
    let attributes = after_header("link message", payload, LINK_HEADER_LEN)?;
    let index = u32_at(payload, 4).unwrap_or_default();
    let flags = u32_at(payload, 8).unwrap_or_default();
    let mut link = LinkRecord {
        index,
        name: String::new(),
        mac: None,
        admin_up: flags & IFF_UP != 0,
        carrier: flags & IFF_LOWER_UP != 0,
        operstate: 0,
        carrier_changes: None,
    };
    for attribute in attributes {
        let (kind, value) = attribute?;
        match kind {
            IFLA_IFNAME => {
                let name = value.split(|b| *b == 0).next().unwrap_or_default();
                link.name = String::from_utf8_lossy(name).into_owned();
            }
            IFLA_ADDRESS => link.mac = mac_from(value),
            IFLA_CARRIER => {
                if let Some(carrier) = value.first() {
                    link.carrier = *carrier != 0;
                }
            }
            IFLA_OPERSTATE => link.operstate = value.first().copied().unwrap_or(0),
            IFLA_CARRIER_CHANGES if value.len() == 4 => link.carrier_changes = u32_at(value, 0),
            _ => {}
        }
    }
    Ok(link)
}

/// Decodes an `RTM_NEWADDR` / `RTM_DELADDR`; `None` for families other
/// than IPv4 and IPv6, or without an address.
pub fn parse_addr(payload: &[u8]) -> Result<Option<AddrRecord>, ParseError> {
    let attributes = after_header("address message", payload, ADDRESS_HEADER_LEN)?;
    let family = payload.first().copied().unwrap_or_default();
    if family != AF_INET && family != AF_INET6 {
        return Ok(None);
    }
    let prefix = payload.get(1).copied().unwrap_or_default();
    let mut flags = u32::from(payload.get(2).copied().unwrap_or_default());
    let index = u32_at(payload, 4).unwrap_or_default();
    let (mut local, mut address) = (None, None);
    for attribute in attributes {
        let (kind, value) = attribute?;
        match kind {
            IFA_LOCAL => local = ip_from(value),
            IFA_ADDRESS => address = ip_from(value),
            IFA_FLAGS => {
                if let (Some(all), 4) = (u32_at(value, 0), value.len()) {
                    flags = all;
                }
            }
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
    // point-to-point links and equal to IFA_LOCAL otherwise.
    Ok(local.or(address).map(|ip| AddrRecord {
        ifindex: index,
        ip,
        prefix,
        tentative: flags & IFA_F_TENTATIVE != 0,
        dadfailed: flags & IFA_F_DADFAILED != 0,
    }))
}

/// Decodes an `RTM_NEWNEIGH`; `None` without an IP destination.
pub fn parse_neigh(payload: &[u8]) -> Result<Option<NeighRecord>, ParseError> {
    let attributes = after_header("neighbour message", payload, NEIGHBOUR_HEADER_LEN)?;
    let index = u32_at(payload, 4).unwrap_or_default();
    let state = u16_at(payload, 8).unwrap_or_default();
    let (mut ip, mut mac) = (None, None);
    for attribute in attributes {
        let (kind, value) = attribute?;
        match kind {
            NDA_DST => ip = ip_from(value),
            NDA_LLADDR => mac = mac_from(value),
            _ => {}
        }
    }
    Ok(ip.map(|ip| NeighRecord {
        ifindex: index,
        ip,
        mac,
        state,
    }))
}

#[cfg(test)]
mod tests {
    //! Fixtures are written byte by byte from the kernel's layouts, and
    //! cross-checked against messages emitted by netlink-packet-route.

    use super::*;
    use netlink_packet_core::Emitable;

    /// One attribute: length, type, value, padding.
    fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
        let length = u16::try_from(ATTRIBUTE_HEADER_LEN + value.len()).expect("fits");
        let mut out = Vec::new();
        out.extend(length.to_ne_bytes());
        out.extend(kind.to_ne_bytes());
        out.extend(value);
        out.resize(align4(out.len()), 0);
        out
    }

    /// `ifinfomsg` for `index` with `flags`, then `attributes`.
    fn link_message(index: u32, flags: u32, attributes: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![0u8, 0, 1, 0]; // family, pad, type (ARPHRD_ETHER)
        out.extend(index.to_ne_bytes());
        out.extend(flags.to_ne_bytes());
        out.extend(0u32.to_ne_bytes()); // change mask
        attributes.iter().for_each(|a| out.extend(a));
        out
    }

    /// `ifaddrmsg`, then `attributes`.
    fn address_message(
        family: u8,
        prefix: u8,
        flags: u8,
        index: u32,
        attributes: &[Vec<u8>],
    ) -> Vec<u8> {
        let mut out = vec![family, prefix, flags, 0];
        out.extend(index.to_ne_bytes());
        attributes.iter().for_each(|a| out.extend(a));
        out
    }

    /// `ndmsg`, then `attributes`.
    fn neighbour_message(family: u8, index: u32, state: u16, attributes: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![family, 0, 0, 0];
        out.extend(index.to_ne_bytes());
        out.extend(state.to_ne_bytes());
        out.extend([0, 0]); // flags, type
        attributes.iter().for_each(|a| out.extend(a));
        out
    }

    /// A whole netlink message around `payload`.
    fn netlink_message(kind: u16, flags: u16, sequence: u32, payload: &[u8]) -> Vec<u8> {
        let length = u32::try_from(NETLINK_HEADER_LEN + payload.len()).expect("fits");
        let mut out = Vec::new();
        out.extend(length.to_ne_bytes());
        out.extend(kind.to_ne_bytes());
        out.extend(flags.to_ne_bytes());
        out.extend(sequence.to_ne_bytes());
        out.extend(0u32.to_ne_bytes()); // port id
        out.extend(payload);
        out.resize(align4(out.len()), 0);
        out
    }

    const MAC: [u8; 6] = [2, 0x11, 0x22, 0x33, 0x44, 0x55];

    fn eth0() -> Vec<u8> {
        link_message(
            7,
            IFF_UP | IFF_LOWER_UP,
            &[
                attribute(IFLA_IFNAME, b"eth0\0"),
                attribute(IFLA_ADDRESS, &MAC),
                attribute(IFLA_OPERSTATE, &[6]),
                attribute(IFLA_CARRIER, &[0]),
                attribute(IFLA_CARRIER_CHANGES, &5u32.to_ne_bytes()),
            ],
        )
    }

    #[test]
    fn a_link_gives_index_name_mac_flags_carrier_and_operstate() {
        let link = parse_link(&eth0()).expect("parse");
        assert_eq!(
            link,
            LinkRecord {
                index: 7,
                name: "eth0".into(),
                mac: Some(Mac(MAC)),
                admin_up: true,
                // IFLA_CARRIER wins over IFF_LOWER_UP.
                carrier: false,
                operstate: 6,
                carrier_changes: Some(5),
            }
        );
        // Without IFLA_CARRIER, IFF_LOWER_UP counts; a 20-byte (InfiniBand)
        // hardware address is no MAC.
        let link = parse_link(&link_message(
            8,
            IFF_LOWER_UP,
            &[attribute(IFLA_ADDRESS, &[1; 20])],
        ))
        .expect("parse");
        assert!(
            link.carrier && !link.admin_up && link.mac.is_none(),
            "{link:?}"
        );
        // A carrier-change count of the wrong size is left out.
        let link = parse_link(&link_message(
            9,
            IFF_LOWER_UP,
            &[attribute(IFLA_CARRIER_CHANGES, &[1, 0])],
        ))
        .expect("parse");
        assert_eq!(link.carrier_changes, None);
    }

    #[test]
    fn addresses_prefer_the_local_attribute_and_read_the_extended_flags() {
        let local = attribute(IFA_LOCAL, &[198, 51, 100, 10]);
        let peer = attribute(IFA_ADDRESS, &[198, 51, 100, 1]);
        let record = parse_addr(&address_message(AF_INET, 24, 0, 3, &[peer.clone(), local]))
            .expect("parse")
            .expect("an address");
        assert_eq!(record.ip, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)));
        assert_eq!((record.ifindex, record.prefix), (3, 24));
        assert!(!record.tentative && !record.dadfailed);

        let v6: Ipv6Addr = "2001:db8::10".parse().expect("ip");
        let flags = (IFA_F_TENTATIVE | IFA_F_DADFAILED).to_ne_bytes();
        let record = parse_addr(&address_message(
            AF_INET6,
            64,
            0,
            4,
            &[
                attribute(IFA_ADDRESS, &v6.octets()),
                attribute(IFA_FLAGS, &flags),
            ],
        ))
        .expect("parse")
        .expect("an address");
        assert_eq!(record.ip, IpAddr::V6(v6));
        assert!(record.tentative && record.dadfailed, "{record:?}");

        // Another family, or no address at all: nothing to report.
        assert_eq!(parse_addr(&address_message(17, 0, 0, 3, &[peer])), Ok(None));
        assert_eq!(
            parse_addr(&address_message(AF_INET, 24, 0, 3, &[])),
            Ok(None)
        );
    }

    #[test]
    fn neighbours_give_destination_mac_and_state() {
        let record = parse_neigh(&neighbour_message(
            AF_INET,
            5,
            0x80,
            &[
                attribute(NDA_DST, &[198, 51, 100, 20]),
                attribute(NDA_LLADDR, &MAC),
            ],
        ))
        .expect("parse")
        .expect("an entry");
        assert_eq!(
            record,
            NeighRecord {
                ifindex: 5,
                ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20)),
                mac: Some(Mac(MAC)),
                state: 0x80,
            }
        );
        let no_destination = neighbour_message(AF_INET, 5, 0x80, &[attribute(NDA_LLADDR, &MAC)]);
        assert_eq!(parse_neigh(&no_destination), Ok(None));
    }

    #[test]
    fn the_selective_parsers_agree_with_netlink_packet_route() {
        use netlink_packet_route::AddressFamily;
        use netlink_packet_route::address::{AddressAttribute, AddressMessage};
        use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, State};

        let mut link = LinkMessage::default();
        link.header.index = 9;
        link.header.flags = LinkFlags::Up | LinkFlags::LowerUp;
        link.attributes.push(LinkAttribute::IfName("lan0".into()));
        link.attributes.push(LinkAttribute::Address(MAC.to_vec()));
        link.attributes.push(LinkAttribute::OperState(State::Up));
        link.attributes.push(LinkAttribute::Carrier(1));
        let mut bytes = vec![0; link.buffer_len()];
        link.emit(&mut bytes);
        let parsed = parse_link(&bytes).expect("parse");
        assert_eq!((parsed.index, parsed.name.as_str()), (9, "lan0"));
        assert_eq!(parsed.mac, Some(Mac(MAC)));
        assert!(parsed.admin_up && parsed.carrier && parsed.operstate == 6);

        let mut address = AddressMessage::default();
        let ip: IpAddr = "2001:db8:1::10".parse().expect("ip");
        address.header.family = AddressFamily::Inet6;
        address.header.prefix_len = 64;
        address.header.index = 9;
        address.attributes.push(AddressAttribute::Address(ip));
        let mut bytes = vec![0; address.buffer_len()];
        address.emit(&mut bytes);
        let parsed = parse_addr(&bytes).expect("parse").expect("an address");
        assert_eq!((parsed.ifindex, parsed.ip, parsed.prefix), (9, ip, 64));
    }

    #[test]
    fn a_datagram_splits_into_its_messages() {
        let first = netlink_message(RTM_NEWLINK, 2, 41, &eth0());
        let second = netlink_message(3, 0, 41, &0i32.to_ne_bytes());
        let mut datagram = [first, second].concat();
        datagram.extend([0; 5]); // less than a header: ignored
        let found: Vec<Message<'_>> = messages(&datagram)
            .collect::<Result<_, _>>()
            .expect("well formed");
        assert_eq!(found.len(), 2);
        assert_eq!(
            (found[0].kind, found[0].flags, found[0].sequence),
            (RTM_NEWLINK, 2, 41)
        );
        assert_eq!(found[0].payload, eth0().as_slice());
        assert_eq!(leading_i32(found[1].payload), Some(0));
    }

    #[test]
    fn bad_lengths_are_errors_not_panics() {
        let mut message = netlink_message(RTM_NEWLINK, 0, 1, &eth0());
        // A length shorter than the header, then one past the end.
        message[..4].copy_from_slice(&8u32.to_ne_bytes());
        let mut found = messages(&message);
        assert!(matches!(found.next(), Some(Err(_))));
        assert!(found.next().is_none(), "iteration ends after an error");
        message[..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(matches!(messages(&message).next(), Some(Err(_))));

        // An attribute that claims more than there is.
        let mut link = eth0();
        link[LINK_HEADER_LEN..LINK_HEADER_LEN + 2].copy_from_slice(&200u16.to_ne_bytes());
        assert!(parse_link(&link).is_err());
        // An attribute length below its own header.
        link[LINK_HEADER_LEN..LINK_HEADER_LEN + 2].copy_from_slice(&2u16.to_ne_bytes());
        assert!(parse_link(&link).is_err());
        // Headers cut short.
        assert!(parse_link(&[0; LINK_HEADER_LEN - 1]).is_err());
        assert!(parse_addr(&[AF_INET; ADDRESS_HEADER_LEN - 1]).is_err());
        assert!(parse_neigh(&[0; NEIGHBOUR_HEADER_LEN - 1]).is_err());
        assert_eq!(leading_i32(&[1, 2, 3]), None);
    }

    #[test]
    fn every_truncation_and_corruption_is_survived() {
        let v6: Ipv6Addr = "2001:db8::10".parse().expect("ip");
        let inputs = [
            eth0(),
            address_message(AF_INET6, 64, 0, 4, &[attribute(IFA_ADDRESS, &v6.octets())]),
            neighbour_message(AF_INET, 5, 2, &[attribute(NDA_DST, &[198, 51, 100, 20])]),
            netlink_message(RTM_NEWLINK, 0, 1, &eth0()),
        ];
        // A small deterministic generator: the same corruptions every run.
        let mut state: u32 = 0x1234_5678;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state >> 24
        };
        for input in &inputs {
            for end in 0..=input.len() {
                survive(&input[..end]);
            }
            for _ in 0..500 {
                let mut bytes = input.clone();
                let at = next() as usize % bytes.len();
                bytes[at] = next() as u8;
                survive(&bytes);
            }
        }
    }

    /// Every parser on `bytes`: any result but a panic.
    fn survive(bytes: &[u8]) {
        let _ = parse_link(bytes);
        let _ = parse_addr(bytes);
        let _ = parse_neigh(bytes);
        let _ = ip_from(bytes);
        let _ = mac_from(bytes);
        let _ = leading_i32(bytes);
        for message in messages(bytes) {
            let Ok(message) = message else { break };
            let _ = parse_link(message.payload);
        }
    }
}
