//! The protected address with its prefix length (SPEC §1 `address`): what
//! may be protected, and the netmask and broadcast derived from it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::InvalidInput;

/// An IPv4 or IPv6 address with its prefix length (SPEC §1 `address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address {
    ip: IpAddr,
    prefix: u8,
}

impl Address {
    pub fn new(ip: IpAddr, prefix: u8) -> Result<Self, InvalidInput> {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(InvalidInput::new(
                "prefix",
                format!("/{prefix} is out of range for {ip} (0..={max})"),
            ));
        }
        if prefix == 0 {
            return Err(InvalidInput::new(
                "prefix",
                "/0 would claim the whole address space",
            ));
        }
        if ip.is_unspecified() {
            return Err(InvalidInput::new(
                "address",
                format!("{ip} is the unspecified address"),
            ));
        }
        if ip.is_loopback() {
            return Err(InvalidInput::new(
                "address",
                format!("{ip} is a loopback address"),
            ));
        }
        if ip.is_multicast() {
            return Err(InvalidInput::new(
                "address",
                format!("{ip} is a multicast address"),
            ));
        }
        match ip {
            IpAddr::V4(v4) => {
                if v4.is_broadcast() {
                    return Err(InvalidInput::new(
                        "address",
                        format!("{ip} is the limited broadcast address"),
                    ));
                }
                if v4.octets()[0] >= 240 {
                    return Err(InvalidInput::new(
                        "address",
                        format!("{ip} lies in 240.0.0.0/4 (class E), which is reserved"),
                    ));
                }
                if prefix < 31 {
                    let a = Self { ip, prefix };
                    if v4 == a.network_v4() {
                        return Err(InvalidInput::new(
                            "address",
                            format!("{ip} is the network address of {}/{prefix}", a.network_v4()),
                        ));
                    }
                    if Some(v4) == a.broadcast_v4() {
                        return Err(InvalidInput::new(
                            "address",
                            format!(
                                "{ip} is the broadcast address of {}/{prefix}",
                                a.network_v4()
                            ),
                        ));
                    }
                }
            }
            IpAddr::V6(v6) => {
                // One address, one resource: ::ffff:a.b.c.d would let the
                // IPv4 address a.b.c.d be protected twice under two names.
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return Err(InvalidInput::new(
                        "address",
                        format!(
                            "{ip} is an IPv4-mapped IPv6 address; protect the IPv4 address {v4} instead"
                        ),
                    ));
                }
                if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                    return Err(InvalidInput::new(
                        "address",
                        format!("{ip} is link-local; a switchable address must be routable"),
                    ));
                }
            }
        }
        Ok(Self { ip, prefix })
    }

    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn is_ipv4(&self) -> bool {
        self.ip.is_ipv4()
    }

    /// The netmask as the catalog shows it: dotted for IPv4, the prefix
    /// length for IPv6 (SPEC §3 `{mask}`).
    pub fn mask_text(&self) -> String {
        match self.ip {
            IpAddr::V4(_) => Ipv4Addr::from(self.mask_v4_bits()).to_string(),
            IpAddr::V6(_) => self.prefix.to_string(),
        }
    }

    fn mask_v4_bits(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    fn network_v4(&self) -> Ipv4Addr {
        match self.ip {
            IpAddr::V4(v4) => Ipv4Addr::from(u32::from(v4) & self.mask_v4_bits()),
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// The IPv4 broadcast address of the subnet (none for /31, /32 or IPv6).
    pub fn broadcast_v4(&self) -> Option<Ipv4Addr> {
        match self.ip {
            IpAddr::V4(v4) if self.prefix < 31 => {
                Some(Ipv4Addr::from(u32::from(v4) | !self.mask_v4_bits()))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ip, self.prefix)
    }
}

impl FromStr for Address {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ip_text, prefix_text) = s.split_once('/').ok_or_else(|| {
            InvalidInput::new(
                "address",
                format!("{s:?} has no prefix length; write ADDR/PREFIX, e.g. 198.51.100.10/24"),
            )
        })?;
        let ip: IpAddr = ip_text.parse().map_err(|_| {
            InvalidInput::new(
                "address",
                format!("{ip_text:?} is not an IPv4 or IPv6 address"),
            )
        })?;
        if prefix_text.is_empty() || !prefix_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidInput::new(
                "prefix",
                format!("{prefix_text:?} is not a whole number"),
            ));
        }
        let prefix: u8 = prefix_text
            .parse()
            .map_err(|_| InvalidInput::new("prefix", format!("/{prefix_text} is out of range")))?;
        Address::new(ip, prefix)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_rules() {
        let a: Address = "198.51.100.10/24".parse().unwrap();
        assert_eq!(a.mask_text(), "255.255.255.0");
        assert_eq!(a.broadcast_v4(), Some("198.51.100.255".parse().unwrap()));
        let b: Address = "2001:db8::10/64".parse().unwrap();
        assert_eq!(b.mask_text(), "64");
        assert_eq!(b.to_string(), "2001:db8::10/64");
        let e = "198.51.100.0/24".parse::<Address>().unwrap_err();
        assert!(e.reason.contains("network address"), "{e}");
        let e = "198.51.100.255/24".parse::<Address>().unwrap_err();
        assert!(e.reason.contains("broadcast"), "{e}");
        assert!("198.51.100.255/31".parse::<Address>().is_ok());
        assert!("198.51.100.0/32".parse::<Address>().is_ok());
        assert_eq!(
            "198.51.100.1/33".parse::<Address>().unwrap_err().field,
            "prefix"
        );
        assert_eq!(
            "198.51.100.1".parse::<Address>().unwrap_err().field,
            "address"
        );
        assert_eq!(
            "198.51.100.1/x".parse::<Address>().unwrap_err().field,
            "prefix"
        );
        assert_eq!(
            "300.1.1.1/24".parse::<Address>().unwrap_err().field,
            "address"
        );
        assert!("fe80::1/64".parse::<Address>().is_err());
        assert!("2001:db8::1/129".parse::<Address>().is_err());
        assert_eq!(
            "198.51.100.10/16".parse::<Address>().unwrap().mask_text(),
            "255.255.0.0"
        );
    }
    #[test]
    fn ipv4_mapped_ipv6_and_class_e_are_refused() {
        for bad in ["::ffff:198.51.100.5/128", "::ffff:198.51.100.70/120"] {
            let e = bad.parse::<Address>().unwrap_err();
            assert_eq!(e.field, "address", "{bad}");
            assert!(e.reason.contains("IPv4-mapped"), "{e}");
            assert!(e.reason.contains("198.51.100."), "names the IPv4 form: {e}");
        }
        for bad in ["240.0.0.1/24", "250.1.2.3/32", "255.255.255.254/31"] {
            let e = bad.parse::<Address>().unwrap_err();
            assert_eq!(e.field, "address", "{bad}");
            assert!(e.reason.contains("240.0.0.0/4"), "{e}");
        }
        assert!(
            "239.255.255.255/32".parse::<Address>().is_err(),
            "multicast"
        );
        assert!("2001:db8::ffff:c633:6405/64".parse::<Address>().is_ok());
    }
}
