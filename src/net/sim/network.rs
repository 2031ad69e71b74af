//! The simulated network's tables (adapters, addresses, neighbours, remote
//! hosts, records, faults, scheduled changes) and the rules that change
//! them. Every change a watcher could see is queued as a seam [`Change`]
//! while someone watches ([`super::SimChanges`]).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

use super::{Announcement, Call, CallKind, Effect, Fault, Neighbour, NetChange, Scheduled};
use crate::net::{Change, KernelError, LinkInfo, LinkStatus, WatchedAddress};
use crate::resource::{AdapterName, Address, Mac};

#[derive(Debug, Clone)]
pub(super) struct Adapter {
    pub name: AdapterName,
    pub ifindex: u32,
    pub mac: Mac,
    pub admin_up: bool,
    pub carrier: bool,
    /// How often the carrier came or went (Linux: `IFLA_CARRIER_CHANGES`).
    pub carrier_changes: u32,
}

impl Adapter {
    /// What `Kernel::link` reports: the status and the carrier count.
    pub fn info(&self) -> LinkInfo {
        LinkInfo {
            carrier_changes: Some(self.carrier_changes),
            ..self.status().info()
        }
    }

    pub fn status(&self) -> LinkStatus {
        LinkStatus {
            name: self.name.clone(),
            ifindex: self.ifindex,
            mac: Some(self.mac),
            admin_up: self.admin_up,
            carrier: self.carrier,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Remote {
    pub mac: Mac,
    pub ips: Vec<IpAddr>,
    /// The local adapters whose segment the host is on (`None` = all).
    pub via: Option<Vec<AdapterName>>,
}

#[derive(Debug, Default)]
pub(super) struct Inner {
    pub adapters: Vec<Adapter>,
    pub next_ifindex: u32,
    pub addresses: Vec<(AdapterName, Address)>,
    pub neighbours: Vec<Neighbour>,
    pub announcements: Vec<Announcement>,
    pub remotes: Vec<Remote>,
    pub calls: Vec<Call>,
    pub faults: Vec<Fault>,
    pub scheduled: Vec<Scheduled>,
    /// The changes not yet delivered to the watcher; None while nobody
    /// watches (nothing piles up for tests of the operations).
    pub watched: Option<VecDeque<Change>>,
    /// The addresses the watcher listens for claims of.
    pub claims_watched: Vec<WatchedAddress>,
    /// `holders_and_links` hands over each holder's link, as Linux does
    /// ([`super::SimNet::name_holders_by_link`]).
    pub holders_with_links: bool,
}

impl Inner {
    pub fn adapter(&self, name: &AdapterName) -> Option<&Adapter> {
        self.adapters.iter().find(|a| &a.name == name)
    }

    fn ifindex_of(&self, name: &AdapterName) -> Option<u32> {
        self.adapter(name).map(|a| a.ifindex)
    }

    /// Queue a change for the watcher, if there is one.
    pub fn report(&mut self, change: Change) {
        if let Some(q) = &mut self.watched {
            q.push_back(change);
        }
    }

    /// Add an adapter, up and with carrier; one of the same name is
    /// replaced (a new NIC under the old name keeps the old one's
    /// addresses).
    pub fn add_adapter(&mut self, name: AdapterName, mac: Mac) -> u32 {
        if let Some(old) = self.adapter(&name).map(|a| a.ifindex) {
            self.adapters.retain(|a| a.name != name);
            self.report(Change::LinkGone {
                ifindex: old,
                name: name.clone(),
            });
        }
        let ifindex = self.next_ifindex;
        self.next_ifindex += 1;
        let adapter = Adapter {
            name,
            ifindex,
            mac,
            admin_up: true,
            carrier: true,
            carrier_changes: 0,
        };
        self.report(Change::Link(adapter.status()));
        self.adapters.push(adapter);
        ifindex
    }

    pub fn assign(&mut self, adapter: &AdapterName, addr: Address) {
        let Some(ifindex) = self.ifindex_of(adapter) else {
            return;
        };
        if !self
            .addresses
            .iter()
            .any(|(a, x)| a == adapter && x.ip() == addr.ip())
        {
            self.addresses.push((adapter.clone(), addr));
            self.report(Change::AddressAdded {
                ifindex,
                ip: addr.ip(),
            });
        }
    }

    pub fn unassign(&mut self, adapter: &AdapterName, ip: IpAddr) {
        let before = self.addresses.len();
        self.addresses
            .retain(|(a, x)| !(a == adapter && x.ip() == ip));
        if self.addresses.len() != before
            && let Some(ifindex) = self.ifindex_of(adapter)
        {
            self.report(Change::AddressRemoved { ifindex, ip });
        }
    }

    /// The adapter disappears with its addresses and neighbour entries (as
    /// on Linux, the addresses are reported gone before the link).
    pub fn vanish(&mut self, name: &AdapterName) {
        let Some(ifindex) = self.ifindex_of(name) else {
            return;
        };
        let gone: Vec<IpAddr> = self
            .addresses
            .iter()
            .filter(|(a, _)| a == name)
            .map(|(_, x)| x.ip())
            .collect();
        for ip in gone {
            self.unassign(name, ip);
        }
        self.adapters.retain(|a| &a.name != name);
        self.neighbours.retain(|n| &n.adapter != name);
        self.report(Change::LinkGone {
            ifindex,
            name: name.clone(),
        });
    }

    /// Change one flag of an adapter; a real change is reported.
    fn set_flag(&mut self, name: &AdapterName, set: impl FnOnce(&mut Adapter) -> bool) {
        let Some(a) = self.adapters.iter_mut().find(|a| &a.name == name) else {
            return;
        };
        if set(a) {
            let status = a.status();
            self.report(Change::Link(status));
        }
    }

    pub fn apply(&mut self, change: &NetChange) {
        match change {
            NetChange::Carrier(a, up) => self.set_flag(a, |x| {
                let changed = std::mem::replace(&mut x.carrier, *up) != *up;
                x.carrier_changes += u32::from(changed);
                changed
            }),
            NetChange::AdminUp(a, up) => {
                self.set_flag(a, |x| std::mem::replace(&mut x.admin_up, *up) != *up)
            }
            NetChange::Vanish(a) => self.vanish(a),
            NetChange::Claim(mac, ip) => self.remotes.push(Remote {
                mac: *mac,
                ips: vec![*ip],
                via: None,
            }),
            NetChange::Announce(mac, ip) => self.hear_announcement(*mac, *ip),
            NetChange::Assign(a, addr) => self.assign(a, *addr),
            NetChange::Unassign(a, ip) => self.unassign(a, *ip),
        }
    }

    /// A remote host announces `ip`: a claim wherever the watcher listens
    /// for it, on an adapter that is up with carrier (and not from one of
    /// our own MACs, which is no claim).
    fn hear_announcement(&mut self, mac: Mac, ip: IpAddr) {
        if self.adapters.iter().any(|a| a.mac == mac) {
            return;
        }
        let heard: Vec<u32> = self
            .claims_watched
            .iter()
            .filter(|w| w.ip == ip)
            .filter(|w| {
                self.adapters
                    .iter()
                    .any(|a| a.ifindex == w.ifindex && a.admin_up && a.carrier)
            })
            .map(|w| w.ifindex)
            .collect();
        for ifindex in heard {
            self.report(Change::AddressClaimed { ifindex, ip, mac });
        }
    }

    /// Apply every change that is due. `upcoming` is the number of the call
    /// about to run (None when only inspecting).
    pub fn apply_due(&mut self, upcoming: Option<u64>, elapsed: Duration) {
        let done = self.calls.len() as u64;
        let (now, later): (Vec<Scheduled>, Vec<Scheduled>) = std::mem::take(&mut self.scheduled)
            .into_iter()
            .partition(|s| s.when.is_due(upcoming, done, elapsed));
        self.scheduled = later;
        for s in &now {
            self.apply(&s.change);
        }
    }

    /// The earliest time-triggered change still to come.
    pub fn next_timed(&self) -> Option<Duration> {
        self.scheduled
            .iter()
            .filter_map(|s| match s.when {
                super::When::At(t) => Some(t),
                _ => None,
            })
            .min()
    }

    /// The effect of the faults on a call about to run (the first firing
    /// fault wins; every matching fault counts the call).
    pub fn fault_for(
        &mut self,
        kind: CallKind,
        adapter: Option<&AdapterName>,
        n: u64,
    ) -> Option<Effect> {
        let mut hit = None;
        for f in &mut self.faults {
            if f.matches(kind, adapter, n) && f.fire() && hit.is_none() {
                hit = Some(f.effect.clone());
            }
        }
        hit
    }

    pub fn missing(&self, kind: CallKind, adapter: &AdapterName) -> Option<KernelError> {
        if self.adapter(adapter).is_none() {
            Some(KernelError::new(
                kind.op(),
                Some(adapter.to_string()),
                libc::ENODEV,
            ))
        } else {
            None
        }
    }

    /// The adapter a packet call (announce, probe) goes out on, or the
    /// error the kernel would give: ENODEV when it is missing, the injected
    /// errno, ENETDOWN when it is administratively down.
    pub fn packet_adapter(
        &self,
        kind: CallKind,
        adapter: &AdapterName,
        effect: Option<Effect>,
    ) -> Result<Adapter, KernelError> {
        if let Some(e) = self.missing(kind, adapter) {
            return Err(e);
        }
        if let Some(Effect::Fail(errno)) = effect {
            return Err(kind.injected(Some(adapter.to_string()), errno));
        }
        match self.adapter(adapter) {
            Some(a) if a.admin_up => Ok(a.clone()),
            _ => Err(KernelError::new(
                kind.op(),
                Some(adapter.to_string()),
                libc::ENETDOWN,
            )),
        }
    }
}
