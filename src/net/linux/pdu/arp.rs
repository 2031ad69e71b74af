//! The Ethernet/IPv4 ARP packet (RFC 826): view, errors, the frames we send.

use std::net::Ipv4Addr;

use crate::resource::Mac;

use super::FrameError;
use super::bytes::{read_ipv4, read_mac, read_u16, write_u16};
use super::ethernet::{
    self, BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, EthernetFrame, ZERO_MAC,
};

const HARDWARE_TYPE_OFFSET: usize = 0;
const PROTOCOL_TYPE_OFFSET: usize = 2;
const HARDWARE_LEN_OFFSET: usize = 4;
const PROTOCOL_LEN_OFFSET: usize = 5;
const OPERATION_OFFSET: usize = 6;
const SENDER_MAC_OFFSET: usize = 8;
const SENDER_IP_OFFSET: usize = 14;
const TARGET_MAC_OFFSET: usize = 18;
const TARGET_IP_OFFSET: usize = 24;
/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// Hardware type of Ethernet.
const HARDWARE_TYPE_ETHERNET: u16 = 1;
const MAC_LEN: u8 = 6;
const IPV4_LEN: u8 = 4;

/// Why received bytes are not an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArpError {
    #[error("ARP packet needs {need} bytes, got {got}")]
    TooShort { need: usize, got: usize },
    #[error("ARP hardware type {0} is not Ethernet (1)")]
    HardwareType(u16),
    #[error("ARP protocol type {0:#06x} is not IPv4")]
    ProtocolType(u16),
    #[error("ARP address lengths {hardware}/{protocol} are not 6/4")]
    AddressLengths { hardware: u8, protocol: u8 },
    #[error("ARP operation {0} is neither request (1) nor reply (2)")]
    Operation(u16),
}

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOp {
    Request = 1,
    Reply = 2,
}

/// An Ethernet/IPv4 ARP packet (RFC 826).
#[derive(Debug, Clone, Copy)]
pub struct ArpPacket<'a> {
    bytes: &'a [u8],
}

impl<'a> ArpPacket<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ArpError> {
        if bytes.len() < PACKET_LEN {
            return Err(ArpError::TooShort {
                need: PACKET_LEN,
                got: bytes.len(),
            });
        }
        let hardware_type = read_u16(bytes, HARDWARE_TYPE_OFFSET);
        if hardware_type != HARDWARE_TYPE_ETHERNET {
            return Err(ArpError::HardwareType(hardware_type));
        }
        let protocol_type = read_u16(bytes, PROTOCOL_TYPE_OFFSET);
        if protocol_type != ETHERTYPE_IPV4 {
            return Err(ArpError::ProtocolType(protocol_type));
        }
        let (hardware, protocol) = (bytes[HARDWARE_LEN_OFFSET], bytes[PROTOCOL_LEN_OFFSET]);
        if (hardware, protocol) != (MAC_LEN, IPV4_LEN) {
            return Err(ArpError::AddressLengths { hardware, protocol });
        }
        let operation = read_u16(bytes, OPERATION_OFFSET);
        if operation != ArpOp::Request as u16 && operation != ArpOp::Reply as u16 {
            return Err(ArpError::Operation(operation));
        }
        Ok(Self {
            bytes: &bytes[..PACKET_LEN],
        })
    }

    pub fn operation(&self) -> ArpOp {
        if read_u16(self.bytes, OPERATION_OFFSET) == ArpOp::Request as u16 {
            ArpOp::Request
        } else {
            ArpOp::Reply
        }
    }

    pub fn sender_mac(&self) -> Mac {
        read_mac(self.bytes, SENDER_MAC_OFFSET)
    }

    pub fn sender_ip(&self) -> Ipv4Addr {
        read_ipv4(self.bytes, SENDER_IP_OFFSET)
    }

    pub fn target_mac(&self) -> Mac {
        read_mac(self.bytes, TARGET_MAC_OFFSET)
    }

    pub fn target_ip(&self) -> Ipv4Addr {
        read_ipv4(self.bytes, TARGET_IP_OFFSET)
    }
}

impl<'a> EthernetFrame<'a> {
    /// The ARP packet inside, checked.
    pub fn arp(&self) -> Result<ArpPacket<'a>, FrameError> {
        let payload = self.payload_of(ETHERTYPE_ARP)?;
        Ok(ArpPacket::parse(payload)?)
    }
}

/// An Ethernet ARP frame, zero-padded to the 60-byte minimum.
pub fn arp_frame(
    eth_destination: Mac,
    operation: ArpOp,
    sender_mac: Mac,
    sender_ip: Ipv4Addr,
    target_mac: Mac,
    target_ip: Ipv4Addr,
) -> [u8; ethernet::MIN_FRAME_LEN] {
    let mut frame = [0u8; ethernet::MIN_FRAME_LEN];
    ethernet::write_header(&mut frame, eth_destination, sender_mac, ETHERTYPE_ARP);
    let packet = &mut frame[ethernet::HEADER_LEN..ethernet::HEADER_LEN + PACKET_LEN];
    write_u16(packet, HARDWARE_TYPE_OFFSET, HARDWARE_TYPE_ETHERNET);
    write_u16(packet, PROTOCOL_TYPE_OFFSET, ETHERTYPE_IPV4);
    packet[HARDWARE_LEN_OFFSET] = MAC_LEN;
    packet[PROTOCOL_LEN_OFFSET] = IPV4_LEN;
    write_u16(packet, OPERATION_OFFSET, operation as u16);
    packet[SENDER_MAC_OFFSET..SENDER_IP_OFFSET].copy_from_slice(&sender_mac.0);
    packet[SENDER_IP_OFFSET..TARGET_MAC_OFFSET].copy_from_slice(&sender_ip.octets());
    packet[TARGET_MAC_OFFSET..TARGET_IP_OFFSET].copy_from_slice(&target_mac.0);
    packet[TARGET_IP_OFFSET..PACKET_LEN].copy_from_slice(&target_ip.octets());
    frame
}

/// Gratuitous ARP request: broadcast, sender IP = target IP = `ip`, target
/// MAC zero (as the kernel's own `arp_notify` sends it).
pub fn gratuitous_arp_request(mac: Mac, ip: Ipv4Addr) -> [u8; ethernet::MIN_FRAME_LEN] {
    arp_frame(BROADCAST_MAC, ArpOp::Request, mac, ip, ZERO_MAC, ip)
}

/// Gratuitous ARP reply: broadcast, sender IP = target IP = `ip`, target MAC
/// = our MAC (as `arping -A` sends it).
pub fn gratuitous_arp_reply(mac: Mac, ip: Ipv4Addr) -> [u8; ethernet::MIN_FRAME_LEN] {
    arp_frame(BROADCAST_MAC, ArpOp::Reply, mac, ip, mac, ip)
}

/// RFC 5227 §2.1.1 ARP probe: broadcast request, sender IP 0.0.0.0, target
/// MAC zero, target IP = `ip`.
pub fn arp_probe(mac: Mac, ip: Ipv4Addr) -> [u8; ethernet::MIN_FRAME_LEN] {
    arp_frame(
        BROADCAST_MAC,
        ArpOp::Request,
        mac,
        Ipv4Addr::UNSPECIFIED,
        ZERO_MAC,
        ip,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::linux::pdu::ethernet::{ETHERTYPE_IPV6, HEADER_LEN};
    use crate::net::linux::pdu::fixtures::{MAC, V4, hex};

    // --- byte layout of each frame kind ---------------------------------

    #[test]
    fn gratuitous_arp_request_layout() {
        let f = gratuitous_arp_request(MAC, V4);
        let mut want = hex("ffffffffffff 020000aabbcc 0806
             0001 0800 06 04 0001 020000aabbcc c633640a 000000000000 c633640a");
        want.resize(60, 0);
        assert_eq!(f.to_vec(), want);
    }

    #[test]
    fn gratuitous_arp_reply_layout() {
        let f = gratuitous_arp_reply(MAC, V4);
        let mut want = hex("ffffffffffff 020000aabbcc 0806
             0001 0800 06 04 0002 020000aabbcc c633640a 020000aabbcc c633640a");
        want.resize(60, 0);
        assert_eq!(f.to_vec(), want);
    }

    #[test]
    fn arp_probe_layout() {
        let f = arp_probe(MAC, V4);
        let mut want = hex("ffffffffffff 020000aabbcc 0806
             0001 0800 06 04 0001 020000aabbcc 00000000 000000000000 c633640a");
        want.resize(60, 0);
        assert_eq!(f.to_vec(), want);
    }

    // --- each error case --------------------------------------------------

    fn arp_bytes() -> Vec<u8> {
        gratuitous_arp_request(MAC, V4)[HEADER_LEN..HEADER_LEN + PACKET_LEN].to_vec()
    }

    #[test]
    fn arp_too_short() {
        assert_eq!(
            ArpPacket::parse(&arp_bytes()[..27]).err(),
            Some(ArpError::TooShort { need: 28, got: 27 })
        );
    }

    #[test]
    fn arp_bad_hardware_type() {
        let mut a = arp_bytes();
        a[1] = 6;
        assert_eq!(ArpPacket::parse(&a).err(), Some(ArpError::HardwareType(6)));
    }

    #[test]
    fn arp_bad_protocol_type() {
        let mut a = arp_bytes();
        a[2..4].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        assert_eq!(
            ArpPacket::parse(&a).err(),
            Some(ArpError::ProtocolType(ETHERTYPE_IPV6))
        );
    }

    #[test]
    fn arp_bad_lengths() {
        let mut a = arp_bytes();
        a[4] = 8;
        assert_eq!(
            ArpPacket::parse(&a).err(),
            Some(ArpError::AddressLengths {
                hardware: 8,
                protocol: 4
            })
        );
    }

    #[test]
    fn arp_bad_operation() {
        let mut a = arp_bytes();
        a[7] = 3;
        assert_eq!(ArpPacket::parse(&a).err(), Some(ArpError::Operation(3)));
    }
}
