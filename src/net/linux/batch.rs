//! The Linux kernel seam's batch methods (issue 11), behind the single ones too: each distinct adapter looked up once, one address dump, the netlink requests pipelined, one announcement pass.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::netlink::{self, AddrRecord, Family, LinkRecord};
use super::{LinuxKernel, address_entry, deliverable, packet, source_route};
use crate::net::snapshot::holders_in;
use crate::net::{
    AddRequest, AnnounceRequest, DeleteRequest, KernelError, KernelOp, LinkState, Routing,
};
use crate::resource::AdapterName;

/// The one family of `ips`, or None (all) when they mix both.
pub(super) fn family_of(ips: impl IntoIterator<Item = IpAddr>) -> Option<Family> {
    let mut ips = ips.into_iter();
    let first = Family::of(ips.next()?);
    ips.all(|ip| Family::of(ip) == first).then_some(first)
}

/// `e` about `target`.
fn about(mut e: KernelError, target: String) -> KernelError {
    e.target = Some(target);
    e
}

impl LinuxKernel {
    /// Each distinct adapter of `names` looked up once (a missing one is
    /// ENODEV), errors reported as `op`.
    fn links_of<'a>(
        &self,
        op: KernelOp,
        names: impl IntoIterator<Item = &'a AdapterName>,
    ) -> HashMap<&'a AdapterName, Result<LinkRecord, KernelError>> {
        let mut links = HashMap::new();
        for name in names {
            links
                .entry(name)
                .or_insert_with(|| self.require_link(op, name));
        }
        links
    }

    pub(super) fn link_states_of(
        &self,
        adapters: &[AdapterName],
    ) -> Vec<Result<LinkState, KernelError>> {
        let links = self.links_of(KernelOp::GetLink, adapters);
        adapters
            .iter()
            .map(|a| match &links[a] {
                Ok(l) => Ok(LinkState::from_flags(l.admin_up, l.carrier)),
                Err(e) if e.is_missing_adapter() => Ok(LinkState::Missing),
                Err(e) => Err(e.clone()),
            })
            .collect()
    }

    /// One address dump, then one link request per distinct holder.
    pub(super) fn holders_of_ips(
        &self,
        ips: &[IpAddr],
    ) -> Vec<Result<Vec<AdapterName>, KernelError>> {
        self.holders_reading_links(ips).0
    }

    /// [`LinuxKernel::holders_of_ips`], and the link records read to name
    /// the holders.
    pub(super) fn holders_reading_links(
        &self,
        ips: &[IpAddr],
    ) -> (Vec<Result<Vec<AdapterName>, KernelError>>, Vec<LinkRecord>) {
        if ips.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let entries: Vec<_> = match self.nl.addresses(family_of(ips.iter().copied())) {
            Ok(all) => all.iter().map(address_entry).collect(),
            Err(e) => return (ips.iter().map(|_| Err(e.clone())).collect(), Vec::new()),
        };
        let mut names: BTreeMap<u32, Option<AdapterName>> = BTreeMap::new();
        let mut records = Vec::new();
        let held = ips
            .iter()
            .map(|ip| {
                holders_in(&entries, *ip, |index| {
                    if let Some(name) = names.get(&index) {
                        return Ok(name.clone());
                    }
                    let name = match self.nl.link_by_index(index)? {
                        Some(l) => {
                            let name = AdapterName::new(&l.name).map_err(|e| {
                                KernelError::with_message(
                                    KernelOp::DumpAddresses,
                                    Some(format!("ifindex {index}")),
                                    libc::EINVAL,
                                    e.to_string(),
                                )
                            })?;
                            records.push(l);
                            Some(name)
                        }
                        None => None,
                    };
                    names.insert(index, name.clone());
                    Ok(name)
                })
            })
            .collect();
        (held, records)
    }

    /// The adds pipelined; then, as a single add does, each IPv6 address
    /// on a connected adapter waited for until it is deliverable (one
    /// monitor, subscribed before the adds), and traffic from each address
    /// steered through its adapter (docs/linux-backend.md, "Source
    /// routing"), with one address dump for all; not the routing of a
    /// request that says [`Routing::Later`].
    pub(super) fn add_all(&self, requests: &[AddRequest]) -> Vec<Result<(), KernelError>> {
        let links = self.links_of(KernelOp::AddAddress, requests.iter().map(|r| &r.adapter));
        let mut results: Vec<Result<(), KernelError>> = Vec::with_capacity(requests.len());
        let mut adds = Vec::with_capacity(requests.len());
        let mut owners = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            match &links[&r.adapter] {
                Ok(l) => {
                    adds.push((l.index, r.address, r.opts));
                    owners.push(i);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e.clone())),
            }
        }
        // IPv6 on a connected adapter: subscribed before the adds, to see
        // the addresses become deliverable (deliverable.rs). Nothing
        // arrives through an adapter without carrier: no reason to wait.
        let awaited = |i: usize| {
            let r = &requests[i];
            !r.address.is_ipv4()
                && links[&r.adapter]
                    .as_ref()
                    .is_ok_and(|l| l.admin_up && l.carrier)
        };
        let mut monitor = match owners.iter().any(|&i| awaited(i)) {
            true => match netlink::Monitor::open() {
                Ok(m) => Some(m),
                Err(e) => return requests.iter().map(|_| Err(e.clone())).collect(),
            },
            false => None,
        };
        for (&i, result) in owners.iter().zip(self.nl.add_addresses(&adds)) {
            let r = &requests[i];
            results[i] = result.map_err(|e| about(e, format!("{} on {}", r.address, r.adapter)));
        }
        let added: Vec<usize> = owners.into_iter().filter(|&i| results[i].is_ok()).collect();
        if let Some(monitor) = monitor.as_mut() {
            for &i in added.iter().filter(|&&i| awaited(i)) {
                if let Err(e) = deliverable::wait(&self.nl, monitor, requests[i].address.ip()) {
                    results[i] = Err(e);
                }
            }
        }
        let targets: Vec<(usize, source_route::Target)> = added
            .iter()
            .filter(|&&i| results[i].is_ok() && requests[i].routing == Routing::Follow)
            .filter_map(|&i| {
                let l = links[&requests[i].adapter].as_ref().ok()?;
                let target = source_route::Target {
                    holder: Some(l.index),
                    priority: Some(requests[i].opts.source_rule_priority),
                };
                Some((i, target))
            })
            .collect();
        let ips: Vec<IpAddr> = requests.iter().map(|r| r.address.ip()).collect();
        self.follow_all(&ips, &targets, &[], true, &mut results);
        results
    }

    /// Steers traffic from each address of `targets` (an index into `ips`
    /// and `results`) as the target says (`source_route::settle_all`: one
    /// read of the routing per family, the changes pipelined), given one
    /// address dump less the addresses `gone` (deleted but maybe still in
    /// the dump); `purge`: then, in each family where something changed,
    /// the neighbour entries of adapters without carrier are purged. An
    /// error becomes that address's result.
    fn follow_all(
        &self,
        ips: &[IpAddr],
        targets: &[(usize, source_route::Target)],
        gone: &[(u32, IpAddr)],
        purge: bool,
        results: &mut [Result<(), KernelError>],
    ) {
        if targets.is_empty() {
            return;
        }
        let present = match self
            .nl
            .addresses(family_of(targets.iter().map(|(i, _)| ips[*i])))
        {
            Ok(present) => present,
            Err(e) => {
                for (i, _) in targets {
                    results[*i] = Err(e.clone());
                }
                return;
            }
        };
        let addrs: Vec<AddrRecord> = present
            .into_iter()
            .filter(|a| !gone.contains(&(a.ifindex, a.ip)))
            .collect();
        let wanted: Vec<(IpAddr, source_route::Aim)> = targets
            .iter()
            .map(|(i, target)| (ips[*i], source_route::Aim::Follow(*target)))
            .collect();
        let settled = source_route::settle_all(&self.nl, &wanted, &addrs);
        let mut changed: Vec<Family> = Vec::new();
        for ((i, _), result) in targets.iter().zip(settled) {
            match result {
                Ok(changes) => {
                    let family = Family::of(ips[*i]);
                    if !changes.is_empty() && !changed.contains(&family) {
                        changed.push(family);
                    }
                }
                Err(e) => results[*i] = Err(e),
            }
        }
        if purge {
            for family in changed {
                if let Err(e) = source_route::purge_dead_adapters(&self.nl, family) {
                    for (i, _) in targets
                        .iter()
                        .filter(|(i, _)| Family::of(ips[*i]) == family)
                    {
                        results[*i] = Err(e.clone());
                    }
                }
            }
        }
    }

    /// Deletes each request's IP from its adapter with whatever prefix
    /// length it has there (the kernel matches on the prefix, and the
    /// address may have been added by hand with another one): one address
    /// dump, the deletes pipelined.
    ///
    /// First stops the addresses' background announcement rounds (whoever
    /// started them in this namespace): an address being deleted or moved
    /// must not be announced again from here.
    pub(super) fn delete_all(&self, requests: &[DeleteRequest]) -> Vec<Result<(), KernelError>> {
        let links = self.links_of(KernelOp::DeleteAddress, requests.iter().map(|r| &r.adapter));
        let mut results: Vec<Result<(), KernelError>> = requests
            .iter()
            .map(|r| links[&r.adapter].as_ref().map(|_| ()).map_err(Clone::clone))
            .collect();
        let doomed: Vec<usize> = (0..requests.len())
            .filter(|&i| results[i].is_ok())
            .collect();
        if doomed.is_empty() {
            return results;
        }
        let mut ips: Vec<IpAddr> = doomed.iter().map(|&i| requests[i].address.ip()).collect();
        ips.sort_unstable();
        ips.dedup();
        packet::stop_announcing_all(&ips);
        let present = match self.nl.addresses(family_of(ips.iter().copied())) {
            Ok(present) => present,
            Err(e) => {
                for i in doomed {
                    results[i] = Err(e.clone());
                }
                return results;
            }
        };
        let mut deletes = Vec::new();
        let mut owners = Vec::new();
        for i in doomed {
            let (r, index) = (
                &requests[i],
                links[&requests[i].adapter].as_ref().map(|l| l.index),
            );
            let ip = r.address.ip();
            for a in present
                .iter()
                .filter(|a| Ok(a.ifindex) == index && a.ip == ip)
            {
                deletes.push((a.ifindex, ip, a.prefix));
                owners.push(i);
            }
        }
        let deleted = self.nl.delete_addresses(&deletes);
        let mut gone = Vec::with_capacity(deletes.len());
        for ((&i, &(ifindex, ip, prefix)), result) in owners.iter().zip(&deletes).zip(deleted) {
            match result {
                Ok(()) => gone.push((ifindex, ip)),
                Err(e) if results[i].is_ok() => {
                    results[i] = Err(about(
                        e,
                        format!("{ip}/{prefix} on {}", requests[i].adapter),
                    ));
                }
                Err(_) => {}
            }
        }
        // Traffic from each address follows another adapter that still
        // holds it, or ipkit's rule and table go (docs/linux-backend.md,
        // "Source routing"), unless the request says `Routing::Later`. The
        // priority stays whatever the rule has.
        let ips: Vec<IpAddr> = requests.iter().map(|r| r.address.ip()).collect();
        let left = |ip: IpAddr| {
            present
                .iter()
                .find(|a| a.ip == ip && !gone.contains(&(a.ifindex, a.ip)))
                .map(|a| a.ifindex)
        };
        let targets: Vec<(usize, source_route::Target)> = (0..requests.len())
            .filter(|&i| results[i].is_ok() && requests[i].routing == Routing::Follow)
            .map(|i| {
                let target = source_route::Target {
                    holder: left(ips[i]),
                    priority: None,
                };
                (i, target)
            })
            .collect();
        self.follow_all(&ips, &targets, &gone, false, &mut results);
        results
    }

    pub(super) fn flush_all(&self, ips: &[IpAddr]) -> Vec<Result<(), KernelError>> {
        self.nl
            .delete_neighbours_of(ips)
            .into_iter()
            .map(|r| r.map(|_| ()))
            .collect()
    }

    pub(super) fn announce_all(
        &self,
        requests: &[AnnounceRequest],
    ) -> Vec<Result<(), KernelError>> {
        let links = self.links_of(KernelOp::Announce, requests.iter().map(|r| &r.adapter));
        let mut results: Vec<Result<(), KernelError>> = Vec::with_capacity(requests.len());
        let mut pass = Vec::with_capacity(requests.len());
        let mut owners = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            match &links[&r.adapter] {
                Ok(l) => {
                    pass.push(packet::Announcement {
                        ifindex: l.index,
                        mac: l.mac.unwrap_or_default(),
                        ip: r.ip,
                        plan: r.plan,
                    });
                    owners.push(i);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e.clone())),
            }
        }
        for (i, result) in owners.into_iter().zip(self.sockets.announce_all(&pass)) {
            let r = &requests[i];
            results[i] = result.map_err(|e| about(e, format!("{} on {}", r.ip, r.adapter)));
        }
        results
    }
}
