//! Addresses and a hex reader shared by the frame and packet tests.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::resource::Mac;

/// Our MAC, in every test frame we "send".
pub const MAC: Mac = Mac([0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc]);
/// Another host's MAC.
pub const OTHER: Mac = Mac([0x02, 0x00, 0x00, 0x11, 0x22, 0x33]);
pub const V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
pub const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);

/// Bytes from hex digits; whitespace is ignored.
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test hex"))
        .collect()
}
