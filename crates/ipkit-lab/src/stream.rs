//! A TCP stream across the lab: a server in one namespace writes paced chunks, a client in another reads them and notes the longest pause and how the stream ended.
//!
//! Sockets stay in the namespace they were created in, so the listener is
//! bound inside the server's namespace and the client connects from inside
//! its own; the threads that then write and read may run anywhere. The
//! writer paces itself (a chunk, then a pause): that is load generation,
//! the rhythm of a media stream, not a wait for an event.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::netns::NetNs;

/// How a stream ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The server closed it after [`Stream::finish`]: the clean end.
    Closed,
    /// The connection was reset.
    Reset,
    /// Nothing arrived for the read timeout: the stream died.
    TimedOut,
    /// Another read error.
    Failed(io::ErrorKind),
}

/// What the client saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamReport {
    /// Bytes the server wrote, and whether a write failed.
    pub sent: u64,
    pub write_error: Option<String>,
    /// Bytes the client read.
    pub received: u64,
    /// The longest time between two reads, and when it began (from the
    /// stream's start, as [`Stream::elapsed`]).
    pub longest_pause: Duration,
    pub pause_began: Duration,
    /// Every pause of at least [`NOTED_PAUSE`]: when it began, how long.
    pub pauses: Vec<(Duration, Duration)>,
    pub end: StreamEnd,
}

/// Pauses this long or longer are listed in [`StreamReport::pauses`].
pub const NOTED_PAUSE: Duration = Duration::from_millis(3);

impl StreamReport {
    /// Closed cleanly, with every byte written read.
    pub fn survived(&self) -> bool {
        self.end == StreamEnd::Closed && self.write_error.is_none() && self.sent == self.received
    }

    /// The longest pause that was under way at `at` or began within
    /// `within` after it (the stall a fault at `at` caused).
    pub fn stall_after(&self, at: Duration, within: Duration) -> Option<Duration> {
        self.pauses
            .iter()
            .filter(|(began, length)| *began + *length >= at && *began <= at + within)
            .map(|(_, length)| *length)
            .max()
    }
}

/// How the server writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Bytes per write.
    pub chunk: usize,
    /// Pause after each write; zero writes as fast as the socket takes it.
    pub interval: Duration,
    /// A read (or write) that waits this long ends the stream as dead.
    pub timeout: Duration,
}

impl Default for Pace {
    /// 1,000 bytes every millisecond; dead after 5 s of silence.
    fn default() -> Self {
        Self {
            chunk: 1000,
            interval: Duration::from_millis(1),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Bytes read so far, for waiting on progress.
#[derive(Default)]
struct Progress {
    received: Mutex<(u64, bool)>,
    changed: Condvar,
}

/// A running stream; [`Stream::finish`] ends it and reports.
pub struct Stream {
    started: Instant,
    stop: Arc<AtomicBool>,
    progress: Arc<Progress>,
    writer: JoinHandle<(u64, Option<String>)>,
    reader: JoinHandle<Reading>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream").finish_non_exhaustive()
    }
}

impl Stream {
    /// A server bound to `ip:port` inside `server_ns`, a client connected to
    /// it from inside `client_ns`, and the stream flowing.
    pub fn start(
        server_ns: &NetNs,
        client_ns: &NetNs,
        ip: IpAddr,
        port: u16,
        pace: Pace,
    ) -> io::Result<Stream> {
        let at = SocketAddr::new(ip, port);
        let listener = server_ns.run(|| TcpListener::bind(at))??;
        let client = client_ns.run(|| TcpStream::connect_timeout(&at, pace.timeout))??;
        let (server, _) = listener.accept()?;
        server.set_nodelay(true)?;
        server.set_write_timeout(Some(pace.timeout))?;
        client.set_read_timeout(Some(pace.timeout))?;
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Progress::default());
        let started = Instant::now();
        let writer = {
            let stop = stop.clone();
            thread::spawn(move || write_until_stopped(server, pace, &stop))
        };
        let reader = {
            let progress = progress.clone();
            thread::spawn(move || read_with_progress(client, &progress, started))
        };
        Ok(Stream {
            started,
            stop,
            progress,
            writer,
            reader,
        })
    }

    /// Time since the stream started (the clock of the report's pauses).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Bytes the client has read so far.
    pub fn received(&self) -> u64 {
        self.progress
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    /// Waits until the client has read more than `bytes`, at most `bound`;
    /// false when it did not (or the stream ended first).
    pub fn wait_beyond(&self, bytes: u64, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let mut state = self
            .progress
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            let (received, ended) = *state;
            if received > bytes {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if ended || left.is_zero() {
                return false;
            }
            state = self
                .progress
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Stops the server (it closes the stream after its last write) and
    /// reports what the client saw.
    pub fn finish(self) -> StreamReport {
        self.stop.store(true, Ordering::Relaxed);
        let (sent, write_error) = self
            .writer
            .join()
            .unwrap_or((0, Some("the writer panicked".into())));
        let reading = self.reader.join().unwrap_or(Reading {
            received: 0,
            pauses: Vec::new(),
            end: StreamEnd::Failed(io::ErrorKind::Other),
        });
        let (pause_began, longest_pause) = reading
            .pauses
            .iter()
            .copied()
            .max_by_key(|(_, length)| *length)
            .unwrap_or_default();
        StreamReport {
            sent,
            write_error,
            received: reading.received,
            longest_pause,
            pause_began,
            pauses: reading
                .pauses
                .into_iter()
                .filter(|(_, length)| *length >= NOTED_PAUSE)
                .collect(),
            end: reading.end,
        }
    }
}

/// The server's side: writes `pace.chunk` bytes every `pace.interval`
/// until `stop` is set or a write fails, then closes its side. Returns the
/// bytes written and the write error, if any.
pub fn write_until_stopped(
    mut server: TcpStream,
    pace: Pace,
    stop: &AtomicBool,
) -> (u64, Option<String>) {
    let chunk = vec![0x5a; pace.chunk];
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = server.write_all(&chunk) {
            return (sent, Some(e.to_string()));
        }
        sent += chunk.len() as u64;
        if !pace.interval.is_zero() {
            thread::sleep(pace.interval);
        }
    }
    let closed = server
        .shutdown(Shutdown::Write)
        .err()
        .map(|e| e.to_string());
    (sent, closed)
}

/// What the reader saw: bytes, pauses (when each began, measured from
/// `started`, and its length), and how the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub received: u64,
    pub pauses: Vec<(Duration, Duration)>,
    pub end: StreamEnd,
}

/// The client's side: reads until the stream ends (see [`StreamEnd`]).
pub fn read_to_end(client: TcpStream, started: Instant) -> Reading {
    read_with_progress(client, &Progress::default(), started)
}

fn read_with_progress(mut client: TcpStream, progress: &Progress, started: Instant) -> Reading {
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    // The longest pause so far is kept even when it is short.
    let mut pauses: Vec<(Duration, Duration)> = Vec::new();
    let mut longest = Duration::ZERO;
    let mut last: Option<Instant> = None;
    let end = loop {
        match client.read(&mut buf) {
            Ok(0) => break StreamEnd::Closed,
            Ok(n) => {
                let now = Instant::now();
                if let Some(previous) = last {
                    let pause = now - previous;
                    if pause >= NOTED_PAUSE || pause > longest {
                        pauses.push((previous - started, pause));
                        longest = longest.max(pause);
                    }
                }
                last = Some(now);
                received += n as u64;
                let mut state = progress
                    .received
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                state.0 = received;
                progress.changed.notify_all();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break StreamEnd::TimedOut;
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break StreamEnd::Reset,
            Err(e) => break StreamEnd::Failed(e.kind()),
        }
    };
    let mut state = progress
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    state.1 = true;
    progress.changed.notify_all();
    Reading {
        received,
        pauses,
        end,
    }
}
