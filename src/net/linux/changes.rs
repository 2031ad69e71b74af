//! The Linux change source: the netlink monitor's records turned into the
//! seam's [`Change`]s, waited for in one `poll(2)` on the monitor socket and
//! an eventfd (the [`Waker`]), so a carrier loss reaches the caller without
//! any other thread in between. Also the Linux [`Backend`].

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use super::netlink::{Monitor, NetEvent, Netlink};
use super::{LinuxKernel, link_status};
use crate::net::changes::Wake;
use crate::net::{Backend, Change, ChangeSource, Kernel, KernelError, KernelOp, LinkStatus, Waker};
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
/// `RTNLGRP_IPV4_IFADDR`, `RTNLGRP_IPV6_IFADDR`).
pub struct LinuxChanges {
    monitor: Monitor,
    netlink: Netlink,
    wake: Arc<EventFd>,
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
        })
    }
}

impl ChangeSource for LinuxChanges {
    fn links(&mut self) -> Result<Vec<LinkStatus>, KernelError> {
        Ok(self
            .netlink
            .links()?
            .iter()
            .filter_map(link_status)
            .collect())
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<Change>, KernelError> {
        let ready = poll_readable(self.monitor.as_raw_fd(), self.wake.fd.as_raw_fd(), timeout)?;
        if ready.wake {
            self.wake.drain();
        }
        if !ready.monitor {
            return Ok(Vec::new());
        }
        let events = self.monitor.recv(Some(Duration::ZERO))?;
        Ok(events.into_iter().filter_map(change_of).collect())
    }

    fn waker(&self) -> Waker {
        Waker::new(self.wake.clone())
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

/// Which of the two descriptors `poll_readable` found readable.
struct Readable {
    monitor: bool,
    wake: bool,
}

/// One poll(2) on the monitor socket and the eventfd, at most `timeout`
/// (rounded up to whole milliseconds). An interrupted poll reads as a
/// timeout: the caller computes its deadline again.
fn poll_readable(
    monitor: RawFd,
    wake: RawFd,
    timeout: Option<Duration>,
) -> Result<Readable, KernelError> {
    let timeout_ms = match timeout {
        None => -1,
        Some(t) => libc::c_int::try_from(t.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX),
    };
    let mut fds = [monitor, wake].map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: two valid pollfd structs.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(Readable {
                monitor: false,
                wake: false,
            });
        }
        return Err(KernelError::from_io(KernelOp::Monitor, None, &e));
    }
    let ready = |p: &libc::pollfd| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0;
    Ok(Readable {
        monitor: ready(&fds[0]),
        wake: ready(&fds[1]),
    })
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
        Wake::wake(&wake);
        let r = poll_readable(quiet.fd.as_raw_fd(), wake.fd.as_raw_fd(), None).unwrap();
        assert!(r.wake && !r.monitor);
        wake.drain();
        let r = poll_readable(
            quiet.fd.as_raw_fd(),
            wake.fd.as_raw_fd(),
            Some(Duration::ZERO),
        )
        .unwrap();
        assert!(!r.wake && !r.monitor);
    }
}
