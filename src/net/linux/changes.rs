//! The Linux change source: the netlink monitor's records turned into the
//! seam's [`Change`]s, waited for in one `poll(2)` on the monitor socket,
//! an eventfd (the [`Waker`]) and the packet sockets listening for address
//! claims ([`ClaimWatcher`]), so a carrier loss or a conflicting ARP reaches
//! the caller without any other thread in between. Also the Linux
//! [`Backend`].

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::netlink::{Monitor, NetEvent, Netlink};
use super::packet::ClaimWatcher;
use super::{LinuxKernel, link_status};
use crate::net::changes::Wake;
use crate::net::{
    Backend, Change, ChangeSource, Kernel, KernelError, KernelOp, LinkStatus, Waker,
    WatchedAddress, WireWatch,
};
use crate::resource::AdapterName;

/// The real kernel, for the daemon: a [`LinuxKernel`] per worker and a
/// [`LinuxChanges`], all in the network namespace of the opening thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinuxBackend {
    /// Kernels for a long-lived process ([`LinuxKernel::open_long_lived`]).
    long_lived: bool,
}

impl LinuxBackend {
    /// For a process that ends soon after its operation (the command line):
    /// later announcement rounds outlive it in a detached child.
    pub fn short_lived() -> Self {
        Self { long_lived: false }
    }

    /// For the daemon: later announcement rounds go out from a thread.
    pub fn long_lived() -> Self {
        Self { long_lived: true }
    }
}

impl Backend for LinuxBackend {
    fn open_kernel(&self) -> Result<Box<dyn Kernel>, KernelError> {
        Ok(Box::new(if self.long_lived {
            LinuxKernel::open_long_lived()?
        } else {
            LinuxKernel::open()?
        }))
    }

    fn open_changes(&self) -> Result<Box<dyn ChangeSource>, KernelError> {
        Ok(Box::new(LinuxChanges::open()?))
    }
}

/// Link and address changes from netlink (`RTNLGRP_LINK`,
/// `RTNLGRP_IPV4_IFADDR`, `RTNLGRP_IPV6_IFADDR`), and claims of the
/// watched addresses from the wire.
pub struct LinuxChanges {
    monitor: Monitor,
    netlink: Netlink,
    wake: Arc<EventFd>,
    claims: ClaimWatcher,
}

impl std::fmt::Debug for LinuxChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxChanges")
            .field("monitor", &self.monitor)
            .finish()
    }
}

impl LinuxChanges {
    /// Subscribe in the calling thread's network namespace.
    pub fn open() -> Result<Self, KernelError> {
        let monitor = Monitor::open()?;
        let netlink = Netlink::open()?;
        let wake = Arc::new(
            EventFd::new()
                .map_err(|e| KernelError::from_io(KernelOp::Open, Some("eventfd".into()), &e))?,
        );
        Ok(Self {
            monitor,
            netlink,
            wake,
            claims: ClaimWatcher::new(),
        })
    }

    /// Keeps the claim watcher's view of this node's own MACs current.
    fn note_link(&mut self, change: &Change) {
        match change {
            Change::Link(l) => self.claims.link_changed(l.ifindex, l.mac),
            Change::LinkGone { ifindex, .. } => self.claims.link_gone(*ifindex),
            _ => {}
        }
    }
}

impl ChangeSource for LinuxChanges {
    fn links(&mut self) -> Result<Vec<LinkStatus>, KernelError> {
        let links: Vec<LinkStatus> = self
            .netlink
            .links()?
            .iter()
            .filter_map(link_status)
            .collect();
        self.claims
            .set_links(links.iter().map(|l| (l.ifindex, l.mac)));
        Ok(links)
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<Change>, KernelError> {
        let mut fds = vec![self.monitor.as_raw_fd(), self.wake.fd.as_raw_fd()];
        fds.extend(self.claims.fds());
        let ready = poll_readable(&fds, timeout)?;
        if ready[1] {
            self.wake.drain();
        }
        let mut changes = Vec::new();
        if ready[0] {
            let events = self.monitor.recv(Some(Duration::ZERO))?;
            changes.extend(events.into_iter().filter_map(change_of));
            for change in &changes {
                self.note_link(change);
            }
        }
        // Read after the links: a claim from a MAC a new link just brought
        // is already known as ours.
        if ready[2..].contains(&true) {
            changes.extend(self.claims.read(&ready[2..]));
        }
        Ok(changes)
    }

    fn waker(&self) -> Waker {
        Waker::new(self.wake.clone())
    }

    /// One packet socket per adapter and protocol in use, filtered in the
    /// kernel to the claims of its addresses (`packet::ClaimWatcher`).
    /// New sockets are opened in the calling thread's network namespace:
    /// call this where the source was opened (the daemon's loop thread).
    fn watch_addresses(&mut self, addresses: &[WatchedAddress]) -> Result<WireWatch, KernelError> {
        if self.claims.knows_no_link() {
            self.links()?;
        }
        self.claims
            .watch(addresses)
            .map_err(|e| KernelError::from_io(KernelOp::Listen, None, &e))?;
        Ok(WireWatch::Listening)
    }
}

/// The seam's change for one netlink record (None for a link whose name is
/// not a valid adapter name, which the kernel never reports).
fn change_of(event: NetEvent) -> Option<Change> {
    Some(match event {
        NetEvent::Link(l) => Change::Link(link_status(&l)?),
        NetEvent::LinkRemoved { index, name } => Change::LinkGone {
            ifindex: index,
            name: AdapterName::new(&name).ok()?,
        },
        NetEvent::AddressAdded(a) => Change::AddressAdded {
            ifindex: a.ifindex,
            ip: a.ip,
        },
        NetEvent::AddressRemoved(a) => Change::AddressRemoved {
            ifindex: a.ifindex,
            ip: a.ip,
        },
        NetEvent::Overrun => Change::Overrun,
    })
}

/// An eventfd: written by [`Waker::wake`], read by the poll in `wait`.
struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    fn new() -> std::io::Result<Self> {
        // SAFETY: plain syscall; the fd is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64; EAGAIN when not signalled.
        unsafe {
            libc::read(self.fd.as_raw_fd(), (&raw mut v).cast(), 8);
        }
    }
}

impl Wake for EventFd {
    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64. EAGAIN (counter full)
        // means a wake-up is pending anyway.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8);
        }
    }
}

/// One poll(2) on `fds`, at most `timeout` (rounded up to whole
/// milliseconds): which are readable (or in error), in their order. An
/// interrupted poll reads as a timeout: the caller computes its deadline
/// again.
fn poll_readable(fds: &[RawFd], timeout: Option<Duration>) -> Result<Vec<bool>, KernelError> {
    let timeout_ms = match timeout {
        None => -1,
        Some(t) => libc::c_int::try_from(t.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX),
    };
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `polled` holds fds.len() valid pollfd structs.
    let rc = unsafe {
        libc::poll(
            polled.as_mut_ptr(),
            polled.len() as libc::nfds_t,
            timeout_ms,
        )
    };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(KernelError::from_io(KernelOp::Monitor, None, &e));
    }
    let ready = |p: &libc::pollfd| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0;
    Ok(polled.iter().map(ready).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::linux::netlink::{AddrRecord, LinkRecord};
    use crate::resource::Mac;

    #[test]
    fn netlink_records_become_changes() {
        let link = LinkRecord {
            index: 4,
            name: "eth0".into(),
            mac: Some(Mac([2, 0, 0, 0, 0, 1])),
            admin_up: true,
            carrier: false,
            operstate: 2,
            carrier_changes: Some(1),
        };
        let Some(Change::Link(l)) = change_of(NetEvent::Link(link.clone())) else {
            panic!("a link record is a link change");
        };
        assert_eq!((l.ifindex, l.name.as_str()), (4, "eth0"));
        assert!(!l.is_connected());
        let bad = LinkRecord {
            name: "a b".into(),
            ..link
        };
        assert_eq!(change_of(NetEvent::Link(bad)), None);
        let a = AddrRecord {
            ifindex: 4,
            ip: "198.51.100.10".parse().unwrap(),
            prefix: 24,
            tentative: false,
            dadfailed: false,
        };
        assert_eq!(
            change_of(NetEvent::AddressRemoved(a)),
            Some(Change::AddressRemoved {
                ifindex: 4,
                ip: a.ip
            })
        );
        assert_eq!(
            change_of(NetEvent::LinkRemoved {
                index: 4,
                name: "eth0".into()
            }),
            Some(Change::LinkGone {
                ifindex: 4,
                name: AdapterName::new("eth0").unwrap()
            })
        );
        assert_eq!(change_of(NetEvent::Overrun), Some(Change::Overrun));
    }

    #[test]
    fn a_wake_ends_the_wait_and_is_consumed() {
        let wake = EventFd::new().unwrap();
        // A second eventfd stands in for the monitor: never readable.
        let quiet = EventFd::new().unwrap();
        let fds = [quiet.fd.as_raw_fd(), wake.fd.as_raw_fd()];
        Wake::wake(&wake);
        assert_eq!(poll_readable(&fds, None).unwrap(), [false, true]);
        wake.drain();
        assert_eq!(
            poll_readable(&fds, Some(Duration::ZERO)).unwrap(),
            [false, false]
        );
    }
}
