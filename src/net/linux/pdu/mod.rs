//! The frames of announcements and probes, one protocol data unit per file.
//!
//! Each file holds a checked view over received bytes (named offsets, its
//! own error enum) and the pure builders of the frames we send in that
//! protocol. A view's `parse` checks its own layer; the chained accessors
//! ([`EthernetFrame::arp`], [`EthernetFrame::ipv6`], [`Ipv6Packet::nd`])
//! check the layers below too and report a [`FrameError`].

pub mod arp;
mod bytes;
pub mod ethernet;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod ipv6;
pub mod ndp;

use arp::ArpError;
use ethernet::EthernetError;
use ipv6::Ipv6Error;
use ndp::NdError;

#[cfg(doc)]
use {ethernet::EthernetFrame, ipv6::Ipv6Packet};

/// Why received bytes are not the frame we were looking for, by layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Ethernet(#[from] EthernetError),
    #[error(transparent)]
    Arp(#[from] ArpError),
    #[error(transparent)]
    Ipv6(#[from] Ipv6Error),
    #[error(transparent)]
    Nd(#[from] NdError),
}

#[cfg(test)]
mod tests {
    use super::arp::{ArpOp, arp_probe, gratuitous_arp_reply};
    use super::ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV6, EthernetFrame};
    use super::fixtures::{MAC, V4, V6};
    use super::ipv6::{ALL_NODES, solicited_node};
    use super::ndp::{NA_FLAG_OVERRIDE, NdKind, dad_ns, unsolicited_na};
    use super::*;

    #[test]
    fn built_frames_parse_back() {
        let f = gratuitous_arp_reply(MAC, V4);
        let eth = EthernetFrame::parse(&f).expect("eth");
        let arp = eth.arp().expect("arp");
        assert_eq!(arp.operation(), ArpOp::Reply);
        assert_eq!((arp.sender_mac(), arp.sender_ip()), (MAC, V4));
        assert_eq!((arp.target_mac(), arp.target_ip()), (MAC, V4));

        let f = unsolicited_na(MAC, V6);
        let eth = EthernetFrame::parse(&f).expect("eth");
        let nd = eth.ipv6().and_then(|ip| ip.nd()).expect("nd");
        assert_eq!(nd.kind(), NdKind::Advertisement);
        assert_eq!(nd.flags(), NA_FLAG_OVERRIDE);
        assert_eq!(nd.target(), V6);
        assert_eq!(nd.source(), V6);
        assert_eq!(nd.destination(), ALL_NODES);
        assert_eq!(nd.link_layer_address(), Some(MAC));

        let f = dad_ns(MAC, V6);
        let nd = EthernetFrame::parse(&f)
            .map_err(FrameError::from)
            .and_then(|e| e.ipv6())
            .and_then(|ip| ip.nd())
            .expect("nd");
        assert_eq!(nd.kind(), NdKind::Solicitation);
        assert!(nd.source().is_unspecified());
        assert_eq!(nd.destination(), solicited_node(V6));
        assert_eq!(nd.link_layer_address(), None);
    }

    #[test]
    fn wrong_ethertype() {
        let f = unsolicited_na(MAC, V6);
        let eth = EthernetFrame::parse(&f).expect("eth");
        assert_eq!(
            eth.arp().err(),
            Some(FrameError::Ethernet(EthernetError::EtherType {
                found: ETHERTYPE_IPV6,
                expected: ETHERTYPE_ARP
            }))
        );
        let f = arp_probe(MAC, V4);
        let eth = EthernetFrame::parse(&f).expect("eth");
        assert!(matches!(
            eth.ipv6(),
            Err(FrameError::Ethernet(EthernetError::EtherType { .. }))
        ));
    }

    /// The chained accessors report the inner layer's error as that layer's.
    #[test]
    fn inner_errors_keep_their_layer() {
        let mut f = gratuitous_arp_reply(MAC, V4);
        f[ethernet::HEADER_LEN + 7] = 3;
        let eth = EthernetFrame::parse(&f).expect("eth");
        assert_eq!(
            eth.arp().err(),
            Some(FrameError::Arp(ArpError::Operation(3)))
        );

        let mut f = unsolicited_na(MAC, V6);
        f[ethernet::HEADER_LEN] = 0x45;
        let eth = EthernetFrame::parse(&f).expect("eth");
        assert_eq!(
            eth.ipv6().err(),
            Some(FrameError::Ipv6(Ipv6Error::Version(4)))
        );

        let mut f = unsolicited_na(MAC, V6);
        f[ethernet::HEADER_LEN + 7] = 64;
        let eth = EthernetFrame::parse(&f).expect("eth");
        let ip = eth.ipv6().expect("ipv6");
        assert_eq!(ip.nd().err(), Some(FrameError::Nd(NdError::HopLimit(64))));
    }
}
