//! systemd readiness (`Type=notify`): one datagram to `$NOTIFY_SOCKET`
//! (sd_notify(3)), without a crate. No socket set: nothing to do.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Send `state` (e.g. `READY=1`) to the service manager, if there is one.
pub fn notify(state: &str) -> io::Result<()> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(path) => notify_to(&path, state),
        None => Ok(()),
    }
}

/// Send `state` to the notification socket `path` (`/path` or `@abstract`).
pub fn notify_to(path: &std::ffi::OsStr, state: &str) -> io::Result<()> {
    let bytes = path.as_encoded_bytes();
    let addr = match bytes.first() {
        // An abstract socket: '@' stands for the leading NUL.
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..])?,
        Some(b'/') => SocketAddr::from_pathname(path)?,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("NOTIFY_SOCKET={path:?} is neither a path nor @abstract"),
            ));
        }
    };
    let sock = UnixDatagram::unbound()?;
    sock.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        notify_to(path.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let abs =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(b"ipkit-test-notify").unwrap())
                .unwrap();
        notify_to(std::ffi::OsStr::new("@ipkit-test-notify"), "STOPPING=1").unwrap();
        let n = abs.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
        assert!(notify_to(std::ffi::OsStr::new("relative"), "READY=1").is_err());
    }
}
