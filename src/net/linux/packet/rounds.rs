//! The background sender of later announcement rounds: one for every address of a call, each address stopped on its own.
//!
//! One sender serves all the addresses one announcement pass started
//! (issue 11: the addresses of a batch get one sender, not one each). It
//! holds every address's announcer name ([`registry`](super::registry)); a
//! stop request on one name ends that address's rounds and frees its name
//! at once, the others go on. It runs either in a detached grandchild
//! process (the command line: the rounds outlive it) or on a thread of
//! this process (a long-lived process, the daemon: no fork on the path of
//! a recovery). The loop only makes async-signal-safe calls
//! (clock_gettime, ppoll, recvmsg, sendto, close) on memory prepared before
//! it starts, as the detached child requires.
//!
//! A thread sender shares its state behind a lock, so that a claim in this
//! process takes a name straight from it ([`take_names`]): the name's
//! socket changes hands, bound, and the rounds of that address end, without
//! waiting for the sender thread to be scheduled. A recovery stops the
//! rounds it has just started on the primary adapter; on a busy machine
//! that wait was most of its time. The taker also wakes the thread: asleep
//! in ppoll, it holds a reference to every socket it waits on, so a taken
//! socket that is then closed (a delete) would keep its name bound until
//! the thread's next round, and the next claim of the name (the recovery's
//! announcement on the other adapter) would find it taken.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use super::detach::{monotonic_ns, spawn_detached};
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
    pub ip: IpAddr,
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
    /// The network namespace it announces in (abstract names, like
    /// addresses, belong to one): [`netns`] when it started.
    netns: Option<(u64, u64)>,
    send: RawFd,
    /// `send` is this sender's own duplicate.
    own_send: bool,
    uid: libc::uid_t,
    ips: Vec<IpAddr>,
    /// Each entry's stop socket; -1 once finished or taken.
    stop: Vec<RawFd>,
    frames: Vec<Vec<(Vec<u8>, libc::sockaddr_ll)>>,
    left: Vec<u32>,
    interval_ns: Vec<i64>,
    next_ns: Vec<i64>,
    /// Room for one pollfd per entry, and which entry each is.
    polls: Vec<libc::pollfd>,
    polled: Vec<usize>,
    /// A thread sender's eventfd: [`take_names`] writes to it so that the
    /// thread's ppoll returns and lets go of the sockets it waited on.
    wake: Option<OwnedFd>,
}

/// The thread senders of this process, for [`take_names`].
static THREADS: Mutex<Vec<Weak<Mutex<Sender>>>> = Mutex::new(Vec::new());

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
    let ips = entries.iter().map(|e| e.ip).collect();
    let mut sender = Sender {
        netns: netns(),
        send,
        own_send: false,
        // SAFETY: getuid(2) cannot fail.
        uid: unsafe { libc::getuid() },
        ips,
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
        wake: None,
    };
    match how {
        Background::Detached => {
            let mut keep = keep.to_vec();
            keep.extend(sender.stop.iter().copied());
            // The sender's copies keep the names; ours close when it is
            // dropped here.
            spawn_detached(&keep, || sender.run())
        }
        Background::Thread => {
            // SAFETY: fcntl(2) duplicates a descriptor we hold; the sender
            // owns the copy and closes it when dropped.
            let own = unsafe { libc::fcntl(send, libc::F_DUPFD_CLOEXEC, 0) };
            if own < 0 {
                return Err(io::Error::last_os_error());
            }
            sender.send = own;
            sender.own_send = true;
            // SAFETY: eventfd(2) with flags; the descriptor is ours.
            let wake = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
            if wake < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: a fresh descriptor we own.
            sender.wake = Some(unsafe { OwnedFd::from_raw_fd(wake) });
            let shared = Arc::new(Mutex::new(sender));
            let mut threads = locked(&THREADS);
            threads.retain(|t| t.strong_count() > 0);
            threads.push(Arc::downgrade(&shared));
            drop(threads);
            std::thread::Builder::new()
                .name("ipkit-announce".into())
                .spawn(move || run_shared(&shared))
                .map(drop)
        }
    }
}

/// The loop of a thread sender: its state is locked except while it waits,
/// and a [`take_names`] wakes it through its eventfd.
fn run_shared(shared: &Mutex<Sender>) {
    let mut polls = Vec::new();
    let wake = locked(shared).wake.as_ref().map(|w| w.as_raw_fd());
    loop {
        let deadline = {
            let mut s = locked(shared);
            let Some(deadline) = s.prepare() else {
                return;
            };
            polls.clone_from(&s.polls);
            deadline
        };
        let entries = polls.len();
        if let Some(fd) = wake {
            polls.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let waited = wait(&mut polls, deadline);
        if let Some(fd) = wake {
            let mut count = [0u8; 8];
            // SAFETY: an 8-byte read of our nonblocking eventfd resets it
            // (EAGAIN when nobody woke us).
            unsafe { libc::read(fd, count.as_mut_ptr().cast(), count.len()) };
        }
        polls.truncate(entries);
        let mut s = locked(shared);
        if !waited {
            s.finish_all();
            return;
        }
        s.polls.clone_from(&polls);
        s.after_wait();
    }
}

/// This process's thread senders hand over the names of `ips` they hold:
/// each such address's rounds end, and its name's socket, still bound, is
/// returned (pending stop requests read away). None for a name no thread
/// sender of this process holds.
pub(super) fn take_names(ips: &[IpAddr]) -> Vec<Option<OwnedFd>> {
    let mut out: Vec<Option<OwnedFd>> = ips.iter().map(|_| None).collect();
    let threads: Vec<Arc<Mutex<Sender>>> = {
        let mut threads = locked(&THREADS);
        threads.retain(|t| t.strong_count() > 0);
        threads.iter().filter_map(Weak::upgrade).collect()
    };
    if threads.is_empty() {
        return out;
    }
    // Only a sender of the caller's namespace holds the caller's names.
    let here = netns();
    for shared in threads {
        let mut taken = false;
        let mut s = locked(&shared);
        if here.is_none() || s.netns != here {
            continue;
        }
        for i in 0..s.ips.len() {
            if s.stop[i] < 0 {
                continue;
            }
            let Some(k) = ips.iter().position(|ip| *ip == s.ips[i]) else {
                continue;
            };
            let fd = std::mem::replace(&mut s.stop[i], -1);
            s.left[i] = 0;
            // SAFETY: the sender owned this open descriptor and gives it up.
            let socket = unsafe { OwnedFd::from_raw_fd(fd) };
            drain(fd);
            out[k] = Some(socket);
            taken = true;
        }
        if taken && let Some(wake) = &s.wake {
            let one: u64 = 1;
            // SAFETY: an 8-byte write to our eventfd; a full counter
            // (EAGAIN) still wakes the thread.
            unsafe { libc::write(wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }
    out
}

/// The calling thread's network namespace (device and inode of its
/// `ns/net`), None if it cannot be read.
fn netns() -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/thread-self/ns/net").ok()?;
    Some((meta.dev(), meta.ino()))
}

/// Reads away whatever datagrams wait on `fd`.
fn drain(fd: RawFd) {
    let mut buf = [0u8; 16];
    // SAFETY: recv(2) into our buffer, without waiting.
    while unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) } >= 0 {}
}

impl Sender {
    /// The detached sender's loop: every entry's rounds until each has sent
    /// them all or was asked to stop.
    fn run(&mut self) {
        while let Some(deadline) = self.prepare() {
            if !wait(&mut self.polls, deadline) {
                self.finish_all();
                return;
            }
            self.after_wait();
        }
    }

    /// The stop sockets to wait on (in `polls`) and until when: the next
    /// round due. None when every entry is done.
    fn prepare(&mut self) -> Option<i64> {
        self.polls.clear();
        self.polled.clear();
        let mut deadline = None::<i64>;
        for i in 0..self.left.len() {
            if self.left[i] > 0 && self.stop[i] >= 0 {
                self.polls.push(libc::pollfd {
                    fd: self.stop[i],
                    events: libc::POLLIN,
                    revents: 0,
                });
                self.polled.push(i);
                let next = self.next_ns[i];
                deadline = Some(deadline.map_or(next, |d| d.min(next)));
            }
        }
        deadline
    }

    /// After a wait: ends the entries asked to stop (by root or our own
    /// user), sends the rounds that are due, frees each finished name.
    fn after_wait(&mut self) {
        for k in 0..self.polls.len() {
            let revents = self.polls[k].revents;
            let i = self.polled[k];
            // Taken meanwhile ([`take_names`]): no longer ours to read.
            if revents == 0 || self.stop[i] < 0 {
                continue;
            }
            if revents & libc::POLLIN == 0 || stop_sender_allowed(self.stop[i], self.uid) {
                self.finish(i);
            }
        }
        let now = monotonic_ns();
        for i in 0..self.left.len() {
            if self.left[i] == 0 || self.stop[i] < 0 || self.next_ns[i] > now {
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

    /// Ends entry `i`: nothing more is sent for it, and its name is free.
    fn finish(&mut self, i: usize) {
        if self.stop[i] >= 0 {
            // SAFETY: the sender's own copy of the stop socket, closed once.
            unsafe { libc::close(self.stop[i]) };
            self.stop[i] = -1;
        }
        self.left[i] = 0;
    }

    fn finish_all(&mut self) {
        for i in 0..self.stop.len() {
            self.finish(i);
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.finish_all();
        if self.own_send {
            // SAFETY: our own duplicate, closed once.
            unsafe { libc::close(self.send) };
        }
    }
}

/// Waits until `deadline_ns` or input on one of `polls`; false if ppoll
/// failed (other than EINTR): then the caller stops rather than risk
/// announcing an address that may have moved.
fn wait(polls: &mut [libc::pollfd], deadline_ns: i64) -> bool {
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
                polls.as_mut_ptr(),
                polls.len() as libc::nfds_t,
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

/// For the holder of a name, `stop_socket` being the claimed socket: reads
/// one datagram from it; true if it came from root or `uid` (its
/// SCM_CREDENTIALS, which SO_PASSCRED makes the kernel attach); anyone
/// else's is read and ignored. Async-signal-safe: recvmsg.
pub(super) fn stop_sender_allowed(stop_socket: RawFd, uid: libc::uid_t) -> bool {
    let mut data = [0u8; 16];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one ucred control message, aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
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
