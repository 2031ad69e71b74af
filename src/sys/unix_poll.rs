//! Waiting for sockets to be ready, on Unix: `poll(2)`, and a Unix socket
//! pair to wake the waiter (the status API's server, `daemon::http_server`).

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// One socket and what it waits for; `revents` says what happened.
pub type Entry = libc::pollfd;

/// Ready to read (or accept, or closed).
pub const READABLE: i16 = libc::POLLIN;
/// Ready to write.
pub const WRITABLE: i16 = libc::POLLOUT;

/// The two ends of the waiter's wake-up line: a byte written to the first
/// makes the second readable.
pub type WakeStream = UnixStream;

pub fn wake_pair() -> io::Result<(WakeStream, WakeStream)> {
    UnixStream::pair()
}

/// `socket` waiting for `events` (`READABLE`, `WRITABLE`, or 0: nothing).
pub fn entry(socket: &impl AsRawFd, events: i16) -> Entry {
    libc::pollfd {
        fd: socket.as_raw_fd(),
        events,
        revents: 0,
    }
}

/// `poll(2)`: wait until one of `entries` is ready or `timeout` passed
/// (None: no timeout).
pub fn wait(entries: &mut [Entry], timeout: Option<Duration>) -> io::Result<()> {
    let n = entries.len() as libc::nfds_t;
    // SAFETY: `entries` is a valid, exclusively borrowed array of `n` pollfds.
    let r = unsafe { libc::poll(entries.as_mut_ptr(), n, super::poll_millis(timeout)) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}
