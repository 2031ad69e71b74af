//! Neighbour solicitation and advertisement (RFC 4861): view, errors, checksum, our frames.

use std::net::Ipv6Addr;

use crate::resource::Mac;

use super::FrameError;
use super::bytes::{read_ipv6, read_mac, read_u16, write_u16};
use super::ethernet::{self, ETHERTYPE_IPV6};
use super::ipv6::{
    self, ALL_NODES, ALL_NODES_MAC, Ipv6Header, Ipv6Packet, NEXT_HEADER_ICMPV6, multicast_mac,
    solicited_node,
};

const TYPE_OFFSET: usize = 0;
const CODE_OFFSET: usize = 1;
const CHECKSUM_OFFSET: usize = 2;
/// The R/S/O flags of an NA (reserved in an NS).
const FLAGS_OFFSET: usize = 4;
const TARGET_OFFSET: usize = 8;
/// ICMPv6 header + reserved/flags + target address (NS and NA alike); the
/// options start here.
pub const FIXED_LEN: usize = 24;

/// Within an option: type, then length in units of 8 bytes, then data.
const OPTION_TYPE_OFFSET: usize = 0;
const OPTION_LEN_OFFSET: usize = 1;
const OPTION_DATA_OFFSET: usize = 2;
const OPTION_LEN_UNIT: usize = 8;
/// A link-layer address option carrying a MAC: 8 bytes.
const LINK_LAYER_OPTION_LEN: usize = 8;

pub const ICMPV6_NEIGHBOR_SOLICITATION: u8 = 135;
pub const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// RFC 4861 §7.1: neighbour discovery is only accepted from the link.
const REQUIRED_HOP_LIMIT: u8 = 255;
/// NDP option types (RFC 4861 §4.6.1).
pub const OPTION_SOURCE_LINK_ADDRESS: u8 = 1;
pub const OPTION_TARGET_LINK_ADDRESS: u8 = 2;
/// NA flag bits, in the byte after the checksum.
pub const NA_FLAG_ROUTER: u8 = 0x80;
pub const NA_FLAG_SOLICITED: u8 = 0x40;
pub const NA_FLAG_OVERRIDE: u8 = 0x20;

/// Length of an unsolicited NA frame: Ethernet + IPv6 + NA + target
/// link-layer address option.
pub const NA_FRAME_LEN: usize =
    ethernet::HEADER_LEN + ipv6::HEADER_LEN + FIXED_LEN + LINK_LAYER_OPTION_LEN;
/// Length of a DAD NS frame (no source link-layer option: RFC 4862 §5.4.2).
pub const DAD_NS_FRAME_LEN: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN + FIXED_LEN;
/// Where the ICMPv6 message starts in the frames we build.
const MESSAGE_OFFSET: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN;

/// Why a received IPv6 packet is not a valid NS or NA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NdError {
    #[error("next header {0} is not ICMPv6 (58)")]
    NextHeader(u8),
    #[error("neighbour discovery message needs {need} bytes, got {got}")]
    TooShort { need: usize, got: usize },
    #[error("ICMPv6 type {0} is not a neighbour solicitation or advertisement")]
    MessageType(u8),
    #[error("hop limit {0} is not 255, as neighbour discovery requires")]
    HopLimit(u8),
    #[error("ICMPv6 code {0} is not 0")]
    Code(u8),
    #[error("ICMPv6 checksum {found:#06x} is wrong (expected {expected:#06x})")]
    Checksum { found: u16, expected: u16 },
    #[error("neighbour discovery option at offset {offset} has a bad length")]
    OptionLength { offset: usize },
}

/// Neighbour solicitation or advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdKind {
    Solicitation,
    Advertisement,
}

/// A validated NS or NA (ICMPv6 part only; the IPv6 addresses are kept).
#[derive(Debug, Clone, Copy)]
pub struct NdMessage<'a> {
    source: Ipv6Addr,
    destination: Ipv6Addr,
    bytes: &'a [u8],
}

impl<'a> NdMessage<'a> {
    /// RFC 4861 §7.1.1 and §7.1.2 validity: hop limit 255, code 0,
    /// checksum, option lengths.
    pub fn parse(ip: &Ipv6Packet<'a>) -> Result<Self, NdError> {
        if ip.next_header() != NEXT_HEADER_ICMPV6 {
            return Err(NdError::NextHeader(ip.next_header()));
        }
        let bytes = ip.payload();
        if bytes.len() < FIXED_LEN {
            return Err(NdError::TooShort {
                need: FIXED_LEN,
                got: bytes.len(),
            });
        }
        let message_type = bytes[TYPE_OFFSET];
        if message_type != ICMPV6_NEIGHBOR_SOLICITATION
            && message_type != ICMPV6_NEIGHBOR_ADVERTISEMENT
        {
            return Err(NdError::MessageType(message_type));
        }
        if ip.hop_limit() != REQUIRED_HOP_LIMIT {
            return Err(NdError::HopLimit(ip.hop_limit()));
        }
        if bytes[CODE_OFFSET] != 0 {
            return Err(NdError::Code(bytes[CODE_OFFSET]));
        }
        let found = read_u16(bytes, CHECKSUM_OFFSET);
        let expected = icmpv6_checksum(ip.source(), ip.destination(), bytes);
        if found != expected {
            return Err(NdError::Checksum { found, expected });
        }
        // Validate the option chain once, so accessors cannot fail.
        let mut offset = FIXED_LEN;
        while offset < bytes.len() {
            if bytes.len() - offset < OPTION_DATA_OFFSET || bytes[offset + OPTION_LEN_OFFSET] == 0 {
                return Err(NdError::OptionLength { offset });
            }
            let len = usize::from(bytes[offset + OPTION_LEN_OFFSET]) * OPTION_LEN_UNIT;
            if len > bytes.len() - offset {
                return Err(NdError::OptionLength { offset });
            }
            offset += len;
        }
        Ok(Self {
            source: ip.source(),
            destination: ip.destination(),
            bytes,
        })
    }

    pub fn kind(&self) -> NdKind {
        if self.bytes[TYPE_OFFSET] == ICMPV6_NEIGHBOR_SOLICITATION {
            NdKind::Solicitation
        } else {
            NdKind::Advertisement
        }
    }

    pub fn source(&self) -> Ipv6Addr {
        self.source
    }

    pub fn destination(&self) -> Ipv6Addr {
        self.destination
    }

    /// The R/S/O flags byte of an NA (0 for an NS).
    pub fn flags(&self) -> u8 {
        match self.kind() {
            NdKind::Advertisement => self.bytes[FLAGS_OFFSET],
            NdKind::Solicitation => 0,
        }
    }

    pub fn target(&self) -> Ipv6Addr {
        read_ipv6(self.bytes, TARGET_OFFSET)
    }

    /// The link-layer address option that fits the message: source for an
    /// NS, target for an NA.
    pub fn link_layer_address(&self) -> Option<Mac> {
        let wanted = match self.kind() {
            NdKind::Solicitation => OPTION_SOURCE_LINK_ADDRESS,
            NdKind::Advertisement => OPTION_TARGET_LINK_ADDRESS,
        };
        let mut offset = FIXED_LEN;
        while offset + OPTION_DATA_OFFSET <= self.bytes.len() {
            let len = usize::from(self.bytes[offset + OPTION_LEN_OFFSET]) * OPTION_LEN_UNIT;
            if len == 0 {
                return None;
            }
            if self.bytes[offset + OPTION_TYPE_OFFSET] == wanted && len >= LINK_LAYER_OPTION_LEN {
                return Some(read_mac(self.bytes, offset + OPTION_DATA_OFFSET));
            }
            offset += len;
        }
        None
    }
}

impl<'a> Ipv6Packet<'a> {
    /// The neighbour discovery message inside, checked (see
    /// [`NdMessage::parse`]).
    pub fn nd(&self) -> Result<NdMessage<'a>, FrameError> {
        Ok(NdMessage::parse(self)?)
    }
}

/// The ICMPv6 checksum (RFC 4443 §2.3) over the pseudo-header and `message`,
/// whose checksum field (bytes 2..4) is treated as zero.
pub fn icmpv6_checksum(source: Ipv6Addr, destination: Ipv6Addr, message: &[u8]) -> u16 {
    fn add(sum: &mut u32, bytes: &[u8]) {
        let mut pairs = bytes.chunks_exact(2);
        for pair in &mut pairs {
            *sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
        if let [last] = pairs.remainder() {
            *sum += u32::from(*last) << 8;
        }
    }
    let mut sum = 0u32;
    add(&mut sum, &source.octets());
    add(&mut sum, &destination.octets());
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    add(&mut sum, &len.to_be_bytes());
    add(&mut sum, &[0, 0, 0, NEXT_HEADER_ICMPV6]);
    if message.len() >= CHECKSUM_OFFSET + 2 {
        add(&mut sum, &message[..CHECKSUM_OFFSET]);
        add(&mut sum, &message[CHECKSUM_OFFSET + 2..]);
    } else {
        add(&mut sum, message);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Writes the Ethernet and IPv6 headers of a neighbour discovery frame
/// carrying `message_len` bytes of ICMPv6.
fn write_headers(
    frame: &mut [u8],
    eth_destination: Mac,
    mac: Mac,
    source: Ipv6Addr,
    destination: Ipv6Addr,
    message_len: usize,
) {
    ethernet::write_header(frame, eth_destination, mac, ETHERTYPE_IPV6);
    let header = Ipv6Header {
        source,
        destination,
        next_header: NEXT_HEADER_ICMPV6,
        hop_limit: REQUIRED_HOP_LIMIT,
        // One of our fixed neighbour discovery sizes, far below u16::MAX.
        payload_len: message_len as u16,
    };
    ipv6::write_header(&mut frame[ethernet::HEADER_LEN..], &header);
}

/// Fills in the ICMPv6 checksum of the message in a frame we built.
fn seal(frame: &mut [u8], source: Ipv6Addr, destination: Ipv6Addr) {
    let sum = icmpv6_checksum(source, destination, &frame[MESSAGE_OFFSET..]);
    write_u16(frame, MESSAGE_OFFSET + CHECKSUM_OFFSET, sum);
}

/// Unsolicited Neighbour Advertisement (RFC 4861 §7.2.6): from `ip` to
/// ff02::1, hop limit 255, override flag, target link-layer address option.
pub fn unsolicited_na(mac: Mac, ip: Ipv6Addr) -> [u8; NA_FRAME_LEN] {
    let mut frame = [0u8; NA_FRAME_LEN];
    let message_len = FIXED_LEN + LINK_LAYER_OPTION_LEN;
    write_headers(&mut frame, ALL_NODES_MAC, mac, ip, ALL_NODES, message_len);
    let message = &mut frame[MESSAGE_OFFSET..];
    message[TYPE_OFFSET] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
    message[FLAGS_OFFSET] = NA_FLAG_OVERRIDE;
    message[TARGET_OFFSET..FIXED_LEN].copy_from_slice(&ip.octets());
    let option = &mut message[FIXED_LEN..];
    option[OPTION_TYPE_OFFSET] = OPTION_TARGET_LINK_ADDRESS;
    option[OPTION_LEN_OFFSET] = (LINK_LAYER_OPTION_LEN / OPTION_LEN_UNIT) as u8;
    option[OPTION_DATA_OFFSET..LINK_LAYER_OPTION_LEN].copy_from_slice(&mac.0);
    seal(&mut frame, ip, ALL_NODES);
    frame
}

/// DAD Neighbour Solicitation (RFC 4862 §5.4.2): from :: to the
/// solicited-node group of `ip` (and its multicast MAC), no options.
pub fn dad_ns(mac: Mac, ip: Ipv6Addr) -> [u8; DAD_NS_FRAME_LEN] {
    let group = solicited_node(ip);
    let mut frame = [0u8; DAD_NS_FRAME_LEN];
    let source = Ipv6Addr::UNSPECIFIED;
    write_headers(
        &mut frame,
        multicast_mac(group),
        mac,
        source,
        group,
        FIXED_LEN,
    );
    let message = &mut frame[MESSAGE_OFFSET..];
    message[TYPE_OFFSET] = ICMPV6_NEIGHBOR_SOLICITATION;
    message[TARGET_OFFSET..FIXED_LEN].copy_from_slice(&ip.octets());
    seal(&mut frame, source, group);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::linux::pdu::fixtures::{MAC, V6, hex};

    // --- byte layout of each frame kind ---------------------------------

    #[test]
    fn unsolicited_na_layout() {
        let f = unsolicited_na(MAC, V6);
        let want = hex("333300000001 020000aabbcc 86dd
             60000000 0020 3a ff
             20010db8000100000000000000000010
             ff020000000000000000000000000001
             88 00 3c95 20000000
             20010db8000100000000000000000010
             02 01 020000aabbcc");
        assert_eq!(f.to_vec(), want);
    }

    #[test]
    fn dad_ns_layout() {
        let f = dad_ns(MAC, V6);
        let want = hex("3333ff000010 020000aabbcc 86dd
             60000000 0018 3a ff
             00000000000000000000000000000000
             ff0200000000000000000001ff000010
             87 00 4cce 00000000
             20010db8000100000000000000000010");
        assert_eq!(f.to_vec(), want);
    }

    /// Cross-check our checksums with an independent implementation.
    #[test]
    fn checksums_agree_with_etherparse() {
        for f in [unsolicited_na(MAC, V6).to_vec(), dad_ns(MAC, V6).to_vec()] {
            let ip = Ipv6Packet::parse(&f[ethernet::HEADER_LEN..]).expect("ipv6");
            let icmp = etherparse::Icmpv6Slice::from_slice(ip.payload()).expect("icmpv6");
            assert!(icmp.is_checksum_valid(ip.source().octets(), ip.destination().octets()));
        }
    }

    // --- each error case --------------------------------------------------

    fn na_ip_bytes() -> Vec<u8> {
        unsolicited_na(MAC, V6)[ethernet::HEADER_LEN..].to_vec()
    }

    fn nd_err(p: &[u8]) -> Option<NdError> {
        NdMessage::parse(&Ipv6Packet::parse(p).expect("ipv6")).err()
    }

    #[test]
    fn nd_not_icmpv6() {
        let mut p = na_ip_bytes();
        p[6] = 17;
        assert_eq!(nd_err(&p), Some(NdError::NextHeader(17)));
    }

    #[test]
    fn nd_too_short() {
        let mut p = na_ip_bytes();
        p[4..6].copy_from_slice(&20u16.to_be_bytes());
        assert_eq!(nd_err(&p), Some(NdError::TooShort { need: 24, got: 20 }));
    }

    #[test]
    fn nd_bad_type() {
        let mut p = na_ip_bytes();
        p[40] = 128;
        assert_eq!(nd_err(&p), Some(NdError::MessageType(128)));
    }

    #[test]
    fn nd_bad_hop_limit() {
        let mut p = na_ip_bytes();
        p[7] = 64;
        assert_eq!(nd_err(&p), Some(NdError::HopLimit(64)));
    }

    #[test]
    fn nd_bad_code() {
        let mut p = na_ip_bytes();
        p[41] = 1;
        assert_eq!(nd_err(&p), Some(NdError::Code(1)));
    }

    #[test]
    fn nd_bad_checksum() {
        let mut p = na_ip_bytes();
        p[42] ^= 0xff;
        assert!(matches!(nd_err(&p), Some(NdError::Checksum { .. })));
    }

    #[test]
    fn nd_bad_option_length() {
        let mut f = unsolicited_na(MAC, V6);
        f[MESSAGE_OFFSET + 25] = 0; // option length 0
        seal(&mut f, V6, ALL_NODES);
        assert_eq!(
            nd_err(&f[ethernet::HEADER_LEN..]),
            Some(NdError::OptionLength { offset: 24 })
        );
        f[MESSAGE_OFFSET + 25] = 2; // 16 bytes, only 8 left
        seal(&mut f, V6, ALL_NODES);
        assert_eq!(
            nd_err(&f[ethernet::HEADER_LEN..]),
            Some(NdError::OptionLength { offset: 24 })
        );
    }
}
