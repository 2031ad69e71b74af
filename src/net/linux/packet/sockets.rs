//! [`Sockets`]: the packet sockets kept open across calls, and the detached closer that closes them.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::net::{KernelError, KernelOp};

use super::detach::{monotonic_ns, spawn_detached, wait_readable};
use super::rounds::Background;
use super::socket::{Listener, open_packet_socket};

/// Packet sockets kept open across [`Sockets::announce`] and
/// [`Sockets::probe`] calls, for the network namespace they were opened in
/// (a [`LinuxKernel`](crate::net::linux::LinuxKernel) owns one).
///
/// Why keep them: closing an `AF_PACKET` socket waits for an RCU grace
/// period (`packet_release` calls `synchronize_net()`, 5-20 ms), whoever
/// holds the last reference pays it, and a process's exit counts. So one
/// send socket (protocol 0, receives nothing) serves every announcement,
/// and one listening socket per (interface, EtherType) serves the probes;
/// and every background sender inherits all of them, so that when a
/// short-lived process (the command line, the OCF agent) exits, its close
/// is not the last one: the sender pays at its own exit, off everyone's
/// path. A long-lived process (the daemon) never closes them. When the
/// `Sockets` is dropped with no running sender holding them all, a
/// detached closer child takes a reference first and lets go only once
/// ours are closed: the grace period is the closer's (costs one fork).
#[derive(Debug, Default)]
pub struct Sockets {
    cache: Mutex<Cache>,
    /// One-shot use ([`announce()`](super::announce()), [`probe()`](super::probe())): plain close on drop.
    one_shot: bool,
    /// Where later announcement rounds are sent from.
    background: Background,
}

/// The open sockets, behind [`Sockets`]'s lock.
#[derive(Debug, Default)]
pub(super) struct Cache {
    send: Option<OwnedFd>,
    listeners: Vec<Listener>,
    /// Until when (at least) a background sender holds every socket above.
    held_until: Option<Instant>,
}

impl Cache {
    /// Every open socket.
    pub(super) fn fds(&self) -> Vec<RawFd> {
        self.send
            .iter()
            .map(|fd| fd.as_raw_fd())
            .chain(self.listeners.iter().map(Listener::raw_fd))
            .collect()
    }

    /// The send socket, opened on first use.
    pub(super) fn send_socket(&mut self) -> io::Result<RawFd> {
        if let Some(fd) = &self.send {
            return Ok(fd.as_raw_fd());
        }
        let fd = open_packet_socket()?;
        let raw = fd.as_raw_fd();
        self.send = Some(fd);
        // No running sender holds this one.
        self.held_until = None;
        Ok(raw)
    }

    /// A background sender started now holds every open socket until `until`.
    pub(super) fn held_by_sender_until(&mut self, until: Instant) {
        self.held_until = Some(until);
    }
}

/// Closing the kept sockets: unless a running background sender holds
/// them all (and outlives us by a margin), a detached closer child takes a
/// reference first, so that this close is never the last one and the
/// grace period is paid by the closer, not by the caller.
impl Drop for Sockets {
    fn drop(&mut self) {
        let cache = self.cache.get_mut().unwrap_or_else(|p| p.into_inner());
        let fds = cache.fds();
        if fds.is_empty() || self.one_shot {
            return;
        }
        let margin = Duration::from_millis(100);
        if cache
            .held_until
            .is_some_and(|t| Instant::now() + margin < t)
        {
            return;
        }
        let mut pipe = [0; 2];
        // SAFETY: pipe has room for two descriptors.
        if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return;
        }
        // SAFETY: fresh descriptors we own.
        let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
        // If the fork fails, the close below simply pays.
        let _ = spawn_closer(&fds, rx.as_raw_fd());
        drop(rx);
        // Ours first (cheap, the closer still holds them) ...
        drop(cache.send.take());
        cache.listeners.clear();
        // ... then the closer may go.
        drop(tx);
    }
}

impl Sockets {
    pub fn new() -> Self {
        Self::default()
    }

    /// For a long-lived process (the daemon): later announcement rounds
    /// are sent from a thread of this process, not a detached child (no
    /// fork on the path of a recovery; the process outlives the rounds).
    pub fn long_lived() -> Self {
        Self {
            cache: Mutex::default(),
            one_shot: false,
            background: Background::Thread,
        }
    }

    /// For one call: its sockets are closed plainly when it is dropped.
    pub(super) fn one_shot() -> Self {
        Self {
            cache: Mutex::default(),
            one_shot: true,
            background: Background::Detached,
        }
    }

    pub(super) fn background(&self) -> Background {
        self.background
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many packet sockets are open (for tests).
    pub fn open_count(&self) -> usize {
        let cache = self.lock();
        usize::from(cache.send.is_some()) + cache.listeners.len()
    }

    /// A listening socket for (ifindex, ethertype): the kept one, drained
    /// and listening again, or a new one.
    pub(super) fn take_listener(&self, ifindex: u32, ethertype: u16) -> io::Result<Listener> {
        let kept = {
            let mut cache = self.lock();
            cache
                .listeners
                .iter()
                .position(|l| l.serves(ifindex, ethertype))
                .map(|i| cache.listeners.swap_remove(i))
        };
        // One whose interface is gone is dropped (paying one grace
        // period, once per vanished interface).
        if let Some(listener) = kept
            && listener.usable()
        {
            listener.drain();
            listener.set_idle(false)?;
            return Ok(listener);
        }
        let listener = Listener::open(ifindex, ethertype)?;
        // No running sender holds this one.
        self.lock().held_until = None;
        Ok(listener)
    }

    /// Back into the cache, idle; one that cannot be made idle is closed
    /// instead (rare: it pays the grace period here).
    pub(super) fn put_back(&self, listener: Listener) {
        if listener.set_idle(true).is_ok() {
            self.lock().listeners.push(listener);
        }
    }
}

/// How long the closer (see [`Sockets`]'s `Drop`) waits at most for the
/// parent to close its copies.
const CLOSER_PATIENCE_NS: i64 = 10_000_000_000;

/// Hands `fds` to a detached child that keeps them until `hangup` (the
/// read end of a pipe) reports that the parent closed the write end, so
/// that the parent's close of `fds` is not the last one.
fn spawn_closer(fds: &[RawFd], hangup: RawFd) -> io::Result<()> {
    let mut keep = fds.to_vec();
    keep.push(hangup);
    spawn_detached(&keep, || {
        let deadline = monotonic_ns().saturating_add(CLOSER_PATIENCE_NS);
        // Hang-up, timeout or failure: the closer goes either way.
        let _ = wait_readable(hangup, deadline);
    })
}

/// What a [`KernelError`] of the packet layer names.
pub(super) fn target(ifindex: u32, ip: IpAddr) -> Option<String> {
    Some(format!("{ip} via ifindex {ifindex}"))
}

/// EINVAL for an address that cannot be announced or probed.
pub(super) fn check_ip(op: KernelOp, ifindex: u32, ip: IpAddr) -> Result<(), KernelError> {
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(KernelError::with_message(
            op,
            target(ifindex, ip),
            libc::EINVAL,
            format!("{ip} cannot be announced or probed (unspecified or multicast)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::{announce, probe};
    use super::*;
    use crate::net::linux::pdu::fixtures::{MAC, V4};
    use crate::net::{AnnouncePlan, ProbeResult};

    // --- argument errors keep an errno ----------------------------------------

    #[test]
    fn bad_arguments_are_einval_or_enodev() {
        let plan = AnnouncePlan {
            count: 1,
            interval: Duration::ZERO,
        };
        let e = announce(1, MAC, IpAddr::V4(Ipv4Addr::UNSPECIFIED), plan).expect_err("0.0.0.0");
        assert_eq!((e.op, e.errno), (KernelOp::Announce, libc::EINVAL));
        let e = probe(0, MAC, IpAddr::V4(V4), Duration::from_millis(10)).expect_err("ifindex 0");
        assert_eq!((e.op, e.errno), (KernelOp::Probe, libc::ENODEV));
        assert_eq!(
            probe(0, MAC, IpAddr::V4(V4), Duration::ZERO),
            Ok(ProbeResult::Free)
        );
    }
}
