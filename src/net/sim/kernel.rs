//! The simulated network as the operations see it: every [`Kernel`] call,
//! recorded, with faults and scheduled changes applied.

use std::net::IpAddr;
use std::time::Duration;

use super::network::Adapter;
use super::{Announcement, CallKind, Effect, SimNet};
use crate::net::{
    AddOptions, AddressEntry, AnnouncePlan, Kernel, KernelError, LinkInfo, NodeSnapshot,
    ProbeResult,
};
use crate::resource::{AdapterName, Address};

impl Kernel for SimNet {
    fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError> {
        let kind = CallKind::Link;
        let (n, mut g, effect) = self.begin(kind, Some(adapter));
        let faulted = effect.is_some();
        let result = match effect {
            Some(Effect::Fail(errno)) => Err(kind.injected(Some(adapter.to_string()), errno)),
            _ => match g.adapter(adapter) {
                Some(a) => Ok(a.info()),
                None => Err(KernelError::new(
                    kind.op(),
                    Some(adapter.to_string()),
                    libc::ENODEV,
                )),
            },
        };
        Self::end(&mut g, n, kind, Some(adapter), None, faulted, result)
    }

    /// The holders, with their links when [`SimNet::name_holders_by_link`]
    /// is on.
    fn holders_and_links(
        &self,
        ip: IpAddr,
    ) -> Result<(Vec<AdapterName>, Vec<LinkInfo>), KernelError> {
        let names = self.holders(ip)?;
        let links = if self.lock().holders_with_links {
            names.iter().filter_map(|n| self.link_info(n)).collect()
        } else {
            Vec::new()
        };
        Ok((names, links))
    }

    fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
        let kind = CallKind::Holders;
        let (n, mut g, effect) = self.begin(kind, None);
        let faulted = effect.is_some();
        let result = match effect {
            Some(Effect::Fail(errno)) => Err(kind.injected(None, errno)),
            _ => {
                let mut held: Vec<&Adapter> = g
                    .adapters
                    .iter()
                    .filter(|a| {
                        g.addresses
                            .iter()
                            .any(|(x, addr)| *x == a.name && addr.ip() == ip)
                    })
                    .collect();
                held.sort_by_key(|a| a.ifindex);
                Ok(held.into_iter().map(|a| a.name.clone()).collect())
            }
        };
        Self::end(&mut g, n, kind, None, Some(ip), faulted, result)
    }

    fn snapshot(&self) -> Result<NodeSnapshot, KernelError> {
        let kind = CallKind::Snapshot;
        let (n, mut g, effect) = self.begin(kind, None);
        let faulted = effect.is_some();
        let result = match effect {
            Some(Effect::Fail(errno)) => Err(kind.injected(None, errno)),
            _ => {
                let links = g.adapters.iter().map(|a| a.status()).collect();
                let addresses = g
                    .addresses
                    .iter()
                    .filter_map(|(name, addr)| {
                        let a = g.adapter(name)?;
                        Some(AddressEntry {
                            ifindex: a.ifindex,
                            ip: addr.ip(),
                            prefix: addr.prefix(),
                        })
                    })
                    .collect();
                Ok(NodeSnapshot::new(links, addresses))
            }
        };
        Self::end(&mut g, n, kind, None, None, faulted, result)
    }

    fn add_address(
        &self,
        adapter: &AdapterName,
        addr: &Address,
        _opts: AddOptions,
    ) -> Result<(), KernelError> {
        let kind = CallKind::Add;
        let (n, mut g, effect) = self.begin(kind, Some(adapter));
        let faulted = effect.is_some();
        let result = if let Some(e) = g.missing(kind, adapter) {
            Err(e)
        } else {
            match effect {
                Some(Effect::Fail(errno)) => Err(kind.injected(Some(adapter.to_string()), errno)),
                Some(Effect::LandsOn(other)) => match g.missing(kind, &other) {
                    Some(e) => Err(e),
                    None => {
                        g.assign(&other, *addr);
                        Ok(())
                    }
                },
                _ => {
                    g.assign(adapter, *addr);
                    Ok(())
                }
            }
        };
        Self::end(
            &mut g,
            n,
            kind,
            Some(adapter),
            Some(addr.ip()),
            faulted,
            result,
        )
    }

    fn delete_address(&self, adapter: &AdapterName, addr: &Address) -> Result<(), KernelError> {
        let kind = CallKind::Delete;
        let (n, mut g, effect) = self.begin(kind, Some(adapter));
        let faulted = effect.is_some();
        let result = if let Some(e) = g.missing(kind, adapter) {
            Err(e)
        } else {
            match effect {
                Some(Effect::Fail(errno)) => Err(kind.injected(Some(adapter.to_string()), errno)),
                Some(Effect::Stays) => Ok(()),
                _ => {
                    g.unassign(adapter, addr.ip());
                    Ok(())
                }
            }
        };
        Self::end(
            &mut g,
            n,
            kind,
            Some(adapter),
            Some(addr.ip()),
            faulted,
            result,
        )
    }

    fn flush_neighbours(&self, ip: IpAddr) -> Result<(), KernelError> {
        let kind = CallKind::Flush;
        let (n, mut g, effect) = self.begin(kind, None);
        let faulted = effect.is_some();
        let result = match effect {
            Some(Effect::Fail(errno)) => Err(kind.injected(Some(ip.to_string()), errno)),
            _ => {
                g.neighbours.retain(|x| x.ip != ip);
                Ok(())
            }
        };
        Self::end(&mut g, n, kind, None, Some(ip), faulted, result)
    }

    fn announce(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        plan: AnnouncePlan,
    ) -> Result<(), KernelError> {
        let kind = CallKind::Announce;
        let (n, mut g, effect) = self.begin(kind, Some(adapter));
        let faulted = effect.is_some();
        let result = match g.packet_adapter(kind, adapter, effect) {
            Err(e) => Err(e),
            Ok(a) => {
                g.announcements.push(Announcement {
                    adapter: adapter.clone(),
                    ip,
                    plan,
                    on_wire: a.carrier,
                });
                Ok(())
            }
        };
        Self::end(&mut g, n, kind, Some(adapter), Some(ip), faulted, result)
    }

    fn probe(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<ProbeResult, KernelError> {
        let kind = CallKind::Probe;
        let (n, mut g, effect) = self.begin(kind, Some(adapter));
        let faulted = effect.is_some();
        let result = match g.packet_adapter(kind, adapter, effect) {
            Err(e) => Err(e),
            Ok(a) => {
                // Timeout 0 = Free without sending; no carrier = nobody hears.
                let answer = if timeout.is_zero() || !a.carrier {
                    None
                } else {
                    g.remotes.iter().find(|r| {
                        r.ips.contains(&ip) && r.via.as_ref().is_none_or(|v| v.contains(adapter))
                    })
                };
                Ok(match answer {
                    Some(r) => ProbeResult::InUse { mac: r.mac },
                    None => ProbeResult::Free,
                })
            }
        };
        Self::end(&mut g, n, kind, Some(adapter), Some(ip), faulted, result)
    }

    /// Every simulated adapter is on one segment: a frame sent on one
    /// arrives on another when both have their cable in. Not recorded:
    /// it changes nothing.
    fn same_segment(
        &self,
        from: &AdapterName,
        to: &AdapterName,
        _ip: IpAddr,
        _timeout: Duration,
    ) -> Result<bool, KernelError> {
        let g = self.lock();
        let connected = |adapter: &AdapterName| -> Result<bool, KernelError> {
            match g.adapter(adapter) {
                Some(a) => Ok(a.status().state().is_connected()),
                None => Err(KernelError::new(
                    CallKind::Probe.op(),
                    Some(adapter.to_string()),
                    libc::ENODEV,
                )),
            }
        };
        let (sent, heard) = (connected(from)?, connected(to)?);
        Ok(sent && heard)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{net, nic, vip};
    use super::*;
    use crate::net::sim::Fault;
    use crate::net::{LinkState, ProbeResult};
    use crate::resource::Mac;

    #[test]
    fn frames_cross_between_adapters_with_carrier_only() {
        let n = net();
        let t = Duration::from_millis(500);
        let ip = vip().ip();
        assert_eq!(n.same_segment(&nic("eth1"), &nic("eth0"), ip, t), Ok(true));
        n.set_carrier(&nic("eth1"), false);
        assert_eq!(n.same_segment(&nic("eth1"), &nic("eth0"), ip, t), Ok(false));
        let e = n
            .same_segment(&nic("eth1"), &nic("eth9"), ip, t)
            .unwrap_err();
        assert_eq!(e.errno, libc::ENODEV);
        assert!(n.calls().is_empty(), "a read, not recorded");
    }

    #[test]
    fn add_is_idempotent_and_works_without_carrier() {
        let n = net();
        n.set_carrier(&nic("eth0"), false);
        let opts = AddOptions::default();
        n.add_address(&nic("eth0"), &vip(), opts).unwrap();
        n.add_address(&nic("eth0"), &vip(), opts).unwrap();
        assert_eq!(n.addresses(), vec![(nic("eth0"), vip())]);
        assert_eq!(n.holders(vip().ip()).unwrap(), vec![nic("eth0")]);
        assert_eq!(n.link_state(&nic("eth0")).unwrap(), LinkState::Disconnected);
    }

    #[test]
    fn missing_adapter_is_enodev_and_absent_delete_is_ok() {
        let n = net();
        n.delete_address(&nic("eth0"), &vip()).unwrap();
        let e = n
            .add_address(&nic("eth9"), &vip(), AddOptions::default())
            .unwrap_err();
        assert_eq!(e.errno, libc::ENODEV);
        assert_eq!(n.link_state(&nic("eth9")).unwrap(), LinkState::Missing);
        assert_eq!(
            n.delete_address(&nic("eth9"), &vip()).unwrap_err().errno,
            libc::ENODEV
        );
    }

    #[test]
    fn probe_hears_remote_claimers_only_with_carrier() {
        let n = net();
        let other = Mac([2, 0, 0, 0, 0, 0xaa]);
        n.add_remote(other, vec![vip().ip()], Some(vec![nic("eth0")]));
        let t = Duration::from_millis(200);
        assert_eq!(
            n.probe(&nic("eth0"), vip().ip(), t).unwrap(),
            ProbeResult::InUse { mac: other }
        );
        assert_eq!(
            n.probe(&nic("eth1"), vip().ip(), t).unwrap(),
            ProbeResult::Free
        );
        assert_eq!(
            n.probe(&nic("eth0"), vip().ip(), Duration::ZERO).unwrap(),
            ProbeResult::Free
        );
        n.set_carrier(&nic("eth0"), false);
        assert_eq!(
            n.probe(&nic("eth0"), vip().ip(), t).unwrap(),
            ProbeResult::Free
        );
        n.set_admin_up(&nic("eth0"), false);
        assert_eq!(
            n.probe(&nic("eth0"), vip().ip(), t).unwrap_err().errno,
            libc::ENETDOWN
        );
    }

    #[test]
    fn flush_and_announce_are_recorded() {
        let n = net();
        let ip = vip().ip();
        n.add_neighbour(nic("eth0"), ip, Mac([2, 0, 0, 0, 0, 0xaa]));
        n.add_neighbour(nic("eth0"), "198.51.100.1".parse().unwrap(), Mac::default());
        n.flush_neighbours(ip).unwrap();
        assert_eq!(n.neighbours().len(), 1);
        let plan = AnnouncePlan {
            count: 5,
            interval: Duration::from_millis(200),
        };
        n.announce(&nic("eth1"), ip, plan).unwrap();
        n.inject(Fault::fails(CallKind::Announce, libc::ENOBUFS));
        assert!(n.announce(&nic("eth1"), ip, plan).is_err());
        assert_eq!(n.announcements().len(), 1);
        assert_eq!(n.count(CallKind::Announce), 2);
    }
}
