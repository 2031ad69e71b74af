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
pub mod netlink;
pub mod packet;
pub mod pdu;

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
        self.nl
            .add_address(l.index, addr, opts.noprefixroute)
            .map_err(|mut e| {
                e.target = Some(format!("{addr} on {adapter}"));
                e
            })
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
        Ok(())
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
