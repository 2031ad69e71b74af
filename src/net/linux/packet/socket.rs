//! `AF_PACKET` sockets: opening, sending a frame, and the [`Listener`] a probe receives on.

use std::io;
use std::mem;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::net::linux::pdu::ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV6, EthernetFrame, ZERO_MAC};
use crate::resource::Mac;

use super::filter::{Program, drop_all};

/// `sll_pkttype` of a frame this host sent (`PACKET_OUTGOING`).
const PACKET_OUTGOING: u8 = 4;

/// The EtherType of the frames that announce or probe `ip`.
pub(super) fn ethertype_of(ip: IpAddr) -> u16 {
    match ip {
        IpAddr::V4(_) => ETHERTYPE_ARP,
        IpAddr::V6(_) => ETHERTYPE_IPV6,
    }
}

fn link_address(ifindex: u32, ethertype: u16, destination: Mac) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut address: libc::sockaddr_ll = unsafe { mem::zeroed() };
    address.sll_family = libc::AF_PACKET as u16;
    address.sll_protocol = ethertype.to_be();
    address.sll_ifindex = ifindex as i32;
    address.sll_halen = 6;
    address.sll_addr[..6].copy_from_slice(&destination.0);
    address
}

/// The link-layer destination of `frame` on `ifindex`.
pub(super) fn frame_destination(ifindex: u32, frame: &[u8]) -> io::Result<libc::sockaddr_ll> {
    let eth =
        EthernetFrame::parse(frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok(link_address(ifindex, eth.ethertype(), eth.destination()))
}

/// ENODEV for an interface index the kernel cannot have.
pub(super) fn check_ifindex(ifindex: u32) -> io::Result<()> {
    if ifindex == 0 || i32::try_from(ifindex).is_err() {
        return Err(io::Error::from_raw_os_error(libc::ENODEV));
    }
    Ok(())
}

/// A new close-on-exec socket of `domain` and `kind`, protocol 0.
pub(super) fn new_socket(domain: libc::c_int, kind: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call.
    let raw = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: raw is a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// A raw `AF_PACKET` socket with protocol 0: it receives nothing until it
/// is bound, and can send on any interface.
pub(super) fn open_packet_socket() -> io::Result<OwnedFd> {
    new_socket(libc::AF_PACKET, libc::SOCK_RAW)
}

/// Sends `frame` on `ifindex` to the destination in its Ethernet header.
pub(super) fn send_frame(fd: RawFd, ifindex: u32, frame: &[u8]) -> io::Result<()> {
    let destination = frame_destination(ifindex, frame)?;
    if send_raw(fd, frame, &destination) < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// sendto(2) on a prepared address; async-signal-safe (used after fork).
pub(super) fn send_raw(fd: RawFd, frame: &[u8], destination: &libc::sockaddr_ll) -> isize {
    // SAFETY: frame and destination are valid for their lengths.
    unsafe {
        libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (destination as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    }
}

/// setsockopt(2) with `value` as the option.
pub(super) fn setsockopt<T>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: value is valid for size_of::<T>() bytes.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A packet socket bound to one interface and EtherType, kept between
/// probes. While idle it carries a socket filter that drops everything,
/// so nothing is queued (or even cloned) for it.
#[derive(Debug)]
pub(super) struct Listener {
    fd: OwnedFd,
    ifindex: u32,
    ethertype: u16,
}

impl Listener {
    /// Created with protocol 0, so nothing from other interfaces is
    /// queued before the bind.
    pub(super) fn open(ifindex: u32, ethertype: u16) -> io::Result<Self> {
        Self::open_filtered(ifindex, ethertype, None)
    }

    /// [`Listener::open`] with `filter` attached before the bind, so that
    /// no frame it would drop is ever queued.
    pub(super) fn open_filtered(
        ifindex: u32,
        ethertype: u16,
        filter: Option<&Program>,
    ) -> io::Result<Self> {
        let fd = open_packet_socket()?;
        if let Some(program) = filter {
            attach(fd.as_raw_fd(), program)?;
        }
        let address = link_address(ifindex, ethertype, ZERO_MAC);
        // SAFETY: address is a valid sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&address as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            fd,
            ifindex,
            ethertype,
        })
    }

    /// Replaces the socket filter (atomically: no frame passes unfiltered).
    pub(super) fn set_filter(&self, program: &Program) -> io::Result<()> {
        attach(self.fd.as_raw_fd(), program)
    }

    /// Bound to `ifindex` for `ethertype`?
    pub(super) fn serves(&self, ifindex: u32, ethertype: u16) -> bool {
        self.ifindex == ifindex && self.ethertype == ethertype
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends `frame` on the listener's interface.
    pub(super) fn send(&self, frame: &[u8]) -> io::Result<()> {
        send_frame(self.fd.as_raw_fd(), self.ifindex, frame)
    }

    /// Still bound to its interface (the kernel unbinds a packet socket
    /// whose interface is unregistered: its ifindex becomes -1), with any
    /// pending error (ENETDOWN after a down/up) cleared.
    pub(super) fn usable(&self) -> bool {
        // SAFETY: zeroed sockaddr_ll is valid; sizes match the buffers.
        let mut bound: libc::sockaddr_ll = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        let rc = unsafe {
            libc::getsockname(
                self.fd.as_raw_fd(),
                (&mut bound as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if rc < 0 || bound.sll_ifindex != self.ifindex as i32 {
            return false;
        }
        let mut err: libc::c_int = 0;
        let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: err is a c_int of the given size; reading SO_ERROR clears it.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        rc == 0
    }

    /// Idle: attach a filter that accepts nothing. Listening: detach it.
    pub(super) fn set_idle(&self, idle: bool) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        if idle {
            attach(fd, &drop_all())
        } else {
            match setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_DETACH_FILTER,
                &0 as &libc::c_int,
            ) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
                r => r,
            }
        }
    }

    /// Throws away frames queued before the filter went on.
    pub(super) fn drain(&self) {
        let mut buf = [0u8; 64];
        for _ in 0..4096 {
            // SAFETY: buf is valid for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                break;
            }
        }
    }

    /// Waits at most `timeout` for one incoming frame (outgoing copies are
    /// skipped). `Ok(None)` on timeout.
    pub(super) fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let mut poll_fd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut poll_fd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            };
        }
        if rc == 0 {
            return Ok(None);
        }
        match self.try_recv(buf)? {
            Received::Frame(n) => Ok(Some(n)),
            Received::Ours | Received::Nothing => Ok(None),
        }
    }

    /// One queued frame, without waiting.
    pub(super) fn try_recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        // SAFETY: zeroed sockaddr_ll is valid; sizes passed match buffers.
        let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(Received::Nothing),
                _ => Err(e),
            };
        }
        if from.sll_pkttype == PACKET_OUTGOING {
            return Ok(Received::Ours);
        }
        Ok(Received::Frame(n as usize))
    }
}

/// What [`Listener::try_recv`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Received {
    /// A frame from the wire, this long.
    Frame(usize),
    /// A copy of a frame this host sent.
    Ours,
    /// Nothing queued.
    Nothing,
}

/// Attaches `program` as the socket filter of `fd`, replacing any other.
fn attach(fd: RawFd, program: &Program) -> io::Result<()> {
    let len =
        u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fprog = libc::sock_fprog {
        len,
        // The kernel copies the program; it never writes through this.
        filter: program.as_ptr().cast_mut(),
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
}
