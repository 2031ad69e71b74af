//! The announcer registry: one abstract unix socket name per address, and how its holder is asked to stop.
//!
//! At most one background sender announces an address in a network
//! namespace: it holds the address's name ([`announcer_name`]) for as long
//! as it runs. Whoever announces the address again, or deletes it, first
//! [`claim_all`]s the name: it asks the holder to stop (one datagram, checked
//! by the holder with [`stop_sender_allowed`](super::rounds::stop_sender_allowed)) and binds the name once the
//! holder has let it go. One sender may hold the names of many addresses
//! (issue 11: one pass over all the addresses of a batch); a stop request
//! for one of them ends that address's rounds only.

use std::io;
use std::mem;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use super::rounds;
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

/// A socket ready to bind an announcer name: the sender checks who asks
/// it to stop (SO_PASSCRED makes the kernel attach their credentials).
fn name_socket() -> io::Result<OwnedFd> {
    let sock = unix_datagram_socket()?;
    setsockopt(
        sock.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_PASSCRED,
        &1 as &libc::c_int,
    )?;
    Ok(sock)
}

/// Binds the announcer name of each of `ips`, after asking whoever holds
/// it to stop and waiting (at most [`CLAIM_PATIENCE`] for all of them
/// together) until it has let it go. One result per address: `Ok(None)` if
/// the name is still held then.
pub(super) fn claim_all(ips: &[IpAddr]) -> Vec<io::Result<Option<OwnedFd>>> {
    let names: Vec<(libc::sockaddr_un, libc::socklen_t)> = ips
        .iter()
        .map(|ip| unix_address(&announcer_name(*ip)))
        .collect();
    let mut out: Vec<Option<io::Result<Option<OwnedFd>>>> = Vec::with_capacity(ips.len());
    let mut sockets: Vec<Option<OwnedFd>> = Vec::with_capacity(ips.len());
    // A name a sender thread of this process holds changes hands at once.
    for taken in rounds::take_names(ips) {
        if let Some(sock) = taken {
            sockets.push(None);
            out.push(Some(Ok(Some(sock))));
            continue;
        }
        match name_socket() {
            Ok(sock) => {
                sockets.push(Some(sock));
                out.push(None);
            }
            Err(e) => {
                sockets.push(None);
                out.push(Some(Err(e)));
            }
        }
    }
    let deadline = Instant::now() + CLAIM_PATIENCE;
    let mut asker: Option<OwnedFd> = None;
    for attempt in 0u32.. {
        let mut held = Vec::new();
        for (i, (unix, len)) in names.iter().enumerate() {
            let Some(sock) = sockets[i].take() else {
                continue;
            };
            let address = (unix as *const libc::sockaddr_un).cast::<libc::sockaddr>();
            // SAFETY: address points to a sockaddr_un valid for len bytes.
            if unsafe { libc::bind(sock.as_raw_fd(), address, *len) } == 0 {
                out[i] = Some(Ok(Some(sock)));
                continue;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EADDRINUSE) {
                sockets[i] = Some(sock);
                held.push(i);
            } else {
                out[i] = Some(Err(e));
            }
        }
        if held.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            for i in held {
                sockets[i] = None;
                out[i] = Some(Ok(None));
            }
            break;
        }
        let asking = match &asker {
            Some(fd) => fd.as_raw_fd(),
            None => match unix_datagram_socket() {
                Ok(fd) => asker.insert(fd).as_raw_fd(),
                Err(e) => {
                    let text = e.to_string();
                    for i in held {
                        sockets[i] = None;
                        out[i] = Some(Err(io::Error::new(e.kind(), text.clone())));
                    }
                    break;
                }
            },
        };
        for &i in &held {
            // Errors are fine: the holder may have just gone
            // (ECONNREFUSED), or have a full queue.
            let _ = ask_to_stop(asking, &names[i]);
        }
        pause(attempt);
    }
    out.into_iter().map(|r| r.unwrap_or(Ok(None))).collect()
}

/// Stops the background announcement rounds of `ip` in this network
/// namespace, whichever adapter and process they came from, and returns
/// once their sender has let the name go (or after [`CLAIM_PATIENCE`]): no
/// announcement of `ip` leaves this node after it returns. Called before
/// the address is deleted, so that its last owner never announces it once
/// it is gone (a Pacemaker move would fail the new node's in-use probe; a
/// local recovery would see the old adapter's MAC re-announced).
pub fn stop_announcing(ip: IpAddr) {
    stop_announcing_all(&[ip]);
}

/// [`stop_announcing`] of several addresses at once: the stop requests all
/// go out before the first wait.
///
/// Nothing is bound: a name held by a sender thread of this process is
/// taken from it at once, and every other name is asked to stop from one
/// unbound socket until the kernel refuses the request (ECONNREFUSED: no
/// socket holds the name), which is the same proof as binding it without
/// a socket of our own per address (issue 11: socket, setsockopt, bind and
/// close for each of 100 addresses cost 0.8 ms, twice per recover).
pub fn stop_announcing_all(ips: &[IpAddr]) {
    drop(rounds::take_names(ips));
    let names: Vec<(libc::sockaddr_un, libc::socklen_t)> = ips
        .iter()
        .map(|ip| unix_address(&announcer_name(*ip)))
        .collect();
    let asker = match unix_datagram_socket() {
        Ok(fd) => fd,
        // No socket to ask from: the claims' way, which reports nothing
        // either.
        Err(_) => return drop(claim_all(ips)),
    };
    let deadline = Instant::now() + CLAIM_PATIENCE;
    let mut held: Vec<usize> = (0..names.len()).collect();
    for attempt in 0u32.. {
        held.retain(|&i| match ask_to_stop(asker.as_raw_fd(), &names[i]) {
            // Delivered: a holder has the request and is letting go.
            Ok(()) => true,
            Err(e) => matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EINTR)),
        });
        if held.is_empty() || Instant::now() >= deadline {
            break;
        }
        pause(attempt);
    }
}

/// Sends a stop request from `asker` to whoever holds `name`; the kernel
/// refuses it with ECONNREFUSED when nobody does.
fn ask_to_stop(asker: RawFd, (unix, len): &(libc::sockaddr_un, libc::socklen_t)) -> io::Result<()> {
    let address = (unix as *const libc::sockaddr_un).cast::<libc::sockaddr>();
    // SAFETY: a valid message and address.
    let sent = unsafe {
        libc::sendto(
            asker,
            b"stop".as_ptr().cast(),
            4,
            libc::MSG_DONTWAIT,
            address,
            *len,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Between two looks at the names: a sender lets go within tens of
/// microseconds of the request, so yield to it first (a sleep rounds up to
/// the 50 us timer slack), then poll more gently.
fn pause(attempt: u32) {
    if attempt < 64 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(Duration::from_micros(100));
    }
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
