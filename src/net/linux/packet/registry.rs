//! The announcer registry: one abstract unix socket name per address, and how its holder is asked to stop.
//!
//! At most one background sender announces an address in a network
//! namespace: it holds the address's name ([`announcer_name`]) for as long
//! as it runs. Whoever announces the address again, or deletes it, first
//! [`claim`]s the name: it asks the holder to stop (one datagram, checked by
//! the holder with [`stop_requested_within`]) and binds the name once the
//! holder has exited.

use std::io;
use std::mem;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::detach::{Wait, monotonic_ns, wait_readable};
use super::socket::{new_socket, setsockopt};

/// The abstract `AF_UNIX` name (leading NUL) that the background sender of
/// `ip`'s announcements holds. Abstract names belong to a network
/// namespace, exactly the scope of an address, and vanish with the last
/// descriptor of the socket: nothing on disk to clean up after a crash.
pub fn announcer_name(ip: IpAddr) -> Vec<u8> {
    format!("\0ipkit/announce/{ip}").into_bytes()
}

/// How long a claim waits for the previous sender to exit.
pub const CLAIM_PATIENCE: Duration = Duration::from_millis(50);

fn unix_address(name: &[u8]) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: sockaddr_un is plain old data; all-zero is valid.
    let mut address: libc::sockaddr_un = unsafe { mem::zeroed() };
    address.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let n = name.len().min(address.sun_path.len());
    for (to, from) in address.sun_path.iter_mut().zip(&name[..n]) {
        *to = *from as libc::c_char;
    }
    let len = mem::size_of::<libc::sa_family_t>() + n;
    (address, len as libc::socklen_t)
}

fn unix_datagram_socket() -> io::Result<OwnedFd> {
    new_socket(libc::AF_UNIX, libc::SOCK_DGRAM)
}

/// Binds `ip`'s announcer name, after asking whoever holds it to stop and
/// waiting (at most [`CLAIM_PATIENCE`]) until it has exited. `Ok(None)` if
/// the name is still held then.
pub(super) fn claim(ip: IpAddr) -> io::Result<Option<OwnedFd>> {
    let (unix, len) = unix_address(&announcer_name(ip));
    let address = (&unix as *const libc::sockaddr_un).cast::<libc::sockaddr>();
    let sock = unix_datagram_socket()?;
    // The sender checks who asks it to stop.
    setsockopt(
        sock.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_PASSCRED,
        &1 as &libc::c_int,
    )?;
    let deadline = Instant::now() + CLAIM_PATIENCE;
    let mut asker: Option<OwnedFd> = None;
    for attempt in 0u32.. {
        // SAFETY: address points to a sockaddr_un valid for len bytes.
        if unsafe { libc::bind(sock.as_raw_fd(), address, len) } == 0 {
            return Ok(Some(sock));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EADDRINUSE) {
            return Err(e);
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        let asking = match &asker {
            Some(fd) => fd.as_raw_fd(),
            None => asker.insert(unix_datagram_socket()?).as_raw_fd(),
        };
        // SAFETY: a valid message and address. Errors are fine: the holder
        // may have just gone (ECONNREFUSED), or have a full queue.
        unsafe {
            libc::sendto(
                asking,
                b"stop".as_ptr().cast(),
                4,
                libc::MSG_DONTWAIT,
                address,
                len,
            );
        }
        // The sender exits within tens of microseconds of the request:
        // yield to it first (a sleep rounds up to the 50 us timer slack),
        // then poll more gently.
        if attempt < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    Ok(None)
}

/// Stops the background announcement rounds of `ip` in this network
/// namespace, whichever adapter and process they came from, and returns
/// once their sender has exited (or after [`CLAIM_PATIENCE`]): no
/// announcement of `ip` leaves this node after it returns. Called before
/// the address is deleted, so that its last owner never announces it once
/// it is gone (a Pacemaker move would fail the new node's in-use probe; a
/// local recovery would see the old adapter's MAC re-announced).
pub fn stop_announcing(ip: IpAddr) {
    // Claiming the name stops the holder; dropping it frees the name.
    let _ = claim(ip);
}

/// For the holder of a name, `stop_socket` being the claimed socket: waits
/// `ns` nanoseconds on it; true as soon as a datagram from root or `uid`
/// arrives there (anyone else's is read and ignored).
/// Async-signal-safe: clock_gettime, ppoll, recvmsg.
pub(super) fn stop_requested_within(stop_socket: RawFd, ns: i64, uid: libc::uid_t) -> bool {
    let deadline = monotonic_ns().saturating_add(ns);
    loop {
        match wait_readable(stop_socket, deadline) {
            Wait::TimedOut => return false,
            // Cannot wait on the stop socket: stop rather than risk
            // announcing an address that may have moved.
            Wait::Failed => return true,
            Wait::Ready(revents) if revents & libc::POLLIN == 0 => return true,
            Wait::Ready(_) => {
                if stop_sender_allowed(stop_socket, uid) {
                    return true;
                }
            }
        }
    }
}

/// Reads one datagram from `stop_socket`; true if it came from root or
/// `uid` (its SCM_CREDENTIALS, which SO_PASSCRED makes the kernel attach).
fn stop_sender_allowed(stop_socket: RawFd, uid: libc::uid_t) -> bool {
    let mut data = [0u8; 16];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one ucred control message, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control) as _;
    // SAFETY: msg points to valid buffers; recvmsg is async-signal-safe.
    let n = unsafe { libc::recvmsg(stop_socket, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return false;
    }
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&msg);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET
                && (*header).cmsg_type == libc::SCM_CREDENTIALS
            {
                let cred: libc::ucred = std::ptr::read_unaligned(libc::CMSG_DATA(header).cast());
                return cred.uid == 0 || cred.uid == uid;
            }
            header = libc::CMSG_NXTHDR(&msg, header);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::linux::pdu::fixtures::{V4, V6};

    #[test]
    fn announcer_names_are_abstract_per_address_and_fit() {
        let v4 = announcer_name(IpAddr::V4(V4));
        assert_eq!(v4, b"\0ipkit/announce/198.51.100.10".to_vec());
        let v6 = announcer_name(IpAddr::V6(V6));
        assert_eq!(v6, b"\0ipkit/announce/2001:db8:1::10".to_vec());
        let longest: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
            .parse()
            .expect("ip");
        let name = announcer_name(longest);
        // SAFETY: all-zero sockaddr_un is valid.
        let room = unsafe { mem::zeroed::<libc::sockaddr_un>() }.sun_path.len();
        assert!(name.len() <= room, "{} > {room}", name.len());
        let (address, len) = unix_address(&name);
        assert_eq!(
            len as usize,
            mem::size_of::<libc::sa_family_t>() + name.len()
        );
        assert_eq!(address.sun_path[0], 0, "abstract: leading NUL");
    }
}
