//! The Linux implementation of the kernel seam: netlink and `AF_PACKET`.
//!
//! [`LinuxKernel`] works in the network namespace of the thread that opened
//! it (its netlink socket is bound there); it keeps the packet sockets of
//! its announcements and probes open ([`packet::Sockets`]), so it must be
//! used in that namespace only.

use std::net::IpAddr;
use std::time::Duration;

use crate::net::{
    AddOptions, AddRequest, AddressEntry, AnnouncePlan, AnnounceRequest, DeleteRequest, Kernel,
    KernelError, KernelOp, LinkInfo, LinkState, LinkStatus, NodeSnapshot, ProbeResult, Routing,
};
use crate::resource::{AdapterName, Address};

mod batch;
pub mod changes;
mod deliverable;
pub mod netlink;
pub mod packet;
pub mod pdu;
pub mod source_route;

pub use changes::{LinuxBackend, LinuxChanges};
use netlink::{AddrRecord, LinkRecord, Netlink};

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

    /// [`LinuxKernel::open`] for a long-lived process (the daemon): later
    /// announcement rounds go out from a thread of this process instead of
    /// a detached child (see [`packet::Background`]).
    pub fn open_long_lived() -> Result<Self, KernelError> {
        Ok(Self {
            nl: Netlink::open()?,
            sockets: packet::Sockets::long_lived(),
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

/// The seam's view of the link `name` as a netlink link record shows it.
fn link_info(name: AdapterName, l: &LinkRecord) -> LinkInfo {
    LinkInfo {
        name,
        ifindex: l.index,
        mac: l.mac.unwrap_or_default(),
        state: LinkState::from_flags(l.admin_up, l.carrier),
        carrier_changes: l.carrier_changes,
    }
}

pub(crate) fn address_entry(a: &AddrRecord) -> AddressEntry {
    AddressEntry {
        ifindex: a.ifindex,
        ip: a.ip,
        prefix: a.prefix,
    }
}

impl Kernel for LinuxKernel {
    fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError> {
        let l = self.require_link(KernelOp::GetLink, adapter)?;
        Ok(link_info(adapter.clone(), &l))
    }

    /// One address dump, then one link request per holder.
    fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
        single(self.holders_of_ips(&[ip]))
    }

    /// [`Kernel::holders`] and the links it read to name the holders.
    fn holders_and_links(
        &self,
        ip: IpAddr,
    ) -> Result<(Vec<AdapterName>, Vec<LinkInfo>), KernelError> {
        let (mut held, records) = self.holders_reading_links(&[ip]);
        let names = held.pop().unwrap_or_else(|| Ok(Vec::new()))?;
        let links = names
            .iter()
            .filter_map(|name| {
                let l = records.iter().find(|l| l.name == name.as_str())?;
                Some(link_info(name.clone(), l))
            })
            .collect();
        Ok((names, links))
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
        single(self.add_all(&[AddRequest {
            adapter: adapter.clone(),
            address: *addr,
            opts,
            routing: Routing::Follow,
        }]))
    }

    /// See [`LinuxKernel::delete_addresses`]: stops the address's
    /// background rounds first, then deletes it with whatever prefix it has.
    fn delete_address(&self, adapter: &AdapterName, addr: &Address) -> Result<(), KernelError> {
        single(self.delete_all(&[DeleteRequest {
            adapter: adapter.clone(),
            address: *addr,
            routing: Routing::Follow,
        }]))
    }

    /// Follows the adapter ipkit's table already uses when it still holds
    /// the address, else the first that does; none: the rule and table go.
    fn settle_routing(&self, addr: &Address, opts: AddOptions) -> Result<Vec<String>, KernelError> {
        single(self.settle_routing_many(&[(*addr, opts)]))
    }

    /// One address dump, then `source_route::settle_all`: one rules dump
    /// and one dump of every table per family, the changes pipelined.
    fn settle_routing_many(
        &self,
        requests: &[(Address, AddOptions)],
    ) -> Vec<Result<Vec<String>, KernelError>> {
        if requests.is_empty() {
            return Vec::new();
        }
        let family = batch::family_of(requests.iter().map(|(a, _)| a.ip()));
        let addrs = match self.nl.addresses(family) {
            Ok(addrs) => addrs,
            Err(e) => return requests.iter().map(|_| Err(e.clone())).collect(),
        };
        let wanted: Vec<(IpAddr, source_route::Aim)> = requests
            .iter()
            .map(|(addr, opts)| {
                let ip = addr.ip();
                let holders = addrs
                    .iter()
                    .filter(|a| a.ip == ip)
                    .map(|a| a.ifindex)
                    .collect();
                let priority = opts.source_rule_priority;
                (ip, source_route::Aim::Settle { holders, priority })
            })
            .collect();
        source_route::settle_all(&self.nl, &wanted, &addrs)
    }

    fn policy_rules(&self) -> Result<crate::net::PolicyRules, KernelError> {
        source_route::policy_rules(&self.nl)
    }

    fn flush_neighbours(&self, ip: IpAddr) -> Result<(), KernelError> {
        single(self.flush_all(&[ip]))
    }

    fn announce(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        plan: AnnouncePlan,
    ) -> Result<(), KernelError> {
        single(self.announce_all(&[AnnounceRequest {
            adapter: adapter.clone(),
            ip,
            plan,
        }]))
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

    fn link_states(&self, adapters: &[AdapterName]) -> Vec<Result<LinkState, KernelError>> {
        self.link_states_of(adapters)
    }

    fn holders_of(&self, ips: &[IpAddr]) -> Vec<Result<Vec<AdapterName>, KernelError>> {
        self.holders_of_ips(ips)
    }

    fn add_addresses(&self, requests: &[AddRequest]) -> Vec<Result<(), KernelError>> {
        self.add_all(requests)
    }

    /// Stops the addresses' background rounds first (see
    /// [`packet::stop_announcing_all`]), then one address dump and the
    /// deletes pipelined.
    fn delete_addresses(&self, requests: &[DeleteRequest]) -> Vec<Result<(), KernelError>> {
        self.delete_all(requests)
    }

    fn flush_neighbours_of(&self, ips: &[IpAddr]) -> Vec<Result<(), KernelError>> {
        self.flush_all(ips)
    }

    fn announce_addresses(&self, requests: &[AnnounceRequest]) -> Vec<Result<(), KernelError>> {
        self.announce_all(requests)
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

/// The one result of a batch of one.
fn single<T>(mut results: Vec<Result<T, KernelError>>) -> Result<T, KernelError> {
    results.pop().unwrap_or_else(|| {
        Err(KernelError::with_message(
            KernelOp::Open,
            None,
            libc::EIO,
            "no result",
        ))
    })
}
