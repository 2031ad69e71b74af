//! The same-segment test (`ipkit doctor`): the in-use probe frame sent on one adapter, listened for on another.
//!
//! The frame is the in-use probe's own ([`probe_frame`]): an RFC 5227 ARP
//! probe (a broadcast request with sender IP 0.0.0.0) or a DAD Neighbour
//! Solicitation (from ::, to the solicited-node group). Neither lets a
//! receiver create or update a neighbour entry (RFC 5227 §2.1.1; RFC 4861
//! §7.2.3 for an unspecified source), so nobody's cache changes. The
//! [`Prober`] schedule sends it [`PROBES_PER_TIMEOUT`] times within the
//! timeout, so one lost frame does not split a segment.

use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::net::linux::pdu::arp;
use crate::net::linux::pdu::ethernet;
use crate::net::linux::pdu::ipv6::{multicast_mac, solicited_node};
use crate::net::{KernelError, KernelOp};
use crate::resource::Mac;

#[cfg(doc)]
use super::prober::PROBES_PER_TIMEOUT;
use super::prober::{ProbeStep, Prober, probe_frame};
use super::socket::{Listener, check_ifindex, ethertype_of, send_frame, setsockopt};
use super::sockets::{Sockets, check_ip, target};

/// One end of the test: an adapter's index and MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    pub ifindex: u32,
    pub mac: Mac,
}

/// Is `received` the test frame `sent`? The bytes that carry meaning must
/// match: an ARP packet may arrive padded differently, so for IPv4 the
/// Ethernet header and the 28 bytes of ARP are compared; an NS whole.
pub fn is_test_frame(received: &[u8], sent: &[u8], ip: IpAddr) -> bool {
    let meaningful = match ip {
        IpAddr::V4(_) => ethernet::HEADER_LEN + arp::PACKET_LEN,
        IpAddr::V6(_) => sent.len(),
    };
    sent.len() >= meaningful && received.starts_with(&sent[..meaningful])
}

/// The link-layer group a DAD NS for `ip` is sent to, which a NIC drops
/// unless someone on it joined: the listener joins it for the test.
fn group_of(ip: IpAddr) -> Option<Mac> {
    match ip {
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => Some(multicast_mac(solicited_node(v6))),
    }
}

fn membership(listener: &Listener, ifindex: u32, group: Mac, join: bool) -> io::Result<()> {
    let mut address = [0u8; 8];
    address[..6].copy_from_slice(&group.0);
    let request = libc::packet_mreq {
        mr_ifindex: ifindex as libc::c_int,
        mr_type: libc::PACKET_MR_MULTICAST as libc::c_ushort,
        mr_alen: 6,
        mr_address: address,
    };
    let option = if join {
        libc::PACKET_ADD_MEMBERSHIP
    } else {
        libc::PACKET_DROP_MEMBERSHIP
    };
    setsockopt(listener.raw_fd(), libc::SOL_PACKET, option, &request)
}

/// Sends on `send` (from `from`) by the [`Prober`] schedule until the
/// frame shows up on `listener`; false once `timeout` passed without it.
fn run_test(
    send: RawFd,
    listener: &Listener,
    from: End,
    ip: IpAddr,
    timeout: Duration,
) -> io::Result<bool> {
    let frame = probe_frame(from.mac, ip);
    let mut schedule = Prober::new(ip, from.mac, Instant::now(), timeout);
    let mut buf = [0u8; 2048];
    loop {
        match schedule.poll(Instant::now()) {
            ProbeStep::Send => send_frame(send, from.ifindex, &frame)?,
            ProbeStep::Wait(wait) => {
                if let Some(n) = listener.recv(&mut buf, wait)?
                    && is_test_frame(&buf[..n], &frame, ip)
                {
                    return Ok(true);
                }
            }
            ProbeStep::Done(_) => return Ok(false),
        }
    }
}

impl Sockets {
    /// Does the probe frame for `ip` sent on `from` arrive on `to` within
    /// `timeout`? ([`crate::net::Kernel::same_segment`].)
    pub fn same_segment(
        &self,
        from: End,
        to: End,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<bool, KernelError> {
        let op = KernelOp::Probe;
        check_ip(op, from.ifindex, ip)?;
        let err = |e: &io::Error| KernelError::from_io(op, target(from.ifindex, ip), e);
        check_ifindex(from.ifindex).map_err(|e| err(&e))?;
        check_ifindex(to.ifindex).map_err(|e| err(&e))?;
        let listener = self
            .take_listener(to.ifindex, ethertype_of(ip))
            .map_err(|e| err(&e))?;
        let group = group_of(ip);
        let result = (|| {
            if let Some(group) = group {
                membership(&listener, to.ifindex, group, true)?;
            }
            let send = self.lock().send_socket()?;
            run_test(send, &listener, from, ip, timeout)
        })();
        // Leave the group before the listener idles in the cache; if that
        // fails, close it (its membership goes with it).
        let left = group.is_none_or(|g| membership(&listener, to.ifindex, g, false).is_ok());
        if left {
            self.put_back(listener);
        }
        result.map_err(|e| err(&e))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::net::linux::pdu::fixtures::{MAC, OTHER, V4, V6};

    #[test]
    fn the_test_frame_is_recognised_with_any_padding_and_nothing_else() {
        let ip = IpAddr::V4(V4);
        let sent = probe_frame(MAC, ip);
        assert!(is_test_frame(&sent, &sent, ip));
        let trimmed = &sent[..ethernet::HEADER_LEN + arp::PACKET_LEN];
        assert!(is_test_frame(trimmed, &sent, ip));
        assert!(!is_test_frame(&probe_frame(OTHER, ip), &sent, ip));
        let elsewhere = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 99));
        assert!(!is_test_frame(&probe_frame(MAC, elsewhere), &sent, ip));
        let ip6 = IpAddr::V6(V6);
        let ns = probe_frame(MAC, ip6);
        assert!(is_test_frame(&ns, &ns, ip6));
        assert!(!is_test_frame(&ns[..ns.len() - 1], &ns, ip6));
        let other6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x99));
        assert!(!is_test_frame(&probe_frame(MAC, other6), &ns, ip6));
    }

    #[test]
    fn only_ipv6_needs_a_group() {
        assert_eq!(group_of(IpAddr::V4(V4)), None);
        let group = group_of(IpAddr::V6(V6)).unwrap();
        assert_eq!(&group.0[..3], &[0x33, 0x33, 0xff]);
    }
}
