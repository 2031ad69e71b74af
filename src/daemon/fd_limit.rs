//! The daemon's file-descriptor budget (issue 10 defect 6): the soft
//! `RLIMIT_NOFILE` raised to the hard limit at start, and the share of it
//! the status API may hold, so that recovery's sockets and files (netlink,
//! packet sockets, state and lock files, `on_failure`) always open however
//! many clients knock.

use std::io;

/// The status API holds at most this many connections.
pub const API_CONNECTIONS: usize = 64;

/// The status API's share of the descriptor limit: one eighth at most.
const API_SHARE: u64 = 8;

/// Where the kernel caps a process's descriptors when the hard limit says
/// "unlimited" (`fs.nr_open`'s default).
#[cfg(unix)]
const NR_OPEN_DEFAULT: u64 = 1 << 20;

/// The current (soft, hard) `RLIMIT_NOFILE`.
#[cfg(unix)]
pub fn limits() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) fills the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((limit.rlim_cur, limit.rlim_max))
}

/// Windows has no per-process descriptor limit of this kind (handles run
/// to millions; Winsock sockets are handles), so there is none to read:
/// the status API keeps to [`API_CONNECTIONS`].
#[cfg(windows)]
pub fn limits() -> io::Result<(u64, u64)> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Raise the soft limit to the hard one (a process may, without
/// privilege). Returns the soft limit in force afterwards.
#[cfg(unix)]
pub fn raise_to_hard() -> io::Result<u64> {
    let (soft, hard) = limits()?;
    let target = if hard == libc::RLIM_INFINITY {
        NR_OPEN_DEFAULT
    } else {
        hard
    };
    if soft >= target {
        return Ok(soft);
    }
    let limit = libc::rlimit {
        rlim_cur: target,
        rlim_max: hard,
    };
    // SAFETY: setrlimit(2) reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(target)
}

/// How many connections the status API may hold under a soft limit of
/// `soft`: [`API_CONNECTIONS`], and never more than an eighth of the
/// limit, so at least seven eighths stay for everything else.
pub fn api_connections(soft: u64) -> usize {
    let share = usize::try_from(soft / API_SHARE).unwrap_or(usize::MAX);
    share.clamp(1, API_CONNECTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_gets_an_eighth_at_most() {
        assert_eq!(api_connections(1024), 64);
        assert_eq!(api_connections(1 << 20), 64);
        assert_eq!(api_connections(256), 32);
        assert_eq!(api_connections(4), 1);
        assert_eq!(api_connections(u64::MAX), 64); // RLIM_INFINITY
    }

    #[cfg(unix)]
    #[test]
    fn the_limits_are_readable() {
        let (soft, hard) = limits().unwrap();
        assert!(soft <= hard);
    }
}
