//! The IPv6 fixed header: view, errors, header writer, multicast addresses.

use std::net::Ipv6Addr;

use crate::resource::Mac;

use super::FrameError;
use super::bytes::{read_ipv6, read_u16, write_u16};
use super::ethernet::{ETHERTYPE_IPV6, EthernetFrame};

/// Version in the high nibble, then traffic class and flow label.
const VERSION_OFFSET: usize = 0;
const PAYLOAD_LENGTH_OFFSET: usize = 4;
const NEXT_HEADER_OFFSET: usize = 6;
const HOP_LIMIT_OFFSET: usize = 7;
const SOURCE_OFFSET: usize = 8;
const DESTINATION_OFFSET: usize = 24;
/// Length of the fixed header; the payload starts here.
pub const HEADER_LEN: usize = 40;

const VERSION: u8 = 6;
/// Next-header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;

/// ff02::1, all-nodes, and its multicast MAC.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
pub const ALL_NODES_MAC: Mac = Mac([0x33, 0x33, 0, 0, 0, 1]);

/// Why received bytes are not an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ipv6Error {
    #[error("IPv6 header needs {need} bytes, got {got}")]
    TooShort { need: usize, got: usize },
    #[error("IP version {0} is not 6")]
    Version(u8),
    #[error("IPv6 payload length {declared} exceeds the {available} bytes present")]
    PayloadLength { declared: usize, available: usize },
}

/// An IPv6 packet (fixed header only; extension headers are not followed).
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<'a> {
    bytes: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Ipv6Error> {
        if bytes.len() < HEADER_LEN {
            return Err(Ipv6Error::TooShort {
                need: HEADER_LEN,
                got: bytes.len(),
            });
        }
        let version = bytes[VERSION_OFFSET] >> 4;
        if version != VERSION {
            return Err(Ipv6Error::Version(version));
        }
        let declared = usize::from(read_u16(bytes, PAYLOAD_LENGTH_OFFSET));
        let available = bytes.len() - HEADER_LEN;
        if declared > available {
            return Err(Ipv6Error::PayloadLength {
                declared,
                available,
            });
        }
        // Trim Ethernet padding.
        Ok(Self {
            bytes: &bytes[..HEADER_LEN + declared],
        })
    }

    pub fn next_header(&self) -> u8 {
        self.bytes[NEXT_HEADER_OFFSET]
    }

    pub fn hop_limit(&self) -> u8 {
        self.bytes[HOP_LIMIT_OFFSET]
    }

    pub fn source(&self) -> Ipv6Addr {
        read_ipv6(self.bytes, SOURCE_OFFSET)
    }

    pub fn destination(&self) -> Ipv6Addr {
        read_ipv6(self.bytes, DESTINATION_OFFSET)
    }

    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }
}

impl<'a> EthernetFrame<'a> {
    /// The IPv6 packet inside, checked.
    pub fn ipv6(&self) -> Result<Ipv6Packet<'a>, FrameError> {
        let payload = self.payload_of(ETHERTYPE_IPV6)?;
        Ok(Ipv6Packet::parse(payload)?)
    }
}

/// The fields of an IPv6 header we write.
pub(super) struct Ipv6Header {
    pub source: Ipv6Addr,
    pub destination: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    /// One of our fixed neighbour discovery sizes, far below `u16::MAX`.
    pub payload_len: u16,
}

/// Writes `header` at the start of `packet` (traffic class and flow label 0).
pub(super) fn write_header(packet: &mut [u8], header: &Ipv6Header) {
    packet[VERSION_OFFSET] = VERSION << 4;
    packet[VERSION_OFFSET + 1..PAYLOAD_LENGTH_OFFSET].fill(0);
    write_u16(packet, PAYLOAD_LENGTH_OFFSET, header.payload_len);
    packet[NEXT_HEADER_OFFSET] = header.next_header;
    packet[HOP_LIMIT_OFFSET] = header.hop_limit;
    packet[SOURCE_OFFSET..DESTINATION_OFFSET].copy_from_slice(&header.source.octets());
    packet[DESTINATION_OFFSET..HEADER_LEN].copy_from_slice(&header.destination.octets());
}

/// The solicited-node multicast group of `ip` (RFC 4291 §2.7.1).
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet multicast MAC of an IPv6 multicast group (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> Mac {
    let o = group.octets();
    Mac([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::linux::pdu::ethernet;
    use crate::net::linux::pdu::fixtures::{MAC, V6};
    use crate::net::linux::pdu::ndp::unsolicited_na;

    #[test]
    fn solicited_node_and_multicast_mac() {
        let g = solicited_node("2001:db8::1:2:abcd:ef01".parse().expect("ip"));
        assert_eq!(g, "ff02::1:ffcd:ef01".parse::<Ipv6Addr>().expect("ip"));
        assert_eq!(multicast_mac(g), Mac([0x33, 0x33, 0xff, 0xcd, 0xef, 0x01]));
        assert_eq!(multicast_mac(ALL_NODES), ALL_NODES_MAC);
    }

    // --- each error case --------------------------------------------------

    fn na_ip_bytes() -> Vec<u8> {
        unsolicited_na(MAC, V6)[ethernet::HEADER_LEN..].to_vec()
    }

    #[test]
    fn ipv6_too_short() {
        assert_eq!(
            Ipv6Packet::parse(&na_ip_bytes()[..39]).err(),
            Some(Ipv6Error::TooShort { need: 40, got: 39 })
        );
    }

    #[test]
    fn ipv6_bad_version() {
        let mut p = na_ip_bytes();
        p[0] = 0x45;
        assert_eq!(Ipv6Packet::parse(&p).err(), Some(Ipv6Error::Version(4)));
    }

    #[test]
    fn ipv6_payload_length_overrun() {
        let p = na_ip_bytes();
        assert_eq!(
            Ipv6Packet::parse(&p[..p.len() - 1]).err(),
            Some(Ipv6Error::PayloadLength {
                declared: 32,
                available: 31
            })
        );
    }

    #[test]
    fn ipv6_padding_is_trimmed() {
        let mut p = na_ip_bytes();
        p.extend_from_slice(&[0; 6]);
        let ip = Ipv6Packet::parse(&p).expect("ipv6");
        assert_eq!(ip.payload().len(), 32);
        assert!(ip.nd().is_ok());
    }
}
