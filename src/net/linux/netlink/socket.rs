//! The synchronous `NETLINK_ROUTE` socket core: requests with sequence numbers, ACKs and errors, multi-part dumps.
//!
//! A [`Netlink`] handle is one socket, opened in the network namespace of
//! the thread that calls [`Netlink::open`] (a netlink socket stays bound to
//! the namespace it was created in, whatever thread later uses it).
//! Requests carry a sequence number; replies with another sequence number
//! (left over from an interrupted exchange) are skipped. A request ends at
//! its ACK / error, a dump at `NLMSG_DONE`. A dump that the kernel marks
//! `NLM_F_DUMP_INTR` (the table changed while it was being read), or that
//! loses messages to ENOBUFS, is read again from the start. Several
//! requests can also go out pipelined ([`Netlink::pipeline`]): many in one
//! datagram, their ACKs collected by sequence number (issue 11).

use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP,
    NLMSG_OVERRUN, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::parse::{self, ParseError};
use crate::net::{KernelError, KernelOp};

/// Receive buffer: the kernel caps dump batches at 32 KiB.
pub(super) const RECEIVE_BUFFER: usize = 64 * 1024;
/// How many times a dump is read again after NLM_F_DUMP_INTR / ENOBUFS.
const DUMP_ATTEMPTS: usize = 8;
/// A reply the kernel never sends would otherwise hang the caller.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How many requests one pipelined datagram carries: their ACKs (about
/// 1 KiB of receive buffer each) must fit the socket's default 208 KiB.
const PIPELINE_WINDOW: usize = 64;

/// Why an exchange failed, before it is given its operation and target.
#[derive(Debug)]
pub(super) enum ExchangeError {
    Errno(i32),
    Malformed(String),
}

impl ExchangeError {
    pub(super) fn io(e: &std::io::Error) -> Self {
        ExchangeError::Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }

    pub(super) fn into_kernel(self, op: KernelOp, target: Option<String>) -> KernelError {
        match self {
            ExchangeError::Errno(n) => KernelError::new(op, target, n),
            ExchangeError::Malformed(m) => KernelError::with_message(
                op,
                target,
                libc::EPROTO,
                format!("malformed netlink reply: {m}"),
            ),
        }
    }
}

impl From<ParseError> for ExchangeError {
    fn from(e: ParseError) -> Self {
        ExchangeError::Malformed(e.to_string())
    }
}

/// A closure that turns an [`ExchangeError`] into a [`KernelError`] of
/// `op` about `target`.
pub(super) fn failed<'a>(
    op: KernelOp,
    target: impl std::fmt::Display + 'a,
) -> impl FnOnce(ExchangeError) -> KernelError + 'a {
    move |e| e.into_kernel(op, Some(target.to_string()))
}

/// The sequence number and buffers of the exchange in progress.
struct Exchange {
    sequence: u32,
    receive: Vec<u8>,
    send: Vec<u8>,
}

/// A synchronous `NETLINK_ROUTE` socket (see the module docs).
pub struct Netlink {
    socket: Socket,
    exchange: Mutex<Exchange>,
}

impl std::fmt::Debug for Netlink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Netlink")
            .field("fd", &self.socket.as_raw_fd())
            .finish()
    }
}

/// A bound route socket in the calling thread's network namespace.
pub(super) fn open_socket() -> Result<Socket, KernelError> {
    let open_err =
        |e: std::io::Error| KernelError::from_io(KernelOp::Open, Some("netlink".into()), &e);
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(open_err)?;
    socket.bind_auto().map_err(open_err)?;
    Ok(socket)
}

fn set_receive_timeout(fd: RawFd, timeout: Duration) -> std::io::Result<()> {
    let tv = libc::timeval {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
    };
    // SAFETY: fd is an open socket; tv is a valid timeval of the given size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// How a reply ended.
enum Reply {
    /// Complete, with its data messages in this many datagrams (an ACK or
    /// an `NLMSG_DONE` in a datagram of its own does not count).
    Complete { datagrams: usize },
    /// A dump the kernel marked `NLM_F_DUMP_INTR`: read it again.
    Interrupted,
}

/// What a request expects back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// A request with NLM_F_ACK: data messages (if any), then an ACK.
    Ack,
    /// A dump: data messages, then NLMSG_DONE.
    Dump,
}

impl Netlink {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, KernelError> {
        let socket = open_socket()?;
        let open_err =
            |e: std::io::Error| KernelError::from_io(KernelOp::Open, Some("netlink".into()), &e);
        // Error ACKs without a copy of our request; strict dump filtering
        // (both best effort: older kernels lack them).
        let _ = socket.set_cap_ack(true);
        let _ = socket.set_netlink_get_strict_chk(true);
        set_receive_timeout(socket.as_raw_fd(), REPLY_TIMEOUT).map_err(open_err)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(open_err)?;
        Ok(Self {
            socket,
            exchange: Mutex::new(Exchange {
                sequence: 0,
                receive: Vec::with_capacity(RECEIVE_BUFFER),
                send: Vec::with_capacity(512),
            }),
        })
    }

    /// A dump request: every reply of type `reply` that `parse` keeps.
    pub(super) fn dump<T: PartialEq>(
        &self,
        message: RouteNetlinkMessage,
        reply: u16,
        op: KernelOp,
        mut parse: impl FnMut(&[u8]) -> Result<Option<T>, ParseError>,
    ) -> Result<Vec<T>, KernelError> {
        let mut out = Vec::new();
        self.exchange(message, Expect::Dump, 0, &mut out, |kind, payload| {
            if kind == reply {
                Ok(parse(payload)?)
            } else {
                Ok(None)
            }
        })
        .map_err(|e| e.into_kernel(op, None))?;
        Ok(out)
    }

    /// A request that expects an ACK and no data.
    pub(super) fn ack(
        &self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(), ExchangeError> {
        let mut none: Vec<()> = Vec::new();
        self.exchange(message, Expect::Ack, flags, &mut none, |_, _| Ok(None))
    }

    /// Send one request and feed every data message of its reply to
    /// `parse`, collecting what it returns in `out`.
    ///
    /// A dump is read again (and `out` reset) when the kernel marks it
    /// interrupted (`NLM_F_DUMP_INTR`) or drops part of it (ENOBUFS). A dump
    /// that spans several datagrams is not atomic, and the kernel does not
    /// flag every change made between them (seen on 6.18 with IPv6
    /// addresses: an entry lost or repeated, no flag), so such a dump is
    /// read until two readings in a row agree. A dump whose data fits one
    /// datagram (the common case) is read once, also when the kernel sends
    /// its `NLMSG_DONE` in a second one (6.18 does for addresses): the
    /// entries were all filled in one pass (issue 11 §4, one dump per
    /// monitor).
    pub(super) fn exchange<T: PartialEq>(
        &self,
        message: RouteNetlinkMessage,
        expect: Expect,
        flags: u16,
        out: &mut Vec<T>,
        mut parse: impl FnMut(u16, &[u8]) -> Result<Option<T>, ExchangeError>,
    ) -> Result<(), ExchangeError> {
        let mut guard = self.exchange.lock().unwrap_or_else(PoisonError::into_inner);
        let Exchange {
            sequence,
            receive,
            send,
        } = &mut *guard;

        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST
            | flags
            | match expect {
                Expect::Ack => NLM_F_ACK,
                Expect::Dump => NLM_F_DUMP,
            };
        let mut request = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        request.finalize();
        send.clear();
        send.resize(request.buffer_len(), 0);
        request.serialize(send);

        let start = out.len();
        // The previous complete multi-datagram reading, to compare with.
        let mut previous: Option<Vec<T>> = None;
        // Interrupted every time: "try again" (EAGAIN) unless ENOBUFS said more.
        let mut last = ExchangeError::Errno(libc::EAGAIN);
        for _ in 0..DUMP_ATTEMPTS {
            out.truncate(start);
            *sequence = sequence.wrapping_add(1).max(1);
            send[8..12].copy_from_slice(&sequence.to_ne_bytes());
            loop {
                match self.socket.send(send, 0) {
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(ExchangeError::io(&e)),
                }
            }
            match self.read_reply(*sequence, receive, out, &mut parse) {
                Ok(Reply::Complete { datagrams }) => {
                    if expect == Expect::Ack || datagrams <= 1 {
                        return Ok(());
                    }
                    let reading = out.split_off(start);
                    if previous.as_ref() == Some(&reading) {
                        out.extend(reading);
                        return Ok(());
                    }
                    previous = Some(reading);
                }
                Ok(Reply::Interrupted) => last = ExchangeError::Errno(libc::EAGAIN),
                Err(ExchangeError::Errno(libc::ENOBUFS)) if expect == Expect::Dump => {
                    last = ExchangeError::Errno(libc::ENOBUFS);
                }
                Err(e) => return Err(e),
            }
        }
        // A table that keeps changing: the last complete reading is as
        // good as any.
        match previous {
            Some(reading) => {
                out.truncate(start);
                out.extend(reading);
                Ok(())
            }
            None => Err(last),
        }
    }

    /// Send every request (each expecting an ACK and no data) pipelined:
    /// up to [`PIPELINE_WINDOW`] of them in one datagram, with consecutive
    /// sequence numbers, then their ACKs collected by sequence number. The
    /// kernel handles the messages of a datagram in order and answers each,
    /// also after one of them failed. One result per request, in order.
    pub(super) fn pipeline(
        &self,
        requests: Vec<(RouteNetlinkMessage, u16)>,
    ) -> Vec<Result<(), ExchangeError>> {
        let mut guard = self.exchange.lock().unwrap_or_else(PoisonError::into_inner);
        let Exchange {
            sequence,
            receive,
            send,
        } = &mut *guard;
        let mut results = Vec::with_capacity(requests.len());
        let mut requests = requests.into_iter().peekable();
        while requests.peek().is_some() {
            send.clear();
            let first = sequence.wrapping_add(1).max(1);
            let mut count: u32 = 0;
            for (message, flags) in requests.by_ref().take(PIPELINE_WINDOW) {
                let mut header = NetlinkHeader::default();
                header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
                header.sequence_number = first.wrapping_add(count);
                let mut request =
                    NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
                request.finalize();
                let at = send.len();
                send.resize(at + request.buffer_len(), 0);
                request.serialize(&mut send[at..]);
                // The next message starts on a 4-byte boundary.
                send.resize(send.len().next_multiple_of(4), 0);
                count += 1;
            }
            *sequence = first.wrapping_add(count - 1);
            let mut window: Vec<Option<Result<(), ExchangeError>>> =
                (0..count).map(|_| None).collect();
            let sent = loop {
                match self.socket.send(send, 0) {
                    Ok(_) => break Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => break Err(e),
                }
            };
            match sent {
                Ok(()) => self.read_acks(first, &mut window, receive),
                Err(e) => window
                    .iter_mut()
                    .for_each(|r| *r = Some(Err(ExchangeError::io(&e)))),
            }
            results.extend(
                window
                    .into_iter()
                    .map(|r| r.unwrap_or(Err(ExchangeError::Errno(libc::ETIMEDOUT)))),
            );
        }
        results
    }

    /// Read ACKs until every slot of `window` (the requests numbered from
    /// `first` on) has its answer, or the socket fails or times out.
    fn read_acks(
        &self,
        first: u32,
        window: &mut [Option<Result<(), ExchangeError>>],
        receive: &mut Vec<u8>,
    ) {
        let mut open = window.len();
        while open > 0 {
            receive.clear();
            let size = match self.socket.recv(receive, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let errno = if e.kind() == std::io::ErrorKind::WouldBlock {
                        libc::ETIMEDOUT
                    } else {
                        e.raw_os_error().unwrap_or(libc::EIO)
                    };
                    for slot in window.iter_mut().filter(|s| s.is_none()) {
                        *slot = Some(Err(ExchangeError::Errno(errno)));
                    }
                    return;
                }
            };
            let datagram = &receive[..size.min(receive.len())];
            for message in parse::messages(datagram) {
                let Ok(message) = message else { break };
                let slot = usize::try_from(message.sequence.wrapping_sub(first))
                    .ok()
                    .and_then(|i| window.get_mut(i));
                let Some(slot) = slot.filter(|s| s.is_none()) else {
                    continue; // left over from an earlier, abandoned exchange
                };
                let answer = match message.kind {
                    NLMSG_ERROR => match parse::leading_i32(message.payload) {
                        Some(0) => Ok(()),
                        Some(code) => Err(ExchangeError::Errno(code.saturating_neg())),
                        None => Err(ExchangeError::Malformed(
                            "error message without a code".into(),
                        )),
                    },
                    NLMSG_OVERRUN => Err(ExchangeError::Errno(libc::ENOBUFS)),
                    _ => continue, // data: none is expected
                };
                *slot = Some(answer);
                open -= 1;
            }
        }
    }

    /// Read until the reply to `sequence` is complete.
    fn read_reply<T>(
        &self,
        sequence: u32,
        receive: &mut Vec<u8>,
        out: &mut Vec<T>,
        parse: &mut impl FnMut(u16, &[u8]) -> Result<Option<T>, ExchangeError>,
    ) -> Result<Reply, ExchangeError> {
        let mut interrupted = false;
        let mut datagrams = 0;
        loop {
            receive.clear();
            let size = match self.socket.recv(receive, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Err(ExchangeError::Errno(libc::ETIMEDOUT));
                }
                Err(e) => return Err(ExchangeError::io(&e)),
            };
            let Some(datagram) = receive.get(..size) else {
                return Err(ExchangeError::Malformed(format!(
                    "reply of {size} bytes exceeds the {}-byte buffer",
                    receive.len()
                )));
            };
            let mut holds_data = false;
            for message in parse::messages(datagram) {
                let message = message?;
                if message.sequence != sequence {
                    continue; // left over from an earlier, abandoned exchange
                }
                if message.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match message.kind {
                    NLMSG_NOOP => {}
                    NLMSG_ERROR => {
                        let code = parse::leading_i32(message.payload).ok_or_else(|| {
                            ExchangeError::Malformed("error message without a code".into())
                        })?;
                        return if code == 0 {
                            Ok(Reply::Complete { datagrams })
                        } else {
                            Err(ExchangeError::Errno(code.saturating_neg()))
                        };
                    }
                    NLMSG_DONE => {
                        // Very old kernels end a dump without a code.
                        let code = parse::leading_i32(message.payload).unwrap_or(0);
                        if code < 0 {
                            return Err(ExchangeError::Errno(code.saturating_neg()));
                        }
                        return Ok(if interrupted {
                            Reply::Interrupted
                        } else {
                            Reply::Complete { datagrams }
                        });
                    }
                    NLMSG_OVERRUN => return Err(ExchangeError::Errno(libc::ENOBUFS)),
                    kind => {
                        // Data (a GET's reply precedes its ACK).
                        if !holds_data {
                            holds_data = true;
                            datagrams += 1;
                        }
                        if let Some(item) = parse(kind, message.payload)? {
                            out.push(item);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Family;
    use super::super::test_support::{addr, in_netns, veth_up};
    use super::*;

    impl Netlink {
        /// The sequence number of the last request: one per reading.
        fn sequence(&self) -> u32 {
            self.exchange
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sequence
        }
    }

    /// A dump whose entries fit one datagram is one request, however the
    /// kernel sends its NLMSG_DONE (6.18: in a datagram of its own for
    /// addresses, which used to count as a second datagram and made every
    /// address dump a double reading).
    #[test]
    fn a_small_dump_is_read_once() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            veth_up();
            let a = nl.link_by_name("a").expect("lookup").expect("a").index;
            nl.add_address(
                a,
                &addr("198.51.100.10/24"),
                crate::net::AddOptions::default(),
            )
            .expect("add");
            for family in [Some(Family::V4), Some(Family::V6), None] {
                let before = nl.sequence();
                let got = nl.addresses(family).expect("dump");
                assert!(!got.is_empty());
                assert_eq!(nl.sequence() - before, 1, "{family:?}: read more than once");
            }
            let before = nl.sequence();
            assert!(nl.links().expect("dump").len() >= 3);
            assert_eq!(nl.sequence() - before, 1, "links: read more than once");
        });
    }
}
