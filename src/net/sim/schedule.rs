//! Scripted changes to the simulated network ([`NetChange`]) and when they
//! happen ([`When`]): before or after a numbered call, or at a time of the
//! shared fake clock.

use std::net::IpAddr;
use std::time::Duration;

use crate::resource::{AdapterName, Address, Mac};

/// When a [`NetChange`] happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Just before call number `n` (1-based) runs: call `n` sees it.
    BeforeCall(u64),
    /// Just after call number `n` returns: call `n + 1` sees it.
    AfterCall(u64),
    /// Once the fake clock has advanced this far from its start.
    At(Duration),
}

impl When {
    /// Is it time? `upcoming` is the number of the call about to run (None
    /// when only inspecting), `done` the number of calls made, `elapsed`
    /// the fake clock's time since its start.
    pub(super) fn is_due(self, upcoming: Option<u64>, done: u64, elapsed: Duration) -> bool {
        match self {
            When::BeforeCall(k) => upcoming.is_some_and(|n| k <= n),
            When::AfterCall(k) => k <= done,
            When::At(t) => t <= elapsed,
        }
    }
}

/// Something that happens to the network between calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetChange {
    Carrier(AdapterName, bool),
    AdminUp(AdapterName, bool),
    /// The adapter disappears, with its addresses and neighbour entries.
    Vanish(AdapterName),
    /// A remote host starts answering for `ip` with `mac`.
    Claim(Mac, IpAddr),
    /// A remote host with `mac` announces `ip` (a gratuitous ARP or an
    /// unsolicited NA): heard on every adapter up with carrier, and
    /// reported to the watcher where it listens for claims of `ip`.
    Announce(Mac, IpAddr),
    /// The address is assigned to the adapter behind our back.
    Assign(AdapterName, Address),
    /// The address is deleted from the adapter behind our back.
    Unassign(AdapterName, IpAddr),
}

/// A change waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Scheduled {
    pub when: When,
    pub change: NetChange,
}

#[cfg(test)]
mod tests {
    use super::super::testing::{net, nic, vip};
    use super::*;
    use crate::clock::Clock;
    use crate::net::{Kernel, LinkState};

    #[test]
    fn changes_by_call_and_by_time() {
        let n = net();
        n.assign(&nic("eth1"), vip());
        n.schedule(When::AfterCall(1), NetChange::Carrier(nic("eth0"), false));
        n.schedule(When::BeforeCall(3), NetChange::Vanish(nic("eth1")));
        n.schedule(
            When::At(Duration::from_millis(30)),
            NetChange::Carrier(nic("eth0"), true),
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
}
