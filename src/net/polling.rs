//! A change source for a backend without (working) notifications: it reads
//! the whole node ([`Kernel::snapshot`]) at an interval and reports the
//! differences as [`Change`]s. Portable: its [`Waker`] is a condition
//! variable, not a file descriptor.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::changes::Wake;
use super::{Change, ChangeSource, Kernel, KernelError, LinkStatus, NodeSnapshot, Waker};

/// What changed from `old` to `new`: links that appeared or changed, then
/// addresses that left, addresses that appeared, and links that left (the
/// order a kernel reports them in).
pub fn changes_between(old: &NodeSnapshot, new: &NodeSnapshot) -> Vec<Change> {
    let mut out = Vec::new();
    for l in new.links() {
        if old.link_by_index(l.ifindex) != Some(l) {
            out.push(Change::Link(l.clone()));
        }
    }
    let held = |s: &NodeSnapshot| -> HashSet<(u32, IpAddr)> {
        s.addresses().iter().map(|a| (a.ifindex, a.ip)).collect()
    };
    let (before, after) = (held(old), held(new));
    for a in old.addresses() {
        if !after.contains(&(a.ifindex, a.ip)) {
            out.push(Change::AddressRemoved {
                ifindex: a.ifindex,
                ip: a.ip,
            });
        }
    }
    for a in new.addresses() {
        if !before.contains(&(a.ifindex, a.ip)) {
            out.push(Change::AddressAdded {
                ifindex: a.ifindex,
                ip: a.ip,
            });
        }
    }
    for l in old.links() {
        if new.link_by_index(l.ifindex).is_none() {
            out.push(Change::LinkGone {
                ifindex: l.ifindex,
                name: l.name.clone(),
            });
        }
    }
    out
}

/// Polls `kernel` every `every` while waiting.
pub struct PollingChanges {
    kernel: Box<dyn Kernel>,
    every: Duration,
    last: NodeSnapshot,
    wake: Arc<Signal>,
}

#[derive(Default)]
struct Signal {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Wake for Signal {
    fn wake(&self) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }
}

impl PollingChanges {
    /// Read the node once now; later differences are the changes.
    pub fn open(kernel: Box<dyn Kernel>, every: Duration) -> Result<Self, KernelError> {
        let last = kernel.snapshot()?;
        Ok(Self {
            kernel,
            every,
            last,
            wake: Arc::default(),
        })
    }

    /// Read the node every `every` from now on.
    pub fn set_interval(&mut self, every: Duration) {
        self.every = every;
    }

    /// Sleep until `until` or a wake-up; true when woken.
    fn pause(&self, until: Instant) -> bool {
        let mut woken = self.wake.woken.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if std::mem::take(&mut *woken) {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            woken = self
                .wake
                .cv
                .wait_timeout(woken, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl ChangeSource for PollingChanges {
    fn links(&mut self) -> Result<Vec<LinkStatus>, KernelError> {
        self.last = self.kernel.snapshot()?;
        Ok(self.last.links().to_vec())
    }

    /// Reads the node at once, then once per interval, until something
    /// changed, the timeout passed or a wake-up came.
    fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<Change>, KernelError> {
        let start = Instant::now();
        let deadline = timeout.map(|t| start + t);
        loop {
            let now = self.kernel.snapshot()?;
            let changes = changes_between(&self.last, &now);
            self.last = now;
            if !changes.is_empty() {
                return Ok(changes);
            }
            let next = Instant::now() + self.every;
            let until = deadline.map_or(next, |d| d.min(next));
            if self.pause(until) || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Vec::new());
            }
        }
    }

    fn waker(&self) -> Waker {
        Waker::new(self.wake.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::sim::SimNet;
    use crate::net::{AddOptions, Kernel};
    use crate::resource::{AdapterName, Address, Mac};

    fn nic(s: &str) -> AdapterName {
        AdapterName::new(s).unwrap()
    }

    #[test]
    fn differences_of_two_readings_become_changes() {
        let net = Arc::new(SimNet::new());
        net.add_adapter(nic("eth0"), Mac([2, 0, 0, 0, 0, 1]));
        net.add_adapter(nic("eth1"), Mac([2, 0, 0, 0, 0, 2]));
        let vip: Address = "198.51.100.10/24".parse().unwrap();
        net.assign(&nic("eth0"), vip);
        let mut source =
            PollingChanges::open(Box::new(net.clone()), Duration::from_secs(1)).unwrap();
        // Nothing changed: a zero timeout reads once and returns.
        assert!(source.wait(Some(Duration::ZERO)).unwrap().is_empty());

        net.set_carrier(&nic("eth0"), false);
        net.delete_address(&nic("eth0"), &vip).unwrap();
        net.add_address(&nic("eth1"), &vip, AddOptions::default())
            .unwrap();
        net.vanish(&nic("eth0"));
        let got = source.wait(Some(Duration::ZERO)).unwrap();
        assert_eq!(
            got,
            [
                Change::AddressRemoved {
                    ifindex: 2,
                    ip: vip.ip()
                },
                Change::AddressAdded {
                    ifindex: 3,
                    ip: vip.ip()
                },
                Change::LinkGone {
                    ifindex: 2,
                    name: nic("eth0")
                },
            ]
        );
        net.set_admin_up(&nic("eth1"), false);
        let got = source.wait(None).unwrap();
        assert!(matches!(&got[..], [Change::Link(l)] if l.ifindex == 3 && !l.admin_up));
    }

    #[test]
    fn a_wake_ends_the_wait() {
        let net = Arc::new(SimNet::new());
        let mut source = PollingChanges::open(Box::new(net), Duration::from_secs(3600)).unwrap();
        source.waker().wake();
        assert!(source.wait(None).unwrap().is_empty());
    }
}
