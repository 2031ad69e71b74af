//! An in-memory network implementing the kernel seam, with fault injection.
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
//!   the [`Kernel`] contract says);
//! - announce and probe on an administratively down adapter give
//!   `ENETDOWN`; on an adapter without carrier they "send" into nothing:
//!   announce succeeds, probe hears no answer;
//! - a vanished adapter takes its addresses and neighbour entries with it.
//!
//! Simplification: an address is keyed by (adapter, ip); a second add of the
//! same ip with another prefix length is absorbed like EEXIST, and a delete
//! removes the ip whatever its prefix length.
//!
//! Faults ([`Fault`]) change the result of matching calls, chosen by call
//! kind, adapter, call number and count. Changes ([`Change`]) alter the
//! network between calls (carrier flaps, an adapter vanishes), triggered by
//! call number or by the time of the shared fake clock ([`SimClock`]), so
//! debounce can be tested without sleeping.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::{
    AddOptions, AnnouncePlan, Kernel, KernelError, KernelOp, LinkInfo, LinkState, ProbeResult,
};
use crate::ops::Clock;
use crate::resource::{AdapterName, Address, Mac};

/// The kind of a kernel call, for faults and the call record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallKind {
    Link,
    Holders,
    Add,
    Delete,
    Flush,
    Announce,
    Probe,
}

impl CallKind {
    pub const ALL: [CallKind; 7] = [
        CallKind::Link,
        CallKind::Holders,
        CallKind::Add,
        CallKind::Delete,
        CallKind::Flush,
        CallKind::Announce,
        CallKind::Probe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Link => "link",
            CallKind::Holders => "holders",
            CallKind::Add => "add",
            CallKind::Delete => "delete",
            CallKind::Flush => "flush",
            CallKind::Announce => "announce",
            CallKind::Probe => "probe",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn op(self) -> KernelOp {
        match self {
            CallKind::Link => KernelOp::GetLink,
            CallKind::Holders => KernelOp::DumpAddresses,
            CallKind::Add => KernelOp::AddAddress,
            CallKind::Delete => KernelOp::DeleteAddress,
            CallKind::Flush => KernelOp::FlushNeighbours,
            CallKind::Announce => KernelOp::Announce,
            CallKind::Probe => KernelOp::Probe,
        }
    }
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a fault does to a matching call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The call fails with this errno (any call kind).
    Fail(i32),
    /// An add "succeeds" but the address lands on another adapter.
    LandsOn(AdapterName),
    /// A delete "succeeds" but the address stays.
    Stays,
}

/// A scripted fault: which calls it hits, and what it does to them.
///
/// A call matches when its kind is `call`, its adapter is `adapter` (when
/// set) and its number is `at_call` (when set). Of the matching calls, the
/// first `skip` pass untouched, then the next `times` are hit (`times` 0 =
/// every one from then on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub call: CallKind,
    pub adapter: Option<AdapterName>,
    pub at_call: Option<u64>,
    pub skip: u32,
    pub times: u32,
    pub effect: Effect,
    seen: u32,
}

impl Fault {
    /// `call` fails with `errno` (the next matching call only; see
    /// [`Fault::times`]).
    pub fn fails(call: CallKind, errno: i32) -> Self {
        Self::new(call, Effect::Fail(errno))
    }

    pub fn add_lands_on(adapter: AdapterName) -> Self {
        Self::new(CallKind::Add, Effect::LandsOn(adapter))
    }

    pub fn delete_stays() -> Self {
        Self::new(CallKind::Delete, Effect::Stays)
    }

    /// A fault with an explicit effect. `LandsOn` only ever hits adds and
    /// `Stays` only deletes, whatever `call` says.
    pub fn new(call: CallKind, effect: Effect) -> Self {
        let call = match effect {
            Effect::LandsOn(_) => CallKind::Add,
            Effect::Stays => CallKind::Delete,
            Effect::Fail(_) => call,
        };
        Self {
            call,
            adapter: None,
            at_call: None,
            skip: 0,
            times: 1,
            effect,
            seen: 0,
        }
    }

    pub fn on_adapter(mut self, adapter: AdapterName) -> Self {
        self.adapter = Some(adapter);
        self
    }

    /// Only the call with this number (1-based, counting every call).
    pub fn at_call(mut self, n: u64) -> Self {
        self.at_call = Some(n);
        self
    }

    /// Let the first `n` matching calls pass.
    pub fn skip(mut self, n: u32) -> Self {
        self.skip = n;
        self
    }

    /// Hit the next `n` matching calls (0 = all of them).
    pub fn times(mut self, n: u32) -> Self {
        self.times = n;
        self
    }

    fn matches(&self, kind: CallKind, adapter: Option<&AdapterName>, n: u64) -> bool {
        kind == self.call
            && self.adapter.as_ref().is_none_or(|a| Some(a) == adapter)
            && self.at_call.is_none_or(|k| k == n)
    }

    /// Count a matching call; true when the fault fires on it.
    fn fire(&mut self) -> bool {
        self.seen += 1;
        self.seen > self.skip && (self.times == 0 || self.seen <= self.skip + self.times)
    }
}

/// When a [`Change`] happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Just before call number `n` (1-based) runs: call `n` sees it.
    BeforeCall(u64),
    /// Just after call number `n` returns: call `n + 1` sees it.
    AfterCall(u64),
    /// Once the fake clock has advanced this far from its start.
    At(Duration),
}

/// Something that happens to the network between calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Carrier(AdapterName, bool),
    AdminUp(AdapterName, bool),
    /// The adapter disappears, with its addresses and neighbour entries.
    Vanish(AdapterName),
    /// A remote host starts answering for `ip` with `mac`.
    Claim(Mac, IpAddr),
    /// The address is assigned to the adapter behind our back.
    Assign(AdapterName, Address),
    /// The address is deleted from the adapter behind our back.
    Unassign(AdapterName, IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub when: When,
    pub action: Action,
}

/// One entry of the neighbour (ARP/NDP) cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub adapter: AdapterName,
    pub ip: IpAddr,
    pub mac: Mac,
}

/// One announcement sent (gratuitous ARP / unsolicited NA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub adapter: AdapterName,
    pub ip: IpAddr,
    pub plan: AnnouncePlan,
    /// Whether the adapter had carrier, i.e. the frames reached the wire.
    pub on_wire: bool,
}

/// One kernel call as the operations made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// 1-based, counting every call.
    pub n: u64,
    pub kind: CallKind,
    pub adapter: Option<AdapterName>,
    pub ip: Option<IpAddr>,
    /// `None` on success, else the errno returned.
    pub errno: Option<i32>,
    /// A fault changed this call's result.
    pub faulted: bool,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}", self.n, self.kind)?;
        if let Some(a) = &self.adapter {
            write!(f, " {a}")?;
        }
        if let Some(ip) = &self.ip {
            write!(f, " {ip}")?;
        }
        match self.errno {
            None => f.write_str(" -> ok")?,
            Some(e) => write!(f, " -> errno {e}")?,
        }
        if self.faulted {
            f.write_str(" (fault)")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Adapter {
    name: AdapterName,
    ifindex: u32,
    mac: Mac,
    admin_up: bool,
    carrier: bool,
}

impl Adapter {
    fn state(&self) -> LinkState {
        if self.admin_up && self.carrier {
            LinkState::Connected
        } else {
            LinkState::Disconnected
        }
    }
}

#[derive(Debug, Clone)]
struct Remote {
    mac: Mac,
    ips: Vec<IpAddr>,
    /// The local adapters whose segment the host is on (`None` = all).
    via: Option<Vec<AdapterName>>,
}

#[derive(Debug, Default)]
struct Inner {
    adapters: Vec<Adapter>,
    next_ifindex: u32,
    addresses: Vec<(AdapterName, Address)>,
    neighbours: Vec<Neighbour>,
    announcements: Vec<Announcement>,
    remotes: Vec<Remote>,
    calls: Vec<Call>,
    faults: Vec<Fault>,
    changes: Vec<Change>,
}

impl Inner {
    fn adapter(&self, name: &AdapterName) -> Option<&Adapter> {
        self.adapters.iter().find(|a| &a.name == name)
    }

    fn adapter_mut(&mut self, name: &AdapterName) -> Option<&mut Adapter> {
        self.adapters.iter_mut().find(|a| &a.name == name)
    }

    fn assign(&mut self, adapter: &AdapterName, addr: Address) {
        if !self
            .addresses
            .iter()
            .any(|(a, x)| a == adapter && x.ip() == addr.ip())
        {
            self.addresses.push((adapter.clone(), addr));
        }
    }

    fn unassign(&mut self, adapter: &AdapterName, ip: IpAddr) {
        self.addresses
            .retain(|(a, x)| !(a == adapter && x.ip() == ip));
    }

    fn vanish(&mut self, name: &AdapterName) {
        self.adapters.retain(|a| &a.name != name);
        self.addresses.retain(|(a, _)| a != name);
        self.neighbours.retain(|n| &n.adapter != name);
    }

    fn apply(&mut self, action: &Action) {
        match action {
            Action::Carrier(a, up) => {
                if let Some(x) = self.adapter_mut(a) {
                    x.carrier = *up;
                }
            }
            Action::AdminUp(a, up) => {
                if let Some(x) = self.adapter_mut(a) {
                    x.admin_up = *up;
                }
            }
            Action::Vanish(a) => self.vanish(a),
            Action::Claim(mac, ip) => self.remotes.push(Remote {
                mac: *mac,
                ips: vec![*ip],
                via: None,
            }),
            Action::Assign(a, addr) => {
                if self.adapter(a).is_some() {
                    self.assign(a, *addr);
                }
            }
            Action::Unassign(a, ip) => self.unassign(a, *ip),
        }
    }

    /// Apply every change that is due. `upcoming` is the number of the call
    /// about to run (None when only inspecting).
    fn apply_due(&mut self, upcoming: Option<u64>, elapsed: Duration) {
        let done = self.calls.len() as u64;
        let due = |w: &When| match *w {
            When::BeforeCall(k) => upcoming.is_some_and(|n| k <= n),
            When::AfterCall(k) => k <= done,
            When::At(t) => t <= elapsed,
        };
        let (now, later): (Vec<Change>, Vec<Change>) = std::mem::take(&mut self.changes)
            .into_iter()
            .partition(|c| due(&c.when));
        self.changes = later;
        for c in &now {
            self.apply(&c.action);
        }
    }

    /// The effect of the faults on a call about to run (the first firing
    /// fault wins; every matching fault counts the call).
    fn fault_for(
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

    fn missing(&self, kind: CallKind, adapter: &AdapterName) -> Option<KernelError> {
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
    fn packet_adapter(
        &self,
        kind: CallKind,
        adapter: &AdapterName,
        effect: Option<Effect>,
    ) -> Result<Adapter, KernelError> {
        if let Some(e) = self.missing(kind, adapter) {
            return Err(e);
        }
        if let Some(Effect::Fail(errno)) = effect {
            return Err(injected(kind, Some(adapter.to_string()), errno));
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

/// A fake clock shared by a [`SimNet`] and the operations: `sleep` only
/// moves time forward.
#[derive(Debug, Clone)]
pub struct SimClock {
    start: SystemTime,
    elapsed: Arc<Mutex<Duration>>,
}

impl SimClock {
    /// A clock starting at 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        Self::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    }

    pub fn starting_at(start: SystemTime) -> Self {
        Self {
            start,
            elapsed: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    /// How far the clock has moved since its start.
    pub fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn advance(&self, d: Duration) {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner()) += d;
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SimClock {
    fn now(&self) -> SystemTime {
        self.start + self.elapsed()
    }

    fn sleep(&self, d: Duration) {
        self.advance(d);
    }
}

/// The simulated network. All methods take `&self`; it is safe to share.
#[derive(Debug)]
pub struct SimNet {
    inner: Mutex<Inner>,
    clock: SimClock,
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
        let mut g = self.lock();
        g.adapters.retain(|a| a.name != name);
        let ifindex = g.next_ifindex;
        g.next_ifindex += 1;
        g.adapters.push(Adapter {
            name,
            ifindex,
            mac,
            admin_up: true,
            carrier: true,
        });
        ifindex
    }

    pub fn set_carrier(&self, name: &AdapterName, carrier: bool) {
        self.lock().apply(&Action::Carrier(name.clone(), carrier));
    }

    pub fn set_admin_up(&self, name: &AdapterName, up: bool) {
        self.lock().apply(&Action::AdminUp(name.clone(), up));
    }

    /// The adapter disappears now.
    pub fn vanish(&self, name: &AdapterName) {
        self.lock().vanish(name);
    }

    /// Put an address on an adapter directly (no call is recorded).
    pub fn assign(&self, adapter: &AdapterName, addr: Address) {
        self.lock().apply(&Action::Assign(adapter.clone(), addr));
    }

    pub fn add_neighbour(&self, adapter: AdapterName, ip: IpAddr, mac: Mac) {
        self.lock().neighbours.push(Neighbour { adapter, ip, mac });
    }

    /// A remote host answering for `ips` with `mac`, on the segment of
    /// `via` (every adapter when `None`).
    pub fn add_remote(&self, mac: Mac, ips: Vec<IpAddr>, via: Option<Vec<AdapterName>>) {
        self.lock().remotes.push(Remote { mac, ips, via });
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    pub fn schedule(&self, when: When, action: Action) {
        self.lock().changes.push(Change { when, action });
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

    /// How many calls of `kind` were made.
    pub fn count(&self, kind: CallKind) -> usize {
        self.lock().calls.iter().filter(|c| c.kind == kind).count()
    }

    /// The current state of an adapter (None when missing), without
    /// recording a call.
    pub fn link_info(&self, name: &AdapterName) -> Option<LinkInfo> {
        self.settled().adapter(name).map(|a| LinkInfo {
            name: a.name.clone(),
            ifindex: a.ifindex,
            mac: a.mac,
            state: a.state(),
        })
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

fn injected(kind: CallKind, target: Option<String>, errno: i32) -> KernelError {
    KernelError::new(kind.op(), target, errno)
}

impl Kernel for SimNet {
    fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError> {
        let kind = CallKind::Link;
        let (n, mut g, effect) = self.begin(kind, Some(adapter));
        let faulted = effect.is_some();
        let result = match effect {
            Some(Effect::Fail(errno)) => Err(injected(kind, Some(adapter.to_string()), errno)),
            _ => match g.adapter(adapter) {
                Some(a) => Ok(LinkInfo {
                    name: a.name.clone(),
                    ifindex: a.ifindex,
                    mac: a.mac,
                    state: a.state(),
                }),
                None => Err(KernelError::new(
                    kind.op(),
                    Some(adapter.to_string()),
                    libc::ENODEV,
                )),
            },
        };
        Self::end(&mut g, n, kind, Some(adapter), None, faulted, result)
    }

    fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
        let kind = CallKind::Holders;
        let (n, mut g, effect) = self.begin(kind, None);
        let faulted = effect.is_some();
        let result = match effect {
            Some(Effect::Fail(errno)) => Err(injected(kind, None, errno)),
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
                Some(Effect::Fail(errno)) => Err(injected(kind, Some(adapter.to_string()), errno)),
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
                Some(Effect::Fail(errno)) => Err(injected(kind, Some(adapter.to_string()), errno)),
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
            Some(Effect::Fail(errno)) => Err(injected(kind, Some(ip.to_string()), errno)),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(s: &str) -> AdapterName {
        AdapterName::new(s).unwrap()
    }

    fn net() -> SimNet {
        let n = SimNet::new();
        n.add_adapter(nic("eth0"), Mac([2, 0, 0, 0, 0, 1]));
        n.add_adapter(nic("eth1"), Mac([2, 0, 0, 0, 0, 2]));
        n
    }

    fn vip() -> Address {
        "198.51.100.10/24".parse().unwrap()
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
    fn faults_by_count_and_by_call_number() {
        let n = net();
        n.inject(Fault::fails(CallKind::Add, libc::EPERM).skip(1).times(2));
        let add = || n.add_address(&nic("eth0"), &vip(), AddOptions::default());
        assert!(add().is_ok());
        assert_eq!(add().unwrap_err().errno, libc::EPERM);
        assert_eq!(add().unwrap_err().errno, libc::EPERM);
        assert!(add().is_ok());
        n.inject(Fault::fails(CallKind::Link, libc::EIO).at_call(6));
        assert!(n.link(&nic("eth0")).is_ok()); // call 5
        assert_eq!(n.link(&nic("eth0")).unwrap_err().errno, libc::EIO); // call 6
        assert!(n.link(&nic("eth0")).is_ok());
        let calls = n.calls();
        assert_eq!(calls.len(), 7);
        assert!(calls[5].faulted && calls[5].errno == Some(libc::EIO));
    }

    #[test]
    fn lands_on_and_stays() {
        let n = net();
        n.inject(Fault::add_lands_on(nic("eth1")));
        n.add_address(&nic("eth0"), &vip(), AddOptions::default())
            .unwrap();
        assert_eq!(n.holders(vip().ip()).unwrap(), vec![nic("eth1")]);
        n.inject(Fault::delete_stays());
        n.delete_address(&nic("eth1"), &vip()).unwrap();
        assert_eq!(n.holders(vip().ip()).unwrap(), vec![nic("eth1")]);
        n.delete_address(&nic("eth1"), &vip()).unwrap();
        assert!(n.holders(vip().ip()).unwrap().is_empty());
    }

    #[test]
    fn changes_by_call_and_by_time() {
        let n = net();
        n.assign(&nic("eth1"), vip());
        n.schedule(When::AfterCall(1), Action::Carrier(nic("eth0"), false));
        n.schedule(When::BeforeCall(3), Action::Vanish(nic("eth1")));
        n.schedule(
            When::At(Duration::from_millis(30)),
            Action::Carrier(nic("eth0"), true),
        );
        assert_eq!(n.link_state(&nic("eth0")).unwrap(), LinkState::Connected);
        assert_eq!(n.link_state(&nic("eth0")).unwrap(), LinkState::Disconnected);
        assert_eq!(n.link_state(&nic("eth1")).unwrap(), LinkState::Missing);
        assert!(n.addresses().is_empty());
        n.clock().sleep(Duration::from_millis(29));
        assert_eq!(n.link_state(&nic("eth0")).unwrap(), LinkState::Disconnected);
        n.clock().sleep(Duration::from_millis(1));
        assert_eq!(n.link_state(&nic("eth0")).unwrap(), LinkState::Connected);
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
