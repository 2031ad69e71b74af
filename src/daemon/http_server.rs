//! A bounded HTTP/1.1 server for the status API: one thread, one
//! `poll(2)` over the listener and at most `max_connections` connections,
//! one request per connection (`Connection: close`), every connection with
//! a deadline, never more than [`MAX_HEAD`] bytes read from anyone, and a
//! cap on the response bytes waiting to be written. Whatever clients do,
//! it costs the daemon one thread, `max_connections + 3` descriptors and a
//! bounded amount of memory (issue 10 defect 6; docs/daemon.md "Status
//! API").

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sys::poll::{self, WakeStream};

use super::http::{HeadError, MAX_HEAD, Method, RequestHead, Response, head_end, parse_head};

/// What the server may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; when all are taken, a new one replaces
    /// the oldest that has not sent its whole request head yet.
    pub max_connections: usize,
    /// From accept to a complete request head (slow clients get 408).
    pub head_timeout: Duration,
    /// To write a response out.
    pub write_timeout: Duration,
    /// Response bytes waiting for slow readers, all connections together;
    /// a response that would exceed it is 503.
    pub max_pending_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 64,
            head_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_pending_bytes: 16 << 20,
        }
    }
}

/// After the response: how long, and how much, a client's unread request
/// bytes are read and dropped before the close (so it gets the answer, not
/// a reset).
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 64 * 1024;
/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Answers one parsed request for a peer.
pub type Handler = dyn Fn(&RequestHead<'_>, SocketAddr) -> Response + Send + Sync;

/// The running server; stops on [`Server::stop`] or drop.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    wake: WakeStream,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(
        listener: TcpListener,
        limits: Limits,
        handler: Box<Handler>,
    ) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let (wake, woken) = poll::wake_pair()?;
        woken.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ipkit-api".into())
            .spawn(move || {
                Serving {
                    listener,
                    woken,
                    stop: flag,
                    limits,
                    handler,
                    connections: Vec::new(),
                    pending_bytes: 0,
                    accept_paused_until: None,
                }
                .run()
            })?;
        Ok(Server {
            addr,
            stop,
            wake,
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            let _ = (&self.wake).write(&[1]);
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut();
    }
}

enum Phase {
    /// Reading the request head.
    Reading(Vec<u8>),
    /// Writing the response from `at`.
    Writing { out: Vec<u8>, at: usize },
    /// Response sent and our side shut: dropping what the client still
    /// sends, `dropped` bytes so far.
    Lingering { dropped: usize },
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    deadline: Instant,
    phase: Phase,
}

impl Connection {
    fn interest(&self) -> i16 {
        match self.phase {
            Phase::Writing { .. } => poll::WRITABLE,
            _ => poll::READABLE,
        }
    }
}

/// What became of a connection after it was served.
enum Next {
    Keep,
    Close,
}

struct Serving {
    listener: TcpListener,
    woken: WakeStream,
    stop: Arc<AtomicBool>,
    limits: Limits,
    handler: Box<Handler>,
    connections: Vec<Connection>,
    /// Response bytes not yet written, all connections together.
    pending_bytes: usize,
    accept_paused_until: Option<Instant>,
}

impl Serving {
    fn run(mut self) {
        while !self.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if self.accept_paused_until.is_some_and(|t| t <= now) {
                self.accept_paused_until = None;
            }
            let accepting = self.accept_paused_until.is_none() && self.can_take_one();
            let mut fds = Vec::with_capacity(self.connections.len() + 2);
            fds.push(poll::entry(&self.woken, poll::READABLE));
            fds.push(poll::entry(
                &self.listener,
                if accepting { poll::READABLE } else { 0 },
            ));
            fds.extend(
                self.connections
                    .iter()
                    .map(|c| poll::entry(&c.stream, c.interest())),
            );
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(now));
            if let Err(e) = poll::wait(&mut fds, timeout) {
                eprintln!("ipkit daemon: status API: poll: {e}");
                std::thread::sleep(ACCEPT_PAUSE);
                continue;
            }
            if fds[0].revents != 0 {
                let _ = self.woken.read(&mut [0u8; 16]);
            }
            // Serve the connections that are ready (newest last, so the
            // indexes of the poll set still match), then accept.
            for i in (0..self.connections.len()).rev() {
                if fds[i + 2].revents != 0 && matches!(self.serve(i), Next::Close) {
                    self.close(i);
                }
            }
            self.expire(Instant::now());
            if fds[1].revents != 0 {
                self.accept_all();
            }
        }
    }

    /// Is there room for one more connection, by taking a free slot or the
    /// place of one still reading?
    fn can_take_one(&self) -> bool {
        self.connections.len() < self.limits.max_connections
            || self
                .connections
                .iter()
                .any(|c| matches!(c.phase, Phase::Reading(_)))
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.connections
            .iter()
            .map(|c| c.deadline)
            .chain(self.accept_paused_until)
            .min()
    }

    /// Accept what waits, at most `max_connections` in one round (so the
    /// connections taken in one round are looked at before the next round
    /// can replace them).
    fn accept_all(&mut self) {
        for _ in 0..self.limits.max_connections {
            if !self.can_take_one() {
                return;
            }
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    if self.connections.len() >= self.limits.max_connections {
                        self.evict_oldest_reader();
                    }
                    let now = Instant::now();
                    self.connections.push(Connection {
                        stream,
                        peer,
                        accepted: now,
                        deadline: now + self.limits.head_timeout,
                        phase: Phase::Reading(Vec::new()),
                    });
                    // A client that sent its request with the handshake
                    // (most do) is answered now, before it could be
                    // replaced.
                    let i = self.connections.len() - 1;
                    if matches!(self.serve(i), Next::Close) {
                        self.close(i);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE / ENFILE / ENOBUFS: the process or the system
                    // is short of something; the connection waits in the
                    // listen queue, and accepting pauses.
                    eprintln!("ipkit daemon: status API: accept: {e}");
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    /// Make room: of the connections still waiting for their request head,
    /// the oldest that sent nothing goes, unanswered (else the oldest). A
    /// flood of idle connections thus only ever holds `max_connections`,
    /// and a client that sends its request at once is served.
    fn evict_oldest_reader(&mut self) {
        let oldest = self
            .connections
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match &c.phase {
                Phase::Reading(buf) => Some((i, (!buf.is_empty(), c.accepted))),
                _ => None,
            })
            .min_by_key(|(_, rank)| *rank)
            .map(|(i, _)| i);
        if let Some(i) = oldest {
            self.close(i);
        }
    }

    fn close(&mut self, i: usize) {
        let c = self.connections.swap_remove(i);
        if let Phase::Writing { out, at } = &c.phase {
            self.pending_bytes -= out.len() - at;
        }
    }

    /// Move one ready connection on.
    fn serve(&mut self, i: usize) -> Next {
        match self.connections[i].phase {
            Phase::Reading(_) => self.read_head(i),
            Phase::Writing { .. } => self.write_out(i),
            Phase::Lingering { .. } => self.drop_input(i),
        }
    }

    fn read_head(&mut self, i: usize) -> Next {
        let c = &mut self.connections[i];
        let Phase::Reading(buf) = &mut c.phase else {
            return Next::Close;
        };
        let mut chunk = [0u8; 4096];
        let room = (MAX_HEAD - buf.len()).min(chunk.len());
        match c.stream.read(&mut chunk[..room]) {
            Ok(0) => return Next::Close,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if retry(&e) => return Next::Keep,
            Err(_) => return Next::Close,
        }
        let out = match head_end(buf) {
            Some(end) => self.answer(i, end),
            None if buf.len() >= MAX_HEAD => {
                Response::text(431, HeadError::TooLarge.reason()).to_bytes(false)
            }
            None => return Next::Keep,
        };
        self.respond(i, out)
    }

    fn write_out(&mut self, i: usize) -> Next {
        let c = &mut self.connections[i];
        let Phase::Writing { out, at } = &mut c.phase else {
            return Next::Close;
        };
        match c.stream.write(&out[*at..]) {
            Ok(n) => {
                *at += n;
                self.pending_bytes -= n;
                if *at == out.len() {
                    self.linger(i)
                } else {
                    Next::Keep
                }
            }
            Err(e) if retry(&e) => Next::Keep,
            Err(_) => Next::Close,
        }
    }

    fn drop_input(&mut self, i: usize) -> Next {
        let c = &mut self.connections[i];
        let Phase::Lingering { dropped } = &mut c.phase else {
            return Next::Close;
        };
        let mut chunk = [0u8; 4096];
        match c.stream.read(&mut chunk) {
            Ok(n) if n > 0 && *dropped + n < LINGER_BYTES => {
                *dropped += n;
                Next::Keep
            }
            Err(e) if retry(&e) => Next::Keep,
            _ => Next::Close,
        }
    }

    /// The response to the head in the first `end` bytes of connection
    /// `i`'s buffer.
    fn answer(&self, i: usize, end: usize) -> Vec<u8> {
        let c = &self.connections[i];
        let Phase::Reading(buf) = &c.phase else {
            return Vec::new();
        };
        match parse_head(&buf[..end]) {
            Ok(head) => (self.handler)(&head, c.peer).to_bytes(head.method == Method::Head),
            Err(e) => Response::text(e.status(), e.reason()).to_bytes(false),
        }
    }

    /// Start writing `out` to connection `i` (503 instead when the bytes
    /// waiting for slow readers would pass the cap).
    fn respond(&mut self, i: usize, mut out: Vec<u8>) -> Next {
        if self.pending_bytes + out.len() > self.limits.max_pending_bytes {
            out = Response::text(503, "too many answers waiting to be read; try again")
                .to_bytes(false);
        }
        self.pending_bytes += out.len();
        let c = &mut self.connections[i];
        c.deadline = Instant::now() + self.limits.write_timeout;
        c.phase = Phase::Writing { out, at: 0 };
        // Most answers fit the socket buffer: write at once.
        self.serve(i)
    }

    fn linger(&mut self, i: usize) -> Next {
        let c = &mut self.connections[i];
        if c.stream.shutdown(Shutdown::Write).is_err() {
            return Next::Close;
        }
        c.deadline = Instant::now() + LINGER;
        c.phase = Phase::Lingering { dropped: 0 };
        Next::Keep
    }

    /// Deal with every connection whose deadline has passed: a request
    /// head not complete in time is 408; a response not taken in time, or
    /// the end of lingering, closes.
    fn expire(&mut self, now: Instant) {
        for i in (0..self.connections.len()).rev() {
            if self.connections[i].deadline > now {
                continue;
            }
            let started = matches!(&self.connections[i].phase, Phase::Reading(b) if !b.is_empty());
            if started
                && matches!(
                    self.respond(
                        i,
                        Response::text(408, "the request head took too long").to_bytes(false)
                    ),
                    Next::Keep
                )
            {
                continue;
            }
            self.close(i);
        }
    }
}

fn retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Shutdown;

    /// A server on an ephemeral loopback port answering 200 with `body`.
    fn server(limits: Limits, body: &'static str) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let handler = move |head: &RequestHead<'_>, _: SocketAddr| {
            Response::new(
                200,
                super::super::http::TEXT,
                format!("{body} {}", head.target),
            )
        };
        Server::start(listener, limits, Box::new(handler)).unwrap()
    }

    /// Send `request`, read the whole answer.
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = s.write_all(request);
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        String::from_utf8_lossy(&reply).into_owned()
    }

    #[test]
    fn a_request_is_answered_and_the_connection_closed() {
        let srv = server(Limits::default(), "hello");
        let reply = exchange(srv.addr(), b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.ends_with("\r\n\r\nhello /x"), "{reply}");
        let head = exchange(srv.addr(), b"HEAD /x HTTP/1.1\r\n\r\n");
        assert!(head.ends_with("Connection: close\r\n\r\n"), "{head}");
        let bad = exchange(srv.addr(), b"GET /x HTTP/9.9\r\n\r\n");
        assert!(bad.starts_with("HTTP/1.1 505 "), "{bad}");
        srv.stop();
    }

    #[test]
    fn a_head_over_the_limit_is_431_after_at_most_max_head_bytes() {
        let srv = server(Limits::default(), "x");
        let mut request = b"GET / HTTP/1.1\r\nX-Filler: ".to_vec();
        request.resize(MAX_HEAD + 100, b'a');
        let reply = exchange(srv.addr(), &request);
        assert!(reply.starts_with("HTTP/1.1 431 "), "{reply}");
    }

    #[test]
    fn a_slow_client_gets_408() {
        let limits = Limits {
            head_timeout: Duration::from_millis(100),
            ..Limits::default()
        };
        let srv = server(limits, "x");
        let reply = exchange(srv.addr(), b"GET / HTTP/1.1\r\n");
        assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
    }

    #[test]
    fn answers_past_the_pending_cap_are_503() {
        let limits = Limits {
            max_pending_bytes: 100,
            ..Limits::default()
        };
        let srv = server(
            limits,
            "a long answer that with its head passes one hundred bytes",
        );
        let reply = exchange(srv.addr(), b"GET / HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
    }

    /// Idle connections beyond the limit replace each other, oldest first;
    /// a client that sends its request is answered among them.
    #[test]
    fn idle_connections_are_bounded_and_a_talking_client_is_served() {
        let limits = Limits {
            max_connections: 4,
            head_timeout: Duration::from_secs(60),
            ..Limits::default()
        };
        let srv = server(limits, "ok");
        let idle: Vec<TcpStream> = (0..20)
            .map(|_| TcpStream::connect(srv.addr()).unwrap())
            .collect();
        let reply = exchange(srv.addr(), b"GET / HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 200 "), "{reply}");
        // 17 of the 20 made room (for the 16 after the first 4, and the
        // talking client); the 3 newest are still open.
        let closed = |s: &TcpStream| {
            s.set_nonblocking(true).unwrap();
            matches!((&*s).read(&mut [0u8; 1]), Ok(0))
        };
        let end = Instant::now() + Duration::from_secs(20);
        while idle.iter().filter(|s| closed(s)).count() < 17 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        let open: Vec<bool> = idle.iter().map(|s| !closed(s)).collect();
        assert_eq!(open.iter().filter(|o| **o).count(), 3, "{open:?}");
        assert!(open[17..].iter().all(|o| *o), "{open:?}");
        for s in &idle {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
