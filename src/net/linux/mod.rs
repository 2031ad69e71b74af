//! The Linux implementation of the kernel seam: netlink and `AF_PACKET`.
//!
//! [`LinuxKernel`] works in the network namespace of the thread that opened
//! it (its netlink socket is bound there); it keeps the packet sockets of
//! its announcements and probes open ([`packet::Sockets`]), so it must be
//! used in that namespace only.

use std::net::IpAddr;
use std::time::Duration;

use crate::net::snapshot::holders_in;
use crate::net::{
    AddOptions, AddressEntry, AnnouncePlan, Kernel, KernelError, KernelOp, LinkInfo, LinkState,
    LinkStatus, NodeSnapshot, ProbeResult,
};
use crate::resource::{AdapterName, Address};

pub mod changes;
mod deliverable;
pub mod netlink;
pub mod packet;
pub mod pdu;
pub mod source_route;

pub use changes::{LinuxBackend, LinuxChanges};
use netlink::{AddrRecord, Family, LinkRecord, Netlink};

/// The real kernel, over one netlink socket.
#[derive(Debug)]
pub struct LinuxKernel {
    nl: Netlink,
    sockets: packet::Sockets,
}

impl LinuxKernel {
    /// Open in the calling thread's network namespace.
    pub fn open() -> Result<Self, KernelError> {
        Ok(Self {
            nl: Netlink::open()?,
            sockets: packet::Sockets::new(),
        })
    }

    /// The netlink handle underneath, for callers that need more than the
    /// [`Kernel`] seam (the daemon's initial state, the lab).
    pub fn netlink(&self) -> &Netlink {
        &self.nl
    }

    fn require_link(&self, op: KernelOp, adapter: &AdapterName) -> Result<LinkRecord, KernelError> {
        match self.nl.link_by_name(adapter.as_str()) {
            Ok(Some(l)) => Ok(l),
            Ok(None) => Err(KernelError::new(
                op,
                Some(adapter.to_string()),
                libc::ENODEV,
            )),
            Err(mut e) => {
                e.op = op;
                Err(e)
            }
        }
    }
}

/// The seam's view of a netlink link record; None for a name that is not
/// a valid adapter name (the kernel never reports one).
pub(crate) fn link_status(l: &LinkRecord) -> Option<LinkStatus> {
    Some(LinkStatus {
        name: AdapterName::new(&l.name).ok()?,
        ifindex: l.index,
        mac: l.mac,
        admin_up: l.admin_up,
        carrier: l.carrier,
    })
}

fn address_entry(a: &AddrRecord) -> AddressEntry {
    AddressEntry {
        ifindex: a.ifindex,
        ip: a.ip,
        prefix: a.prefix,
    }
}

impl Kernel for LinuxKernel {
    fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError> {
        let l = self.require_link(KernelOp::GetLink, adapter)?;
        Ok(LinkInfo {
            name: adapter.clone(),
            ifindex: l.index,
            mac: l.mac.unwrap_or_default(),
            state: LinkState::from_flags(l.admin_up, l.carrier),
            carrier_changes: l.carrier_changes,
        })
    }

    /// One address dump, then one link request per holder.
    fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
        let addrs: Vec<AddressEntry> = self
            .nl
            .addresses(Some(Family::of(ip)))?
            .iter()
            .map(address_entry)
            .collect();
        holders_in(&addrs, ip, |index| {
            let Some(l) = self.nl.link_by_index(index)? else {
                return Ok(None);
            };
            AdapterName::new(&l.name).map(Some).map_err(|e| {
                KernelError::with_message(
                    KernelOp::DumpAddresses,
                    Some(format!("ifindex {index}")),
                    libc::EINVAL,
                    e.to_string(),
                )
            })
        })
    }

    /// One link dump and one address dump.
    fn snapshot(&self) -> Result<NodeSnapshot, KernelError> {
        let links = self.nl.links()?.iter().filter_map(link_status).collect();
        let addrs = self.nl.addresses(None)?.iter().map(address_entry).collect();
        Ok(NodeSnapshot::new(links, addrs))
    }

    fn add_address(
        &self,
        adapter: &AdapterName,
        addr: &Address,
        opts: AddOptions,
    ) -> Result<(), KernelError> {
        let l = self.require_link(KernelOp::AddAddress, adapter)?;
        // IPv6 on a connected adapter: subscribed before the add, to see
        // the address become deliverable (deliverable.rs). Nothing arrives
        // through an adapter without carrier: no reason to wait there.
        let mut monitor = if !addr.is_ipv4() && l.admin_up && l.carrier {
            Some(netlink::Monitor::open()?)
        } else {
            None
        };
        self.nl.add_address(l.index, addr, opts).map_err(|mut e| {
            e.target = Some(format!("{addr} on {adapter}"));
            e
        })?;
        if let Some(monitor) = monitor.as_mut() {
            deliverable::wait(&self.nl, monitor, addr.ip())?;
        }
        // Traffic from the address now leaves through this adapter
        // (docs/linux-backend.md, "Source routing").
        let family = Family::of(addr.ip());
        let addrs = self.nl.addresses(Some(family))?;
        let target = source_route::Target {
            holder: Some(l.index),
            priority: Some(opts.source_rule_priority),
        };
        let changes = source_route::follow(&self.nl, addr.ip(), target, &addrs)?;
        if !changes.is_empty() {
            source_route::purge_dead_adapters(&self.nl, family)?;
        }
        Ok(())
    }

    /// Deletes `addr`'s IP from `adapter` with whatever prefix length it
    /// has there (the kernel matches on the prefix, and the address may
    /// have been added by hand with another one).
    ///
    /// First stops the address's background announcement rounds (whoever
    /// started them in this namespace): an address being deleted or moved
    /// must not be announced again from here.
    fn delete_address(&self, adapter: &AdapterName, addr: &Address) -> Result<(), KernelError> {
        let l = self.require_link(KernelOp::DeleteAddress, adapter)?;
        let ip = addr.ip();
        packet::stop_announcing(ip);
        let present = self.nl.addresses(Some(Family::of(ip)))?;
        for a in present
            .iter()
            .filter(|a| a.ifindex == l.index && a.ip == ip)
        {
            self.nl
                .delete_address(l.index, ip, a.prefix)
                .map_err(|mut e| {
                    e.target = Some(format!("{ip}/{} on {adapter}", a.prefix));
                    e
                })?;
        }
        // Traffic from the address follows another adapter that still
        // holds it, or ipkit's rule and table go (docs/linux-backend.md,
        // "Source routing"). The priority stays whatever the rule has.
        let left: Vec<AddrRecord> = present
            .into_iter()
            .filter(|a| !(a.ifindex == l.index && a.ip == ip))
            .collect();
        let target = source_route::Target {
            holder: left.iter().find(|a| a.ip == ip).map(|a| a.ifindex),
            priority: None,
        };
        source_route::follow(&self.nl, ip, target, &left)?;
        Ok(())
    }

    /// Follows the adapter ipkit's table already uses when it still holds
    /// the address, else the first that does; none: the rule and table go.
    fn settle_routing(&self, addr: &Address, opts: AddOptions) -> Result<Vec<String>, KernelError> {
        let ip = addr.ip();
        let addrs = self.nl.addresses(Some(Family::of(ip)))?;
        let holders: Vec<u32> = addrs
            .iter()
            .filter(|a| a.ip == ip)
            .map(|a| a.ifindex)
            .collect();
        let current = source_route::current_holder(&self.nl, ip)?;
        let target = source_route::Target {
            holder: current
                .filter(|c| holders.contains(c))
                .or(holders.first().copied()),
            priority: Some(opts.source_rule_priority),
        };
        source_route::follow(&self.nl, ip, target, &addrs)
    }

    fn policy_rules(&self) -> Result<crate::net::PolicyRules, KernelError> {
        source_route::policy_rules(&self.nl)
    }

    fn flush_neighbours(&self, ip: IpAddr) -> Result<(), KernelError> {
        self.nl.delete_neighbours(ip).map(|_| ())
    }

    fn announce(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        plan: AnnouncePlan,
    ) -> Result<(), KernelError> {
        let l = self.require_link(KernelOp::Announce, adapter)?;
        let mac = l.mac.unwrap_or_default();
        self.sockets
            .announce(l.index, mac, ip, plan)
            .map_err(|mut e| {
                e.target = Some(format!("{ip} on {adapter}"));
                e
            })
    }

    fn probe(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<ProbeResult, KernelError> {
        let l = self.require_link(KernelOp::Probe, adapter)?;
        let mac = l.mac.unwrap_or_default();
        self.sockets
            .probe(l.index, mac, ip, timeout)
            .map_err(|mut e| {
                e.target = Some(format!("{ip} on {adapter}"));
                e
            })
    }

    fn same_segment(
        &self,
        from: &AdapterName,
        to: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<bool, KernelError> {
        let end = |adapter: &AdapterName| -> Result<packet::End, KernelError> {
            let l = self.require_link(KernelOp::Probe, adapter)?;
            Ok(packet::End {
                ifindex: l.index,
                mac: l.mac.unwrap_or_default(),
            })
        };
        self.sockets
            .same_segment(end(from)?, end(to)?, ip, timeout)
            .map_err(|mut e| {
                e.target = Some(format!("{ip} from {from} to {to}"));
                e
            })
    }
}
