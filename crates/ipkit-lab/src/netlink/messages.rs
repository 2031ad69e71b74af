//! The lab's netlink records (links, addresses, neighbours) and the request messages it builds.

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
    /// `IFF_UP`: administratively up.
    pub admin_up: bool,
    /// `IFLA_CARRIER`.
    pub carrier: bool,
    /// `IFLA_OPERSTATE` (RFC 2863: 2 = down, 6 = up, ...).
    pub operstate: u8,
}

/// One address on one interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressEntry {
    pub ifindex: u32,
    pub ip: IpAddr,
    pub prefix: u8,
    /// IPv6 duplicate address detection still running.
    pub tentative: bool,
    /// IPv6 duplicate address detection failed.
    pub dad_failed: bool,
    /// Preferred lifetime over (`IFA_F_DEPRECATED`): not to be picked as a
    /// source address.
    pub deprecated: bool,
}

/// One neighbour (ARP / NDP) cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourEntry {
    pub ifindex: u32,
    pub ip: IpAddr,
    pub mac: Option<[u8; 6]>,
    /// `NUD_*` state bits.
    pub state: u16,
}

pub(super) fn mac_from(bytes: &[u8]) -> Option<[u8; 6]> {
    bytes.try_into().ok()
}

pub(super) fn family_of(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

pub(super) fn link_from(message: LinkMessage) -> Link {
    let flags = message.header.flags;
    let mut link = Link {
        index: message.header.index,
        name: String::new(),
        mac: None,
        admin_up: flags.contains(LinkFlags::Up),
        carrier: flags.contains(LinkFlags::LowerUp),
        operstate: 0,
    };
    for attribute in message.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name = name,
            LinkAttribute::Address(bytes) => link.mac = mac_from(&bytes),
            LinkAttribute::Carrier(carrier) => link.carrier = carrier != 0,
            LinkAttribute::OperState(state) => link.operstate = state.into(),
            _ => {}
        }
    }
    link
}

pub(super) fn address_from(message: AddressMessage) -> Option<AddressEntry> {
    let mut flags = AddressFlags::from_bits_retain(u32::from(message.header.flags.bits()));
    let (mut local, mut address) = (None, None);
    for attribute in message.attributes {
        match attribute {
            AddressAttribute::Local(ip) => local = Some(ip),
            AddressAttribute::Address(ip) => address = Some(ip),
            AddressAttribute::Flags(f) => flags = f,
            _ => {}
        }
    }
    local.or(address).map(|ip| AddressEntry {
        ifindex: message.header.index,
        ip,
        prefix: message.header.prefix_len,
        tentative: flags.contains(AddressFlags::Tentative),
        dad_failed: flags.contains(AddressFlags::Dadfailed),
        deprecated: flags.contains(AddressFlags::Deprecated),
    })
}

pub(super) fn neighbour_from(message: NeighbourMessage) -> Option<NeighbourEntry> {
    let (mut ip, mut mac) = (None, None);
    for attribute in message.attributes {
        match attribute {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => ip = Some(v4.into()),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => ip = Some(v6.into()),
            NeighbourAttribute::LinkLayerAddress(bytes) => mac = mac_from(&bytes),
            _ => {}
        }
    }
    ip.map(|ip| NeighbourEntry {
        ifindex: message.header.ifindex,
        ip,
        mac,
        state: message.header.state.into(),
    })
}

pub(super) fn neighbour_message(ifindex: u32, ip: IpAddr) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.ifindex = ifindex;
    message.header.family = family_of(ip);
    let destination = match ip {
        IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
        IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
    };
    message
        .attributes
        .push(NeighbourAttribute::Destination(destination));
    message
}

/// The IPv4 broadcast address of `ip/prefix` (none for /31 and /32).
pub(super) fn broadcast(ip: Ipv4Addr, prefix: u8) -> Option<Ipv4Addr> {
    if prefix >= 31 {
        return None;
    }
    let host_bits = u32::MAX >> prefix;
    Some(Ipv4Addr::from(u32::from(ip) | host_bits))
}

/// An RTM_NEWADDR of `ip/prefix` on `ifindex`, as `ip addr add` sends it
/// (IPv4 with its broadcast address, IPv6 without duplicate address
/// detection).
pub(super) fn new_address(ifindex: u32, ip: IpAddr, prefix: u8) -> AddressMessage {
    let mut message = AddressMessage::default();
    message.header.index = ifindex;
    message.header.prefix_len = prefix;
    message.header.family = family_of(ip);
    match ip {
        IpAddr::V4(v4) => {
            message.attributes.push(AddressAttribute::Local(ip));
            message.attributes.push(AddressAttribute::Address(ip));
            if let Some(b) = broadcast(v4, prefix) {
                message.attributes.push(AddressAttribute::Broadcast(b));
            }
        }
        IpAddr::V6(_) => {
            message.attributes.push(AddressAttribute::Address(ip));
            message
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_covers_the_host_bits() {
        let ip = Ipv4Addr::new(198, 51, 100, 10);
        assert_eq!(broadcast(ip, 24), Some(Ipv4Addr::new(198, 51, 100, 255)));
        assert_eq!(broadcast(ip, 0), Some(Ipv4Addr::BROADCAST));
        assert_eq!(broadcast(ip, 31), None);
        assert_eq!(broadcast(ip, 32), None);
    }
}
