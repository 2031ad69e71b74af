//! [`ClaimWatcher`]: listening for other hosts claiming the addresses in
//! service (RFC 5227 §2.4), on one packet socket per adapter and protocol,
//! each filtered in the kernel to the claims of its addresses.
//!
//! The sockets are the change source's: their descriptors join the netlink
//! monitor's in its one `poll(2)` ([`ClaimWatcher::fds`]), so a claim wakes
//! the daemon like a carrier loss does, and no thread sits in between.
//! A socket is bound to its interface and to ARP or IPv6, and its filter
//! ([`super::filter`]) keeps only frames from another host that claim one
//! of the watched addresses on that interface; everything else is dropped
//! in the kernel without waking anyone. The frame views then decide
//! ([`claimed_address`]), and frames from any of this node's own MACs are
//! never claims.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;

use crate::net::linux::pdu::ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV6};
use crate::net::{Change, WatchedAddress};
use crate::resource::Mac;

use super::claimant::claimed_address;
use super::filter::{self, Program};
use super::socket::{Listener, Received};

/// At most this many frames are read from one socket per wait, so a flood
/// of claims cannot hold the netlink monitor back; the rest wait for the
/// next turn (or overflow the socket's buffer, which only loses repeats).
const FRAMES_PER_WAIT: usize = 64;

/// One listening socket: an interface and a protocol.
#[derive(Debug)]
struct Watching {
    listener: Listener,
    ifindex: u32,
    ethertype: u16,
    /// Listening (its filter lists addresses) or idle (drops everything).
    active: bool,
}

/// The watched addresses, their sockets, and this node's own MACs.
#[derive(Debug, Default)]
pub struct ClaimWatcher {
    sockets: Vec<Watching>,
    watched: HashSet<WatchedAddress>,
    /// Every local link's MAC by ifindex: a frame from one is our own.
    own_macs: HashMap<u32, Mac>,
}

/// The addresses of one (interface, protocol).
type Groups = BTreeMap<(u32, u16), Vec<IpAddr>>;

fn groups(addresses: &[WatchedAddress]) -> Groups {
    let mut out = Groups::new();
    for a in addresses {
        let ethertype = match a.ip {
            IpAddr::V4(_) => ETHERTYPE_ARP,
            IpAddr::V6(_) => ETHERTYPE_IPV6,
        };
        out.entry((a.ifindex, ethertype)).or_default().push(a.ip);
    }
    out
}

/// The kernel filter for the addresses of one protocol.
fn program(ethertype: u16, ips: &[IpAddr]) -> Program {
    if ethertype == ETHERTYPE_ARP {
        let v4: Vec<Ipv4Addr> = ips
            .iter()
            .filter_map(|ip| match ip {
                IpAddr::V4(v4) => Some(*v4),
                IpAddr::V6(_) => None,
            })
            .collect();
        filter::arp_claims(&v4)
    } else {
        let v6: Vec<Ipv6Addr> = ips
            .iter()
            .filter_map(|ip| match ip {
                IpAddr::V6(v6) => Some(*v6),
                IpAddr::V4(_) => None,
            })
            .collect();
        filter::nd_claims(&v6)
    }
}

/// The kernel filter that keeps every claim frame of the protocol, listed
/// or not: the way out when the listed one does not fit.
fn unlisted(ethertype: u16) -> Program {
    if ethertype == ETHERTYPE_ARP {
        filter::all_arp_claims()
    } else {
        filter::all_nd_claims()
    }
}

/// The kernel had no room for a filter: a socket filter, once converted,
/// counts against `net.core.optmem_max` (128 KiB by default), the old and
/// the new one together while one replaces another. Found at 1,000 VIPs:
/// 100 IPv6 addresses' list fits alone but not beside another of 100, one
/// of 150 not at all (issue 11).
fn no_room(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOMEM)
}

/// Closing a packet socket waits for an RCU grace period (see
/// [`Sockets`](super::Sockets)); a short-lived thread pays it, not the
/// event loop.
fn close_aside(listener: Listener) {
    // If the thread cannot start, the closure (and the listener) is
    // dropped right here instead.
    let _ = std::thread::Builder::new()
        .name("ipkit-close".into())
        .spawn(move || drop(listener));
}

/// Replaces `listener`'s filter with `program`. When the kernel has no
/// room for it beside the old one, the small unlisted program goes first
/// (no frame passes unfiltered, none of a claim's kind is dropped), then
/// the list once more; with no room for the list even alone, the unlisted
/// program stays and the frame views decide.
fn refilter(listener: &Listener, ethertype: u16, program: &Program) -> io::Result<()> {
    match listener.set_filter(program) {
        Err(e) if no_room(&e) => {
            listener.set_filter(&unlisted(ethertype))?;
            match listener.set_filter(program) {
                Err(e) if no_room(&e) => Ok(()),
                refiltered => refiltered,
            }
        }
        refiltered => refiltered,
    }
}

impl ClaimWatcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every link's MAC, as just read (start, after an overrun).
    pub fn set_links(&mut self, links: impl IntoIterator<Item = (u32, Option<Mac>)>) {
        self.own_macs = links
            .into_iter()
            .filter_map(|(ifindex, mac)| Some((ifindex, mac?)))
            .collect();
    }

    /// A link appeared or changed.
    pub fn link_changed(&mut self, ifindex: u32, mac: Option<Mac>) {
        match mac {
            Some(mac) => self.own_macs.insert(ifindex, mac),
            None => self.own_macs.remove(&ifindex),
        };
    }

    /// A link is gone: so are its sockets (the kernel unbound them).
    pub fn link_gone(&mut self, ifindex: u32) {
        self.own_macs.remove(&ifindex);
        let (gone, kept) = std::mem::take(&mut self.sockets)
            .into_iter()
            .partition(|w| w.ifindex == ifindex);
        self.sockets = kept;
        for w in gone {
            close_aside(w.listener);
        }
        self.watched.retain(|a| a.ifindex != ifindex);
    }

    /// Knows no link yet (the caller should read them first).
    pub fn knows_no_link(&self) -> bool {
        self.own_macs.is_empty()
    }

    /// Listen for claims of exactly `addresses`. Sockets no longer needed
    /// go idle (kept for later: closing one costs a grace period). On an
    /// error the other interfaces are still set up; the first error is
    /// returned.
    pub fn watch(&mut self, addresses: &[WatchedAddress]) -> io::Result<()> {
        let wanted = groups(addresses);
        let mut first_error = None;
        for w in &mut self.sockets {
            if w.active && !wanted.contains_key(&(w.ifindex, w.ethertype)) {
                match w.listener.set_idle(true) {
                    Ok(()) => w.active = false,
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        for ((ifindex, ethertype), ips) in &wanted {
            if let Err(e) = self.listen(*ifindex, *ethertype, &program(*ethertype, ips)) {
                first_error.get_or_insert(e);
            }
        }
        self.watched = addresses.iter().copied().collect();
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The socket for (ifindex, ethertype) listening with `program`: the
    /// kept one, refiltered, or a new one.
    fn listen(&mut self, ifindex: u32, ethertype: u16, program: &Program) -> io::Result<()> {
        if let Some(i) = self
            .sockets
            .iter()
            .position(|w| w.ifindex == ifindex && w.ethertype == ethertype)
        {
            let w = &mut self.sockets[i];
            if w.listener.usable() {
                refilter(&w.listener, ethertype, program)?;
                w.active = true;
                return Ok(());
            }
            // Unbound (its interface went away under this index): replace.
            close_aside(self.sockets.swap_remove(i).listener);
        }
        // A list with no room even alone: every claim frame of the kind,
        // the frame views decide.
        let listener = match Listener::open_filtered(ifindex, ethertype, Some(program)) {
            Err(e) if no_room(&e) => {
                Listener::open_filtered(ifindex, ethertype, Some(&unlisted(ethertype)))?
            }
            opened => opened?,
        };
        self.sockets.push(Watching {
            listener,
            ifindex,
            ethertype,
            active: true,
        });
        Ok(())
    }

    /// The descriptors to poll, in the order [`ClaimWatcher::read`] expects.
    pub fn fds(&self) -> Vec<RawFd> {
        self.sockets
            .iter()
            .filter(|w| w.active)
            .map(|w| w.listener.raw_fd())
            .collect()
    }

    /// Reads the sockets `ready` marks (parallel to [`ClaimWatcher::fds`])
    /// and returns the claims among their frames.
    pub fn read(&self, ready: &[bool]) -> Vec<Change> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        let active = self.sockets.iter().filter(|w| w.active);
        for (w, _) in active.zip(ready).filter(|(_, r)| **r) {
            for _ in 0..FRAMES_PER_WAIT {
                match w.listener.try_recv(&mut buf) {
                    Ok(Received::Frame(n)) => out.extend(self.claim(w.ifindex, &buf[..n])),
                    Ok(Received::Ours) => {}
                    // Nothing more; or an error (ENETDOWN after the link
                    // went down), which reading has cleared.
                    Ok(Received::Nothing) | Err(_) => break,
                }
            }
        }
        out
    }

    /// The claim `frame` makes, if it is about a watched address on
    /// `ifindex` and comes from none of this node's MACs.
    fn claim(&self, ifindex: u32, frame: &[u8]) -> Option<Change> {
        let (ip, mac) = claimed_address(frame)?;
        let ours = self.own_macs.values().any(|m| *m == mac);
        let watched = self.watched.contains(&WatchedAddress { ifindex, ip });
        (watched && !ours).then_some(Change::AddressClaimed { ifindex, ip, mac })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::linux::pdu::arp::gratuitous_arp_request;
    use crate::net::linux::pdu::fixtures::{MAC, OTHER, V4, V6};
    use crate::net::linux::pdu::ndp::unsolicited_na;

    #[test]
    fn addresses_are_grouped_by_interface_and_protocol() {
        let at = |ifindex, ip: IpAddr| WatchedAddress { ifindex, ip };
        let g = groups(&[
            at(2, IpAddr::V4(V4)),
            at(2, IpAddr::V6(V6)),
            at(3, IpAddr::V4(V4)),
        ]);
        assert_eq!(g.len(), 3);
        assert_eq!(g[&(2, ETHERTYPE_ARP)], [IpAddr::V4(V4)]);
        assert_eq!(g[&(2, ETHERTYPE_IPV6)], [IpAddr::V6(V6)]);
    }

    #[test]
    fn only_watched_addresses_from_foreign_macs_are_claims() {
        let mut w = ClaimWatcher::new();
        w.set_links([(2, Some(MAC)), (3, Some(Mac([2, 0, 0, 0, 0, 9])))]);
        w.watched = [WatchedAddress {
            ifindex: 2,
            ip: IpAddr::V4(V4),
        }]
        .into();
        let claim = Change::AddressClaimed {
            ifindex: 2,
            ip: IpAddr::V4(V4),
            mac: OTHER,
        };
        assert_eq!(w.claim(2, &gratuitous_arp_request(OTHER, V4)), Some(claim));
        // Heard on another interface, or about an address not watched.
        assert_eq!(w.claim(3, &gratuitous_arp_request(OTHER, V4)), None);
        assert_eq!(w.claim(2, &unsolicited_na(OTHER, V6)), None);
        // From our own adapters (this one, or another on the same segment).
        assert_eq!(w.claim(2, &gratuitous_arp_request(MAC, V4)), None);
        let sibling = Mac([2, 0, 0, 0, 0, 9]);
        assert_eq!(w.claim(2, &gratuitous_arp_request(sibling, V4)), None);
        // Once the sibling's MAC changes, that MAC is a stranger.
        w.link_changed(3, Some(Mac([2, 0, 0, 0, 0, 10])));
        assert!(w.claim(2, &gratuitous_arp_request(sibling, V4)).is_some());
        w.link_gone(2);
        assert_eq!(w.claim(2, &gratuitous_arp_request(OTHER, V4)), None);
    }
}
