//! Waiting for sockets to be ready, on Windows: `WSAPoll`, and a loopback
//! TCP pair to wake the waiter (Windows has no socket pair; the status
//! API's server, `daemon::http_server`).

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::windows::io::AsRawSocket;
use std::time::Duration;

use windows_sys::Win32::Networking::WinSock::{
    POLLRDNORM, POLLWRNORM, SOCKET, SOCKET_ERROR, WSAGetLastError, WSAPOLLFD, WSAPoll,
};

/// One socket and what it waits for; `revents` says what happened.
pub type Entry = WSAPOLLFD;

/// Ready to read (or accept, or closed). `WSAPoll` refuses `POLLPRI`, so
/// not `POLLIN`'s band bits either: normal data only.
pub const READABLE: i16 = POLLRDNORM as i16;
/// Ready to write.
pub const WRITABLE: i16 = POLLWRNORM as i16;

/// The two ends of the waiter's wake-up line: a byte written to the first
/// makes the second readable.
pub type WakeStream = TcpStream;

pub fn wake_pair() -> io::Result<(WakeStream, WakeStream)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let wake = TcpStream::connect(listener.local_addr()?)?;
    loop {
        let (woken, peer) = listener.accept()?;
        // Only our own connection: anything else on the port is dropped.
        if peer == wake.local_addr()? {
            wake.set_nodelay(true)?;
            return Ok((wake, woken));
        }
    }
}

/// `socket` waiting for `events` (`READABLE`, `WRITABLE`, or 0: nothing).
pub fn entry(socket: &impl AsRawSocket, events: i16) -> Entry {
    WSAPOLLFD {
        fd: socket.as_raw_socket() as SOCKET,
        events,
        revents: 0,
    }
}

/// `WSAPoll`: wait until one of `entries` is ready or `timeout` passed
/// (None: no timeout).
pub fn wait(entries: &mut [Entry], timeout: Option<Duration>) -> io::Result<()> {
    let n = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    // SAFETY: `entries` is a valid, exclusively borrowed array of `n`
    // WSAPOLLFDs, each naming a socket the caller holds open.
    let r = unsafe { WSAPoll(entries.as_mut_ptr(), n, crate::sys::poll_millis(timeout)) };
    if r == SOCKET_ERROR {
        // SAFETY: no arguments; reads this thread's last Winsock error.
        return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
    }
    Ok(())
}
