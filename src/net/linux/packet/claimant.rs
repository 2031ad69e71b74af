//! Does a received frame show another host claiming an address? While
//! probing ([`claimant`]), and while the address is in service
//! ([`claimed_address`]).

use std::net::IpAddr;

use crate::net::linux::pdu::arp::ArpOp;
use crate::net::linux::pdu::ethernet::EthernetFrame;
use crate::net::linux::pdu::ndp::NdKind;
use crate::resource::Mac;

/// If `frame` shows another host claiming `ip`, that host's MAC.
///
/// Claims: an ARP request or reply with sender IP = `ip` (an answer to our
/// probe, or an announcement); an RFC 5227 probe for `ip` by someone else
/// (§2.1.1: a simultaneous probe is a conflict); an NA for target `ip`; a
/// DAD NS for `ip` by someone else (RFC 4862 §5.4.3). Frames sent from `ours`
/// (our own frames, looped back) never claim.
pub fn claimant(frame: &[u8], ip: IpAddr, ours: Mac) -> Option<Mac> {
    let eth = EthernetFrame::parse(frame).ok()?;
    if eth.source() == ours {
        return None;
    }
    let mac = match ip {
        IpAddr::V4(v4) => {
            let arp = eth.arp().ok()?;
            let announces = arp.sender_ip() == v4;
            let probes = arp.operation() == ArpOp::Request
                && arp.sender_ip().is_unspecified()
                && arp.target_ip() == v4;
            if !(announces || probes) {
                return None;
            }
            arp.sender_mac()
        }
        IpAddr::V6(v6) => {
            let nd = eth.ipv6().ok()?.nd().ok()?;
            if nd.target() != v6 {
                return None;
            }
            match nd.kind() {
                NdKind::Advertisement => nd.link_layer_address().unwrap_or(eth.source()),
                NdKind::Solicitation if nd.source().is_unspecified() => eth.source(),
                NdKind::Solicitation => return None,
            }
        }
    };
    (mac != ours).then_some(mac)
}

/// The address `frame` shows its sender using as its own, and the
/// sender's link-layer address: what ongoing conflict detection (RFC 5227
/// §2.4) looks for once an address is in service.
///
/// - ARP, request or reply, with a sender IP: that IP, the sender MAC
///   (§2.4: "any ARP packet whose sender IP address is ours from another
///   hardware address" is a conflict; a gratuitous ARP is one of them);
/// - a neighbour advertisement: its target, with the target link-layer
///   address option or else the Ethernet source (RFC 4861 §7.2.4-§7.2.5);
/// - a neighbour solicitation from a unicast source: that source, with
///   the source link-layer address option or the Ethernet source (the
///   sender resolves a neighbour from that address, RFC 4861 §7.2.2).
///
/// Probes are not claims here: an ARP probe (sender IP 0.0.0.0) or a DAD
/// solicitation (source ::) asks whether the address is free, and the
/// kernel holding it answers, which is the defence RFC 5227 §2.1.1 and RFC
/// 4862 §5.4.3 expect; only while *we* probe is a probe a conflict
/// ([`claimant`]). Frames that fail the checked views say nothing.
pub fn claimed_address(frame: &[u8]) -> Option<(IpAddr, Mac)> {
    let eth = EthernetFrame::parse(frame).ok()?;
    if let Ok(arp) = eth.arp() {
        let ip = arp.sender_ip();
        return (!ip.is_unspecified()).then(|| (IpAddr::V4(ip), arp.sender_mac()));
    }
    let nd = eth.ipv6().ok()?.nd().ok()?;
    let ip = match nd.kind() {
        NdKind::Advertisement => nd.target(),
        NdKind::Solicitation if nd.source().is_unspecified() => return None,
        NdKind::Solicitation => nd.source(),
    };
    if ip.is_unspecified() || ip.is_multicast() {
        return None;
    }
    Some((
        IpAddr::V6(ip),
        nd.link_layer_address().unwrap_or(eth.source()),
    ))
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::net::linux::pdu::arp::{
        arp_frame, arp_probe, gratuitous_arp_reply, gratuitous_arp_request,
    };
    use crate::net::linux::pdu::ethernet::{self, BROADCAST_MAC, ZERO_MAC};
    use crate::net::linux::pdu::fixtures::{MAC, OTHER, V4, V6};
    use crate::net::linux::pdu::ipv6::{self, ALL_NODES};
    use crate::net::linux::pdu::ndp::{
        self, NA_FRAME_LEN, dad_ns, icmpv6_checksum, unsolicited_na,
    };

    #[test]
    fn arp_claims() {
        let ip = IpAddr::V4(V4);
        // A reply to our probe (unicast to us) from the holder.
        let reply = arp_frame(MAC, ArpOp::Reply, OTHER, V4, MAC, Ipv4Addr::UNSPECIFIED);
        assert_eq!(claimant(&reply, ip, MAC), Some(OTHER));
        // Someone's announcement of the address.
        assert_eq!(
            claimant(&gratuitous_arp_request(OTHER, V4), ip, MAC),
            Some(OTHER)
        );
        assert_eq!(
            claimant(&gratuitous_arp_reply(OTHER, V4), ip, MAC),
            Some(OTHER)
        );
        // Someone else probing for it at the same time.
        assert_eq!(claimant(&arp_probe(OTHER, V4), ip, MAC), Some(OTHER));
        // Our own frames, and frames about other addresses, do not claim.
        assert_eq!(claimant(&gratuitous_arp_request(MAC, V4), ip, MAC), None);
        assert_eq!(claimant(&arp_probe(MAC, V4), ip, MAC), None);
        let other_ip = Ipv4Addr::new(198, 51, 100, 11);
        assert_eq!(
            claimant(&gratuitous_arp_reply(OTHER, other_ip), ip, MAC),
            None
        );
        // A plain request *for* the address does not claim it.
        let ask = arp_frame(BROADCAST_MAC, ArpOp::Request, OTHER, other_ip, ZERO_MAC, V4);
        assert_eq!(claimant(&ask, ip, MAC), None);
        // Wrong family or garbage.
        assert_eq!(claimant(&unsolicited_na(OTHER, V6), ip, MAC), None);
        assert_eq!(claimant(&[0u8; 10], ip, MAC), None);
    }

    #[test]
    fn nd_claims() {
        let ip = IpAddr::V6(V6);
        assert_eq!(claimant(&unsolicited_na(OTHER, V6), ip, MAC), Some(OTHER));
        assert_eq!(claimant(&dad_ns(OTHER, V6), ip, MAC), Some(OTHER));
        assert_eq!(claimant(&unsolicited_na(MAC, V6), ip, MAC), None);
        assert_eq!(claimant(&dad_ns(MAC, V6), ip, MAC), None);
        let other_ip: Ipv6Addr = "2001:db8:1::11".parse().expect("ip");
        assert_eq!(claimant(&unsolicited_na(OTHER, other_ip), ip, MAC), None);
        // A corrupted NA is ignored, not believed.
        let mut bad = unsolicited_na(OTHER, V6);
        bad[ethernet::HEADER_LEN + ipv6::HEADER_LEN + 2] ^= 1;
        assert_eq!(claimant(&bad, ip, MAC), None);
        assert_eq!(claimant(&gratuitous_arp_reply(OTHER, V4), ip, MAC), None);
    }

    #[test]
    fn in_service_claims_are_senders_not_probes() {
        let v4 = IpAddr::V4(V4);
        let v6 = IpAddr::V6(V6);
        assert_eq!(
            claimed_address(&gratuitous_arp_request(OTHER, V4)),
            Some((v4, OTHER))
        );
        assert_eq!(
            claimed_address(&gratuitous_arp_reply(OTHER, V4)),
            Some((v4, OTHER))
        );
        // Another host asking for someone else from our address.
        let other_ip = Ipv4Addr::new(198, 51, 100, 11);
        let ask = arp_frame(BROADCAST_MAC, ArpOp::Request, OTHER, V4, ZERO_MAC, other_ip);
        assert_eq!(claimed_address(&ask), Some((v4, OTHER)));
        // A probe asks; the holder's kernel answers it.
        assert_eq!(claimed_address(&arp_probe(OTHER, V4)), None);
        assert_eq!(claimed_address(&dad_ns(OTHER, V6)), None);
        assert_eq!(
            claimed_address(&unsolicited_na(OTHER, V6)),
            Some((v6, OTHER))
        );
        assert_eq!(claimed_address(&[0u8; 10]), None);
        let mut bad = unsolicited_na(OTHER, V6);
        bad[ethernet::HEADER_LEN + ipv6::HEADER_LEN + 2] ^= 1;
        assert_eq!(claimed_address(&bad), None);
    }

    #[test]
    fn a_solicitation_from_the_address_claims_it() {
        // A DAD NS rewritten as an address resolution from V6: source V6,
        // checksum fixed. No source link-layer option: the Ethernet source.
        let mut f = dad_ns(OTHER, V6).to_vec();
        let src = ethernet::HEADER_LEN + 8;
        f[src..src + 16].copy_from_slice(&V6.octets());
        let at = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
        f[at + 2..at + 4].copy_from_slice(&[0, 0]);
        let sum = icmpv6_checksum(V6, ipv6::solicited_node(V6), &f[at..]);
        f[at + 2..at + 4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(claimed_address(&f), Some((IpAddr::V6(V6), OTHER)));
    }

    #[test]
    fn na_without_option_claims_by_ethernet_source() {
        let mut f = unsolicited_na(OTHER, V6).to_vec();
        f.truncate(NA_FRAME_LEN - 8);
        f[ethernet::HEADER_LEN + 5] = ndp::FIXED_LEN as u8;
        let at = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
        let sum = icmpv6_checksum(V6, ALL_NODES, &f[at..]);
        f[at + 2..at + 4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(claimant(&f, IpAddr::V6(V6), MAC), Some(OTHER));
    }
}
