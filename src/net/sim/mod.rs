//! An in-memory network implementing the kernel seam and the change seam,
//! with fault injection.
//!
//! [`SimNet`] holds adapters (name, ifindex, MAC, admin state, carrier), an
//! address table, a neighbour cache, a record of every announcement, remote
//! hosts that answer for addresses on the wire, and a record of every call.
//! It behaves like the Linux kernel where the operations can tell:
//!
//! - an adapter that is missing gives `ENODEV` on every call naming it;
//! - adding an address to an adapter without carrier, or administratively
//!   down, succeeds (Linux keeps addresses on down links);
//! - adding an address already on the adapter succeeds and changes nothing;
//!   deleting one that is not there succeeds (EEXIST / ENOENT absorbed, as
//!   the [`Kernel`](crate::net::Kernel) contract says);
//! - announce and probe on an administratively down adapter give
//!   `ENETDOWN`; on an adapter without carrier they "send" into nothing:
//!   announce succeeds, probe hears no answer;
//! - a vanished adapter takes its addresses and neighbour entries with it.
//!
//! Simplification: an address is keyed by (adapter, ip); a second add of the
//! same ip with another prefix length is absorbed like EEXIST, and a delete
//! removes the ip whatever its prefix length.
//!
//! Faults ([`Fault`], `fault.rs`) change the result of matching calls,
//! chosen by call kind, adapter, call number and count. Scheduled changes
//! ([`NetChange`], `schedule.rs`) alter the network between calls (carrier
//! flaps, an adapter vanishes), triggered by call number or by the time of
//! the shared fake clock ([`SimClock`], `clock.rs`), so debounce can be
//! tested without sleeping. A watcher ([`SimChanges`], `changes.rs`) is
//! told of every change, as the daemon is on a real system.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use crate::net::{Change, KernelError, LinkInfo};
use crate::resource::{AdapterName, Address, Mac};

mod changes;
mod clock;
mod fault;
mod hook;
mod kernel;
mod network;
mod record;
mod schedule;

pub use changes::SimChanges;
pub use clock::SimClock;
pub use fault::{CallKind, Effect, Fault};
pub use record::{Announcement, Call, Neighbour};
pub use schedule::{NetChange, When};

use hook::Hooks;
use network::{Inner, Remote};
use schedule::Scheduled;

/// The simulated network. All methods take `&self`; it is safe to share.
#[derive(Debug)]
pub struct SimNet {
    inner: Mutex<Inner>,
    clock: SimClock,
    hooks: Hooks,
}

impl Default for SimNet {
    fn default() -> Self {
        Self::new()
    }
}

impl SimNet {
    pub fn new() -> Self {
        Self::with_clock(SimClock::new())
    }

    pub fn with_clock(clock: SimClock) -> Self {
        Self {
            inner: Mutex::new(Inner {
                next_ifindex: 2,
                ..Inner::default()
            }),
            clock,
            hooks: Hooks::default(),
        }
    }

    /// The clock whose time triggers [`When::At`] changes; give it to the
    /// operations' `Ctx`.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---- building the network ----

    /// Add an adapter, up and with carrier. Returns its ifindex. An adapter
    /// of the same name is replaced (a new NIC under the old name).
    pub fn add_adapter(&self, name: AdapterName, mac: Mac) -> u32 {
        self.lock().add_adapter(name, mac)
    }

    pub fn set_carrier(&self, name: &AdapterName, carrier: bool) {
        self.lock()
            .apply(&NetChange::Carrier(name.clone(), carrier));
    }

    pub fn set_admin_up(&self, name: &AdapterName, up: bool) {
        self.lock().apply(&NetChange::AdminUp(name.clone(), up));
    }

    /// The adapter disappears now.
    pub fn vanish(&self, name: &AdapterName) {
        self.lock().vanish(name);
    }

    /// The address leaves the adapter behind our back (no call is recorded).
    pub fn unassign(&self, adapter: &AdapterName, ip: IpAddr) {
        self.lock().apply(&NetChange::Unassign(adapter.clone(), ip));
    }

    /// Put an address on an adapter directly (no call is recorded).
    pub fn assign(&self, adapter: &AdapterName, addr: Address) {
        self.lock().apply(&NetChange::Assign(adapter.clone(), addr));
    }

    pub fn add_neighbour(&self, adapter: AdapterName, ip: IpAddr, mac: Mac) {
        self.lock().neighbours.push(Neighbour { adapter, ip, mac });
    }

    /// A remote host answering for `ips` with `mac`, on the segment of
    /// `via` (every adapter when `None`).
    pub fn add_remote(&self, mac: Mac, ips: Vec<IpAddr>, via: Option<Vec<AdapterName>>) {
        self.lock().remotes.push(Remote { mac, ips, via });
    }

    /// A remote host with `mac` announces `ip` now ([`NetChange::Announce`]).
    pub fn announce_from(&self, mac: Mac, ip: IpAddr) {
        self.lock().apply(&NetChange::Announce(mac, ip));
    }

    /// The addresses the watcher listens for claims of.
    pub fn claims_watched(&self) -> Vec<crate::net::WatchedAddress> {
        self.lock().claims_watched.clone()
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Run `hook` before every kernel call, with the network unlocked: a
    /// test reads the files an operation has written so far, or panics to
    /// stop the operation there as a SIGKILL would (nothing after it runs,
    /// nothing it did is undone).
    pub fn before_each_call(&self, hook: impl Fn(CallKind) + Send + Sync + 'static) {
        self.hooks.add(hook);
    }

    pub fn schedule(&self, when: When, change: NetChange) {
        self.lock().scheduled.push(Scheduled { when, change });
    }

    /// The watcher's queue overflows: the changes not yet delivered are
    /// lost and [`Change::Overrun`] is delivered instead.
    pub fn overrun(&self) {
        if let Some(q) = &mut self.lock().watched {
            q.clear();
            q.push_back(Change::Overrun);
        }
    }

    // ---- inspecting it ----

    /// The address table, in adapter (ifindex) order, then insertion order.
    pub fn addresses(&self) -> Vec<(AdapterName, Address)> {
        let g = self.settled();
        let order: BTreeMap<AdapterName, u32> = g
            .adapters
            .iter()
            .map(|a| (a.name.clone(), a.ifindex))
            .collect();
        let mut out = g.addresses.clone();
        out.sort_by_key(|(a, _)| order.get(a).copied().unwrap_or(u32::MAX));
        out
    }

    pub fn neighbours(&self) -> Vec<Neighbour> {
        self.settled().neighbours.clone()
    }

    pub fn announcements(&self) -> Vec<Announcement> {
        self.settled().announcements.clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Make `holders_and_links` answer as Linux does, with the link of
    /// each holder (read without a recorded call: Linux reads it to name
    /// the holder). Off by default: the holders alone, as the seam's
    /// default, so call counts elsewhere stay as they were.
    pub fn name_holders_by_link(&self, on: bool) {
        self.lock().holders_with_links = on;
    }

    /// How many calls of `kind` were made.
    pub fn count(&self, kind: CallKind) -> usize {
        self.lock().calls.iter().filter(|c| c.kind == kind).count()
    }

    /// The current state of an adapter (None when missing), without
    /// recording a call.
    pub fn link_info(&self, name: &AdapterName) -> Option<LinkInfo> {
        self.settled().adapter(name).map(|a| a.info())
    }

    fn settled(&self) -> MutexGuard<'_, Inner> {
        let mut g = self.lock();
        g.apply_due(None, self.clock.elapsed());
        g
    }

    /// Start a call: apply due changes, find its fault. Returns the call
    /// number, the guard and the fault's effect.
    fn begin(
        &self,
        kind: CallKind,
        adapter: Option<&AdapterName>,
    ) -> (u64, MutexGuard<'_, Inner>, Option<Effect>) {
        self.hooks.run(kind);
        let mut g = self.lock();
        let n = g.calls.len() as u64 + 1;
        g.apply_due(Some(n), self.clock.elapsed());
        let effect = g.fault_for(kind, adapter, n);
        (n, g, effect)
    }

    fn end<T>(
        g: &mut Inner,
        n: u64,
        kind: CallKind,
        adapter: Option<&AdapterName>,
        ip: Option<IpAddr>,
        faulted: bool,
        result: Result<T, KernelError>,
    ) -> Result<T, KernelError> {
        g.calls.push(Call {
            n,
            kind,
            adapter: adapter.cloned(),
            ip,
            errno: result.as_ref().err().map(|e| e.errno),
            faulted,
        });
        result
    }
}

/// A network with eth0 and eth1, and the address the tests move around.
#[cfg(test)]
mod testing {
    use super::SimNet;
    use crate::resource::{AdapterName, Address, Mac};

    pub fn nic(s: &str) -> AdapterName {
        AdapterName::new(s).unwrap()
    }

    pub fn net() -> SimNet {
        let n = SimNet::new();
        n.add_adapter(nic("eth0"), Mac([2, 0, 0, 0, 0, 1]));
        n.add_adapter(nic("eth1"), Mac([2, 0, 0, 0, 0, 2]));
        n
    }

    pub fn vip() -> Address {
        "198.51.100.10/24".parse().unwrap()
    }
}
