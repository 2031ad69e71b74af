//! Route operations on a [`Netlink`] socket: links, addresses (dump, add, delete), neighbours (dump, add, flush).

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
};
use netlink_packet_route::link::{LinkAttribute, LinkExtentMask, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::parse::{
    self, AddrRecord, LinkRecord, NeighRecord, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWNEIGH,
};
use super::socket::{ExchangeError, Expect, Netlink, failed};
use crate::net::{AddOptions, KernelError, KernelOp};
use crate::resource::{Address, Mac};

/// The kernel's "forever" for an address lifetime (`INFINITY_LIFE_TIME`).
const INFINITY_LIFE_TIME: u32 = u32::MAX;
/// Address family filter for dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: IpAddr) -> Self {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    /// The rtnetlink family a dump asks for (`AF_UNSPEC`: all).
    pub(super) fn address_family(family: Option<Family>) -> AddressFamily {
        match family {
            None => AddressFamily::Unspec,
            Some(Family::V4) => AddressFamily::Inet,
            Some(Family::V6) => AddressFamily::Inet6,
        }
    }
}

/// A link request that leaves the statistics out of the reply.
fn link_request() -> LinkMessage {
    let mut message = LinkMessage::default();
    message
        .attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    message
}

/// A neighbour message about `ip` on interface `ifindex`.
pub(super) fn neighbour_message(ifindex: u32, ip: IpAddr) -> NeighbourMessage {
    let mut message = NeighbourMessage::default();
    message.header.ifindex = ifindex;
    let destination = match ip {
        IpAddr::V4(v4) => {
            message.header.family = AddressFamily::Inet;
            NeighbourAddress::Inet(v4)
        }
        IpAddr::V6(v6) => {
            message.header.family = AddressFamily::Inet6;
            NeighbourAddress::Inet6(v6)
        }
    };
    message
        .attributes
        .push(NeighbourAttribute::Destination(destination));
    message
}

impl Netlink {
    fn get_link(&self, message: LinkMessage) -> Result<Option<LinkRecord>, ExchangeError> {
        let mut out = Vec::with_capacity(1);
        match self.exchange(
            RouteNetlinkMessage::GetLink(message),
            Expect::Ack,
            0,
            &mut out,
            |kind, payload| {
                if kind == RTM_NEWLINK {
                    Ok(Some(parse::parse_link(payload)?))
                } else {
                    Ok(None)
                }
            },
        ) {
            Ok(()) => Ok(out.pop()),
            Err(ExchangeError::Errno(libc::ENODEV)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The interface called `name`, if there is one.
    pub fn link_by_name(&self, name: &str) -> Result<Option<LinkRecord>, KernelError> {
        let mut message = link_request();
        message
            .attributes
            .push(LinkAttribute::IfName(name.to_owned()));
        self.get_link(message)
            .map_err(failed(KernelOp::GetLink, name))
    }

    /// The interface with index `index`, if there is one.
    pub fn link_by_index(&self, index: u32) -> Result<Option<LinkRecord>, KernelError> {
        if index == 0 {
            return Ok(None);
        }
        let mut message = link_request();
        message.header.index = index;
        self.get_link(message)
            .map_err(failed(KernelOp::GetLink, format_args!("ifindex {index}")))
    }

    /// Every interface.
    pub fn links(&self) -> Result<Vec<LinkRecord>, KernelError> {
        self.dump(
            RouteNetlinkMessage::GetLink(link_request()),
            RTM_NEWLINK,
            KernelOp::GetLink,
            |payload| parse::parse_link(payload).map(Some),
        )
    }

    /// Every address of `family` (all when `None`), on every interface.
    pub fn addresses(&self, family: Option<Family>) -> Result<Vec<AddrRecord>, KernelError> {
        let mut message = AddressMessage::default();
        message.header.family = Family::address_family(family);
        self.dump(
            RouteNetlinkMessage::GetAddress(message),
            RTM_NEWADDR,
            KernelOp::DumpAddresses,
            parse::parse_addr,
        )
    }

    /// Add `addr` to interface `ifindex` (SPEC §2 `RTM_NEWADDR`; see
    /// [`add_message`]). EEXIST counts as done.
    pub fn add_address(
        &self,
        ifindex: u32,
        addr: &Address,
        opts: AddOptions,
    ) -> Result<(), KernelError> {
        let mut results = self.add_addresses(&[(ifindex, *addr, opts)]);
        results.pop().unwrap_or(Ok(()))
    }

    /// Delete `ip/prefix` from interface `ifindex` (SPEC §2 `RTM_DELADDR`;
    /// see [`delete_message`]). ENOENT / EADDRNOTAVAIL count as done.
    pub fn delete_address(&self, ifindex: u32, ip: IpAddr, prefix: u8) -> Result<(), KernelError> {
        let mut results = self.delete_addresses(&[(ifindex, ip, prefix)]);
        results.pop().unwrap_or(Ok(()))
    }

    /// Every neighbour cache entry of `family` (all when `None`).
    pub fn neighbours(&self, family: Option<Family>) -> Result<Vec<NeighRecord>, KernelError> {
        let mut message = NeighbourMessage::default();
        message.header.family = Family::address_family(family);
        self.dump(
            RouteNetlinkMessage::GetNeighbour(message),
            RTM_NEWNEIGH,
            KernelOp::FlushNeighbours,
            parse::parse_neigh,
        )
    }

    /// Add (or replace) a permanent neighbour entry: test set-up (e.g. a
    /// stale entry left by a previous owner of an address).
    pub fn add_neighbour(&self, ifindex: u32, ip: IpAddr, mac: Mac) -> Result<(), KernelError> {
        let mut message = neighbour_message(ifindex, ip);
        message.header.state = NeighbourState::Permanent;
        message
            .attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
        self.ack(
            RouteNetlinkMessage::NewNeighbour(message),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
        .map_err(failed(
            KernelOp::AddNeighbour,
            format_args!("{ip} ifindex {ifindex}"),
        ))
    }

    /// Delete every neighbour entry for `ip`, on every interface (SPEC §2
    /// `arp -d`). Returns how many were deleted.
    pub fn delete_neighbours(&self, ip: IpAddr) -> Result<usize, KernelError> {
        let mut results = self.delete_neighbours_of(&[ip]);
        results.pop().unwrap_or(Ok(0))
    }
}

/// The request that adds `addr` to interface `ifindex`. IPv4 gets
/// IFA_LOCAL, IFA_ADDRESS and the computed broadcast; IPv6 always gets
/// IFA_F_NODAD so it is usable at once (never tentative, never dadfailed:
/// the in-use probe is ipkit's own). `never_as_source` adds IFA_CACHEINFO
/// with a preferred lifetime of 0 and an infinite valid one: deprecated at
/// once, never expiring.
pub(super) fn add_message(ifindex: u32, addr: &Address, opts: AddOptions) -> AddressMessage {
    let mut message = AddressMessage::default();
    message.header.index = ifindex;
    message.header.prefix_len = addr.prefix();
    message.header.scope = AddressScope::Universe;
    let mut flags = AddressFlags::empty();
    if opts.noprefixroute {
        flags |= AddressFlags::Noprefixroute;
    }
    match addr.ip() {
        ip @ IpAddr::V4(_) => {
            message.header.family = AddressFamily::Inet;
            message.attributes.push(AddressAttribute::Local(ip));
            message.attributes.push(AddressAttribute::Address(ip));
            if let Some(b) = addr.broadcast_v4() {
                message.attributes.push(AddressAttribute::Broadcast(b));
            }
        }
        ip @ IpAddr::V6(_) => {
            message.header.family = AddressFamily::Inet6;
            message.header.flags = AddressHeaderFlags::Nodad;
            flags |= AddressFlags::Nodad;
            message.attributes.push(AddressAttribute::Address(ip));
        }
    }
    if !flags.is_empty() {
        message.attributes.push(AddressAttribute::Flags(flags));
    }
    if opts.never_as_source {
        let mut lifetimes = CacheInfo::default();
        lifetimes.ifa_preferred = 0;
        lifetimes.ifa_valid = INFINITY_LIFE_TIME;
        message
            .attributes
            .push(AddressAttribute::CacheInfo(lifetimes));
    }
    message
}

/// The request that deletes `ip/prefix` from interface `ifindex`. The
/// address attribute is included so that the kernel never removes another
/// address of the interface.
pub(super) fn delete_message(ifindex: u32, ip: IpAddr, prefix: u8) -> AddressMessage {
    let mut message = AddressMessage::default();
    message.header.index = ifindex;
    message.header.prefix_len = prefix;
    match ip {
        IpAddr::V4(_) => {
            message.header.family = AddressFamily::Inet;
            message.attributes.push(AddressAttribute::Local(ip));
            message.attributes.push(AddressAttribute::Address(ip));
        }
        IpAddr::V6(_) => {
            message.header.family = AddressFamily::Inet6;
            message.attributes.push(AddressAttribute::Address(ip));
        }
    }
    message
}

#[cfg(test)]
mod tests {
    //! Each test runs on a thread inside a fresh network namespace, so it
    //! never sees or touches the host's interfaces. Addresses come from the
    //! documentation ranges only.

    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    use super::*;
    use crate::net::linux::netlink::test_support::{addr, in_netns, v4, veth, veth_up};

    const NOPREFIXROUTE: AddOptions = AddOptions {
        noprefixroute: true,
        never_as_source: false,
        source_rule_priority: 0,
    };

    /// Raw IFA_BROADCAST and IFA_FLAGS of `ip`, decoded with the crate's
    /// full parser (a cross-check of the selective one).
    fn raw_addr(nl: &Netlink, ip: IpAddr) -> Option<(Option<Ipv4Addr>, u32)> {
        let mut message = AddressMessage::default();
        message.header.family = Family::address_family(Some(Family::of(ip)));
        let mut out = Vec::new();
        nl.exchange(
            RouteNetlinkMessage::GetAddress(message),
            Expect::Dump,
            0,
            &mut out,
            |kind, payload| {
                use netlink_packet_core::Parseable;
                if kind != RTM_NEWADDR {
                    return Ok(None);
                }
                AddressMessage::parse(payload)
                    .map(Some)
                    .map_err(|e| ExchangeError::Malformed(e.to_string()))
            },
        )
        .expect("dump");
        let m = out.into_iter().find(|m| {
            m.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Address(x) if *x == ip))
        })?;
        let mut broadcast = None;
        let mut flags = u32::from(m.header.flags.bits());
        for a in &m.attributes {
            match a {
                AddressAttribute::Broadcast(b) => broadcast = Some(*b),
                AddressAttribute::Flags(f) => flags = f.bits(),
                _ => {}
            }
        }
        Some((broadcast, flags))
    }

    #[test]
    fn link_lookup_reports_index_mac_flags_and_carrier() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            assert_eq!(nl.link_by_name("a").expect("lookup"), None);
            let admin = veth();
            let a = nl.link_by_name("a").expect("lookup").expect("a exists");
            assert_eq!(a.name, "a");
            assert!(a.index > 1);
            assert!(a.mac.is_some_and(|m| m != Mac::default()));
            assert!(!a.admin_up);

            admin.set_up("a", true).expect("a up");
            let a = nl.link_by_name("a").expect("lookup").expect("a exists");
            assert!(a.admin_up);
            assert!(!a.carrier, "peer b is still down");

            admin.set_up("b", true).expect("b up");
            let a2 = nl
                .link_by_index(a.index)
                .expect("lookup")
                .expect("a by index");
            assert_eq!(a2.name, "a");
            assert!(a2.admin_up && a2.carrier);

            let names: Vec<String> = nl
                .links()
                .expect("links")
                .into_iter()
                .map(|l| l.name)
                .collect();
            for n in ["lo", "a", "b"] {
                assert!(names.iter().any(|x| x == n), "{n} in {names:?}");
            }
            assert_eq!(nl.link_by_index(999_999).expect("lookup"), None);
        });
    }

    #[test]
    fn ipv4_add_is_idempotent_and_sets_local_address_and_broadcast() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            let a = addr("198.51.100.10/24");
            nl.add_address(idx, &a, AddOptions::default()).expect("add");
            nl.add_address(idx, &a, AddOptions::default())
                .expect("second add is EEXIST = ok");
            let held: Vec<AddrRecord> = nl
                .addresses(Some(Family::V4))
                .expect("dump")
                .into_iter()
                .filter(|r| r.ip == a.ip())
                .collect();
            assert_eq!(held.len(), 1, "{held:?}");
            assert_eq!((held[0].ifindex, held[0].prefix), (idx, 24));
            let (broadcast, _) = raw_addr(&nl, a.ip()).expect("raw");
            assert_eq!(broadcast, Some(Ipv4Addr::new(198, 51, 100, 255)));
            // The family filter works: no IPv4 address in an IPv6 dump.
            assert!(
                nl.addresses(Some(Family::V6))
                    .expect("dump")
                    .iter()
                    .all(|r| r.ip.is_ipv6())
            );
        });
    }

    #[test]
    fn delete_matches_the_address_and_prefix_and_is_idempotent() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            nl.add_address(idx, &addr("198.51.100.10/24"), AddOptions::default())
                .expect("add .10");
            nl.add_address(idx, &addr("198.51.100.11/24"), AddOptions::default())
                .expect("add .11");
            let on_a = |nl: &Netlink| -> Vec<IpAddr> {
                nl.addresses(Some(Family::V4))
                    .expect("dump")
                    .into_iter()
                    .filter(|r| r.ifindex == idx)
                    .map(|r| r.ip)
                    .collect()
            };
            // Wrong prefix length: the kernel finds nothing, nothing goes.
            nl.delete_address(idx, v4("198.51.100.11"), 25)
                .expect("no-op delete");
            assert_eq!(on_a(&nl).len(), 2);
            // .11 is the secondary (deleting the primary .10 would take its
            // secondaries along unless promote_secondaries is set).
            nl.delete_address(idx, v4("198.51.100.11"), 24)
                .expect("delete");
            assert_eq!(on_a(&nl), vec![v4("198.51.100.10")], "only .11 is gone");
            nl.delete_address(idx, v4("198.51.100.11"), 24)
                .expect("second delete is ok");
        });
    }

    /// `never_as_source`: both families are added deprecated (the kernel
    /// sets IFA_F_DEPRECATED for a preferred lifetime of 0) and stay.
    #[test]
    fn never_as_source_adds_the_address_deprecated_in_both_families() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            let opts = AddOptions {
                never_as_source: true,
                ..AddOptions::default()
            };
            for text in ["198.51.100.10/24", "2001:db8:1::10/64"] {
                let a = addr(text);
                nl.add_address(idx, &a, opts).expect("add");
                let (_, flags) = raw_addr(&nl, a.ip()).expect("raw");
                assert_ne!(flags & 0x20, 0, "{text}: IFA_F_DEPRECATED");
                let plain = addr(&text.replace("10/", "11/"));
                nl.add_address(idx, &plain, AddOptions::default())
                    .expect("add");
                let (_, flags) = raw_addr(&nl, plain.ip()).expect("raw");
                assert_eq!(flags & 0x20, 0, "{text}: the plain one is not deprecated");
            }
        });
    }

    #[test]
    fn ipv6_add_is_usable_at_once_and_honours_noprefixroute() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            let a = addr("2001:db8:1::10/64");
            nl.add_address(idx, &a, NOPREFIXROUTE).expect("add");
            nl.add_address(idx, &a, NOPREFIXROUTE).expect("add again");
            let r = nl
                .addresses(Some(Family::V6))
                .expect("dump")
                .into_iter()
                .find(|r| r.ip == a.ip())
                .expect("present");
            assert_eq!((r.ifindex, r.prefix), (idx, 64));
            assert!(!r.tentative && !r.dadfailed, "{r:?}");
            let (_, flags) = raw_addr(&nl, a.ip()).expect("raw");
            assert_ne!(flags & 0x02, 0, "IFA_F_NODAD");
            assert_ne!(flags & 0x200, 0, "IFA_F_NOPREFIXROUTE");
            nl.delete_address(idx, a.ip(), 64).expect("delete");
            assert!(
                nl.addresses(Some(Family::V6))
                    .expect("dump")
                    .iter()
                    .all(|r| r.ip != a.ip())
            );
        });
    }

    #[test]
    fn delete_neighbours_removes_every_entry_for_the_address_only() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let ia = nl.link_by_name("a").expect("lookup").expect("a").index;
            let ib = nl.link_by_name("b").expect("lookup").expect("b").index;
            let vip = v4("198.51.100.20");
            let other = v4("198.51.100.21");
            let vip6: IpAddr = "2001:db8::20".parse().expect("v6");
            nl.add_neighbour(ia, vip, Mac([2, 0, 0, 0, 0, 1]))
                .expect("neigh");
            nl.add_neighbour(ib, vip, Mac([2, 0, 0, 0, 0, 2]))
                .expect("neigh");
            nl.add_neighbour(ia, other, Mac([2, 0, 0, 0, 0, 3]))
                .expect("neigh");
            nl.add_neighbour(ia, vip6, Mac([2, 0, 0, 0, 0, 4]))
                .expect("neigh");
            let n = nl.neighbours(None).expect("dump");
            let e = n
                .iter()
                .find(|n| n.ip == vip && n.ifindex == ia)
                .expect("entry");
            assert_eq!(e.mac, Some(Mac([2, 0, 0, 0, 0, 1])));

            assert_eq!(nl.delete_neighbours(vip).expect("flush"), 2);
            let n = nl.neighbours(None).expect("dump");
            assert!(n.iter().all(|n| n.ip != vip), "{n:?}");
            assert!(n.iter().any(|n| n.ip == other));
            assert!(n.iter().any(|n| n.ip == vip6));
            assert_eq!(nl.delete_neighbours(vip).expect("flush again"), 0);
            assert_eq!(nl.delete_neighbours(vip6).expect("flush v6"), 1);
        });
    }

    #[test]
    fn dumps_stay_consistent_while_the_table_changes() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            // Enough addresses that a dump spans several datagrams.
            let stable: Vec<IpAddr> = (1..=600u16)
                .map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, i)))
                .collect();
            for ip in &stable {
                nl.add_address(
                    idx,
                    &Address::new(*ip, 128).expect("addr"),
                    AddOptions::default(),
                )
                .expect("add");
            }
            /// Stops the churn when dropped, also while a failed assertion
            /// unwinds (the scope would otherwise wait for it forever).
            struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
            impl Drop for Stop<'_> {
                fn drop(&mut self) {
                    self.0.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let stop = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|s| {
                // Churn on another socket of the same namespace.
                s.spawn(|| {
                    let nl2 = Netlink::open().expect("open");
                    let extra = addr("2001:db8:3::1/128");
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        nl2.add_address(idx, &extra, AddOptions::default())
                            .expect("add");
                        nl2.delete_address(idx, extra.ip(), 128).expect("delete");
                        // Load generation, not a wait: a change every
                        // millisecond or so, as a busy host might see.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                });
                let _stop = Stop(&stop);
                for _ in 0..50 {
                    let got = nl.addresses(Some(Family::V6)).expect("dump");
                    let mut seen: Vec<IpAddr> = got
                        .iter()
                        .filter(|r| stable.contains(&r.ip))
                        .map(|r| r.ip)
                        .collect();
                    seen.sort();
                    seen.dedup();
                    let n = got.iter().filter(|r| stable.contains(&r.ip)).count();
                    assert_eq!(
                        (seen.len(), n),
                        (stable.len(), stable.len()),
                        "a dump lost or repeated entries"
                    );
                }
            });
        });
    }

    #[test]
    fn errno_is_kept() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            let e = nl
                .add_address(999_999, &addr("198.51.100.10/24"), AddOptions::default())
                .expect_err("no such link");
            assert_eq!(e.errno, libc::ENODEV);
            assert_eq!(e.op, KernelOp::AddAddress);
            let e = nl
                .add_neighbour(999_999, v4("198.51.100.20"), Mac([2, 0, 0, 0, 0, 1]))
                .expect_err("no such link");
            assert_eq!(e.errno, libc::ENODEV);
            assert_eq!(e.op, KernelOp::AddNeighbour);
        });
    }
}
