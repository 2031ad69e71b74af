//! Reachability from inside a namespace: one ICMP / ICMPv6 echo exchange over a ping socket.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// One ICMP(v6) echo exchange over a ping socket (the kernel fills in the
/// identifier and checksum and only delivers our replies).
pub(crate) fn ping(ip: IpAddr, timeout: Duration) -> io::Result<bool> {
    use socket2::{Domain, Protocol, Socket, Type};
    let (domain, proto, request, reply) = match ip {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4, 8u8, 0u8),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6, 128, 129),
    };
    let sock: UdpSocket = Socket::new(domain, Type::DGRAM, Some(proto))?.into();
    let dest = SocketAddr::new(ip, 0);
    let deadline = Instant::now() + timeout;
    // Resend every 200 ms: the first echo may wait for neighbour resolution.
    let resend = Duration::from_millis(200);
    let mut seq: u16 = 0;
    let mut buf = [0u8; 256];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        seq = seq.wrapping_add(1);
        let mut msg = [0u8; 16];
        msg[0] = request;
        msg[6..8].copy_from_slice(&seq.to_be_bytes());
        msg[8..16].copy_from_slice(b"ipk-lab!");
        match sock.send_to(&msg, dest) {
            Ok(_) => {}
            // No route / neighbour failed: unreachable for now; retry.
            Err(e) if is_unreachable(&e) => {}
            Err(e) => return Err(e),
        }
        let round_end = (now + resend).min(deadline);
        loop {
            let left = round_end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(left))?;
            match sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if from.ip() == ip
                        && n >= 8
                        && buf[0] == reply
                        && buf[8..n].starts_with(b"ipk-lab!")
                    {
                        return Ok(true);
                    }
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    break;
                }
                Err(e) if is_unreachable(&e) => break,
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_unreachable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH) | Some(libc::ENETDOWN)
    )
}
