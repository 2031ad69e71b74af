//! The simulated network as a change source: a watcher is told of every
//! change to links and addresses (made by a test, by the operations'
//! calls, or scheduled), and its wait runs in virtual time. Also the
//! simulated [`Backend`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::SimNet;
use crate::net::changes::Wake;
use crate::net::{
    Backend, Change, ChangeSource, Kernel, KernelError, LinkStatus, Waker, WatchedAddress,
    WireWatch,
};

impl SimNet {
    /// Start watching: from now on every change is queued for the returned
    /// source (a second watcher replaces the first).
    pub fn watch(self: &Arc<Self>) -> SimChanges {
        self.lock().watched = Some(Default::default());
        SimChanges {
            net: self.clone(),
            woken: Arc::new(Flag::default()),
        }
    }
}

/// The daemon on a simulated network: every worker shares the one network.
impl Backend for Arc<SimNet> {
    fn open_kernel(&self) -> Result<Box<dyn Kernel>, KernelError> {
        Ok(Box::new(self.clone()))
    }

    fn open_changes(&self) -> Result<Box<dyn ChangeSource>, KernelError> {
        Ok(Box::new(self.watch()))
    }
}

/// The watcher of a [`SimNet`] ([`SimNet::watch`]).
#[derive(Debug)]
pub struct SimChanges {
    net: Arc<SimNet>,
    woken: Arc<Flag>,
}

#[derive(Debug, Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl ChangeSource for SimChanges {
    fn links(&mut self) -> Result<Vec<LinkStatus>, KernelError> {
        Ok(self
            .net
            .settled()
            .adapters
            .iter()
            .map(|a| a.status())
            .collect())
    }

    /// Never sleeps. Returns at once what is queued, or nothing after a
    /// wake-up. Otherwise the fake clock jumps to the next scheduled change
    /// when that comes within `timeout` (and returns what it did), else to
    /// the end of `timeout`. With no timeout and nothing scheduled it
    /// returns at once: in a simulation nothing else can happen meanwhile.
    fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<Change>, KernelError> {
        let clock = self.net.clock().clone();
        let woken = self.woken.0.swap(false, Ordering::SeqCst);
        let mut g = self.net.settled();
        let queued = g.watched.get_or_insert_default();
        if !queued.is_empty() || woken {
            return Ok(queued.drain(..).collect());
        }
        let now = clock.elapsed();
        let until = timeout.map(|t| now + t);
        let jump_to = match (g.next_timed(), until) {
            (Some(next), Some(until)) => Some(next.min(until)),
            (next, until) => next.or(until),
        };
        if let Some(t) = jump_to {
            clock.advance(t.saturating_sub(now));
            g.apply_due(None, clock.elapsed());
        }
        Ok(g.watched.get_or_insert_default().drain(..).collect())
    }

    fn waker(&self) -> Waker {
        Waker::new(self.woken.clone())
    }

    /// Remote announcements ([`SimNet::announce_from`]) of these addresses
    /// are reported from now on.
    fn watch_addresses(&mut self, addresses: &[WatchedAddress]) -> Result<WireWatch, KernelError> {
        self.net.lock().claims_watched = addresses.to_vec();
        Ok(WireWatch::Listening)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{net, nic, vip};
    use super::super::{NetChange, When};
    use super::*;
    use crate::net::AddOptions;
    use crate::resource::Mac;

    #[test]
    fn changes_are_reported_in_order_with_their_ifindex() {
        let n = Arc::new(net());
        let mut w = n.watch();
        n.set_carrier(&nic("eth0"), false);
        n.set_carrier(&nic("eth0"), false); // no change, nothing reported
        n.add_address(&nic("eth1"), &vip(), AddOptions::default())
            .unwrap();
        n.vanish(&nic("eth1"));
        let got = w.wait(None).unwrap();
        let ip = vip().ip();
        assert!(matches!(&got[0], Change::Link(l) if l.ifindex == 2 && !l.carrier));
        assert_eq!(
            got[1..],
            [
                Change::AddressAdded { ifindex: 3, ip },
                Change::AddressRemoved { ifindex: 3, ip },
                Change::LinkGone {
                    ifindex: 3,
                    name: nic("eth1")
                },
            ]
        );
        assert_eq!(w.links().unwrap().len(), 1);
    }

    #[test]
    fn wait_runs_in_virtual_time_and_stops_at_scheduled_changes() {
        let n = Arc::new(net());
        let mut w = n.watch();
        let clock = n.clock().clone();
        assert!(w.wait(Some(Duration::from_millis(250))).unwrap().is_empty());
        assert_eq!(clock.elapsed(), Duration::from_millis(250));
        n.schedule(
            When::At(Duration::from_millis(400)),
            NetChange::Carrier(nic("eth0"), false),
        );
        let got = w.wait(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(clock.elapsed(), Duration::from_millis(400));
        assert!(matches!(&got[..], [Change::Link(l)] if !l.carrier));
        // Nothing queued, nothing scheduled, no timeout: back at once.
        assert!(w.wait(None).unwrap().is_empty());
        assert_eq!(clock.elapsed(), Duration::from_millis(400));
    }

    #[test]
    fn announcements_are_claims_only_where_watched_and_heard() {
        let n = Arc::new(net());
        let mut w = n.watch();
        let ip = vip().ip();
        let stranger = Mac([2, 0, 0, 0, 0, 0x99]);
        // Not watched yet: nothing.
        n.announce_from(stranger, ip);
        assert!(w.wait(None).unwrap().is_empty());
        let watched = [WatchedAddress { ifindex: 2, ip }];
        assert_eq!(w.watch_addresses(&watched), Ok(WireWatch::Listening));
        n.announce_from(stranger, ip);
        // Our own MAC is no claim; another address is not watched.
        n.announce_from(Mac([2, 0, 0, 0, 0, 2]), ip);
        n.announce_from(stranger, "198.51.100.11".parse().unwrap());
        assert_eq!(
            w.wait(None).unwrap(),
            [Change::AddressClaimed {
                ifindex: 2,
                ip,
                mac: stranger
            }]
        );
        // Without carrier, nothing is heard.
        n.set_carrier(&nic("eth0"), false);
        assert_eq!(w.wait(None).unwrap().len(), 1);
        n.announce_from(stranger, ip);
        assert!(w.wait(None).unwrap().is_empty());
    }

    #[test]
    fn a_wake_ends_the_wait_and_an_overrun_drops_the_queue() {
        let n = Arc::new(net());
        let mut w = n.watch();
        w.waker().wake();
        assert!(w.wait(Some(Duration::from_secs(1))).unwrap().is_empty());
        assert_eq!(n.clock().elapsed(), Duration::ZERO);
        n.set_admin_up(&nic("eth1"), false);
        n.overrun();
        assert_eq!(w.wait(None).unwrap(), [Change::Overrun]);
    }
}
