//! The event [`Monitor`]: a route socket subscribed to link and address changes, for the daemon (SPEC §6).

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use netlink_packet_core::NLMSG_OVERRUN;
use netlink_sys::Socket;

use super::parse::{
    self, AddrRecord, LinkRecord, RTM_DELADDR, RTM_DELLINK, RTM_NEWADDR, RTM_NEWLINK,
};
use super::socket::{ExchangeError, RECEIVE_BUFFER, open_socket};
use crate::net::{KernelError, KernelOp};

/// What the [`Monitor`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// A link appeared or changed (carrier, flags, name, ...).
    Link(LinkRecord),
    LinkRemoved {
        index: u32,
        name: String,
    },
    AddressAdded(AddrRecord),
    AddressRemoved(AddrRecord),
    /// The kernel dropped events (ENOBUFS): re-read all state.
    Overrun,
}

/// A netlink socket subscribed to `RTNLGRP_LINK`, `RTNLGRP_IPV4_IFADDR` and
/// `RTNLGRP_IPV6_IFADDR`, in the network namespace of the opening thread.
pub struct Monitor {
    socket: Socket,
    buffer: Vec<u8>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("fd", &self.socket.as_raw_fd())
            .finish()
    }
}

/// The event one message announces, if any.
fn event_of(kind: u16, payload: &[u8]) -> Result<Option<NetEvent>, ExchangeError> {
    Ok(match kind {
        RTM_NEWLINK => Some(NetEvent::Link(parse::parse_link(payload)?)),
        RTM_DELLINK => {
            let link = parse::parse_link(payload)?;
            Some(NetEvent::LinkRemoved {
                index: link.index,
                name: link.name,
            })
        }
        RTM_NEWADDR => parse::parse_addr(payload)?.map(NetEvent::AddressAdded),
        RTM_DELADDR => parse::parse_addr(payload)?.map(NetEvent::AddressRemoved),
        NLMSG_OVERRUN => Some(NetEvent::Overrun),
        _ => None,
    })
}

impl Monitor {
    pub fn open() -> Result<Self, KernelError> {
        let err = |e: std::io::Error| {
            KernelError::from_io(KernelOp::Open, Some("netlink monitor".into()), &e)
        };
        let socket = open_socket()?;
        for group in [
            libc::RTNLGRP_LINK,
            libc::RTNLGRP_IPV4_IFADDR,
            libc::RTNLGRP_IPV6_IFADDR,
        ] {
            socket.add_membership(group).map_err(err)?;
        }
        // A larger queue makes overruns rarer: the daemon's own recovery
        // of 1,000 addresses (issue 11) causes some 4,000 notifications
        // while the loop may be busy. SO_RCVBUFFORCE (CAP_NET_ADMIN, which
        // the daemon has) passes net.core.rmem_max; otherwise capped by it.
        let size: libc::c_int = 8 << 20;
        // SAFETY: a valid descriptor and option value.
        let forced = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        } == 0;
        if !forced {
            let _ = socket.set_rx_buf_sz(1usize << 20);
        }
        socket.set_non_blocking(true).map_err(err)?;
        Ok(Self {
            socket,
            buffer: Vec::with_capacity(RECEIVE_BUFFER),
        })
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Blocks at most `timeout` (None = forever); Ok(vec![]) on timeout.
    /// ENOBUFS yields [`NetEvent::Overrun`] (the caller re-reads all state).
    pub fn recv(&mut self, timeout: Option<Duration>) -> Result<Vec<NetEvent>, KernelError> {
        let err = |n: i32| KernelError::new(KernelOp::Monitor, None, n);
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let ms: libc::c_int = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Round up so that a short timeout does not spin.
                    let ms = left.as_micros().div_ceil(1000);
                    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
                }
            };
            let mut pfd = libc::pollfd {
                fd: self.socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: pfd is one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err(e.raw_os_error().unwrap_or(libc::EIO)));
            }
            if rc == 0 {
                return Ok(Vec::new());
            }
            let events = self
                .drain()
                .map_err(|e| e.into_kernel(KernelOp::Monitor, None))?;
            if !events.is_empty() || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(events);
            }
        }
    }

    /// Read every queued datagram without blocking.
    fn drain(&mut self) -> Result<Vec<NetEvent>, ExchangeError> {
        let mut events = Vec::new();
        loop {
            self.buffer.clear();
            let size = match self.socket.recv(&mut self.buffer, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EAGAIN) => return Ok(events),
                    Some(libc::ENOBUFS) => {
                        if events.last() != Some(&NetEvent::Overrun) {
                            events.push(NetEvent::Overrun);
                        }
                        continue;
                    }
                    _ => return Err(ExchangeError::io(&e)),
                },
            };
            let Some(datagram) = self.buffer.get(..size) else {
                // A truncated datagram lost events: same as an overrun.
                events.push(NetEvent::Overrun);
                continue;
            };
            for message in parse::messages(datagram) {
                let message = message?;
                events.extend(event_of(message.kind, message.payload)?);
            }
        }
    }
}

impl AsRawFd for Monitor {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    //! Each test runs on a thread inside a fresh network namespace; links
    //! are made and changed with the lab's own netlink socket.

    use super::*;
    use crate::net::AddOptions;
    use crate::net::linux::netlink::Netlink;
    use crate::net::linux::netlink::test_support::{addr, in_netns, veth_up};

    /// Read events until `pred` matches one (or 50 reads of up to 2 s).
    /// Events after the match stay in `pending` for the next call.
    fn wait_for(
        m: &mut Monitor,
        pending: &mut Vec<NetEvent>,
        what: &str,
        pred: impl Fn(&NetEvent) -> bool,
    ) -> NetEvent {
        let mut seen = Vec::new();
        for _ in 0..50 {
            if let Some(i) = pending.iter().position(&pred) {
                let ev = pending.remove(i);
                seen.extend(pending.drain(..i));
                return ev;
            }
            seen.append(pending);
            pending.extend(m.recv(Some(Duration::from_secs(2))).expect("recv"));
        }
        panic!("{what}: expected event never came; saw {seen:#?}");
    }

    #[test]
    fn monitor_reports_links_and_addresses() {
        in_netns(|| {
            let mut m = Monitor::open().expect("monitor");
            let mut pending = Vec::new();
            let nl = Netlink::open().expect("open");
            assert_eq!(m.recv(Some(Duration::ZERO)).expect("recv"), vec![]);
            let admin = veth_up();
            let ev = wait_for(
                &mut m,
                &mut pending,
                "a carrier",
                |e| matches!(e, NetEvent::Link(l) if l.name == "a" && l.carrier),
            );
            let NetEvent::Link(a) = ev else {
                unreachable!()
            };
            let v4a = addr("198.51.100.10/24");
            let v6a = addr("2001:db8::10/64");
            nl.add_address(a.index, &v4a, AddOptions::default())
                .expect("add");
            nl.add_address(a.index, &v6a, AddOptions::default())
                .expect("add");
            for ip in [v4a.ip(), v6a.ip()] {
                wait_for(
                    &mut m,
                    &mut pending,
                    "added",
                    |e| matches!(e, NetEvent::AddressAdded(r) if r.ip == ip && r.ifindex == a.index),
                );
            }
            nl.delete_address(a.index, v4a.ip(), 24).expect("delete");
            wait_for(
                &mut m,
                &mut pending,
                "removed",
                |e| matches!(e, NetEvent::AddressRemoved(r) if r.ip == v4a.ip()),
            );
            admin.set_up("b", false).expect("b down");
            wait_for(
                &mut m,
                &mut pending,
                "a no carrier",
                |e| matches!(e, NetEvent::Link(l) if l.name == "a" && !l.carrier),
            );
            admin.delete_link("a").expect("delete");
            wait_for(
                &mut m,
                &mut pending,
                "a removed",
                |e| matches!(e, NetEvent::LinkRemoved { name, .. } if name == "a"),
            );
        });
    }

    #[test]
    fn monitor_overflow_is_reported_as_overrun() {
        in_netns(|| {
            let mut m = Monitor::open().expect("monitor");
            let small: libc::c_int = 1024;
            // SAFETY: valid fd and option value.
            let rc = unsafe {
                libc::setsockopt(
                    m.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUF,
                    (&small as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0);
            let nl = Netlink::open().expect("open");
            veth_up();
            let idx = nl.link_by_name("a").expect("lookup").expect("a").index;
            for i in 1..=200u8 {
                nl.add_address(
                    idx,
                    &addr(&format!("203.0.113.{i}/24")),
                    AddOptions::default(),
                )
                .expect("add");
            }
            wait_for(&mut m, &mut Vec::new(), "overrun", |e| {
                *e == NetEvent::Overrun
            });
        });
    }

    #[test]
    fn messages_become_events() {
        // An RTM_DELLINK carries the index and name of the link that went.
        let mut payload = vec![0u8; 16];
        payload[4..8].copy_from_slice(&3u32.to_ne_bytes());
        payload.extend(8u16.to_ne_bytes()); // attribute length
        payload.extend(3u16.to_ne_bytes()); // IFLA_IFNAME
        payload.extend(b"eth\0");
        assert_eq!(
            event_of(RTM_DELLINK, &payload).expect("parse"),
            Some(NetEvent::LinkRemoved {
                index: 3,
                name: "eth".into()
            })
        );
        assert_eq!(
            event_of(NLMSG_OVERRUN, &[]).expect("parse"),
            Some(NetEvent::Overrun)
        );
        assert_eq!(event_of(RTM_NEWADDR + 100, &payload).expect("parse"), None);
        assert!(event_of(RTM_NEWLINK, &payload[..10]).is_err());
    }
}
