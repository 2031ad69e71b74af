//! Announcements: the first round of every address sent at once, the remaining rounds from one background sender.

use std::io;
use std::net::IpAddr;
use std::time::Instant;

use crate::net::linux::pdu::arp::{gratuitous_arp_reply, gratuitous_arp_request};
use crate::net::linux::pdu::ndp::unsolicited_na;
use crate::net::{AnnouncePlan, KernelError, KernelOp};
use crate::resource::Mac;

use super::registry::claim_all;
use super::rounds::{self, Background, Entry};
use super::socket::{check_ifindex, send_frame};
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

/// One address to announce on one interface ([`Sockets::announce_all`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Announcement {
    pub ifindex: u32,
    pub mac: Mac,
    pub ip: IpAddr,
    pub plan: AnnouncePlan,
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
        let one = Announcement {
            ifindex,
            mac,
            ip,
            plan,
        };
        self.announce_all(&[one]).pop().unwrap_or(Ok(()))
    }

    /// One announcement pass over several addresses (issue 11): every
    /// earlier sender of any of them stopped, the first round of each sent,
    /// then one background sender for all their later rounds (a stop for
    /// one address ends only that address's rounds). One result per
    /// announcement, in order.
    pub fn announce_all(&self, all: &[Announcement]) -> Vec<Result<(), KernelError>> {
        let op = KernelOp::Announce;
        let mut results: Vec<Result<(), KernelError>> =
            all.iter().map(|a| check_ip(op, a.ifindex, a.ip)).collect();
        let valid: Vec<usize> = (0..all.len()).filter(|&i| results[i].is_ok()).collect();
        // Whatever announced these addresses before (from any adapter, any
        // process of this network namespace) is stopped, and gone, before
        // the first frame of this announcement.
        let ips: Vec<IpAddr> = valid.iter().map(|&i| all[i].ip).collect();
        let claimed = claim_all(&ips);
        if valid.iter().all(|&i| all[i].plan.count == 0) {
            return results;
        }
        let mut cache = self.lock();
        let send = match cache.send_socket() {
            Ok(fd) => fd,
            Err(e) => {
                for &i in &valid {
                    if all[i].plan.count > 0 {
                        results[i] = Err(KernelError::from_io(
                            op,
                            target(all[i].ifindex, all[i].ip),
                            &e,
                        ));
                    }
                }
                return results;
            }
        };
        let mut later = Vec::new();
        let mut owners = Vec::new();
        for (&i, stop_socket) in valid.iter().zip(claimed) {
            let a = &all[i];
            if a.plan.count == 0 {
                continue;
            }
            let err = |e: &io::Error| KernelError::from_io(op, target(a.ifindex, a.ip), e);
            if let Err(e) = check_ifindex(a.ifindex) {
                results[i] = Err(err(&e));
                continue;
            }
            let frames = announcement_frames(a.mac, a.ip);
            if let Err(e) = frames
                .iter()
                .try_for_each(|f| send_frame(send, a.ifindex, f))
            {
                results[i] = Err(err(&e));
                continue;
            }
            // Without the name (still held by a sender that did not stop
            // in time), no background rounds: no sender may run
            // unregistered.
            if a.plan.count > 1
                && let Ok(Some(stop_socket)) = stop_socket
            {
                later.push(Entry {
                    stop_socket,
                    ip: a.ip,
                    ifindex: a.ifindex,
                    frames,
                    count: a.plan.count - 1,
                    interval: a.plan.interval,
                });
                owners.push(i);
            }
        }
        if later.is_empty() {
            return results;
        }
        let longest = later
            .iter()
            .map(|e| e.interval.saturating_mul(e.count))
            .max()
            .unwrap_or_default();
        let started = Instant::now();
        // A detached sender keeps every kept socket open (see `Sockets`).
        let keep = cache.fds();
        match rounds::start(self.background(), send, later, &keep) {
            Ok(()) => {
                if self.background() == Background::Detached {
                    cache.held_by_sender_until(started + longest);
                }
            }
            Err(e) => {
                for i in owners {
                    results[i] = Err(KernelError::from_io(
                        op,
                        target(all[i].ifindex, all[i].ip),
                        &e,
                    ));
                }
            }
        }
        results
    }
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
