//! Network-order fields in byte slices the views have already length-checked.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::resource::Mac;

/// The big-endian `u16` at `offset`.
pub(super) fn read_u16(bytes: &[u8], offset: usize) -> u16 {
    u16::from_be_bytes([bytes[offset], bytes[offset + 1]])
}

/// The six-byte MAC address at `offset`.
pub(super) fn read_mac(bytes: &[u8], offset: usize) -> Mac {
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&bytes[offset..offset + 6]);
    Mac(mac)
}

/// The IPv4 address at `offset`.
pub(super) fn read_ipv4(bytes: &[u8], offset: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        bytes[offset],
        bytes[offset + 1],
        bytes[offset + 2],
        bytes[offset + 3],
    )
}

/// The IPv6 address at `offset`.
pub(super) fn read_ipv6(bytes: &[u8], offset: usize) -> Ipv6Addr {
    let mut address = [0u8; 16];
    address.copy_from_slice(&bytes[offset..offset + 16]);
    Ipv6Addr::from(address)
}

/// Writes `value` big-endian at `offset`.
pub(super) fn write_u16(bytes: &mut [u8], offset: usize, value: u16) {
    bytes[offset..offset + 2].copy_from_slice(&value.to_be_bytes());
}
