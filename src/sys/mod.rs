//! The operating system's small services — this node's name, the text of
//! an errno, the default directories — with one module per platform,
//! chosen here and nowhere else.
//!
//! [`windows`] is also the one module tree that names `windows_sys`
//! (Cargo.toml pins it; docs/windows.md): the IP Helper API, the event
//! log, files and ACLs, the service control manager.

use std::path::PathBuf;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;

#[cfg(windows)]
pub mod windows;
#[cfg(windows)]
use windows as platform;

/// Waiting for sockets to be ready (the status API's server): `poll(2)`,
/// or `WSAPoll` on Windows.
#[cfg(unix)]
#[path = "unix_poll.rs"]
pub mod poll;
#[cfg(windows)]
pub use windows::poll;

/// A wait's timeout in the milliseconds `poll` and `WSAPoll` take, rounded
/// up so that a deadline is not polled for in a busy loop (None: -1, no
/// timeout).
fn poll_millis(timeout: Option<std::time::Duration>) -> i32 {
    match timeout {
        Some(t) => i32::try_from(t.as_micros().div_ceil(1000)).unwrap_or(i32::MAX),
        None => -1,
    }
}

/// This node's name (the kernel's hostname in the current UTS namespace on
/// Linux, the DNS host name on Windows), used as `{node}` in events.
pub fn node_name() -> String {
    platform::node_name().unwrap_or_else(|| "localhost".to_owned())
}

/// The C library's text for `errno` (`No such device`), the same words on
/// every platform for the errno values the kernel seam carries.
pub fn errno_message(errno: i32) -> String {
    platform::errno_message(errno)
}

/// Where definitions live unless `--config-dir` says otherwise:
/// `/etc/ipkit`, or `%ProgramData%\ipkit` on Windows.
pub fn default_config_dir() -> PathBuf {
    platform::default_config_dir()
}

/// Where state, locks and the event log live unless `--state-dir` says
/// otherwise: `/var/lib/ipkit`, or `%ProgramData%\ipkit` on Windows.
pub fn default_state_dir() -> PathBuf {
    platform::default_state_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_texts_are_the_c_library_words() {
        assert_eq!(errno_message(libc::ENODEV), "No such device");
        assert_eq!(errno_message(libc::EPERM), "Operation not permitted");
        assert_eq!(errno_message(libc::ENOBUFS), "No buffer space available");
        assert_eq!(errno_message(libc::EOPNOTSUPP), "Operation not supported");
        assert!(!node_name().is_empty());
    }
}
