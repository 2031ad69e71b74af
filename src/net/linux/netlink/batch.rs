//! Route operations on many addresses at once (issue 11): adds, deletes, neighbour flushes and source-routing changes sent pipelined over one socket.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::RouteNetlinkMessage;

use super::route::{Family, add_message, delete_message, neighbour_message};
use super::rule::SourceRule;
use super::socket::{ExchangeError, Netlink};
use super::table::TableRoute;
use crate::net::{AddOptions, KernelError, KernelOp};
use crate::resource::Address;

/// The one family of `ips`, or None (all) when they mix both.
fn family_of(ips: &[IpAddr]) -> Option<Family> {
    let first = Family::of(*ips.first()?);
    ips.iter()
        .all(|ip| Family::of(*ip) == first)
        .then_some(first)
}

/// One change to ipkit's source routing (docs/linux-backend.md, "Source
/// routing"), for [`Netlink::change_routing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutingChange {
    AddRule(SourceRule),
    /// Add the rule even when an identical one is there: a second copy
    /// (no `NLM_F_EXCL`). With [`RoutingChange::DeleteRule`] of the same
    /// rule right after, it changes nothing but what every rule change
    /// does: the kernel drops its cached routes (IPv6: `rt_genid_bump_ipv6`;
    /// see `source_route::settle`).
    CopyRule(SourceRule),
    DeleteRule(SourceRule),
    /// Add the route, replacing the one with the same key in its table.
    ReplaceRoute(TableRoute),
    DeleteRoute(TableRoute),
}

impl std::fmt::Display for RoutingChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoutingChange::AddRule(rule) => write!(f, "{rule}"),
            RoutingChange::CopyRule(rule) => write!(f, "copied {rule}"),
            RoutingChange::DeleteRule(rule) => write!(f, "deleted {rule}"),
            RoutingChange::ReplaceRoute(route) => write!(f, "route {route}"),
            RoutingChange::DeleteRoute(route) => write!(f, "deleted route {route}"),
        }
    }
}

impl RoutingChange {
    fn request(&self) -> (RouteNetlinkMessage, u16) {
        match self {
            RoutingChange::AddRule(rule) => (
                RouteNetlinkMessage::NewRule(rule.message()),
                NLM_F_CREATE | NLM_F_EXCL,
            ),
            RoutingChange::CopyRule(rule) => {
                (RouteNetlinkMessage::NewRule(rule.message()), NLM_F_CREATE)
            }
            RoutingChange::DeleteRule(rule) => (RouteNetlinkMessage::DelRule(rule.message()), 0),
            RoutingChange::ReplaceRoute(route) => (
                RouteNetlinkMessage::NewRoute(route.message()),
                NLM_F_CREATE | NLM_F_REPLACE,
            ),
            RoutingChange::DeleteRoute(route) => {
                (RouteNetlinkMessage::DelRoute(route.message()), 0)
            }
        }
    }

    /// Does `errno` mean the change was there already (an identical rule
    /// added, a rule or route already gone)?
    fn done_already(&self, errno: i32) -> bool {
        match self {
            RoutingChange::AddRule(_) => errno == libc::EEXIST,
            RoutingChange::CopyRule(_) => false,
            RoutingChange::DeleteRule(_) => errno == libc::ENOENT,
            RoutingChange::ReplaceRoute(_) => false,
            RoutingChange::DeleteRoute(_) => matches!(errno, libc::ESRCH | libc::ENOENT),
        }
    }
}

impl Netlink {
    /// Add each `(ifindex, address, options)` as
    /// [`Netlink::add_address`] does, pipelined. EEXIST counts as done.
    pub fn add_addresses(
        &self,
        adds: &[(u32, Address, AddOptions)],
    ) -> Vec<Result<(), KernelError>> {
        let requests = adds
            .iter()
            .map(|(ifindex, addr, opts)| {
                let message = add_message(*ifindex, addr, *opts);
                (
                    RouteNetlinkMessage::NewAddress(message),
                    NLM_F_CREATE | NLM_F_EXCL,
                )
            })
            .collect();
        self.pipeline(requests)
            .into_iter()
            .zip(adds)
            .map(|(result, (ifindex, addr, _))| match result {
                Ok(()) | Err(ExchangeError::Errno(libc::EEXIST)) => Ok(()),
                Err(e) => Err(e.into_kernel(
                    KernelOp::AddAddress,
                    Some(format!("{addr} ifindex {ifindex}")),
                )),
            })
            .collect()
    }

    /// Delete each `(ifindex, ip, prefix)` as [`Netlink::delete_address`]
    /// does, pipelined. ENOENT / EADDRNOTAVAIL count as done.
    pub fn delete_addresses(&self, deletes: &[(u32, IpAddr, u8)]) -> Vec<Result<(), KernelError>> {
        let requests = deletes
            .iter()
            .map(|(ifindex, ip, prefix)| {
                let message = delete_message(*ifindex, *ip, *prefix);
                (RouteNetlinkMessage::DelAddress(message), 0)
            })
            .collect();
        self.pipeline(requests)
            .into_iter()
            .zip(deletes)
            .map(|(result, (ifindex, ip, prefix))| match result {
                Ok(()) | Err(ExchangeError::Errno(libc::ENOENT | libc::EADDRNOTAVAIL)) => Ok(()),
                Err(e) => Err(e.into_kernel(
                    KernelOp::DeleteAddress,
                    Some(format!("{ip}/{prefix} ifindex {ifindex}")),
                )),
            })
            .collect()
    }

    /// Make each change as [`Netlink::add_rule`], [`Netlink::delete_rule`],
    /// [`Netlink::replace_route`] and [`Netlink::delete_route`] do,
    /// pipelined, in order (the kernel handles them one after another).
    pub fn change_routing(&self, changes: &[RoutingChange]) -> Vec<Result<(), KernelError>> {
        let requests = changes.iter().map(RoutingChange::request).collect();
        self.pipeline(requests)
            .into_iter()
            .zip(changes)
            .map(|(result, change)| match result {
                Ok(()) => Ok(()),
                Err(ExchangeError::Errno(errno)) if change.done_already(errno) => Ok(()),
                Err(e) => {
                    let op = match change {
                        RoutingChange::AddRule(_)
                        | RoutingChange::CopyRule(_)
                        | RoutingChange::DeleteRule(_) => KernelOp::Rule,
                        _ => KernelOp::Route,
                    };
                    Err(e.into_kernel(op, Some(change.to_string())))
                }
            })
            .collect()
    }

    /// Delete every neighbour entry of each of `ips`, on every interface:
    /// one dump, then the deletes pipelined. How many entries went, per ip.
    pub fn delete_neighbours_of(&self, ips: &[IpAddr]) -> Vec<Result<usize, KernelError>> {
        if ips.is_empty() {
            return Vec::new();
        }
        let entries = match self.neighbours(family_of(ips)) {
            Ok(entries) => entries,
            Err(e) => return ips.iter().map(|_| Err(e.clone())).collect(),
        };
        let doomed: Vec<(usize, u32, IpAddr)> = entries
            .iter()
            .filter_map(|n| {
                let owner = ips.iter().position(|ip| *ip == n.ip)?;
                Some((owner, n.ifindex, n.ip))
            })
            .collect();
        let requests = doomed
            .iter()
            .map(|(_, ifindex, ip)| {
                let message = neighbour_message(*ifindex, *ip);
                (RouteNetlinkMessage::DelNeighbour(message), 0)
            })
            .collect();
        let mut out: Vec<Result<usize, KernelError>> = ips.iter().map(|_| Ok(0)).collect();
        for ((owner, ifindex, ip), result) in doomed.iter().zip(self.pipeline(requests)) {
            let Ok(deleted) = &mut out[*owner] else {
                continue; // the first error of this ip is kept
            };
            match result {
                Ok(()) => *deleted += 1,
                // Gone meanwhile (expired or deleted by someone else).
                Err(ExchangeError::Errno(libc::ENOENT)) => {}
                Err(e) => {
                    out[*owner] = Err(e.into_kernel(
                        KernelOp::FlushNeighbours,
                        Some(format!("{ip} ifindex {ifindex}")),
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    //! In a fresh network namespace each, documentation addresses only.

    use super::*;
    use crate::net::linux::netlink::test_support::{addr, in_netns, v4, veth_up};
    use crate::resource::Mac;

    #[test]
    fn pipelined_adds_and_deletes_answer_each_request_in_order() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            // More than one pipelined window, IPv4 and IPv6 mixed, one add
            // to an interface that does not exist.
            let mut adds: Vec<(u32, Address, AddOptions)> = (0..150u16)
                .map(|i| {
                    let a = if i % 2 == 0 {
                        format!("198.51.100.{}/24", 10 + i / 2)
                    } else {
                        format!("2001:db8:5::{:x}/64", 0x10 + i)
                    };
                    (idx, addr(&a), AddOptions::default())
                })
                .collect();
            adds.insert(70, (999_999, addr("203.0.113.7/24"), AddOptions::default()));
            let results = nl.add_addresses(&adds);
            assert_eq!(results.len(), adds.len());
            for (i, r) in results.iter().enumerate() {
                if i == 70 {
                    assert_eq!(r.as_ref().expect_err("no such link").errno, libc::ENODEV);
                } else {
                    assert!(r.is_ok(), "{i}: {r:?}");
                }
            }
            let held = nl.addresses(None).expect("dump");
            for (ifindex, a, _) in adds.iter().filter(|(i, _, _)| *i == idx) {
                assert!(
                    held.iter().any(|h| h.ip == a.ip() && h.ifindex == *ifindex),
                    "{a} added"
                );
            }
            // Again: EEXIST counts as done.
            assert!(nl.add_addresses(&adds[..3]).iter().all(Result::is_ok));

            // Secondaries first (deleting the primary 198.51.100.10 would
            // take them along), then an address that is not there.
            let mut deletes: Vec<(u32, IpAddr, u8)> = adds
                .iter()
                .filter(|(i, _, _)| *i == idx)
                .map(|(i, a, _)| (*i, a.ip(), a.prefix()))
                .rev()
                .collect();
            deletes.push((idx, v4("203.0.113.99"), 24));
            let results = nl.delete_addresses(&deletes);
            assert_eq!(results.len(), deletes.len());
            assert!(results.iter().all(Result::is_ok), "{results:?}");
            let held = nl.addresses(None).expect("dump");
            assert!(
                held.iter()
                    .all(|h| !adds.iter().any(|(_, a, _)| a.ip() == h.ip)),
                "{held:?}"
            );
        });
    }

    #[test]
    fn neighbours_of_several_addresses_are_flushed_at_once() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let ia = nl.link_by_name("a").expect("lookup").expect("a").index;
            let ib = nl.link_by_name("b").expect("lookup").expect("b").index;
            let one = v4("198.51.100.20");
            let two: IpAddr = "2001:db8::20".parse().expect("v6");
            let other = v4("198.51.100.21");
            for (i, (ifindex, ip)) in [(ia, one), (ib, one), (ia, two), (ia, other)]
                .into_iter()
                .enumerate()
            {
                nl.add_neighbour(ifindex, ip, Mac([2, 0, 0, 0, 0, i as u8 + 1]))
                    .expect("neigh");
            }
            let counts: Vec<usize> = nl
                .delete_neighbours_of(&[one, two, v4("198.51.100.22")])
                .into_iter()
                .map(|r| r.expect("flushed"))
                .collect();
            assert_eq!(counts, [2, 1, 0]);
            let left = nl.neighbours(None).expect("dump");
            assert!(left.iter().all(|n| n.ip != one && n.ip != two), "{left:?}");
            assert!(left.iter().any(|n| n.ip == other));
        });
    }
}
