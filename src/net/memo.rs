//! Kernel reads made once until something changes or waits: the one-shot OCF agent's read path (issue 11 §4).
//!
//! An OCF `monitor` asks the same questions several times: reconcile on
//! load (`ops::prepare`), the agent's own look at who holds the address,
//! and quickCheck steps 1 and 2 (SPEC §4). [`ReadMemo`] answers each read
//! of the [`Kernel`] seam from the first answer, so one monitor costs one
//! address dump and the link requests that dump and quickCheck need: a
//! holder's link read to name it (`Kernel::holders_and_links`) answers
//! quickCheck's look at that adapter too.
//!
//! What keeps a remembered answer true: it is forgotten by every call that
//! changes what is remembered or waits (add, delete, announce, probe,
//! same_segment: the operation changed the addresses, or listened on the
//! wire for a while; a neighbour flush or a routing repair changes nothing
//! remembered), and
//! by every sleep of its [`Clock`] (quickCheck's debounce re-reads the link
//! after each step, and must see it fresh). Between two such calls the
//! operation does not wait, so a remembered answer is as old as the few
//! microseconds of computation since it was read, and the same operation
//! run a moment earlier would have read the same.
//!
//! Errors are not remembered, except "no such adapter" (ENODEV), which is
//! an answer like any other.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::{
    AddOptions, AddRequest, AnnouncePlan, DeleteRequest, Kernel, KernelError, LinkInfo,
    NodeSnapshot, PolicyRules, ProbeResult,
};
use crate::clock::Clock;
use crate::resource::{AdapterName, Address};

/// A [`Kernel`] and a [`Clock`] that remember reads (see the module doc).
/// Give an operation the same `ReadMemo` as both its kernel and its clock.
pub struct ReadMemo<'a> {
    kernel: &'a dyn Kernel,
    clock: &'a dyn Clock,
    seen: Mutex<Seen>,
}

/// The answers remembered since the last change or wait.
#[derive(Default)]
struct Seen {
    links: BTreeMap<AdapterName, Result<LinkInfo, KernelError>>,
    holders: BTreeMap<IpAddr, Vec<AdapterName>>,
    snapshot: Option<NodeSnapshot>,
}

impl<'a> ReadMemo<'a> {
    pub fn new(kernel: &'a dyn Kernel, clock: &'a dyn Clock) -> Self {
        Self {
            kernel,
            clock,
            seen: Mutex::new(Seen::default()),
        }
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forget every answer: the system may have changed since.
    fn forget(&self) {
        *self.seen() = Seen::default();
    }

    /// `call`, which changes the system or waits, and then forget.
    fn changing<T>(&self, call: impl FnOnce(&dyn Kernel) -> T) -> T {
        let out = call(self.kernel);
        self.forget();
        out
    }
}

impl Kernel for ReadMemo<'_> {
    fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError> {
        if let Some(answer) = self.seen().links.get(adapter) {
            return answer.clone();
        }
        let answer = self.kernel.link(adapter);
        let remembered = match &answer {
            Ok(_) => true,
            Err(e) => e.is_missing_adapter(),
        };
        if remembered {
            self.seen().links.insert(adapter.clone(), answer.clone());
        }
        answer
    }

    fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
        if let Some(names) = self.seen().holders.get(&ip) {
            return Ok(names.clone());
        }
        let (names, links) = self.kernel.holders_and_links(ip)?;
        let mut seen = self.seen();
        seen.holders.insert(ip, names.clone());
        for link in links {
            seen.links.entry(link.name.clone()).or_insert(Ok(link));
        }
        Ok(names)
    }

    fn snapshot(&self) -> Result<NodeSnapshot, KernelError> {
        if let Some(snap) = &self.seen().snapshot {
            return Ok(snap.clone());
        }
        let snap = self.kernel.snapshot()?;
        self.seen().snapshot = Some(snap.clone());
        Ok(snap)
    }

    fn add_address(
        &self,
        adapter: &AdapterName,
        addr: &Address,
        opts: AddOptions,
    ) -> Result<(), KernelError> {
        self.changing(|k| k.add_address(adapter, addr, opts))
    }

    fn delete_address(&self, adapter: &AdapterName, addr: &Address) -> Result<(), KernelError> {
        self.changing(|k| k.delete_address(adapter, addr))
    }

    /// Forwarded whole, so the backend's batch (and each request's
    /// [`crate::net::Routing`]) is kept.
    fn add_addresses(&self, requests: &[AddRequest]) -> Vec<Result<(), KernelError>> {
        self.changing(|k| k.add_addresses(requests))
    }

    /// Forwarded whole, as [`Kernel::add_addresses`].
    fn delete_addresses(&self, requests: &[DeleteRequest]) -> Vec<Result<(), KernelError>> {
        self.changing(|k| k.delete_addresses(requests))
    }

    /// Changes only routing rules and tables, which nothing here remembers.
    fn settle_routing(&self, addr: &Address, opts: AddOptions) -> Result<Vec<String>, KernelError> {
        self.kernel.settle_routing(addr, opts)
    }

    /// As [`Kernel::settle_routing`]: nothing remembered changes.
    fn settle_routing_many(
        &self,
        requests: &[(Address, AddOptions)],
    ) -> Vec<Result<Vec<String>, KernelError>> {
        self.kernel.settle_routing_many(requests)
    }

    /// A read made for `ipkit doctor` only: not remembered.
    fn policy_rules(&self) -> Result<PolicyRules, KernelError> {
        self.kernel.policy_rules()
    }

    /// Changes only the neighbour table, which nothing here remembers.
    fn flush_neighbours(&self, ip: IpAddr) -> Result<(), KernelError> {
        self.kernel.flush_neighbours(ip)
    }

    fn announce(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        plan: AnnouncePlan,
    ) -> Result<(), KernelError> {
        self.changing(|k| k.announce(adapter, ip, plan))
    }

    fn probe(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<ProbeResult, KernelError> {
        self.changing(|k| k.probe(adapter, ip, timeout))
    }

    fn same_segment(
        &self,
        from: &AdapterName,
        to: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<bool, KernelError> {
        self.changing(|k| k.same_segment(from, to, ip, timeout))
    }
}

impl Clock for ReadMemo<'_> {
    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    fn monotonic(&self) -> Duration {
        self.clock.monotonic()
    }

    /// Time passes: what was read may have changed meanwhile.
    fn sleep(&self, d: Duration) {
        self.clock.sleep(d);
        self.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::sim::{CallKind, SimNet};
    use crate::resource::Mac;

    fn nic(s: &str) -> AdapterName {
        AdapterName::new(s).expect("adapter name")
    }

    fn net() -> (SimNet, Address) {
        let net = SimNet::new();
        net.add_adapter(nic("eth0"), Mac([2, 0, 0, 0, 0, 1]));
        net.add_adapter(nic("eth1"), Mac([2, 0, 0, 0, 0, 2]));
        let addr: Address = "198.51.100.10/24".parse().expect("address");
        net.assign(&nic("eth0"), addr);
        (net, addr)
    }

    #[test]
    fn reads_are_answered_once_until_a_change() {
        let (net, addr) = net();
        let memo = ReadMemo::new(&net, net.clock());
        for _ in 0..3 {
            assert_eq!(memo.holders(addr.ip()).unwrap(), vec![nic("eth0")]);
            assert!(memo.link(&nic("eth0")).is_ok());
        }
        assert_eq!(
            (net.count(CallKind::Holders), net.count(CallKind::Link)),
            (1, 1)
        );
        // A change through the memo: the next reads go to the kernel.
        memo.delete_address(&nic("eth0"), &addr).unwrap();
        memo.add_address(&nic("eth1"), &addr, AddOptions::default())
            .unwrap();
        assert_eq!(memo.holders(addr.ip()).unwrap(), vec![nic("eth1")]);
        assert_eq!(net.count(CallKind::Holders), 2);
    }

    /// A holder's link, read to name it, answers quickCheck's look at that
    /// adapter: one monitor, one link request (issue 11 §4).
    #[test]
    fn a_link_read_to_name_a_holder_is_remembered() {
        let (net, addr) = net();
        net.name_holders_by_link(true);
        let memo = ReadMemo::new(&net, net.clock());
        assert_eq!(memo.holders(addr.ip()).unwrap(), vec![nic("eth0")]);
        assert!(memo.link(&nic("eth0")).unwrap().state.is_connected());
        assert_eq!(net.count(CallKind::Link), 0);
        // Another adapter is read, and a change forgets the holder's link.
        assert!(memo.link(&nic("eth1")).is_ok());
        memo.delete_address(&nic("eth0"), &addr).unwrap();
        assert!(memo.link(&nic("eth0")).is_ok());
        assert_eq!(net.count(CallKind::Link), 2);
    }

    #[test]
    fn a_sleep_forgets_what_was_read() {
        let (net, _) = net();
        let memo = ReadMemo::new(&net, net.clock());
        assert!(memo.link(&nic("eth0")).unwrap().state.is_connected());
        net.set_carrier(&nic("eth0"), false);
        // Without a wait the memo answers as it did...
        assert!(memo.link(&nic("eth0")).unwrap().state.is_connected());
        // ...after one (the debounce's) it reads the cable again.
        memo.sleep(Duration::from_millis(10));
        assert!(!memo.link(&nic("eth0")).unwrap().state.is_connected());
        assert_eq!(net.count(CallKind::Link), 2);
    }

    #[test]
    fn a_missing_adapter_is_an_answer_other_errors_are_not() {
        let (net, _) = net();
        let memo = ReadMemo::new(&net, net.clock());
        for _ in 0..2 {
            assert!(memo.link(&nic("eth9")).unwrap_err().is_missing_adapter());
        }
        assert_eq!(net.count(CallKind::Link), 1);
        net.inject(crate::net::sim::Fault::fails(CallKind::Holders, libc::EIO));
        let ip = "198.51.100.10".parse().unwrap();
        assert!(memo.holders(ip).is_err());
        assert_eq!(memo.holders(ip).unwrap(), vec![nic("eth0")]);
        assert_eq!(net.count(CallKind::Holders), 2);
    }
}
