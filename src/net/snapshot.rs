//! One reading of every adapter and every address of the node, the one
//! rule for "which adapters hold this address" (SPEC §2), and a read-only
//! [`Kernel`] answered from such a reading.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::{
    AddOptions, AnnouncePlan, Kernel, KernelError, KernelOp, LinkInfo, LinkState, LinkStatus,
    ProbeResult,
};
use crate::resource::{AdapterName, Address};

/// One address on one adapter, as a backend lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressEntry {
    pub ifindex: u32,
    pub ip: IpAddr,
    pub prefix: u8,
}

/// SPEC §2 "which adapters hold this address": the adapters with an
/// address equal to `ip` (any prefix length), each once, in the order the
/// backend listed them. `name_of` turns an ifindex into its adapter; an
/// adapter that has vanished since the listing (None) holds nothing.
pub fn holders_in<E>(
    addresses: &[AddressEntry],
    ip: IpAddr,
    mut name_of: impl FnMut(u32) -> Result<Option<AdapterName>, E>,
) -> Result<Vec<AdapterName>, E> {
    let mut seen: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    for a in addresses.iter().filter(|a| a.ip == ip) {
        if seen.contains(&a.ifindex) {
            continue;
        }
        seen.push(a.ifindex);
        if let Some(name) = name_of(a.ifindex)? {
            out.push(name);
        }
    }
    Ok(out)
}

/// Every link and every address, read once ([`Kernel::snapshot`]).
#[derive(Debug, Clone, Default)]
pub struct NodeSnapshot {
    links: Vec<LinkStatus>,
    addresses: Vec<AddressEntry>,
    by_name: HashMap<AdapterName, usize>,
    by_index: HashMap<u32, usize>,
    /// The entries of each address, in listing order.
    by_ip: HashMap<IpAddr, Vec<AddressEntry>>,
}

impl NodeSnapshot {
    pub fn new(links: Vec<LinkStatus>, addresses: Vec<AddressEntry>) -> Self {
        let by_name = links
            .iter()
            .enumerate()
            .map(|(i, l)| (l.name.clone(), i))
            .collect();
        let by_index = links
            .iter()
            .enumerate()
            .map(|(i, l)| (l.ifindex, i))
            .collect();
        let mut by_ip: HashMap<IpAddr, Vec<AddressEntry>> = HashMap::new();
        for a in &addresses {
            by_ip.entry(a.ip).or_default().push(*a);
        }
        Self {
            links,
            addresses,
            by_name,
            by_index,
            by_ip,
        }
    }

    pub fn links(&self) -> &[LinkStatus] {
        &self.links
    }

    pub fn addresses(&self) -> &[AddressEntry] {
        &self.addresses
    }

    pub fn link(&self, name: &AdapterName) -> Option<&LinkStatus> {
        self.by_name.get(name).map(|i| &self.links[*i])
    }

    pub fn link_by_index(&self, ifindex: u32) -> Option<&LinkStatus> {
        self.by_index.get(&ifindex).map(|i| &self.links[*i])
    }

    /// The cable state; an adapter not in the snapshot is missing.
    pub fn link_state(&self, name: &AdapterName) -> LinkState {
        self.link(name)
            .map(LinkStatus::state)
            .unwrap_or(LinkState::Missing)
    }

    /// Every adapter that holds `ip` ([`holders_in`]).
    pub fn holders(&self, ip: IpAddr) -> Vec<AdapterName> {
        let Some(entries) = self.by_ip.get(&ip) else {
            return Vec::new();
        };
        let Ok(names) = holders_in::<std::convert::Infallible>(entries, ip, |index| {
            Ok(self.link_by_index(index).map(|l| l.name.clone()))
        });
        names
    }
}

/// The read side of [`Kernel`] answered from a snapshot. Anything that
/// would change the system is refused: only quickCheck runs on it.
pub struct SnapshotKernel<'a>(pub &'a NodeSnapshot);

fn refused(op: KernelOp) -> KernelError {
    KernelError::with_message(op, None, libc::EROFS, "read-only snapshot")
}

impl Kernel for SnapshotKernel<'_> {
    fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError> {
        self.0.link(adapter).map(LinkStatus::info).ok_or_else(|| {
            KernelError::new(KernelOp::GetLink, Some(adapter.to_string()), libc::ENODEV)
        })
    }

    fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
        Ok(self.0.holders(ip))
    }

    fn snapshot(&self) -> Result<NodeSnapshot, KernelError> {
        Ok(self.0.clone())
    }

    fn add_address(&self, _: &AdapterName, _: &Address, _: AddOptions) -> Result<(), KernelError> {
        Err(refused(KernelOp::AddAddress))
    }

    fn delete_address(&self, _: &AdapterName, _: &Address) -> Result<(), KernelError> {
        Err(refused(KernelOp::DeleteAddress))
    }

    fn flush_neighbours(&self, _: IpAddr) -> Result<(), KernelError> {
        Err(refused(KernelOp::FlushNeighbours))
    }

    fn announce(&self, _: &AdapterName, _: IpAddr, _: AnnouncePlan) -> Result<(), KernelError> {
        Err(refused(KernelOp::Announce))
    }

    fn probe(&self, _: &AdapterName, _: IpAddr, _: Duration) -> Result<ProbeResult, KernelError> {
        Err(refused(KernelOp::Probe))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Mac;

    fn link(name: &str, ifindex: u32, carrier: bool) -> LinkStatus {
        LinkStatus {
            name: AdapterName::new(name).unwrap(),
            ifindex,
            mac: Some(Mac([2, 0, 0, 0, 0, ifindex as u8])),
            admin_up: true,
            carrier,
        }
    }

    fn addr(ifindex: u32, ip: &str, prefix: u8) -> AddressEntry {
        AddressEntry {
            ifindex,
            ip: ip.parse().unwrap(),
            prefix,
        }
    }

    #[test]
    fn holders_each_once_in_listing_order_and_vanished_hold_nothing() {
        let snap = NodeSnapshot::new(
            vec![link("eth0", 2, true), link("eth1", 3, false)],
            vec![
                addr(3, "198.51.100.10", 24),
                addr(2, "198.51.100.10", 32),
                addr(3, "198.51.100.10", 32),
                addr(9, "198.51.100.10", 24),
                addr(2, "198.51.100.11", 24),
            ],
        );
        let ip = "198.51.100.10".parse().unwrap();
        let names: Vec<String> = snap.holders(ip).iter().map(|a| a.to_string()).collect();
        assert_eq!(names, ["eth1", "eth0"]);
        assert!(snap.holders("203.0.113.1".parse().unwrap()).is_empty());
        let eth1 = AdapterName::new("eth1").unwrap();
        assert_eq!(snap.link_state(&eth1), LinkState::Disconnected);
        assert_eq!(
            snap.link_state(&AdapterName::new("eth7").unwrap()),
            LinkState::Missing
        );
    }

    #[test]
    fn the_snapshot_kernel_reads_and_refuses_changes() {
        let snap = NodeSnapshot::new(vec![link("eth0", 2, true)], vec![]);
        let k = SnapshotKernel(&snap);
        let eth0 = AdapterName::new("eth0").unwrap();
        assert_eq!(k.link(&eth0).unwrap().ifindex, 2);
        assert_eq!(
            k.link(&AdapterName::new("eth9").unwrap())
                .unwrap_err()
                .errno,
            libc::ENODEV
        );
        let a: Address = "198.51.100.10/24".parse().unwrap();
        assert_eq!(
            k.add_address(&eth0, &a, AddOptions::default())
                .unwrap_err()
                .errno,
            libc::EROFS
        );
    }
}
