//! Batch recovery latency (issue 11 part 1), in the namespace lab: N VIPs
//! on node A's eth0 (recovery adapter eth1), `ipkit daemon` in-process in
//! node A's namespace, eth0's cable pulled; for every VIP, the time from the
//! kernel's carrier-loss notification (RTM_NEWLINK of eth0 without
//! IFF_LOWER_UP) to the RTM_NEWADDR of that VIP on eth1.
//!
//! Both notifications are read by one netlink monitor socket of this bench
//! in node A's namespace (the daemon has its own). Netlink sockets carry no
//! kernel receive timestamp (SO_TIMESTAMPNS gives no control message on
//! them), so, as `ip -ts monitor` does, the times are taken when `recvmsg`
//! returns, on a thread that does nothing else and asks for SCHED_FIFO so
//! that it is woken at once (it falls back to the normal scheduler).
//!
//! eth0 has a base address in each IPv4 subnet (the VIPs are secondaries,
//! as on a real node). Between pulls the addresses are moved back (plug eth0, pull eth1, wait
//! until every VIP is on eth0, plug eth1) and the wire is left quiet for
//! 1.1 s. Run by `scripts/bench-daemon.sh --batch ...` (results in
//! BENCHMARKS.md, "Daemon: every VIP of a pulled adapter").
//!
//! Arguments: `--vips 1,20,100` (default), `--pulls N` (default 30),
//! `--family v6` (every VIP IPv6, in 2001:db8:2::/64 with a base address
//! there; by default the VIPs are `bench_address`'s, IPv4 up to 450).
//! Uses only the library's public daemon API, so the same file measures an
//! older commit too.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime};

use common::{bench_address, count, percentile, spawn_in_node_a, wait_for};
use ipkit::daemon::DaemonOptions;
use ipkit::events::Recorder;
use ipkit::resource::{AdapterName, Definition, RuntimeState, Tag};
use ipkit::store::Store;
use ipkit_lab::{Lab, LabConfig, Port};

fn main() {
    use common::arg;
    common::tear_down_on_signal();
    let pulls: usize = arg("--pulls").and_then(|v| v.parse().ok()).unwrap_or(30);
    let sizes: Vec<usize> = arg("--vips")
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 20, 100]);
    let v6 = arg("--family").is_some_and(|f| f == "v6");
    for n in sizes {
        batch(n, pulls, v6);
    }
}

/// What the monitor reports, with the time `recvmsg` returned.
#[derive(Debug, Clone, Copy)]
enum Seen {
    Link { index: u32, lower_up: bool },
    NewAddr { index: u32, ip: IpAddr },
}

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const IFF_LOWER_UP: u32 = 1 << 16;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_ne_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// The address of an RTM_NEWADDR payload (IFA_LOCAL before IFA_ADDRESS).
fn address_of(payload: &[u8]) -> Option<IpAddr> {
    let mut found = None;
    let mut at = 8;
    while at + 4 <= payload.len() {
        let len = usize::from(u16_at(payload, at));
        let kind = u16_at(payload, at + 2);
        if len < 4 || at + len > payload.len() {
            break;
        }
        let data = &payload[at + 4..at + len];
        let ip = match data.len() {
            4 => Some(IpAddr::V4(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            ))),
            16 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(data);
                Some(IpAddr::V6(Ipv6Addr::from(o)))
            }
            _ => None,
        };
        if kind == IFA_LOCAL && ip.is_some() {
            return ip;
        }
        if kind == IFA_ADDRESS {
            found = ip;
        }
        at += (len + 3) & !3;
    }
    found
}

fn parse(datagram: &[u8], out: &mut Vec<Seen>) {
    let mut at = 0;
    while at + 16 <= datagram.len() {
        let len = u32_at(datagram, at) as usize;
        if len < 16 || at + len > datagram.len() {
            return;
        }
        let kind = u16_at(datagram, at + 4);
        let payload = &datagram[at + 16..at + len];
        if kind == RTM_NEWLINK && payload.len() >= 16 {
            out.push(Seen::Link {
                index: u32_at(payload, 4),
                lower_up: u32_at(payload, 8) & IFF_LOWER_UP != 0,
            });
        } else if kind == RTM_NEWADDR
            && payload.len() >= 8
            && let Some(ip) = address_of(payload)
        {
            out.push(Seen::NewAddr {
                index: u32_at(payload, 4),
                ip,
            });
        }
        at += (len + 3) & !3;
    }
}

/// A netlink socket on the link and address groups, opened in the calling
/// thread's namespace, with a large receive buffer.
fn monitor_socket() -> OwnedFd {
    // SAFETY: plain socket(2)/setsockopt(2)/bind(2) on our own fd.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        );
        assert!(fd >= 0, "{}", std::io::Error::last_os_error());
        let size: libc::c_int = 64 << 20;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&raw const size).cast(),
            4,
        );
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
        let mut sa: libc::sockaddr_nl = std::mem::zeroed();
        sa.nl_family = libc::AF_NETLINK as u16;
        sa.nl_groups =
            (libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
        let rc = libc::bind(
            fd,
            (&raw const sa).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        );
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        OwnedFd::from_raw_fd(fd)
    }
}

fn monitor_loop(sock: OwnedFd, tx: Sender<(Instant, Seen)>, stop: Arc<AtomicBool>) {
    // SAFETY: sched_setscheduler(2) on this thread; failure is fine.
    unsafe {
        let param = libc::sched_param { sched_priority: 10 };
        libc::sched_setscheduler(0, libc::SCHED_FIFO, &param);
    }
    let mut buf = vec![0u8; 256 * 1024];
    let mut seen = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: recv(2) into our buffer.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let at = Instant::now();
        if n <= 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN | libc::EINTR) => continue,
                Some(libc::ENOBUFS) => panic!("the bench's monitor overran"),
                _ => panic!("monitor: {e}"),
            }
        }
        seen.clear();
        parse(&buf[..n as usize], &mut seen);
        for s in &seen {
            if tx.send((at, *s)).is_err() {
                return;
            }
        }
    }
}

/// Read the monitor until every ip of `ips` was added on `index` after the
/// carrier loss of `pulled`; returns the carrier-loss time and each ip's
/// latency in ms.
fn until_served(
    rx: &Receiver<(Instant, Seen)>,
    pulled: u32,
    index: u32,
    ips: &[IpAddr],
) -> (Instant, Vec<f64>) {
    let mut lost: Option<Instant> = None;
    let mut served: HashMap<IpAddr, f64> = HashMap::new();
    let end = Instant::now() + Duration::from_secs(120);
    while served.len() < ips.len() {
        let left = end.saturating_duration_since(Instant::now());
        let (at, seen) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("only {} of {} served", served.len(), ips.len()));
        match (seen, lost) {
            (Seen::Link { index: i, lower_up }, None) if i == pulled && !lower_up => {
                lost = Some(at);
            }
            (Seen::NewAddr { index: i, ip }, Some(t0)) if i == index && ips.contains(&ip) => {
                served
                    .entry(ip)
                    .or_insert_with(|| at.duration_since(t0).as_secs_f64() * 1000.0);
            }
            _ => {}
        }
    }
    let lost = lost.expect("carrier loss seen");
    (lost, ips.iter().map(|ip| served[ip]).collect())
}

/// Wait until the monitor reports `index`'s carrier as `up`.
fn until_link(rx: &Receiver<(Instant, Seen)>, index: u32, up: bool) {
    loop {
        let (_, seen) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("link change");
        if let Seen::Link { index: i, lower_up } = seen
            && i == index
            && lower_up == up
        {
            return;
        }
    }
}

/// The `i`th VIP: `bench_address`'s, or with `v6` the `i`th of
/// 2001:db8:2::/64.
fn vip(i: usize, v6: bool) -> ipkit::resource::Address {
    if v6 {
        format!("2001:db8:2::{:x}/64", 0x100 + i).parse().unwrap()
    } else {
        bench_address(i)
    }
}

fn batch(n: usize, pulls: usize, v6: bool) {
    let lab = Lab::build(LabConfig::unique()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = DaemonOptions {
        config_dir: dir.path().join("etc"),
        state_dir: dir.path().join("var"),
    };
    let store = Store::new(&opts.config_dir, &opts.state_dir);
    let nl = lab.nl_of(Port::APrimary);
    let eth0 = lab.ifindex_of(Port::APrimary).unwrap();
    let eth1 = lab.ifindex_of(Port::ABackup).unwrap();
    // Base addresses first, as on a real node: the IPv4 VIPs are their
    // subnets' secondaries.
    for base in ["198.51.100.2", "203.0.113.253"] {
        nl.add_address(eth0, base.parse().unwrap(), 24).unwrap();
    }
    if v6 {
        nl.add_address(eth0, "2001:db8:2::2".parse().unwrap(), 64)
            .unwrap();
    }
    let mut ips = Vec::with_capacity(n);
    let mut tags = Vec::with_capacity(n);
    for i in 0..n {
        let addr = vip(i, v6);
        let mut def = Definition::new(
            Tag::new(&format!("r{i}")).unwrap(),
            addr,
            AdapterName::new("eth0").unwrap(),
            Some(AdapterName::new("eth1").unwrap()),
        )
        .unwrap();
        def.tunables.probe_timeout = Duration::ZERO;
        def.tunables.restart_threshold = 1_000_000;
        store.create_definition(&def).unwrap();
        // In service on eth0, as a restore would leave it: the address,
        // and the lock file its restore created (the state is below).
        drop(store.lock(&def.tag, Duration::from_secs(1)).unwrap());
        nl.add_address(eth0, addr.ip(), addr.prefix()).unwrap();
        ips.push(addr.ip());
        tags.push(def.tag);
    }
    let in_service = RuntimeState {
        active_adapter: Some(AdapterName::new("eth0").unwrap()),
        in_service: true,
        ..RuntimeState::default()
    };
    for chunk in tags.chunks(500) {
        let states: Vec<_> = chunk.iter().map(|t| (t, &in_service)).collect();
        assert!(store.save_states(&states).iter().all(Result::is_ok));
    }

    let (tx, rx) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    let sock = lab.node_a().run(monitor_socket).unwrap();
    let stop2 = stop.clone();
    let monitor = std::thread::spawn(move || monitor_loop(sock, tx, stop2));

    let rec = Arc::new(Recorder::new());
    let daemon = spawn_in_node_a(&lab, &opts, &rec);
    wait_for("every first check", Duration::from_secs(120), || {
        tags.iter().all(|t| {
            daemon
                .status()
                .resource(t)
                .is_some_and(|r| r.up == Some(true))
        }) && daemon.status().in_flight() == 0
    });

    let mut each = Vec::with_capacity(n * pulls);
    let mut last = Vec::with_capacity(pulls);
    let mut first = Vec::with_capacity(pulls);
    let mut saved = Vec::with_capacity(pulls);
    let mut checked = Vec::with_capacity(pulls);
    let mut recovering = Vec::with_capacity(pulls);
    for p in 0..pulls {
        std::thread::sleep(Duration::from_millis(1100));
        while rx.try_recv().is_ok() {}
        let before = count(&rec, 6603);
        let mark = rec.snapshot().len();
        lab.pull_cable(Port::APrimary).unwrap();
        let (lost, ms) = until_served(&rx, eth0, eth1, &ips);
        // Every recovery over, and its state written.
        wait_for("every 6603", Duration::from_secs(120), || {
            count(&rec, 6603) >= before + n
        });
        // Where the time went: the first quickCheck's 6507 of any member,
        // the last member's 6605 (recover begun), from the events' times.
        let lost_at = SystemTime::now() - lost.elapsed();
        let since = |id: u16, pick: fn(f64, f64) -> f64| {
            rec.snapshot()[mark..]
                .iter()
                .filter(|e| e.id == id)
                .filter_map(|e| e.time.duration_since(lost_at).ok())
                .map(|d| d.as_secs_f64() * 1000.0)
                .reduce(pick)
        };
        if let (Some(a), Some(b)) = (since(6507, f64::min), since(6605, f64::max)) {
            checked.push(a);
            recovering.push(b);
        }
        wait_for("every state on eth1", Duration::from_secs(120), || {
            tags.iter().all(|t| {
                store.load_state(t).ok().and_then(|s| s.active_adapter)
                    == Some(AdapterName::new("eth1").unwrap())
            })
        });
        saved.push(lost.elapsed().as_secs_f64() * 1000.0);
        let mut sorted = ms.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        first.push(sorted[0]);
        last.push(sorted[sorted.len() - 1]);
        each.extend(ms);

        // Back to eth0: plug it, pull eth1, plug eth1.
        lab.plug_cable(Port::APrimary).unwrap();
        until_link(&rx, eth0, true);
        let before = count(&rec, 6603);
        lab.pull_cable(Port::ABackup).unwrap();
        until_served(&rx, eth1, eth0, &ips);
        wait_for("every 6603 back", Duration::from_secs(120), || {
            count(&rec, 6603) >= before + n
        });
        lab.plug_cable(Port::ABackup).unwrap();
        until_link(&rx, eth1, true);
        eprint!(
            "\r{n} VIPs, pull {}/{pulls}: last served {:.2} ms   ",
            p + 1,
            sorted[sorted.len() - 1]
        );
    }
    eprintln!();
    daemon.stop();
    stop.store(true, Ordering::Relaxed);
    let _ = monitor.join();
    let stats = |name: &str, v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        println!(
            "  {name}: n {}, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            v.len(),
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99),
            v[v.len() - 1]
        );
    };
    let family = if v6 { "IPv6 " } else { "" };
    println!(
        "{n} {family}VIPs on the pulled adapter, {pulls} pulls (carrier loss -> RTM_NEWADDR on eth1):"
    );
    stats("every VIP", &mut each);
    stats("first VIP of a pull", &mut first);
    stats("last VIP of a pull", &mut last);
    stats("first 6507 of a pull (quickCheck failed)", &mut checked);
    stats("last 6605 of a pull (every recover begun)", &mut recovering);
    stats("states of the pull saved (polled every 2 ms)", &mut saved);
}
