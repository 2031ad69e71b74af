//! Packet capture on a lab port, and what a captured frame says about an address (decoded with etherparse).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacketSlice, EtherType, Icmpv6Slice, NetSlice, SlicedPacket,
    TransportSlice, icmpv6::Icmpv6PayloadSlice,
};

use crate::netns::NetNs;

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Sent by the node behind the port (received by the switch side);
    /// false for frames the switch forwarded towards the node.
    pub from_node: bool,
    pub bytes: Vec<u8>,
}

/// What a frame says about an address (see [`kind_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// ARP request with sender IP = the address (gratuitous / announcement).
    ArpRequest,
    /// ARP reply with sender IP = the address.
    ArpReply,
    /// RFC 5227 probe: ARP request, sender IP 0.0.0.0, target = the address.
    ArpProbe,
    /// Neighbour advertisement for target = the address.
    NeighbourAdvertisement,
    /// Neighbour solicitation for target = the address (DAD if from ::).
    NeighbourSolicitation,
}

/// Classifies `frame` with respect to `ip`; `None` if it says nothing
/// about it (or is not a well-formed Ethernet / ARP / ICMPv6 frame).
pub fn kind_of(frame: &[u8], ip: IpAddr) -> Option<FrameKind> {
    let packet = SlicedPacket::from_ethernet(frame).ok()?;
    match (ip, packet.net.as_ref()?) {
        (IpAddr::V4(v4), NetSlice::Arp(arp)) => arp_kind(arp, v4),
        (IpAddr::V6(v6), NetSlice::Ipv6(_)) => match packet.transport.as_ref()? {
            TransportSlice::Icmpv6(icmp) => neighbour_discovery_kind(icmp, v6),
            _ => None,
        },
        _ => None,
    }
}

/// An Ethernet / IPv4 ARP packet about `ip`: sent by it, or probing for it.
fn arp_kind(arp: &ArpPacketSlice<'_>, ip: Ipv4Addr) -> Option<FrameKind> {
    if arp.hw_addr_type() != ArpHardwareId::ETHERNET
        || arp.proto_addr_type() != EtherType::IPV4
        || (arp.hw_addr_size(), arp.proto_addr_size()) != (6, 4)
    {
        return None;
    }
    let sender = Ipv4Addr::from(<[u8; 4]>::try_from(arp.sender_protocol_addr()).ok()?);
    let target = Ipv4Addr::from(<[u8; 4]>::try_from(arp.target_protocol_addr()).ok()?);
    match arp.operation() {
        ArpOperation::REQUEST if sender == ip => Some(FrameKind::ArpRequest),
        ArpOperation::REPLY if sender == ip => Some(FrameKind::ArpReply),
        ArpOperation::REQUEST if sender.is_unspecified() && target == ip => {
            Some(FrameKind::ArpProbe)
        }
        _ => None,
    }
}

/// A neighbour solicitation or advertisement whose target is `ip`.
fn neighbour_discovery_kind(icmp: &Icmpv6Slice<'_>, ip: Ipv6Addr) -> Option<FrameKind> {
    match icmp.payload_slice().ok()? {
        Icmpv6PayloadSlice::NeighborSolicitation(ns) if ns.target_address() == ip => {
            Some(FrameKind::NeighbourSolicitation)
        }
        Icmpv6PayloadSlice::NeighborAdvertisement(na) if na.target_address() == ip => {
            Some(FrameKind::NeighbourAdvertisement)
        }
        _ => None,
    }
}

#[derive(Debug, Default)]
struct Shared {
    frames: Mutex<Vec<Frame>>,
    arrived: Condvar,
}

/// Frames seen on one switch port, collected by a background thread until
/// [`Capture::stop`] (or drop).
#[derive(Debug)]
pub struct Capture {
    shared: Arc<Shared>,
    wake: Option<OwnedFd>,
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

const PACKET_OUTGOING: u8 = 4;

/// A raw `AF_PACKET` socket, protocol 0 (it receives nothing until bound).
pub(crate) fn packet_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2).
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// A link-layer address on interface `ifindex` (ENODEV for one the kernel
/// cannot have).
pub(crate) fn link_address(ifindex: u32) -> io::Result<libc::sockaddr_ll> {
    // SAFETY: zeroed sockaddr_ll is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex =
        i32::try_from(ifindex).map_err(|_| io::Error::from_raw_os_error(libc::ENODEV))?;
    Ok(sll)
}

fn open_socket(ifindex: u32) -> io::Result<OwnedFd> {
    let fd = packet_socket()?;
    let mut sll = link_address(ifindex)?;
    sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: valid sockaddr_ll of the given size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

impl Capture {
    /// Starts capturing every frame on interface `ifindex` of `ns`.
    pub(crate) fn start(ns: &NetNs, ifindex: u32) -> io::Result<Capture> {
        let sock = ns.run(|| open_socket(ifindex))??;
        let mut fds = [0; 2];
        // SAFETY: fds has room for two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh fds we own.
        let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("lab-capture".into())
            .spawn(move || capture_loop(&sock, &rx, &worker))?;
        Ok(Capture {
            shared,
            wake: Some(tx),
            thread: Some(thread),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Frame>> {
        self.shared.frames.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every frame so far (both directions).
    pub fn frames(&self) -> Vec<Vec<u8>> {
        self.lock().iter().map(|f| f.bytes.clone()).collect()
    }

    /// Every frame so far, with its direction.
    pub fn all(&self) -> Vec<Frame> {
        self.lock().clone()
    }

    /// Frames sent by the node behind the port so far.
    pub fn frames_from_node(&self) -> Vec<Vec<u8>> {
        self.lock()
            .iter()
            .filter(|f| f.from_node)
            .map(|f| f.bytes.clone())
            .collect()
    }

    /// How many frames of `kind` about `ip` the node behind the port sent.
    pub fn count(&self, kind: FrameKind, ip: IpAddr) -> usize {
        self.lock()
            .iter()
            .filter(|f| f.from_node && kind_of(&f.bytes, ip) == Some(kind))
            .count()
    }

    /// How many frames of `kind` about `ip` crossed the port either way.
    pub fn count_any_direction(&self, kind: FrameKind, ip: IpAddr) -> usize {
        self.lock()
            .iter()
            .filter(|f| kind_of(&f.bytes, ip) == Some(kind))
            .count()
    }

    /// Waits until `done(frames)` holds or `timeout` passes; returns whether
    /// it holds.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&[Frame]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut frames = self.lock();
        loop {
            if done(&frames) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            frames = self
                .shared
                .arrived
                .wait_timeout(frames, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Waits until the node sent at least `n` frames of `kind` about `ip`.
    pub fn wait_for_count(&self, kind: FrameKind, ip: IpAddr, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |frames| {
            frames
                .iter()
                .filter(|f| f.from_node && kind_of(&f.bytes, ip) == Some(kind))
                .count()
                >= n
        })
    }

    /// Stops the capture and returns every frame (with direction).
    pub fn stop(mut self) -> io::Result<Vec<Frame>> {
        self.halt()?;
        Ok(std::mem::take(&mut *self.lock()))
    }

    fn halt(&mut self) -> io::Result<()> {
        // Closing the pipe's write end wakes the thread (POLLHUP).
        drop(self.wake.take());
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            None => Ok(()),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

fn capture_loop(sock: &OwnedFd, wake: &OwnedFd, shared: &Shared) -> io::Result<()> {
    let mut buf = vec![0u8; 65536];
    loop {
        let mut pfds = [
            libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let rc = unsafe { libc::poll(pfds.as_mut_ptr(), 2, -1) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if pfds[0].revents & libc::POLLIN != 0 {
            // SAFETY: zeroed sockaddr_ll is valid; sizes match the buffers.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            let n = unsafe {
                libc::recvfrom(
                    sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n > 0 {
                let frame = Frame {
                    from_node: from.sll_pkttype != PACKET_OUTGOING,
                    bytes: buf[..n as usize].to_vec(),
                };
                shared
                    .frames
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(frame);
                shared.arrived.notify_all();
            } else if n < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) | Some(libc::EINTR) => {}
                    // The port was deleted (hot-unplug): nothing more to see.
                    Some(libc::ENETDOWN) | Some(libc::ENXIO) | Some(libc::ENODEV) => {}
                    _ => return Err(e),
                }
            }
            continue;
        }
        if pfds[1].revents != 0 {
            // Drain what is already queued before stopping.
            return Ok(());
        }
        if pfds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            // Socket error (e.g. interface gone): wait for stop only.
            let mut one = [libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(one.as_mut_ptr(), 1, -1) };
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{ArpPacket, Icmpv6Type, PacketBuilder, icmpv6::NeighborAdvertisementHeader};

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const BROADCAST: [u8; 6] = [0xff; 6];
    const V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
    const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);

    fn arp(operation: ArpOperation, sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
        let packet = ArpPacket::new(
            ArpHardwareId::ETHERNET,
            EtherType::IPV4,
            operation,
            &MAC,
            &sender.octets(),
            &[0; 6],
            &target.octets(),
        )
        .expect("arp packet");
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(MAC, BROADCAST)
            .arp(packet)
            .write_to_vec(&mut frame)
            .expect("arp frame");
        frame
    }

    fn neighbour_discovery(kind: Icmpv6Type, source: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(MAC, [0x33, 0x33, 0, 0, 0, 1])
            .ipv6(
                source.octets(),
                Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets(),
                255,
            )
            .icmpv6(kind)
            .write_to_vec(&mut frame, &target.octets())
            .expect("icmpv6 frame");
        frame
    }

    fn advertisement(target: Ipv6Addr) -> Vec<u8> {
        let header = NeighborAdvertisementHeader {
            router: false,
            solicited: false,
            r#override: true,
        };
        neighbour_discovery(Icmpv6Type::NeighborAdvertisement(header), target, target)
    }

    #[test]
    fn frames_are_classified() {
        let (v4, v6) = (IpAddr::V4(V4), IpAddr::V6(V6));
        let request = arp(ArpOperation::REQUEST, V4, V4);
        assert_eq!(kind_of(&request, v4), Some(FrameKind::ArpRequest));
        let reply = arp(ArpOperation::REPLY, V4, V4);
        assert_eq!(kind_of(&reply, v4), Some(FrameKind::ArpReply));
        let probe = arp(ArpOperation::REQUEST, Ipv4Addr::UNSPECIFIED, V4);
        assert_eq!(kind_of(&probe, v4), Some(FrameKind::ArpProbe));
        assert_eq!(
            kind_of(&advertisement(V6), v6),
            Some(FrameKind::NeighbourAdvertisement)
        );
        let dad = neighbour_discovery(Icmpv6Type::NeighborSolicitation, Ipv6Addr::UNSPECIFIED, V6);
        assert_eq!(kind_of(&dad, v6), Some(FrameKind::NeighbourSolicitation));

        let other = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 11));
        assert_eq!(kind_of(&request, other), None);
        assert_eq!(kind_of(&advertisement(V6), v4), None);
        // Someone else asking for the address (sender IP set) is no probe.
        let asking = arp(ArpOperation::REQUEST, Ipv4Addr::new(198, 51, 100, 1), V4);
        assert_eq!(kind_of(&asking, v4), None);
    }

    #[test]
    fn truncated_or_foreign_frames_say_nothing() {
        let v4 = IpAddr::V4(V4);
        let request = arp(ArpOperation::REQUEST, V4, V4);
        for end in 0..request.len() {
            assert_eq!(kind_of(&request[..end], v4), None, "cut at {end}");
        }
        let na = advertisement(V6);
        for end in 0..na.len() {
            assert_eq!(kind_of(&na[..end], IpAddr::V6(V6)), None, "cut at {end}");
        }
    }
}
