//! The Ethernet II frame: a checked view, its errors, and the header writer.

use crate::resource::Mac;

use super::bytes::{read_mac, read_u16, write_u16};

const DESTINATION_OFFSET: usize = 0;
const SOURCE_OFFSET: usize = 6;
const ETHERTYPE_OFFSET: usize = 12;
/// Header length (no VLAN tag); the payload starts here.
pub const HEADER_LEN: usize = 14;
/// Minimum Ethernet frame without FCS; short frames are zero-padded to it.
pub const MIN_FRAME_LEN: usize = 60;

pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

pub const BROADCAST_MAC: Mac = Mac([0xff; 6]);
pub const ZERO_MAC: Mac = Mac([0; 6]);

/// Why received bytes are not the Ethernet frame we were looking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EthernetError {
    #[error("Ethernet header needs {need} bytes, got {got}")]
    TooShort { need: usize, got: usize },
    #[error("ethertype {found:#06x} is not {expected:#06x}")]
    EtherType { found: u16, expected: u16 },
}

/// An Ethernet II frame (no FCS, no VLAN tag).
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<'a> {
    bytes: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EthernetError> {
        if bytes.len() < HEADER_LEN {
            return Err(EthernetError::TooShort {
                need: HEADER_LEN,
                got: bytes.len(),
            });
        }
        Ok(Self { bytes })
    }

    pub fn destination(&self) -> Mac {
        read_mac(self.bytes, DESTINATION_OFFSET)
    }

    pub fn source(&self) -> Mac {
        read_mac(self.bytes, SOURCE_OFFSET)
    }

    pub fn ethertype(&self) -> u16 {
        read_u16(self.bytes, ETHERTYPE_OFFSET)
    }

    /// Everything after the header (padding included).
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// The payload, if the frame carries `expected`.
    pub fn payload_of(&self, expected: u16) -> Result<&'a [u8], EthernetError> {
        let found = self.ethertype();
        if found == expected {
            Ok(self.payload())
        } else {
            Err(EthernetError::EtherType { found, expected })
        }
    }
}

/// Writes the Ethernet header at the start of `frame`.
pub(super) fn write_header(frame: &mut [u8], destination: Mac, source: Mac, ethertype: u16) {
    frame[DESTINATION_OFFSET..SOURCE_OFFSET].copy_from_slice(&destination.0);
    frame[SOURCE_OFFSET..ETHERTYPE_OFFSET].copy_from_slice(&source.0);
    write_u16(frame, ETHERTYPE_OFFSET, ethertype);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::linux::pdu::fixtures::{MAC, OTHER};

    #[test]
    fn header_fields_read_back() {
        let mut frame = [0u8; MIN_FRAME_LEN];
        write_header(&mut frame, OTHER, MAC, ETHERTYPE_IPV6);
        frame[HEADER_LEN] = 0x60;
        let eth = EthernetFrame::parse(&frame).expect("eth");
        assert_eq!(eth.destination(), OTHER);
        assert_eq!(eth.source(), MAC);
        assert_eq!(eth.ethertype(), ETHERTYPE_IPV6);
        assert_eq!(eth.payload().len(), MIN_FRAME_LEN - HEADER_LEN);
        assert_eq!(eth.payload_of(ETHERTYPE_IPV6).map(|p| p[0]), Ok(0x60));
    }

    // --- each error case --------------------------------------------------

    #[test]
    fn ethernet_too_short() {
        assert_eq!(
            EthernetFrame::parse(&[0; 13]).err(),
            Some(EthernetError::TooShort { need: 14, got: 13 })
        );
        assert!(EthernetFrame::parse(&[0; 14]).is_ok());
    }

    #[test]
    fn payload_of_another_ethertype() {
        let mut frame = [0u8; MIN_FRAME_LEN];
        write_header(&mut frame, BROADCAST_MAC, MAC, ETHERTYPE_ARP);
        let eth = EthernetFrame::parse(&frame).expect("eth");
        assert_eq!(
            eth.payload_of(ETHERTYPE_IPV6).err(),
            Some(EthernetError::EtherType {
                found: ETHERTYPE_ARP,
                expected: ETHERTYPE_IPV6
            })
        );
    }
}
