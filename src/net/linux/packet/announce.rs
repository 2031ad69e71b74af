//! Announcements: the first round sent at once, the remaining rounds from a detached sender.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use crate::net::linux::pdu::arp::{gratuitous_arp_reply, gratuitous_arp_request};
use crate::net::linux::pdu::ndp::unsolicited_na;
use crate::net::{AnnouncePlan, KernelError, KernelOp};
use crate::resource::Mac;

use super::detach::spawn_detached;
use super::registry::{claim, stop_requested_within};
use super::socket::{check_ifindex, frame_destination, send_frame, send_raw};
use super::sockets::{Sockets, check_ip, target};

#[cfg(doc)]
use super::registry::stop_announcing;

/// The frames of one announcement round for `ip`: ARP request + reply for
/// IPv4, one NA for IPv6.
pub fn announcement_frames(mac: Mac, ip: IpAddr) -> Vec<Vec<u8>> {
    match ip {
        IpAddr::V4(v4) => vec![
            gratuitous_arp_request(mac, v4).to_vec(),
            gratuitous_arp_reply(mac, v4).to_vec(),
        ],
        IpAddr::V6(v6) => vec![unsolicited_na(mac, v6).to_vec()],
    }
}

/// First round synchronously; the remaining rounds continue in the background
/// (a double-forked child that only calls ppoll/recvmsg/sendto/_exit, so they
/// go on after a command-line process exits, and leave no zombie).
///
/// A round is a gratuitous ARP request and reply (IPv4) or one unsolicited
/// NA (IPv6). Any earlier background rounds for `ip` in this network
/// namespace are stopped first (see [`stop_announcing`]); `plan.count` 0
/// then sends nothing; 1 does not fork.
///
/// One-shot: opens and closes its own packet socket. A long-lived caller
/// keeps a [`Sockets`] instead.
pub fn announce(ifindex: u32, mac: Mac, ip: IpAddr, plan: AnnouncePlan) -> Result<(), KernelError> {
    Sockets::one_shot().announce(ifindex, mac, ip, plan)
}

impl Sockets {
    /// [`announce`] over the kept sockets.
    pub fn announce(
        &self,
        ifindex: u32,
        mac: Mac,
        ip: IpAddr,
        plan: AnnouncePlan,
    ) -> Result<(), KernelError> {
        let op = KernelOp::Announce;
        check_ip(op, ifindex, ip)?;
        let err = |e: &io::Error| KernelError::from_io(op, target(ifindex, ip), e);
        // Whatever announced this address before (from any adapter, any
        // process of this network namespace) is stopped, and gone, before
        // the first frame of this announcement.
        let stop_socket = claim(ip).ok().flatten();
        if plan.count == 0 {
            return Ok(());
        }
        check_ifindex(ifindex).map_err(|e| err(&e))?;
        let mut cache = self.lock();
        let send = cache.send_socket().map_err(|e| err(&e))?;
        let frames = announcement_frames(mac, ip);
        for frame in &frames {
            send_frame(send, ifindex, frame).map_err(|e| err(&e))?;
        }
        // Without the name (still held by a sender that did not stop in
        // time), no background rounds: no sender may run unregistered.
        if plan.count > 1
            && let Some(stop_socket) = stop_socket
        {
            // The sender keeps every kept socket open (see `Sockets`).
            let mut keep = cache.fds();
            keep.push(stop_socket.as_raw_fd());
            let rounds = Rounds {
                send,
                stop_socket: stop_socket.as_raw_fd(),
                keep,
                ifindex,
                frames: &frames,
                count: plan.count - 1,
                interval: plan.interval,
            };
            let started = Instant::now();
            background_rounds(&rounds).map_err(|e| err(&e))?;
            cache.held_by_sender_until(started + plan.interval * (plan.count - 1));
        }
        Ok(())
    }
}

/// What the background sender needs, prepared before the fork.
struct Rounds<'a> {
    send: RawFd,
    /// The claimed announcer name: a stop request arrives here.
    stop_socket: RawFd,
    /// Descriptors the sender keeps open (all others are closed).
    keep: Vec<RawFd>,
    ifindex: u32,
    frames: &'a [Vec<u8>],
    count: u32,
    interval: Duration,
}

/// Forks twice; the grandchild waits `interval` on the stop socket,
/// sends `frames`, `count` times, then `_exit`s; a datagram from root or
/// our own user on the stop socket ends it at once. It is reparented to
/// init (no zombie); the intermediate child is reaped here.
fn background_rounds(rounds: &Rounds<'_>) -> io::Result<()> {
    // Everything the grandchild touches is prepared before fork: it must not
    // allocate or lock (the parent may be multi-threaded).
    let destinations: Vec<libc::sockaddr_ll> = rounds
        .frames
        .iter()
        .map(|frame| frame_destination(rounds.ifindex, frame))
        .collect::<io::Result<_>>()?;
    let interval_ns = i64::try_from(rounds.interval.as_nanos()).unwrap_or(i64::MAX);
    // SAFETY: getuid(2) cannot fail.
    let uid = unsafe { libc::getuid() };
    let (send, stop_socket, frames, count) =
        (rounds.send, rounds.stop_socket, rounds.frames, rounds.count);
    spawn_detached(&rounds.keep, || {
        for _ in 0..count {
            if stop_requested_within(stop_socket, interval_ns, uid) {
                break;
            }
            for (frame, destination) in frames.iter().zip(&destinations) {
                send_raw(send, frame, destination);
            }
        }
        // Free the name before exiting: at exit the kernel releases the
        // descriptors last-opened first, and the packet sockets' release
        // may wait for an RCU grace period (we may hold the last reference)
        // which whoever is waiting for the name would otherwise wait out.
        // SAFETY: close(2) is async-signal-safe; nothing is sent after it.
        unsafe { libc::close(stop_socket) };
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::linux::pdu::fixtures::{MAC, V4, V6};

    #[test]
    fn announcement_round_contents() {
        let v4 = announcement_frames(MAC, IpAddr::V4(V4));
        assert_eq!(v4.len(), 2);
        assert_eq!(v4[0], gratuitous_arp_request(MAC, V4).to_vec());
        assert_eq!(v4[1], gratuitous_arp_reply(MAC, V4).to_vec());
        let v6 = announcement_frames(MAC, IpAddr::V6(V6));
        assert_eq!(v6, vec![unsolicited_na(MAC, V6).to_vec()]);
    }
}
