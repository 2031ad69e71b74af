//! Daemon benchmarks (issue 6), in the namespace lab; run by
//! `scripts/bench-daemon.sh` (results in BENCHMARKS.md, "Daemon").
//!
//! 1. Failover latency: from the cable pull (the switch-side veth of node
//!    A's primary adapter set down) until the first gratuitous ARP for the
//!    address arrives on the switch-side port of the backup adapter, which
//!    the daemon sends only after the address is on the backup adapter.
//!    Timestamps: `Instant` just before the netlink call that pulls the
//!    cable; kernel receive timestamps (SO_TIMESTAMPNS, CLOCK_REALTIME)
//!    of the captured frame, converted to the same clock.
//! 2. Footprint: the `ipkit daemon` binary with 1, 100 and 1,000 (or any
//!    `--sizes`, 10,000 for issue 11) in-service resources: the start-up
//!    (every resource checked once, then twice, from the status API's
//!    `/metrics`), then RSS and CPU over an idle period. SIGINT/SIGTERM
//!    tear the lab down too (`common::tear_down_on_signal`).
//!
//! Arguments: `--pulls N` (default 60), `--idle-secs S` (default 30),
//! `--settle-secs S` (default 0: the wait between the start-up, every
//! resource checked twice, and the idle window), `--sizes 1,100,1000`,
//! `--only latency|footprint`. The footprint prints each phase of its
//! set-up and of the daemon's start-up with its time and load average.

mod common;

use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime};

use common::{bench_address, count, percentile, spawn_in_node_a, wait_for};
use ipkit::cluster::Standalone;
use ipkit::daemon::DaemonOptions;
use ipkit::events::Recorder;
use ipkit::net::linux::LinuxKernel;
use ipkit::ops::{self, Ctx, SystemClock};
use ipkit::resource::{AdapterName, Address, Definition, Operation, RuntimeState, Tag};
use ipkit::store::Store;
use ipkit_lab::{FrameKind, Lab, LabConfig, Port, kind_of};

fn main() {
    use common::arg;
    common::tear_down_on_signal();
    let pulls: usize = arg("--pulls").and_then(|v| v.parse().ok()).unwrap_or(60);
    let idle: u64 = arg("--idle-secs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    // Beyond the start-up, before the idle window: past the first
    // deepChecks (due from half their 60 s interval on).
    let settle: u64 = arg("--settle-secs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let only = arg("--only");
    if only.as_deref() != Some("footprint") {
        latency(pulls);
    }
    let sizes: Vec<usize> = arg("--sizes")
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 100, 1000]);
    if only.as_deref() != Some("latency") {
        for n in sizes {
            footprint(n, settle, idle);
        }
    }
}

fn nic(s: &str) -> AdapterName {
    AdapterName::new(s).unwrap()
}

fn holders(lab: &Lab, ip: IpAddr) -> Vec<u32> {
    lab.nl_of(Port::APrimary)
        .addresses()
        .unwrap()
        .into_iter()
        .filter(|a| a.ip == ip)
        .map(|a| a.ifindex)
        .collect()
}

/// AF_PACKET receive socket on a switch-side port with kernel timestamps
/// (ETH_P_ALL: a bridge port consumes frames before protocol taps see them).
fn capture_socket(lab: &Lab, port: Port) -> OwnedFd {
    let link = lab
        .switch_nl()
        .link_by_name(port.switch_side())
        .unwrap()
        .unwrap();
    lab.switch()
        .run(move || {
            // SAFETY: plain socket(2)/setsockopt(2)/bind(2) on our own fd.
            unsafe {
                let fd = libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    (libc::ETH_P_ALL as u16).to_be() as i32,
                );
                assert!(fd >= 0, "{}", std::io::Error::last_os_error());
                let on: libc::c_int = 1;
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_TIMESTAMPNS,
                    (&raw const on).cast(),
                    4,
                );
                let mut sll: libc::sockaddr_ll = std::mem::zeroed();
                sll.sll_family = libc::AF_PACKET as u16;
                sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
                sll.sll_ifindex = link.index as i32;
                let rc = libc::bind(
                    fd,
                    (&raw const sll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                );
                assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
                OwnedFd::from_raw_fd(fd)
            }
        })
        .unwrap()
}

/// Receive frames with their kernel timestamps (as SystemTime).
fn recv_loop(
    sock: OwnedFd,
    ip: IpAddr,
    tx: std::sync::mpsc::Sender<SystemTime>,
    stop: Arc<AtomicBool>,
) {
    let fd: RawFd = sock.as_raw_fd();
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 100_000,
    };
    // SAFETY: setsockopt on our fd with a valid timeval.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
    }
    let mut buf = [0u8; 2048];
    let mut cbuf = [0u64; 64];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: msghdr over our buffers.
        let (n, ts) = unsafe {
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = (&raw mut sll).cast();
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&cbuf);
            let n = libc::recvmsg(fd, &mut msg, 0);
            if n <= 0 {
                let e = std::io::Error::last_os_error();
                // The port itself is pulled in between (ENETDOWN), or the
                // receive timeout let us look at `stop`: go on.
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENETDOWN | libc::EINTR | libc::EAGAIN)
                ) {
                    continue;
                }
                eprintln!("capture ended: {e}");
                return;
            }
            // Frames the switch forwards towards the node are OUTGOING.
            if sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            let mut ts = None;
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS {
                    let t: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    ts = Some(
                        SystemTime::UNIX_EPOCH + Duration::new(t.tv_sec as u64, t.tv_nsec as u32),
                    );
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
            (n as usize, ts.unwrap_or_else(SystemTime::now))
        };
        if matches!(
            kind_of(&buf[..n], ip),
            Some(FrameKind::ArpRequest | FrameKind::ArpReply)
        ) && tx.send(ts).is_err()
        {
            return;
        }
    }
}

fn drain(rx: &Receiver<SystemTime>) {
    while rx.try_recv().is_ok() {}
}

fn latency(pulls: usize) {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOptions {
        config_dir: dir.path().join("etc"),
        state_dir: dir.path().join("var"),
    };
    let store = Store::new(&opts.config_dir, &opts.state_dir);
    let ip: IpAddr = "198.51.100.10".parse().unwrap();
    let mut def = Definition::new(
        Tag::new("vip").unwrap(),
        "198.51.100.10/24".parse::<Address>().unwrap(),
        nic("eth0"),
        Some(nic("eth1")),
    )
    .unwrap();
    def.tunables.probe_timeout = Duration::ZERO;
    def.tunables.restart_threshold = 100_000;
    store.create_definition(&def).unwrap();
    {
        let store = store.clone();
        lab.node_a()
            .run(move || {
                let k = LinuxKernel::open().unwrap();
                let rec = Recorder::new();
                let ctx = Ctx {
                    kernel: &k,
                    cluster: &Standalone,
                    events: &rec,
                    clock: &SystemClock,
                    node: "a",
                };
                assert!(
                    ops::run(&store, &ctx, &def.tag, Operation::Restore)
                        .unwrap()
                        .success
                );
            })
            .unwrap();
    }
    let rec = Arc::new(Recorder::new());
    let daemon = spawn_in_node_a(&lab, &opts, &rec);
    let eth0 = lab.ifindex_of(Port::APrimary).unwrap();
    let eth1 = lab.ifindex_of(Port::ABackup).unwrap();
    let tag = Tag::new("vip").unwrap();
    wait_for("first check", Duration::from_secs(10), || {
        daemon
            .status()
            .resource(&tag)
            .is_some_and(|r| r.up == Some(true))
    });

    let cap1 = capture_socket(&lab, Port::ABackup);
    let (tx, rx) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let capture = std::thread::spawn(move || recv_loop(cap1, ip, tx, stop2));

    let recoveries = || count(&rec, 6603);
    let mut samples = Vec::with_capacity(pulls);
    // When quickCheck reported the lost cable (6507), from the daemon's
    // own event times: the detection part of the latency.
    let mut detect = Vec::with_capacity(pulls);
    for i in 0..pulls {
        // Quiet wire: background announcement rounds of the last move end.
        std::thread::sleep(Duration::from_millis(1100));
        drain(&rx);
        let before = recoveries();
        let wall0 = SystemTime::now();
        let t0 = Instant::now();
        lab.pull_cable(Port::APrimary).unwrap();
        let first = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("no announcement on the backup port");
        let ms = first
            .duration_since(wall0)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or_else(|_| t0.elapsed().as_secs_f64() * 1000.0);
        samples.push(ms);
        wait_for("address on eth1", Duration::from_secs(10), || {
            holders(&lab, ip) == [eth1] && recoveries() > before
        });
        if let Some(e) = rec
            .snapshot()
            .iter()
            .find(|e| e.id == 6507 && e.time >= wall0)
            && let Ok(d) = e.time.duration_since(wall0)
        {
            detect.push(d.as_secs_f64() * 1000.0);
        }
        // Back to the primary: plug it, pull the backup, plug the backup.
        lab.plug_cable(Port::APrimary).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let before = recoveries();
        lab.pull_cable(Port::ABackup).unwrap();
        wait_for("address back on eth0", Duration::from_secs(10), || {
            holders(&lab, ip) == [eth0] && recoveries() > before
        });
        lab.plug_cable(Port::ABackup).unwrap();
        eprint!("\rpull {}/{pulls}: {ms:.3} ms   ", i + 1);
    }
    eprintln!();
    daemon.stop();
    stop.store(true, Ordering::Relaxed);
    let _ = capture.join();
    detect.sort_by(|a, b| a.total_cmp(b));
    if !detect.is_empty() {
        println!(
            "  of which detection (cable pull -> quickCheck reports 6507): p50 {:.2} ms, p99 {:.2} ms",
            percentile(&detect, 0.5),
            percentile(&detect, 0.99)
        );
    }
    let mut sorted = samples.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    println!(
        "failover (cable pull -> address on backup + first gratuitous ARP on the wire), {} pulls: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, min {:.2} ms, max {:.2} ms",
        sorted.len(),
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.9),
        percentile(&sorted, 0.99),
        sorted[0],
        sorted[sorted.len() - 1]
    );
}

fn proc_field(pid: u32, key: &str) -> Option<u64> {
    let f = std::fs::File::open(format!("/proc/{pid}/status")).ok()?;
    for line in std::io::BufReader::new(f).lines() {
        let line = line.ok()?;
        if let Some(v) = line.strip_prefix(key) {
            return v.trim().trim_end_matches(" kB").trim().parse().ok();
        }
    }
    None
}

fn cpu_ticks(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &text[text.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime, stime are fields 14 and 15 (1-based) = 11, 12 after ") ".
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// The daemon's checks so far, from its `/metrics` (asked in node A's
/// namespace): how many resources have had a first quickCheck, the fewest
/// quickChecks any resource has had, and all quick and deep checks.
struct Checks {
    checked: usize,
    fewest_quick: u64,
    quick: u64,
    deep: u64,
}

fn checks(lab: &Lab) -> Option<Checks> {
    let text = lab
        .node_a()
        .run(|| -> std::io::Result<String> {
            use std::io::Read;
            let mut s = std::net::TcpStream::connect(("127.0.0.1", API_PORT))?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        })
        .ok()?
        .ok()?;
    let mut c = Checks {
        checked: 0,
        fewest_quick: u64::MAX,
        quick: 0,
        deep: 0,
    };
    for line in text
        .lines()
        .filter(|l| l.starts_with("ipkit_checks_total{"))
    {
        let v: u64 = line.rsplit(' ').next()?.parse().ok()?;
        if line.contains("kind=\"quick\"") {
            c.quick += v;
            c.checked += usize::from(v > 0);
            c.fewest_quick = c.fewest_quick.min(v);
        } else {
            c.deep += v;
        }
    }
    Some(c)
}

const API_PORT: u16 = 7480;

fn footprint(n: usize, settle_secs: u64, idle_secs: u64) {
    let t = Instant::now();
    let say = |what: &str| {
        eprintln!(
            "[{:>8.1} s] footprint {n}: {what} (load {})",
            t.elapsed().as_secs_f64(),
            load_average()
        );
    };
    let lab = Lab::build(LabConfig::unique()).unwrap();
    say("lab built");
    let dir = tempfile::tempdir().unwrap();
    let config_dir = dir.path().join("etc");
    let state_dir = dir.path().join("var");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("ipkit.toml"),
        format!("[daemon]\nlisten = \"127.0.0.1:{API_PORT}\"\n"),
    )
    .unwrap();
    let store = Store::new(&config_dir, &state_dir);
    let nl = lab.nl_of(Port::APrimary);
    let eth0 = lab.ifindex_of(Port::APrimary).unwrap();
    let in_service = RuntimeState {
        active_adapter: Some(nic("eth0")),
        in_service: true,
        ..RuntimeState::default()
    };
    let defs: Vec<Definition> = (0..n)
        .map(|i| {
            Definition::new(
                Tag::new(&format!("r{i}")).unwrap(),
                bench_address(i),
                nic("eth0"),
                Some(nic("eth1")),
            )
            .unwrap()
        })
        .collect();
    // One group commit for the definitions (one fsync each took minutes).
    let created = store.create_definitions(&defs).unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    say("definitions written");
    // In service on eth0, as a restore would leave them: pipelined adds.
    let addrs: Vec<(IpAddr, u8)> = defs
        .iter()
        .map(|d| (d.address.ip(), d.address.prefix()))
        .collect();
    nl.add_addresses(eth0, &addrs).unwrap();
    say("addresses added");
    let tags: Vec<&Tag> = defs.iter().map(|d| &d.tag).collect();
    for chunk in tags.chunks(1000) {
        let states: Vec<_> = chunk.iter().map(|t| (*t, &in_service)).collect();
        assert!(store.save_states(&states).iter().all(Result::is_ok));
    }
    say("states written");
    let log_path = dir.path().join("daemon.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let fd = lab.node_a().fd().as_raw_fd();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ipkit"));
    cmd.arg("--config-dir")
        .arg(&config_dir)
        .arg("--state-dir")
        .arg(&state_dir)
        .arg("daemon")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    // SAFETY: only setns(2) and prctl(2) in the child.
    unsafe {
        cmd.pre_exec(move || {
            // Goes with the bench, however the bench ends.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    say("daemon spawned");
    // Start-up: until every resource had its first quickCheck, then a
    // second one (a full interval behind it). Polled every second; the
    // idle window below starts only after that.
    let mut first_all = None;
    let mut last_report = Instant::now();
    let full = loop {
        std::thread::sleep(Duration::from_secs(1));
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the daemon exited during start-up ({status}); see {}",
                log_path.display()
            );
        }
        let Some(c) = checks(&lab) else { continue };
        if first_all.is_none() && c.checked == n {
            first_all = Some(started.elapsed());
            say("every resource checked once");
        }
        if c.checked == n && c.fewest_quick >= 2 {
            break started.elapsed();
        }
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            say(&format!(
                "{} of {n} checked, {} quickChecks, {} deepChecks, RSS {} kB",
                c.checked,
                c.quick,
                c.deep,
                proc_field(pid, "VmRSS:").unwrap_or(0)
            ));
        }
        assert!(
            started.elapsed() < Duration::from_secs(3600),
            "no full interval within an hour"
        );
    };
    say("every resource checked twice");
    std::thread::sleep(Duration::from_secs(settle_secs));
    say("idle window begins");
    let hz = 100.0; // USER_HZ
    let before = checks(&lab);
    let t0 = Instant::now();
    let c0 = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(idle_secs));
    let c1 = cpu_ticks(pid);
    let secs = t0.elapsed().as_secs_f64();
    let rss = proc_field(pid, "VmRSS:").unwrap_or(0);
    let hwm = proc_field(pid, "VmHWM:").unwrap_or(0);
    let threads = proc_field(pid, "Threads:").unwrap_or(0);
    let after = checks(&lab);
    let load = load_average();
    // SAFETY: kill(2) of our child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let st = child.wait().unwrap();
    let cpu = (c1 - c0) as f64 / hz / secs * 100.0;
    let window = match (before, after) {
        (Some(b), Some(a)) => format!(
            "{} quickChecks and {} deepChecks in the window",
            a.quick - b.quick,
            a.deep - b.deep
        ),
        _ => "checks in the window unknown".into(),
    };
    println!(
        "footprint with {n:>5} in-service resources: RSS {:.1} MiB (peak {:.1} MiB), {threads} threads, CPU {:.2} % of one core over {:.0} s idle ({window}); start-up: every resource checked after {:.1} s, twice after {:.1} s; load {load} (exit {:?})",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        cpu,
        secs,
        first_all.unwrap_or(full).as_secs_f64(),
        full.as_secs_f64(),
        st.code()
    );
    summarise_log(&log_path);
    let _ = std::io::stdout().flush();
}

/// `/proc/loadavg`'s three figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// What the daemon said on stderr, once per distinct message (the
/// conflict watcher's attach failures, issue 11, among them).
fn summarise_log(path: &std::path::Path) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for line in text.lines() {
        // Without the digits (times, tags, addresses), to group alike lines.
        let shape: String = line
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(160)
            .collect();
        match seen.iter_mut().find(|(s, _)| *s == shape) {
            Some((_, k)) => *k += 1,
            None => seen.push((shape, 1)),
        }
    }
    println!(
        "  daemon stderr: {} lines, {} kinds",
        text.lines().count(),
        seen.len()
    );
    for (shape, k) in seen.iter().take(12) {
        println!("    {k} x {shape}");
    }
}
