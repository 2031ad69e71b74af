//! [`WindowsKernel`]: the kernel seam (SPEC §2) on the IP Helper API, one
//! [`IpHelper`] call at a time. The seed's mechanisms map as follows:
//!
//! | seed | here |
//! |---|---|
//! | NIC cable CONNECTED/DISCONNECTED | `GetIfTable2`: `MediaConnectState` and `AdminStatus`, through [`LinkState::from_flags`] |
//! | `ips_ipchange -l` | `GetUnicastIpAddressTable` |
//! | `ips_ipchange -a` | `CreateUnicastIpAddressEntry`, DAD skipped (`IpDadStatePreferred`) |
//! | `ips_ipchange -d` | `DeleteUnicastIpAddressEntry` |
//! | `arp -d IP` | `GetIpNetTable2`, then `DeleteIpNetEntry2` of each entry of the address |
//! | `ips_arpupdate` | Windows' own announcement of an added address, then `ResolveIpNetEntry2` of each known neighbour from the address (module `announce`) |
//! | "is the VIP in use?" | `ResolveIpNetEntry2` on the adapter (`SendARP` where that call is missing, IPv4) |
//!
//! An adapter is named by its interface alias (its friendly name) or by
//! its GUID (`{...}`, as the seed names adapters).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use super::announce;
use super::iphelper::{
    DadState, Family, Guid, IfRow, IpHelper, NewUnicast, UnicastRow, Win32Error,
};
use crate::net::snapshot::holders_in;
use crate::net::{
    AddOptions, AddressEntry, AnnouncePlan, Kernel, KernelError, KernelOp, LinkInfo, LinkState,
    LinkStatus, NodeSnapshot, ProbeResult,
};
use crate::resource::{AdapterName, Address};

/// The kernel seam on an [`IpHelper`] (the real API, or the recording
/// fake in tests).
#[derive(Clone)]
pub struct WindowsKernel {
    help: Arc<dyn IpHelper>,
}

impl std::fmt::Debug for WindowsKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WindowsKernel")
    }
}

/// The seam's view of an interface (None for an alias that is no valid
/// adapter name).
pub(crate) fn link_status(row: &IfRow) -> Option<LinkStatus> {
    Some(LinkStatus {
        name: AdapterName::new(&row.alias).ok()?,
        ifindex: row.index,
        mac: row.mac,
        admin_up: row.admin_up,
        carrier: row.media_connected,
    })
}

fn address_entry(row: &UnicastRow) -> AddressEntry {
    AddressEntry {
        ifindex: row.index,
        ip: row.ip,
        prefix: row.prefix,
    }
}

/// `ERROR_NOT_FOUND` (and, for a delete, a file-not-found) means the thing
/// is already gone.
fn gone(e: Win32Error) -> bool {
    e == Win32Error::NOT_FOUND || e.0 == 2
}

impl WindowsKernel {
    pub fn new(help: Arc<dyn IpHelper>) -> Self {
        Self { help }
    }

    /// Every adapter (`GetIfTable2` without the filter drivers' views).
    fn interfaces(&self, op: KernelOp) -> Result<Vec<IfRow>, KernelError> {
        let rows = self
            .help
            .get_if_table2()
            .map_err(|e| e.kernel(op, None, "GetIfTable2"))?;
        Ok(rows.into_iter().filter(|r| !r.filter).collect())
    }

    /// The adapter named `adapter` (alias, or GUID), or ENODEV.
    fn find(&self, op: KernelOp, adapter: &AdapterName) -> Result<IfRow, KernelError> {
        let guid = adapter.as_str().parse::<Guid>().ok();
        self.interfaces(op)?
            .into_iter()
            .find(|r| r.alias == adapter.as_str() || Some(r.guid) == guid)
            .ok_or_else(|| KernelError::new(op, Some(adapter.to_string()), libc::ENODEV))
    }

    fn unicast(&self, op: KernelOp, family: Family) -> Result<Vec<UnicastRow>, KernelError> {
        self.help
            .get_unicast_ip_address_table(family)
            .map_err(|e| e.kernel(op, None, "GetUnicastIpAddressTable"))
    }
}

impl Kernel for WindowsKernel {
    /// SPEC §2 cable state: `MediaConnectState` and `AdminStatus`. The
    /// adapter's name in the answer is its alias, also when it was asked
    /// for by GUID (so `create` records the friendly name).
    fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError> {
        let row = self.find(KernelOp::GetLink, adapter)?;
        Ok(LinkInfo {
            name: AdapterName::new(&row.alias).unwrap_or_else(|_| adapter.clone()),
            ifindex: row.index,
            mac: row.mac.unwrap_or_default(),
            state: LinkState::from_flags(row.admin_up, row.media_connected),
            // MIB_IF_ROW2 counts no carrier changes: quickCheck's debounce
            // goes by the state alone, as for a backend without a counter.
            carrier_changes: None,
        })
    }

    /// SPEC §2 `ips_ipchange -l`: the address table, then the interfaces
    /// for their names.
    fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
        let op = KernelOp::DumpAddresses;
        let entries: Vec<AddressEntry> = self
            .unicast(op, Family::of(ip))?
            .iter()
            .filter(|a| a.ip == ip)
            .map(address_entry)
            .collect();
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let interfaces = self.interfaces(op)?;
        holders_in(&entries, ip, |index| {
            Ok::<_, KernelError>(
                interfaces
                    .iter()
                    .find(|r| r.index == index)
                    .and_then(|r| AdapterName::new(&r.alias).ok()),
            )
        })
    }

    /// One interface table and one address table.
    fn snapshot(&self) -> Result<NodeSnapshot, KernelError> {
        let op = KernelOp::DumpAddresses;
        let links = self
            .interfaces(op)?
            .iter()
            .filter_map(link_status)
            .collect();
        let addresses = self
            .unicast(op, Family::Both)?
            .iter()
            .map(address_entry)
            .collect();
        Ok(NodeSnapshot::new(links, addresses))
    }

    /// The recorded identity's GUID (`MIB_IF_ROW2.InterfaceGuid`).
    fn adapter_guid(&self, adapter: &AdapterName) -> Result<Option<String>, KernelError> {
        Ok(Some(
            self.find(KernelOp::GetLink, adapter)?.guid.to_string(),
        ))
    }

    /// SPEC §2 `ips_ipchange -a`, without duplicate address detection (the
    /// in-use check is restore step 3's). An address already there is
    /// success. (`noprefixroute` has no per-address counterpart on
    /// Windows; docs/windows.md.)
    fn add_address(
        &self,
        adapter: &AdapterName,
        addr: &Address,
        _opts: AddOptions,
    ) -> Result<(), KernelError> {
        let op = KernelOp::AddAddress;
        let row = self.find(op, adapter)?;
        let new = NewUnicast {
            luid: row.luid,
            ip: addr.ip(),
            prefix: addr.prefix(),
            dad_state: DadState::Preferred,
            skip_as_source: false,
        };
        match self.help.create_unicast_ip_address_entry(&new) {
            Ok(()) => Ok(()),
            Err(e) if e == Win32Error::OBJECT_ALREADY_EXISTS => Ok(()),
            Err(e) => Err(e.kernel(
                op,
                Some(format!("{addr} on {adapter}")),
                "CreateUnicastIpAddressEntry",
            )),
        }
    }

    /// SPEC §2 `ips_ipchange -d`: every entry of the address on the
    /// adapter, whatever its prefix length. Stops the address's background
    /// announcement rounds first. An address not there is success.
    fn delete_address(&self, adapter: &AdapterName, addr: &Address) -> Result<(), KernelError> {
        let op = KernelOp::DeleteAddress;
        let row = self.find(op, adapter)?;
        let ip = addr.ip();
        announce::stop(ip);
        let present = self.unicast(op, Family::of(ip))?;
        for a in present.iter().filter(|a| a.luid == row.luid && a.ip == ip) {
            match self.help.delete_unicast_ip_address_entry(a.luid, ip) {
                Ok(()) => {}
                Err(e) if gone(e) => {}
                Err(e) => {
                    return Err(e.kernel(
                        op,
                        Some(format!("{ip}/{} on {adapter}", a.prefix)),
                        "DeleteUnicastIpAddressEntry",
                    ));
                }
            }
        }
        Ok(())
    }

    /// SPEC §2 `arp -d IP`: every neighbour entry of the address, on
    /// every adapter (only the address's entries: `FlushIpNetTable2` would
    /// empty whole tables).
    fn flush_neighbours(&self, ip: IpAddr) -> Result<(), KernelError> {
        let op = KernelOp::FlushNeighbours;
        let target = || Some(ip.to_string());
        let entries = self
            .help
            .get_ip_net_table2(Family::of(ip))
            .map_err(|e| e.kernel(op, target(), "GetIpNetTable2"))?;
        for n in entries.iter().filter(|n| n.ip == ip) {
            match self.help.delete_ip_net_entry2(n.luid, ip) {
                Ok(()) => {}
                Err(e) if gone(e) => {}
                Err(e) => return Err(e.kernel(op, target(), "DeleteIpNetEntry2")),
            }
        }
        Ok(())
    }

    /// SPEC §2 `ips_arpupdate`: see the module `announce`.
    fn announce(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        plan: AnnouncePlan,
    ) -> Result<(), KernelError> {
        let row = self.find(KernelOp::Announce, adapter)?;
        announce::start(
            self.help.clone(),
            &row,
            ip,
            plan,
            format!("{ip} on {adapter}"),
        )
    }

    /// SPEC §2 "is the VIP already in use?": `ResolveIpNetEntry2` of the
    /// address on the adapter (an ARP request / neighbour solicitation
    /// that Windows sends even when it has an entry); where that call is
    /// missing, `SendARP` for IPv4. An answer within `timeout` is another
    /// owner; the entry the question left behind is deleted.
    fn probe(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<ProbeResult, KernelError> {
        let op = KernelOp::Probe;
        let row = self.find(op, adapter)?;
        let help = self.help.clone();
        let (tx, rx) = mpsc::channel();
        let luid = row.luid;
        std::thread::spawn(move || {
            let answer = match help.resolve_ip_net_entry2(luid, ip, None) {
                Err(e) if e == Win32Error::PROC_NOT_FOUND => match ip {
                    IpAddr::V4(v4) => help
                        .send_arp(v4, Ipv4Addr::UNSPECIFIED)
                        .map_err(|e| (e, "SendARP")),
                    IpAddr::V6(_) => Err((e, "ResolveIpNetEntry2")),
                },
                Err(e) => Err((e, "ResolveIpNetEntry2")),
                Ok(answer) => {
                    let _ = help.delete_ip_net_entry2(luid, ip);
                    Ok(answer)
                }
            };
            let _ = tx.send(answer);
        });
        match rx.recv_timeout(timeout) {
            Ok(Ok(Some(mac))) => Ok(ProbeResult::InUse { mac }),
            Ok(Ok(None)) | Err(_) => Ok(ProbeResult::Free),
            Ok(Err((e, call))) => Err(e.kernel(op, Some(format!("{ip} on {adapter}")), call)),
        }
    }
}
