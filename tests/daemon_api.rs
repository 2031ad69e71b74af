//! The status API against a hostile or careless client (issue 10 defect
//! 6), on the real kernel in a throwaway lab: `ipkit daemon` runs as a
//! child process in node A's namespace with a low file-descriptor limit,
//! and the test floods its API while it has work to do.
//!
//! - 1,000 connections held open (sending nothing) while a cable is
//!   pulled: the daemon still recovers, with the usual events, and the API
//!   answers a real request meanwhile;
//! - a 20 MB header from a client without the token leaves the daemon's
//!   RSS where it was;
//! - the 404 body is JSON, and the `Bearer` scheme is case-insensitive;
//! - every systemd unit that runs the daemon sets `LimitNOFILE`, so the
//!   descriptors it keeps in reserve are not cut from the usual 1,024.
//!
//! Nothing is timed: each wait is for a condition, with a generous bound.
//! The recovery latency under the flood is printed (`--nocapture`) for
//! BENCHMARKS.md, not asserted.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use ipkit::cluster::Standalone;
use ipkit::events::{Event, Recorder};
use ipkit::net::linux::LinuxKernel;
use ipkit::ops::{self, Ctx, SystemClock};
use ipkit::resource::{AdapterName, Address, Definition, Operation, Tag};
use ipkit::store::Store;
use ipkit_lab::{Lab, LabConfig, Port};

const BOUND: Duration = Duration::from_secs(30);
const TOKEN: &str = "s3cret";
const API: &str = "127.0.0.1:7480";

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + BOUND;
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("timed out after {BOUND:?} waiting for {what}");
}

/// Wait until `read` gives the same value five times in a row, 100 ms
/// apart (another process settling, which sends no event); that value.
fn settled(what: &str, mut read: impl FnMut() -> usize) -> usize {
    let end = Instant::now() + BOUND;
    let (mut last, mut same) = (read(), 0);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        let now = read();
        same = if now == last { same + 1 } else { 0 };
        last = now;
        if same == 5 {
            return now;
        }
    }
    panic!("{what} did not settle within {BOUND:?} (last {last})");
}

fn nic(s: &str) -> AdapterName {
    AdapterName::new(s).unwrap()
}

/// A node's files: definitions, state, `ipkit.toml`, events.
struct Node {
    dir: tempfile::TempDir,
    store: Store,
}

impl Node {
    fn new(config: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("etc"), dir.path().join("var"));
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/ipkit.toml"), config).unwrap();
        Node { dir, store }
    }

    fn config_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("etc")
    }

    fn state_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("var")
    }

    /// Define `tag` on eth0 (backup eth1) and restore it as the command
    /// line would, in node A's namespace.
    fn restored(&self, lab: &Lab, tag: &str, address: &str) {
        let mut def = Definition::new(
            Tag::new(tag).unwrap(),
            address.parse::<Address>().unwrap(),
            nic("eth0"),
            Some(nic("eth1")),
        )
        .unwrap();
        def.tunables.probe_timeout = Duration::from_millis(50);
        self.store.create_definition(&def).unwrap();
        let store = self.store.clone();
        let outcome = lab
            .node_a()
            .run(move || {
                let kernel = LinuxKernel::open().unwrap();
                let ctx = Ctx {
                    kernel: &kernel,
                    cluster: &Standalone,
                    events: &Recorder::new(),
                    clock: &SystemClock,
                    node: "test",
                };
                ops::run(&store, &ctx, &def.tag, Operation::Restore).unwrap()
            })
            .unwrap();
        assert!(outcome.success);
    }

    fn events(&self) -> Vec<Event> {
        read_events(&self.state_dir())
    }
}

fn read_events(state_dir: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(state_dir.join("events.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `ipkit daemon` as a child process in node A's namespace, with
/// RLIMIT_NOFILE set to (soft, hard) before it starts; killed on drop.
struct ChildDaemon {
    child: std::process::Child,
}

impl ChildDaemon {
    fn start(lab: &Lab, node: &Node, nofile: (u64, u64)) -> ChildDaemon {
        let notify_path = node.dir.path().join("notify");
        let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
        notify.set_read_timeout(Some(BOUND)).unwrap();
        let netns: RawFd = lab.node_a().fd().as_raw_fd();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ipkit"));
        cmd.arg("--config-dir")
            .arg(node.config_dir())
            .arg("--state-dir")
            .arg(node.state_dir())
            .arg("daemon")
            .env("NOTIFY_SOCKET", &notify_path)
            .stdin(std::process::Stdio::null());
        // SAFETY: the closure calls only setns(2) and setrlimit(2), both
        // async-signal-safe, in the forked child.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(netns, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let limit = libc::rlimit {
                    rlim_cur: nofile.0,
                    rlim_max: nofile.1,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let daemon = ChildDaemon { child };
        let mut buf = [0u8; 64];
        let n = notify.recv(&mut buf).expect("READY=1 in time");
        assert_eq!(buf[..n].trim_ascii_end(), b"READY=1");
        daemon
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A field of /proc/PID/status, in its unit (kB for VmRSS).
    fn status_field(&self, name: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/PID/status"))
    }

    fn rss_kib(&self) -> u64 {
        self.status_field("VmRSS")
    }

    /// The peak RSS so far (VmHWM).
    fn peak_rss_kib(&self) -> u64 {
        self.status_field("VmHWM")
    }

    fn threads(&self) -> u64 {
        self.status_field("Threads")
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// (soft, hard) "Max open files" of /proc/PID/limits.
    fn nofile(&self) -> (String, String) {
        let text = std::fs::read_to_string(format!("/proc/{}/limits", self.pid())).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        let mut words = line["Max open files".len()..].split_whitespace();
        let soft = words.next().unwrap().to_owned();
        let hard = words.next().unwrap().to_owned();
        (soft, hard)
    }
}

impl Drop for ChildDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test itself holds more sockets than the usual soft limit allows.
fn raise_own_nofile() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a valid struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_cur >= 1200,
        "hard limit {} too low",
        limit.rlim_cur
    );
}

/// `n` TCP connections to `addr` from node A's namespace, begun without
/// waiting (non-blocking connect) and then held open, sending nothing.
fn hold_connections(lab: &Lab, addr: SocketAddr, n: usize) -> Vec<OwnedFd> {
    let SocketAddr::V4(v4) = addr else {
        panic!("IPv4 only")
    };
    let fds = lab
        .node_a()
        .run(move || {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*v4.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            (0..n)
                .map(|_| {
                    // SAFETY: a fresh socket, owned at once; connect with a
                    // valid sockaddr_in of the right length.
                    unsafe {
                        let fd = libc::socket(
                            libc::AF_INET,
                            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                            0,
                        );
                        assert!(fd >= 0, "{}", std::io::Error::last_os_error());
                        let owned = OwnedFd::from_raw_fd(fd);
                        let r = libc::connect(
                            fd,
                            (&sin as *const libc::sockaddr_in).cast(),
                            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                        );
                        let err = std::io::Error::last_os_error();
                        assert!(
                            r == 0 || err.raw_os_error() == Some(libc::EINPROGRESS),
                            "{err}"
                        );
                        owned
                    }
                })
                .collect::<Vec<_>>()
        })
        .unwrap();
    // Wait until every handshake has an outcome: connected (the daemon,
    // or the kernel's queue for it, took the connection) or refused. Those
    // the queue has no room for yet are retried by the kernel (SYN
    // retransmission) until the daemon takes them.
    let mut undecided: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
    let end = Instant::now() + BOUND;
    while !undecided.is_empty() && Instant::now() < end {
        let mut polled: Vec<libc::pollfd> = undecided
            .iter()
            .map(|&fd| libc::pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            })
            .collect();
        // SAFETY: poll(2) on our own descriptors.
        unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, 100) };
        undecided = polled
            .iter()
            .filter(|p| p.revents == 0)
            .map(|p| p.fd)
            .collect();
    }
    assert!(
        undecided.is_empty(),
        "{} connections still in their handshake after {BOUND:?}",
        undecided.len()
    );
    fds
}

/// One raw HTTP/1.1 exchange from node A's namespace: (status, body).
fn exchange(lab: &Lab, to: SocketAddr, request: Vec<u8>) -> std::io::Result<(u16, String)> {
    lab.node_a()
        .run(move || {
            let mut s = TcpStream::connect_timeout(&to, BOUND)?;
            s.set_read_timeout(Some(BOUND))?;
            s.write_all(&request)?;
            let mut reply = Vec::new();
            s.read_to_end(&mut reply)?;
            let text = String::from_utf8_lossy(&reply).into_owned();
            let code = text
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("no status line: {text:?}")))?;
            let body = text
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default();
            Ok((code, body))
        })
        .unwrap()
}

fn get(
    lab: &Lab,
    to: SocketAddr,
    path: &str,
    auth: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: ipkit\r\n");
    if let Some(a) = auth {
        request.push_str(&format!("Authorization: {a}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    exchange(lab, to, request.into_bytes())
}

fn count(events: &[Event], id: u16) -> usize {
    events.iter().filter(|e| e.id == id).count()
}

/// Pull `port`'s cable, wait until the address is on `to` only and the
/// recovery's 6603 is logged; returns pull → 6603 (event time).
fn pull_and_recover(lab: &Lab, node: &Node, port: Port, ip: IpAddr, to: &str) -> Duration {
    let recovered = count(&node.events(), 6603);
    let pulled = SystemTime::now();
    lab.pull_cable(port).unwrap();
    let nl = lab.nl_of(Port::APrimary);
    wait_for(&format!("the address on {to} only"), || {
        nl.holders(ip).unwrap() == [to]
    });
    wait_for("6603", || count(&node.events(), 6603) == recovered + 1);
    let done = node
        .events()
        .into_iter()
        .filter(|e| e.id == 6603)
        .nth(recovered)
        .unwrap();
    done.time.duration_since(pulled).unwrap_or_default()
}

/// A lab, and node A's files: the status API on `listen` with the token,
/// and `vip` on `address` restored on eth0.
fn lab_with_vip(listen: &str, address: &str) -> (Lab, Node) {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let node = Node::new(&format!(
        "[daemon]\nlisten = \"{listen}\"\ntoken = \"{TOKEN}\"\n"
    ));
    node.restored(&lab, "vip", address);
    (lab, node)
}

#[test]
fn a_thousand_idle_connections_do_not_stop_recovery() {
    raise_own_nofile();
    let (lab, node) = lab_with_vip(API, "198.51.100.10/24");
    let ip: IpAddr = "198.51.100.10".parse().unwrap();
    // The usual soft limit, and no way to raise it: only bounding the API
    // keeps descriptors for the recovery.
    let daemon = ChildDaemon::start(&lab, &node, (1024, 1024));
    let api: SocketAddr = API.parse().unwrap();
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        get(&lab, api, "/v1/resources/vip", Some(&bearer))
            .unwrap()
            .0,
        200
    );
    wait_for("the first quickCheck", || count(&node.events(), 7101) == 1);

    // Without a flood, for comparison.
    let quiet = pull_and_recover(&lab, &node, Port::APrimary, ip, "eth1");
    lab.plug_cable(Port::APrimary).unwrap();

    let flood = hold_connections(&lab, api, 1000);
    // However many of them the daemon takes in, it has taken them in once
    // its descriptor count stops moving.
    let fds = settled("the daemon's descriptors", || daemon.open_fds());
    let threads = daemon.threads();
    let loaded = pull_and_recover(&lab, &node, Port::ABackup, ip, "eth0");
    // A real client still gets its answer while the flood holds on.
    let (code, body) = get(&lab, api, "/v1/resources/vip", Some(&bearer)).unwrap();
    assert_eq!(code, 200, "{body}");
    let (fds_after, threads_after) = (daemon.open_fds(), daemon.threads());
    eprintln!(
        "api flood: recovery (pull -> 6603) {:.2} ms quiet, {:.2} ms with {} connections held; \
         daemon fds {fds}/{fds_after}, threads {threads}/{threads_after}",
        quiet.as_secs_f64() * 1e3,
        loaded.as_secs_f64() * 1e3,
        flood.len(),
    );
    let events = node.events();
    assert_eq!(count(&events, 6603), 2, "{events:#?}");
    assert_eq!(count(&events, 6605), 2);
    assert_eq!(count(&events, 6604), 0);
    assert!(count(&events, 6507) >= 2);
    assert_eq!(
        count(&events, 7004),
        0,
        "no kernel call failed: {events:#?}"
    );
    // The flood costs the daemon a bounded number of descriptors and no
    // thread per connection.
    for n in [fds, fds_after] {
        assert!(n < 200, "{n} descriptors open during the flood");
    }
    for n in [threads, threads_after] {
        assert!(n <= 16, "{n} threads during the flood");
    }
    let state = node.store.load_state(&Tag::new("vip").unwrap()).unwrap();
    assert_eq!(state.active_adapter, Some(nic("eth0")));
    assert!(state.in_service && !state.failed);
    drop(flood);
    assert_eq!(
        get(&lab, api, "/v1/resources/vip", Some(&bearer))
            .unwrap()
            .0,
        200
    );
}

#[test]
fn a_twenty_megabyte_header_leaves_the_rss_where_it_was() {
    let (lab, node) = lab_with_vip(API, "198.51.100.20/24");
    let daemon = ChildDaemon::start(&lab, &node, (1024, 4096));
    let api: SocketAddr = API.parse().unwrap();
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(get(&lab, api, "/metrics", Some(&bearer)).unwrap().0, 200);
    let (rss_before, peak_before) = (daemon.rss_kib(), daemon.peak_rss_kib());

    // No token, one 20 MB header line, three times: each is refused after
    // a few kB at most.
    for _ in 0..3 {
        let sent = lab
            .node_a()
            .run(move || send_huge_header(api, 20 << 20))
            .unwrap();
        let (rss, peak) = (daemon.rss_kib(), daemon.peak_rss_kib());
        eprintln!(
            "20 MB header: {sent} bytes written; daemon RSS {rss_before} -> {rss} kB, \
             peak {peak_before} -> {peak} kB"
        );
        assert!(
            rss <= rss_before + 4 * 1024,
            "RSS grew from {rss_before} kB to {rss} kB"
        );
        // Not even for a moment.
        assert!(
            peak <= peak_before.max(rss_before + 4 * 1024),
            "peak RSS grew from {peak_before} kB to {peak} kB"
        );
    }
    // And the API still answers.
    assert_eq!(get(&lab, api, "/metrics", Some(&bearer)).unwrap().0, 200);
    // The soft descriptor limit was raised to the hard one at start.
    assert_eq!(daemon.nofile(), ("4096".to_owned(), "4096".to_owned()));
}

/// Send a request whose one header line is `size` bytes long, as far as
/// the server takes it; then read its answer or reset. Returns the bytes
/// written.
fn send_huge_header(to: SocketAddr, size: usize) -> usize {
    let mut s = TcpStream::connect(to).unwrap();
    s.set_write_timeout(Some(BOUND)).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    let mut sent = 0;
    let start = b"GET /metrics HTTP/1.1\r\nHost: ipkit\r\nX-Filler: ";
    if s.write_all(start).is_ok() {
        sent += start.len();
        let filler = vec![b'a'; 64 * 1024];
        while sent < size {
            match s.write(&filler) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        let _ = s.write_all(b"\r\n\r\n");
    }
    // The daemon's answer (or its reset): either way it is done with
    // this connection.
    let _ = s.read_to_end(&mut Vec::new());
    sent
}

#[test]
fn a_missing_resource_is_a_json_404_and_bearer_is_case_insensitive() {
    let (lab, node) = lab_with_vip("0.0.0.0:7480", "198.51.100.30/24");
    // A client that is not on loopback: node A's own address on eth0.
    lab.add_address(Port::APrimary, "203.0.113.1".parse().unwrap(), 24)
        .unwrap();
    let _daemon = ChildDaemon::start(&lab, &node, (1024, 4096));
    let api: SocketAddr = "203.0.113.1:7480".parse().unwrap();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let auth = format!("{scheme} {TOKEN}");
        let (code, body) = get(&lab, api, "/v1/resources/vip", Some(&auth)).unwrap();
        assert_eq!(code, 200, "{scheme}: {body}");
    }
    let (code, _) = get(&lab, api, "/v1/resources/vip", Some("Basic czNjcmV0")).unwrap();
    assert_eq!(code, 401);
    let (code, _) = get(&lab, api, "/v1/resources/vip", Some("Bearer wrong")).unwrap();
    assert_eq!(code, 401);
    let auth = format!("Bearer {TOKEN}");
    let (code, body) = get(&lab, api, "/v1/resources/nope", Some(&auth)).unwrap();
    assert_eq!(code, 404);
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(v["error"], "no resource \"nope\"");
}

#[test]
fn every_daemon_unit_sets_a_descriptor_limit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/systemd");
    let mut units = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let runs_daemon = text
            .lines()
            .any(|l| l.starts_with("ExecStart=") && l.trim_end().ends_with(" daemon"));
        if !runs_daemon {
            continue;
        }
        units += 1;
        let limit: Option<u64> = text
            .lines()
            .find_map(|l| l.strip_prefix("LimitNOFILE="))
            .and_then(|v| v.split(':').next()?.trim().parse().ok());
        assert!(
            limit.is_some_and(|n| n >= 4096),
            "{}: LimitNOFILE is {limit:?}, want at least 4096",
            path.display()
        );
    }
    assert!(units >= 1, "no unit in {} runs the daemon", dir.display());
}
