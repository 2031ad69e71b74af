//! Frames a lab node sends as another host would: claims of an address (a
//! gratuitous ARP, an unsolicited NA) and probes for one (an ARP probe, a
//! DAD solicitation), built with etherparse independently of ipkit's own
//! frames, and sent raw from a node's adapter ([`send`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, Icmpv6Type, PacketBuilder,
    icmpv6::NeighborAdvertisementHeader,
};

use crate::capture::{link_address, packet_socket};
use crate::netns::NetNs;

const BROADCAST: [u8; 6] = [0xff; 6];
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// NDP option: target link-layer address, one unit of 8 bytes.
const TARGET_LINK_ADDRESS: [u8; 2] = [2, 1];

fn arp(mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> io::Result<Vec<u8>> {
    let packet = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation::REQUEST,
        &mac,
        &sender.octets(),
        &[0; 6],
        &target.octets(),
    )
    .map_err(io::Error::other)?;
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(mac, BROADCAST)
        .arp(packet)
        .write_to_vec(&mut frame)
        .map_err(io::Error::other)?;
    Ok(frame)
}

/// An ICMPv6 neighbour discovery frame from `mac` and `source` to
/// `destination` (hop limit 255); `body` follows the 4 reserved/flag bytes.
fn neighbour_discovery(
    mac: [u8; 6],
    source: Ipv6Addr,
    destination: Ipv6Addr,
    kind: Icmpv6Type,
    body: &[u8],
) -> io::Result<Vec<u8>> {
    let d = destination.octets();
    let multicast_mac = [0x33, 0x33, d[12], d[13], d[14], d[15]];
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(mac, multicast_mac)
        .ipv6(source.octets(), d, 255)
        .icmpv6(kind)
        .write_to_vec(&mut frame, body)
        .map_err(io::Error::other)?;
    Ok(frame)
}

/// A claim of `ip` by the host with `mac`: a gratuitous ARP request
/// (sender and target IP `ip`), or an unsolicited NA for `ip` to all
/// nodes with the override flag and `mac` as target link-layer address.
pub fn claim(mac: [u8; 6], ip: IpAddr) -> io::Result<Vec<u8>> {
    match ip {
        IpAddr::V4(v4) => arp(mac, v4, v4),
        IpAddr::V6(v6) => {
            let header = NeighborAdvertisementHeader {
                router: false,
                solicited: false,
                r#override: true,
            };
            let mut body = v6.octets().to_vec();
            body.extend_from_slice(&TARGET_LINK_ADDRESS);
            body.extend_from_slice(&mac);
            neighbour_discovery(
                mac,
                v6,
                ALL_NODES,
                Icmpv6Type::NeighborAdvertisement(header),
                &body,
            )
        }
    }
}

/// A probe for `ip` by the host with `mac`: an RFC 5227 ARP probe (sender
/// IP 0.0.0.0), or a DAD neighbour solicitation from `::` to the
/// solicited-node group.
pub fn probe(mac: [u8; 6], ip: IpAddr) -> io::Result<Vec<u8>> {
    match ip {
        IpAddr::V4(v4) => arp(mac, Ipv4Addr::UNSPECIFIED, v4),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let group = Ipv6Addr::from([
                0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
            ]);
            neighbour_discovery(
                mac,
                Ipv6Addr::UNSPECIFIED,
                group,
                Icmpv6Type::NeighborSolicitation,
                &o,
            )
        }
    }
}

/// Sends `frame` as it is on interface `ifindex` of `ns`, to the
/// destination in its Ethernet header.
pub(crate) fn send(ns: &NetNs, ifindex: u32, frame: &[u8]) -> io::Result<()> {
    let mut sll = link_address(ifindex)?;
    let destination = frame
        .get(..6)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame shorter than 6 bytes"))?;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(destination);
    ns.run(|| {
        let fd = packet_socket()?;
        // SAFETY: frame and sll are valid for their lengths.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{FrameKind, kind_of};

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x42];
    const V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 40);
    const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x40);

    #[test]
    fn frames_say_what_they_are_named_for() {
        let (v4, v6) = (IpAddr::V4(V4), IpAddr::V6(V6));
        assert_eq!(
            kind_of(&claim(MAC, v4).unwrap(), v4),
            Some(FrameKind::ArpRequest)
        );
        assert_eq!(
            kind_of(&probe(MAC, v4).unwrap(), v4),
            Some(FrameKind::ArpProbe)
        );
        let na = claim(MAC, v6).unwrap();
        assert_eq!(kind_of(&na, v6), Some(FrameKind::NeighbourAdvertisement));
        // The target link-layer address option carries the MAC.
        assert_eq!(&na[na.len() - 8..], &[2, 1, 2, 0, 0, 0, 0, 0x42]);
        assert_eq!(
            kind_of(&probe(MAC, v6).unwrap(), v6),
            Some(FrameKind::NeighbourSolicitation)
        );
    }
}
