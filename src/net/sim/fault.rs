//! Faults for the simulated network: which calls they hit (kind, adapter,
//! call number, count) and what they do to them.

use std::fmt;

use crate::net::{KernelError, KernelOp};
use crate::resource::AdapterName;

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
    /// [`crate::net::Kernel::snapshot`]: every link and address at once.
    Snapshot,
}

impl CallKind {
    pub const ALL: [CallKind; 8] = [
        CallKind::Link,
        CallKind::Holders,
        CallKind::Add,
        CallKind::Delete,
        CallKind::Flush,
        CallKind::Announce,
        CallKind::Probe,
        CallKind::Snapshot,
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
            CallKind::Snapshot => "snapshot",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The error a fault injected into a call of this kind gives.
    pub(super) fn injected(self, target: Option<String>, errno: i32) -> KernelError {
        KernelError::new(self.op(), target, errno)
    }

    pub(super) fn op(self) -> KernelOp {
        match self {
            CallKind::Link => KernelOp::GetLink,
            CallKind::Holders => KernelOp::DumpAddresses,
            CallKind::Add => KernelOp::AddAddress,
            CallKind::Delete => KernelOp::DeleteAddress,
            CallKind::Flush => KernelOp::FlushNeighbours,
            CallKind::Announce => KernelOp::Announce,
            CallKind::Probe => KernelOp::Probe,
            CallKind::Snapshot => KernelOp::DumpAddresses,
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

    pub(super) fn matches(&self, kind: CallKind, adapter: Option<&AdapterName>, n: u64) -> bool {
        kind == self.call
            && self.adapter.as_ref().is_none_or(|a| Some(a) == adapter)
            && self.at_call.is_none_or(|k| k == n)
    }

    /// Count a matching call; true when the fault fires on it.
    pub(super) fn fire(&mut self) -> bool {
        self.seen += 1;
        self.seen > self.skip && (self.times == 0 || self.seen <= self.skip + self.times)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{net, nic, vip};
    use super::*;
    use crate::net::{AddOptions, Kernel};

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
}
