//! The background sender of later announcement rounds: one for every address of a call, each address stopped on its own.
//!
//! One sender serves all the addresses one announcement pass started
//! (issue 11: the addresses of a batch get one sender, not one each). It
//! holds every address's announcer name ([`registry`](super::registry)); a
//! stop request on one name ends that address's rounds and frees its name
//! at once, the others go on. It runs either in a detached grandchild
//! process (the command line: the rounds outlive it) or on a thread of
//! this process (a long-lived process, the daemon: no fork on the path of
//! a recovery). Either way the loop below only makes async-signal-safe
//! calls (clock_gettime, ppoll, recvmsg, sendto, close) on memory prepared
//! before it starts.

use std::io;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::detach::{monotonic_ns, spawn_detached};
use super::registry::stop_sender_allowed;
use super::socket::{frame_destination, send_raw};

/// Where the later rounds are sent from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Background {
    /// A detached grandchild process: the rounds go on after the caller
    /// exits (the command line, the OCF agent).
    #[default]
    Detached,
    /// A thread of this process, which outlives the rounds (the daemon).
    Thread,
}

/// One address's later rounds.
pub(super) struct Entry {
    /// The claimed announcer name: a stop request arrives here.
    pub stop_socket: OwnedFd,
    pub ifindex: u32,
    /// One round's frames.
    pub frames: Vec<Vec<u8>>,
    /// Rounds still to send, one every `interval`.
    pub count: u32,
    pub interval: Duration,
}

/// Everything the loop touches, prepared before it starts. It owns the
/// stop sockets (and, on a thread, its copy of the send socket): what is
/// still open when it is dropped is closed then.
struct Sender {
    send: RawFd,
    /// `send` is this sender's own duplicate.
    own_send: bool,
    uid: libc::uid_t,
    stop: Vec<RawFd>,
    frames: Vec<Vec<(Vec<u8>, libc::sockaddr_ll)>>,
    left: Vec<u32>,
    interval_ns: Vec<i64>,
    next_ns: Vec<i64>,
    /// Room for one pollfd per entry, and which entry each is.
    polls: Vec<libc::pollfd>,
    polled: Vec<usize>,
}

/// Starts the later rounds of `entries` in one sender, sending on `send`
/// (a packet socket; a thread sender gets a duplicate of it). `keep`: the
/// descriptors a detached sender keeps open besides the stop sockets.
pub(super) fn start(
    how: Background,
    send: RawFd,
    entries: Vec<Entry>,
    keep: &[RawFd],
) -> io::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let n = entries.len();
    let mut frames = Vec::with_capacity(n);
    for e in &entries {
        let addressed = e
            .frames
            .iter()
            .map(|f| Ok((f.clone(), frame_destination(e.ifindex, f)?)))
            .collect::<io::Result<Vec<_>>>()?;
        frames.push(addressed);
    }
    let now = monotonic_ns();
    let interval_ns: Vec<i64> = entries
        .iter()
        .map(|e| i64::try_from(e.interval.as_nanos()).unwrap_or(i64::MAX))
        .collect();
    let left = entries.iter().map(|e| e.count).collect();
    let mut sender = Sender {
        send,
        own_send: false,
        // SAFETY: getuid(2) cannot fail.
        uid: unsafe { libc::getuid() },
        stop: entries
            .into_iter()
            .map(|e| e.stop_socket.into_raw_fd())
            .collect(),
        frames,
        left,
        next_ns: interval_ns.iter().map(|i| now.saturating_add(*i)).collect(),
        interval_ns,
        polls: Vec::with_capacity(n),
        polled: Vec::with_capacity(n),
    };
    match how {
        Background::Detached => {
            let mut keep = keep.to_vec();
            keep.extend(&sender.stop);
            // The sender's copies keep the names; ours close when it is
            // dropped here.
            spawn_detached(&keep, || sender.run())
        }
        Background::Thread => {
            // SAFETY: fcntl(2) duplicates a descriptor we hold; the thread
            // owns the copy and closes it when done.
            let own = unsafe { libc::fcntl(send, libc::F_DUPFD_CLOEXEC, 0) };
            if own < 0 {
                return Err(io::Error::last_os_error());
            }
            sender.send = own;
            sender.own_send = true;
            std::thread::Builder::new()
                .name("ipkit-announce".into())
                .spawn(move || sender.run())
                .map(drop)
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        for i in 0..self.stop.len() {
            self.finish(i);
        }
        if self.own_send {
            // SAFETY: our own duplicate, closed once.
            unsafe { libc::close(self.send) };
        }
    }
}

impl Sender {
    /// Sends every entry's rounds until each has sent them all or was
    /// asked to stop; each entry's name is freed as soon as it is done.
    fn run(&mut self) {
        loop {
            self.polls.clear();
            self.polled.clear();
            let mut deadline = i64::MAX;
            for i in 0..self.left.len() {
                if self.left[i] > 0 {
                    self.polls.push(libc::pollfd {
                        fd: self.stop[i],
                        events: libc::POLLIN,
                        revents: 0,
                    });
                    self.polled.push(i);
                    deadline = deadline.min(self.next_ns[i]);
                }
            }
            if self.polls.is_empty() {
                return;
            }
            if !self.wait(deadline) {
                // Cannot wait on the stop sockets: stop rather than risk
                // announcing an address that may have moved.
                for i in 0..self.left.len() {
                    self.finish(i);
                }
                return;
            }
            for k in 0..self.polls.len() {
                let revents = self.polls[k].revents;
                let i = self.polled[k];
                if revents != 0
                    && (revents & libc::POLLIN == 0 || stop_sender_allowed(self.stop[i], self.uid))
                {
                    self.finish(i);
                }
            }
            let now = monotonic_ns();
            for i in 0..self.left.len() {
                if self.left[i] == 0 || self.next_ns[i] > now {
                    continue;
                }
                for (frame, destination) in &self.frames[i] {
                    send_raw(self.send, frame, destination);
                }
                self.left[i] -= 1;
                self.next_ns[i] = self.next_ns[i].saturating_add(self.interval_ns[i]);
                if self.left[i] == 0 {
                    self.finish(i);
                }
            }
        }
    }

    /// Ends entry `i`: nothing more is sent for it, and its name is free.
    fn finish(&mut self, i: usize) {
        if self.stop[i] >= 0 {
            // SAFETY: the sender's own copy of the stop socket, closed once.
            unsafe { libc::close(self.stop[i]) };
            self.stop[i] = -1;
        }
        self.left[i] = 0;
    }

    /// Waits until `deadline_ns` or input on a stop socket; false if ppoll
    /// failed (other than EINTR).
    fn wait(&mut self, deadline_ns: i64) -> bool {
        loop {
            let left = deadline_ns.saturating_sub(monotonic_ns());
            if left <= 0 {
                return true;
            }
            let timeout = libc::timespec {
                tv_sec: (left / 1_000_000_000) as libc::time_t,
                tv_nsec: (left % 1_000_000_000) as libc::c_long,
            };
            // SAFETY: pollfds valid for their length, a valid timespec.
            let rc = unsafe {
                libc::ppoll(
                    self.polls.as_mut_ptr(),
                    self.polls.len() as libc::nfds_t,
                    &timeout,
                    std::ptr::null(),
                )
            };
            if rc >= 0 {
                return true;
            }
            if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                return false;
            }
        }
    }
}
