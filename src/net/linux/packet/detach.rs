//! Detached children: the double fork, closing inherited descriptors, and async-signal-safe waits.
//!
//! Everything a detached child runs after `fork` in a possibly
//! multi-threaded process must be async-signal-safe and work on memory
//! prepared before the fork (no allocation, no locks): the helpers here are.

use std::io;
use std::os::fd::RawFd;

/// Forks twice; the grandchild, in its own session (a terminal hang-up or
/// Ctrl-C after the command has exited does not reach it) and with every
/// descriptor but `keep` closed, runs `body` and `_exit`s. It is
/// reparented to init (no zombie); the intermediate child is reaped here.
///
/// `body` runs after fork in a possibly multi-threaded process: it must
/// only make async-signal-safe calls on memory prepared before (no
/// allocation, no locks).
pub(super) fn spawn_detached(keep: &[RawFd], body: impl FnOnce()) -> io::Result<()> {
    let mut keep: Vec<libc::c_uint> = keep.iter().map(|&fd| fd as libc::c_uint).collect();
    keep.sort_unstable();
    keep.dedup();
    // SAFETY: fork(2); the children only call async-signal-safe functions
    // (fork, setsid, close_range/close, and what `body` calls), then _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // Intermediate child: fork the worker and exit at once.
        unsafe {
            let worker = libc::fork();
            if worker != 0 {
                libc::_exit(if worker < 0 { 1 } else { 0 });
            }
            libc::setsid();
            close_all_but(&keep);
        }
        body();
        // SAFETY: leave the child without running the parent's exit path.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc >= 0 {
            break;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            // Someone else (SIGCHLD = SIG_IGN, or a reaper) took it.
            _ => break,
        }
    }
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 0 {
        return Err(io::Error::from_raw_os_error(libc::EAGAIN));
    }
    Ok(())
}

/// The ranges `(first, last)` of descriptors not in `keep` (sorted,
/// deduplicated), up to `u32::MAX`: what the detached child closes. No
/// allocation (it runs after fork).
fn closable(keep: &[libc::c_uint]) -> impl Iterator<Item = (libc::c_uint, libc::c_uint)> + '_ {
    let starts = std::iter::once(Some(0)).chain(keep.iter().map(|k| k.checked_add(1)));
    let ends = keep
        .iter()
        .map(|k| k.checked_sub(1))
        .chain(std::iter::once(Some(libc::c_uint::MAX)));
    starts.zip(ends).filter_map(|(from, to)| match (from, to) {
        (Some(from), Some(to)) if to >= from => Some((from, to)),
        _ => None,
    })
}

/// Closes every descriptor not in `keep` (sorted, deduplicated), stdio
/// included, so a caller reading our output through a pipe sees EOF when
/// the command exits.
///
/// # Safety
/// Only for the forked child: async-signal-safe system calls only.
unsafe fn close_all_but(keep: &[libc::c_uint]) {
    let mut ok = true;
    for (from, to) in closable(keep) {
        // SAFETY: raw close_range(2) system call.
        ok &= unsafe { libc::syscall(libc::SYS_close_range, from, to, 0u32) } == 0;
    }
    if !ok {
        for fd in 0..1024 {
            if !keep.contains(&(fd as libc::c_uint)) {
                // SAFETY: closing descriptors in the forked child.
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds; async-signal-safe.
pub(super) fn monotonic_ns() -> i64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid timespec; clock_gettime is async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec)
}

/// How [`wait_readable`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// The deadline passed first.
    TimedOut,
    /// `fd` has an event; its `revents`.
    Ready(libc::c_short),
    /// ppoll failed (other than EINTR).
    Failed,
}

/// Waits on `fd` for input until `deadline_ns` ([`monotonic_ns`] time),
/// riding out signals. Async-signal-safe: clock_gettime, ppoll.
pub(super) fn wait_readable(fd: RawFd, deadline_ns: i64) -> Wait {
    loop {
        let left = deadline_ns - monotonic_ns();
        if left <= 0 {
            return Wait::TimedOut;
        }
        let timeout = libc::timespec {
            tv_sec: (left / 1_000_000_000) as libc::time_t,
            tv_nsec: (left % 1_000_000_000) as libc::c_long,
        };
        let mut poll_fd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd and timespec.
        let rc = unsafe { libc::ppoll(&mut poll_fd, 1, &timeout, std::ptr::null()) };
        if rc > 0 {
            return Wait::Ready(poll_fd.revents);
        }
        if rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Wait::Failed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closable_ranges_skip_exactly_the_kept_descriptors() {
        let all = |keep: &[u32]| closable(keep).collect::<Vec<_>>();
        assert_eq!(all(&[]), vec![(0, u32::MAX)]);
        assert_eq!(all(&[0]), vec![(1, u32::MAX)]);
        assert_eq!(all(&[3]), vec![(0, 2), (4, u32::MAX)]);
        assert_eq!(all(&[3, 4, 7]), vec![(0, 2), (5, 6), (8, u32::MAX)]);
        assert_eq!(all(&[0, 1, 2]), vec![(3, u32::MAX)]);
        assert_eq!(all(&[5, u32::MAX]), vec![(0, 4), (6, u32::MAX - 1)]);
    }

    #[test]
    fn wait_readable_times_out_and_sees_input() {
        let mut pipe = [0; 2];
        // SAFETY: pipe has room for two descriptors.
        assert_eq!(
            unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) },
            0
        );
        let [read_end, write_end] = pipe;
        assert_eq!(wait_readable(read_end, monotonic_ns()), Wait::TimedOut);
        // SAFETY: closing our own write end: the read end reports hang-up.
        unsafe { libc::close(write_end) };
        let far = monotonic_ns() + 10_000_000_000;
        assert!(matches!(wait_readable(read_end, far), Wait::Ready(_)));
        // SAFETY: our own read end.
        unsafe { libc::close(read_end) };
    }
}
