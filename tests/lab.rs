//! The packet functions and the announcer registry on the real kernel, in a namespace lab (needs root).
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ipkit::net::linux::packet;
use ipkit::net::linux::pdu::{arp, ethernet::EthernetFrame, ndp};
use ipkit::net::{AnnouncePlan, ProbeResult};
use ipkit::resource::{Address, Mac};
use ipkit_lab::{CLIENT_V4, CLIENT_V6, Capture, Frame, FrameKind, Lab, LabConfig, Port, kind_of};

fn lab() -> Lab {
    Lab::build(LabConfig::unique()).expect("build lab")
}

/// Puts `ip` on the adapter behind `port` (in its node's namespace).
fn add(lab: &Lab, port: Port, ip: &str, prefix: u8) -> IpAddr {
    let ip: IpAddr = ip.parse().expect("ip");
    lab.add_address(port, ip, prefix).expect("add address");
    ip
}

/// The MAC of the adapter behind `port`, as ipkit spells it.
fn mac_of(lab: &Lab, port: Port) -> Mac {
    Mac(lab.mac_of(port).expect("mac"))
}

/// The frames ipkit builds are the frames the lab's own decoder classifies
/// (the lab counts what ipkit sends with it).
#[test]
fn ipkit_frames_are_what_the_lab_classifies() {
    let mac = Mac([2, 0, 0, 0, 0, 1]);
    let v4 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
    let v6: Ipv6Addr = "2001:db8:1::10".parse().expect("ip");
    let IpAddr::V4(a4) = v4 else { unreachable!() };
    assert_eq!(
        kind_of(&arp::gratuitous_arp_request(mac, a4), v4),
        Some(FrameKind::ArpRequest)
    );
    assert_eq!(
        kind_of(&arp::gratuitous_arp_reply(mac, a4), v4),
        Some(FrameKind::ArpReply)
    );
    assert_eq!(
        kind_of(&arp::arp_probe(mac, a4), v4),
        Some(FrameKind::ArpProbe)
    );
    assert_eq!(
        kind_of(&ndp::unsolicited_na(mac, v6), IpAddr::V6(v6)),
        Some(FrameKind::NeighbourAdvertisement)
    );
    assert_eq!(
        kind_of(&ndp::dad_ns(mac, v6), IpAddr::V6(v6)),
        Some(FrameKind::NeighbourSolicitation)
    );
    let other = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 11));
    assert_eq!(kind_of(&arp::gratuitous_arp_request(mac, a4), other), None);
    assert_eq!(kind_of(&ndp::unsolicited_na(mac, v6), v4), None);
}

// ---------------------------------------------------------------------------
// announce / probe on the wire
// ---------------------------------------------------------------------------

const WAIT: Duration = Duration::from_secs(5);

/// Children of this process that are zombies (an un-reaped fork).
fn zombie_children() -> Vec<String> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.to_owned()) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 1 && f[0] == "Z" && f[1] == me {
            out.push(stat);
        }
    }
    out
}

fn announce_on(lab: &Lab, port: Port, ip: IpAddr, count: u32, interval_ms: u64) {
    let index = lab.ifindex_of(port).expect("ifindex");
    let mac = mac_of(lab, port);
    let plan = AnnouncePlan {
        count,
        interval: Duration::from_millis(interval_ms),
    };
    lab.ns_of(port)
        .run(|| packet::announce(index, mac, ip, plan))
        .expect("run")
        .expect("announce");
}

#[test]
fn announce_v4_puts_request_and_reply_on_the_wire_count_times() {
    let lab = lab();
    let ip = add(&lab, Port::APrimary, "198.51.100.10", 24);
    let IpAddr::V4(v4) = ip else { unreachable!() };
    let mac = mac_of(&lab, Port::APrimary);
    let cap = lab.capture(Port::APrimary).expect("capture");
    announce_on(&lab, Port::APrimary, ip, 3, 50);
    assert!(zombie_children().is_empty(), "{:?}", zombie_children());
    assert!(cap.wait_for_count(FrameKind::ArpReply, ip, 3, WAIT));
    assert!(cap.wait_for_count(FrameKind::ArpRequest, ip, 3, WAIT));
    // Nothing more comes after the last round.
    std::thread::sleep(Duration::from_millis(200));
    let frames = cap.stop().expect("stop");
    let from_node: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|f| f.from_node)
        .map(|f| &f.bytes)
        .filter(|b| kind_of(b, ip).is_some())
        .collect();
    let request = arp::gratuitous_arp_request(mac, v4).to_vec();
    let reply = arp::gratuitous_arp_reply(mac, v4).to_vec();
    assert_eq!(from_node.iter().filter(|b| ***b == request).count(), 3);
    assert_eq!(from_node.iter().filter(|b| ***b == reply).count(), 3);
    assert_eq!(from_node.len(), 6, "unexpected extra ARP frames");
    assert!(zombie_children().is_empty());
}

#[test]
fn announce_v6_puts_unsolicited_na_on_the_wire_count_times() {
    let lab = lab();
    let ip = add(&lab, Port::APrimary, "2001:db8:1::10", 64);
    let IpAddr::V6(v6) = ip else { unreachable!() };
    let mac = mac_of(&lab, Port::APrimary);
    let cap = lab.capture(Port::APrimary).expect("capture");
    announce_on(&lab, Port::APrimary, ip, 4, 50);
    assert!(cap.wait_for_count(FrameKind::NeighbourAdvertisement, ip, 4, WAIT));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(cap.count(FrameKind::NeighbourAdvertisement, ip), 4);
    let na = ndp::unsolicited_na(mac, v6).to_vec();
    let frames = cap.stop().expect("stop");
    let nas: Vec<_> = frames
        .iter()
        .filter(|f| f.from_node && kind_of(&f.bytes, ip).is_some())
        .collect();
    assert!(nas.iter().all(|f| f.bytes == na));
    assert!(zombie_children().is_empty());
}

#[test]
fn announce_count_one_sends_one_round_and_zero_sends_none() {
    let lab = lab();
    let ip = add(&lab, Port::APrimary, "198.51.100.10", 24);
    let cap = lab.capture(Port::APrimary).expect("capture");
    announce_on(&lab, Port::APrimary, ip, 0, 10);
    announce_on(&lab, Port::APrimary, ip, 1, 10);
    assert!(cap.wait_for_count(FrameKind::ArpReply, ip, 1, WAIT));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(cap.count(FrameKind::ArpRequest, ip), 1);
    assert_eq!(cap.count(FrameKind::ArpReply, ip), 1);
}

#[test]
fn announcement_moves_the_client_neighbour_to_the_backup_mac() {
    let lab = lab();
    let v4 = add(&lab, Port::APrimary, "198.51.100.10", 24);
    let v6 = add(&lab, Port::APrimary, "2001:db8:1::10", 64);
    assert!(lab.client_reaches(v4).expect("ping"));
    assert!(lab.client_reaches(v6).expect("ping"));
    let primary = mac_of(&lab, Port::APrimary);
    let backup = mac_of(&lab, Port::ABackup);
    assert_eq!(
        lab.client_neighbour(v4).expect("neigh").map(Mac),
        Some(primary)
    );
    assert_eq!(
        lab.client_neighbour(v6).expect("neigh").map(Mac),
        Some(primary)
    );

    // Move the addresses to the backup adapter and announce them there;
    // the client sends nothing, it only listens. Its entries were updated
    // by the pings just now, within ARP's 1 s `locktime`: a gratuitous
    // request (sender IP = target IP) overrides them all the same.
    let a = lab.nl_of(Port::APrimary);
    let eth0 = lab.ifindex_of(Port::APrimary).expect("ifindex");
    a.delete_address(eth0, v4, 24).expect("delete");
    a.delete_address(eth0, v6, 64).expect("delete");
    add(&lab, Port::ABackup, "198.51.100.10", 24);
    add(&lab, Port::ABackup, "2001:db8:1::10", 64);
    let cap = lab.capture(Port::ABackup).expect("capture");
    announce_on(&lab, Port::ABackup, v4, 1, 0);
    announce_on(&lab, Port::ABackup, v6, 1, 0);
    assert!(cap.wait_for_count(FrameKind::NeighbourAdvertisement, v6, 1, WAIT));
    assert!(cap.wait_for_count(FrameKind::ArpReply, v4, 1, WAIT));
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline
        && (lab.client_neighbour(v4).expect("neigh").map(Mac) != Some(backup)
            || lab.client_neighbour(v6).expect("neigh").map(Mac) != Some(backup))
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        lab.client_neighbour(v4).expect("neigh").map(Mac),
        Some(backup)
    );
    assert_eq!(
        lab.client_neighbour(v6).expect("neigh").map(Mac),
        Some(backup)
    );
}

fn probe_from(lab: &Lab, port: Port, ip: IpAddr, timeout_ms: u64) -> ProbeResult {
    let index = lab.ifindex_of(port).expect("ifindex");
    let mac = mac_of(lab, port);
    lab.ns_of(port)
        .run(|| packet::probe(index, mac, ip, Duration::from_millis(timeout_ms)))
        .expect("run")
        .expect("probe")
}

fn probe_detects(ip: IpAddr, free: IpAddr, probe_kind: FrameKind) {
    let lab = lab();
    let client = mac_of(&lab, Port::Client);
    let cap = lab.capture(Port::APrimary).expect("capture");
    assert_eq!(
        probe_from(&lab, Port::APrimary, ip, 300),
        ProbeResult::InUse { mac: client }
    );
    assert!(cap.count(probe_kind, ip) >= 1, "no probe frame on the wire");
    assert_eq!(
        probe_from(&lab, Port::APrimary, free, 300),
        ProbeResult::Free
    );
    assert_eq!(cap.count(probe_kind, free), 2, "two probes per timeout");
    // Timeout 0: Free without sending anything.
    let cap = lab.capture(Port::APrimary).expect("capture");
    assert_eq!(probe_from(&lab, Port::APrimary, ip, 0), ProbeResult::Free);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(cap.count(probe_kind, ip), 0);
}

#[test]
fn probe_v4_detects_the_client_and_reports_free_otherwise() {
    probe_detects(
        IpAddr::V4(CLIENT_V4),
        "198.51.100.77".parse().expect("ip"),
        FrameKind::ArpProbe,
    );
}

#[test]
fn probe_v6_detects_the_client_and_reports_free_otherwise() {
    probe_detects(
        IpAddr::V6(CLIENT_V6),
        "2001:db8:1::77".parse().expect("ip"),
        FrameKind::NeighbourSolicitation,
    );
}

#[test]
fn probe_detects_another_node_holding_the_address() {
    let lab = lab();
    let ip = add(&lab, Port::B, "198.51.100.20", 24);
    let b = mac_of(&lab, Port::B);
    assert_eq!(
        probe_from(&lab, Port::APrimary, ip, 300),
        ProbeResult::InUse { mac: b }
    );
}

#[test]
fn probe_hears_an_announcement_by_another_node() {
    let lab = lab();
    // B does not hold the address (so never answers a probe); it only
    // announces it, once A's probe is on the wire (A is listening).
    let ip: IpAddr = "198.51.100.21".parse().expect("ip");
    let b = mac_of(&lab, Port::B);
    let index = lab.ifindex_of(Port::APrimary).expect("ifindex");
    let mac = mac_of(&lab, Port::APrimary);
    let cap = lab.capture(Port::APrimary).expect("capture");
    let r = std::thread::scope(|s| {
        let probing = s.spawn(|| {
            lab.node_a()
                .run(|| packet::probe(index, mac, ip, Duration::from_secs(3)))
        });
        assert!(cap.wait_for_count(FrameKind::ArpProbe, ip, 1, WAIT));
        announce_on(&lab, Port::B, ip, 1, 0);
        probing.join().expect("join")
    });
    assert_eq!(
        r.expect("run").expect("probe"),
        ProbeResult::InUse { mac: b }
    );
}

#[test]
fn packet_errors_keep_errno_on_a_deleted_adapter() {
    let lab = lab();
    let index = lab.ifindex_of(Port::ABackup).expect("ifindex");
    let mac = mac_of(&lab, Port::ABackup);
    lab.delete_adapter(Port::ABackup).expect("delete");
    let ip: IpAddr = "198.51.100.10".parse().expect("ip");
    let plan = AnnouncePlan {
        count: 2,
        interval: Duration::from_millis(10),
    };
    let e = lab
        .node_a()
        .run(|| packet::announce(index, mac, ip, plan))
        .expect("run")
        .expect_err("announce on a deleted adapter");
    assert_eq!(e.op, ipkit::net::KernelOp::Announce);
    assert!(e.errno == libc::ENXIO || e.errno == libc::ENODEV, "{e}");
    let e = lab
        .node_a()
        .run(|| packet::probe(index, mac, ip, Duration::from_millis(50)))
        .expect("run")
        .expect_err("probe on a deleted adapter");
    assert_eq!(e.op, ipkit::net::KernelOp::Probe);
    assert_eq!(e.errno, libc::ENODEV, "{e}");
}

/// Runs as two roles: the test itself, and (with `IPKIT_LAB_CHILD` set)
/// a short-lived child process that announces and exits at once.
#[test]
fn announce_rounds_outlive_the_process() {
    const ROLE: &str = "IPKIT_LAB_CHILD";
    if let Ok(args) = std::env::var(ROLE) {
        let mut it = args.split(' ');
        let index: u32 = it.next().and_then(|s| s.parse().ok()).expect("index");
        let mac: Mac = it.next().and_then(|s| s.parse().ok()).expect("mac");
        let ip: IpAddr = it.next().and_then(|s| s.parse().ok()).expect("ip");
        let plan = AnnouncePlan {
            count: 3,
            interval: Duration::from_millis(100),
        };
        packet::announce(index, mac, ip, plan).expect("announce");
        return;
    }
    let lab = lab();
    let ip = add(&lab, Port::APrimary, "198.51.100.10", 24);
    let index = lab.ifindex_of(Port::APrimary).expect("ifindex");
    let mac = mac_of(&lab, Port::APrimary);
    let cap = lab.capture(Port::APrimary).expect("capture");
    let exe = std::env::current_exe().expect("test binary");
    // Spawned from a thread inside node A: the child is born in its netns.
    let out = lab
        .node_a()
        .run(|| {
            std::process::Command::new(exe)
                .args([
                    "--exact",
                    "announce_rounds_outlive_the_process",
                    "--test-threads=1",
                ])
                .env(ROLE, format!("{index} {mac} {ip}"))
                .output()
        })
        .expect("run")
        .expect("spawn child");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The child has exited; its background sender still finishes the plan.
    assert!(cap.wait_for_count(FrameKind::ArpReply, ip, 3, WAIT));
    assert_eq!(cap.count(FrameKind::ArpRequest, ip), 3);
}

// ---------------------------------------------------------------------------
// The announcer registry: background rounds end with the address
// ---------------------------------------------------------------------------

use ipkit::net::Kernel;
use ipkit::net::linux::LinuxKernel;
use ipkit::resource::AdapterName;

/// A long schedule, so that "no further frames" means something: ten
/// rounds 100 ms apart.
const LONG: AnnouncePlan = AnnouncePlan {
    count: 10,
    interval: Duration::from_millis(100),
};

/// Twice the whole schedule: how long "no further frames" waits.
const QUIET: Duration = Duration::from_secs(2);

/// A kernel handle opened by `open` in node A's namespace.
fn kernel_in_a(
    lab: &Lab,
    open: fn() -> Result<LinuxKernel, ipkit::net::KernelError>,
) -> LinuxKernel {
    lab.node_a().run(open).expect("run").expect("open")
}

fn adapter(port: Port) -> AdapterName {
    AdapterName::new(port.adapter()).expect("adapter name")
}

/// Announcement frames about `ip` among `frames` that the node sent with
/// Ethernet source `mac`.
fn announcements_in(frames: &[Frame], ip: IpAddr, mac: Mac) -> usize {
    frames
        .iter()
        .filter(|f| f.from_node)
        .filter(|f| {
            matches!(
                kind_of(&f.bytes, ip),
                Some(
                    FrameKind::ArpRequest | FrameKind::ArpReply | FrameKind::NeighbourAdvertisement
                )
            )
        })
        .filter(|f| EthernetFrame::parse(&f.bytes).is_ok_and(|e| e.source() == mac))
        .count()
}

/// Sends one gratuitous ARP for `marker` on `port` and waits until the
/// capture has it. A frame the node sent before (through the same veth)
/// was delivered to the capture socket before this one, so counting after
/// the marker counts everything sent before it.
fn mark(lab: &Lab, cap: &Capture, port: Port, marker: &str) {
    let marker: IpAddr = marker.parse().expect("marker ip");
    let before = cap.count(FrameKind::ArpReply, marker);
    announce_on(lab, port, marker, 1, 0);
    assert!(
        cap.wait_for_count(FrameKind::ArpReply, marker, before + 1, WAIT),
        "the marker frame never showed up"
    );
}

/// `holders_and_links` (the OCF monitor's one reading of the holders, issue
/// 11 §4): every holder, each with the link `link` would have read for it.
#[test]
fn holders_and_links_gives_each_holder_its_link() {
    let lab = lab();
    let ip = add(&lab, Port::APrimary, "198.51.100.10", 24);
    add(&lab, Port::ABackup, "198.51.100.10", 32);
    let k = kernel_in_a(&lab, LinuxKernel::open);
    let (names, links) = k.holders_and_links(ip).expect("holders and links");
    let both = [adapter(Port::APrimary), adapter(Port::ABackup)];
    assert_eq!(names, both);
    let looked: Vec<_> = both.iter().map(|a| k.link(a).expect("link")).collect();
    assert_eq!(links, looked);
    lab.pull_cable(Port::ABackup).expect("pull");
    let (_, links) = k.holders_and_links(ip).expect("holders and links");
    assert!(!links[1].state.is_connected(), "{links:?}");
}

/// After announce on eth0 and then delete_address (both through
/// LinuxKernel), no further frame about the address leaves eth0.
#[test]
fn delete_address_ends_the_background_rounds() {
    let lab = lab();
    let ip = add(&lab, Port::APrimary, "198.51.100.10", 24);
    let addr = Address::new(ip, 24).expect("address");
    let mac = mac_of(&lab, Port::APrimary);
    let cap = lab.capture(Port::APrimary).expect("capture");
    let eth0 = adapter(Port::APrimary);
    let k = kernel_in_a(&lab, LinuxKernel::open);
    lab.node_a()
        .run(|| k.announce(&eth0, ip, LONG))
        .expect("run")
        .expect("announce");
    // The background sender is running: a second round came.
    assert!(cap.wait_for_count(FrameKind::ArpReply, ip, 2, WAIT));
    lab.node_a()
        .run(|| k.delete_address(&eth0, &addr))
        .expect("run")
        .expect("delete");
    mark(&lab, &cap, Port::APrimary, "198.51.100.99");
    let sent = announcements_in(&cap.all(), ip, mac);
    assert!(
        sent < 2 * LONG.count as usize,
        "all rounds went out already"
    );
    let more = cap.wait_until(QUIET, |f| announcements_in(f, ip, mac) > sent);
    assert!(
        !more,
        "{} announcement frames after the delete",
        announcements_in(&cap.all(), ip, mac) - sent
    );
    assert!(zombie_children().is_empty(), "{:?}", zombie_children());
}

/// A new announcement of the same address on another adapter stops the
/// first adapter's rounds; its own rounds all go out.
#[test]
fn announce_on_another_adapter_stops_the_old_rounds() {
    let lab = lab();
    let ip = add(&lab, Port::APrimary, "198.51.100.10", 24);
    let primary = mac_of(&lab, Port::APrimary);
    let backup = mac_of(&lab, Port::ABackup);
    let cap = lab.capture(Port::APrimary).expect("capture");
    let backup_cap = lab.capture(Port::ABackup).expect("capture");
    let k = kernel_in_a(&lab, LinuxKernel::open);
    lab.node_a()
        .run(|| k.announce(&adapter(Port::APrimary), ip, LONG))
        .expect("run")
        .expect("announce on eth0");
    assert!(cap.wait_for_count(FrameKind::ArpReply, ip, 2, WAIT));
    lab.node_a()
        .run(|| k.announce(&adapter(Port::ABackup), ip, LONG))
        .expect("run")
        .expect("announce on eth1");
    mark(&lab, &cap, Port::APrimary, "198.51.100.99");
    let sent = announcements_in(&cap.all(), ip, primary);
    assert!(
        sent < 2 * LONG.count as usize,
        "all rounds went out already"
    );
    let more = cap.wait_until(QUIET, |f| announcements_in(f, ip, primary) > sent);
    assert!(!more, "eth0's rounds went on after eth1 announced");
    // eth1's ten rounds (request + reply each) all went out.
    assert!(backup_cap.wait_until(WAIT, |f| {
        announcements_in(f, ip, backup) >= 2 * LONG.count as usize
    }));
}

/// In a long-lived process (the daemon: rounds from a thread), a recovery
/// announces an address, deletes it, and announces it again elsewhere at
/// once. The delete takes the name from the sender thread; the second
/// announcement must get the name back and send all its rounds. (The
/// sender thread, asleep in ppoll, held the taken socket's name until its
/// next round was due: the second claim waited out its patience and got
/// no name, so only the first round went out.)
#[test]
fn a_thread_sender_lets_a_taken_name_go_at_once() {
    let lab = lab();
    let ip = add(&lab, Port::APrimary, "198.51.100.10", 24);
    let addr = Address::new(ip, 24).expect("address");
    let backup = mac_of(&lab, Port::ABackup);
    let backup_cap = lab.capture(Port::ABackup).expect("capture");
    let k = kernel_in_a(&lab, LinuxKernel::open_long_lived);
    let slow = AnnouncePlan {
        count: 3,
        interval: Duration::from_secs(3),
    };
    lab.node_a()
        .run(|| {
            k.announce(&adapter(Port::APrimary), ip, slow)?;
            // The sender thread is asleep until its next round.
            std::thread::sleep(Duration::from_millis(100));
            k.delete_address(&adapter(Port::APrimary), &addr)?;
            k.add_address(&adapter(Port::ABackup), &addr, Default::default())?;
            k.announce(&adapter(Port::ABackup), ip, LONG)
        })
        .expect("run")
        .expect("announce, delete, add, announce");
    // eth1's ten rounds (request + reply each) all went out.
    let all = 2 * LONG.count as usize;
    assert!(
        backup_cap.wait_until(WAIT, |f| announcements_in(f, ip, backup) >= all),
        "{} of {all} announcement frames on eth1",
        announcements_in(&backup_cap.all(), ip, backup)
    );
}

/// CPU time (ms) of this process's announcement sender threads so far.
fn sender_threads_cpu_ms() -> u64 {
    let mut ticks = 0;
    for task in fs::read_dir("/proc/self/task").expect("tasks").flatten() {
        let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "ipkit-announce" {
            continue;
        }
        let stat = fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: utime and stime
        // are the 12th and 13th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        ticks += f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    }
    ticks * 10 // USER_HZ 100
}

/// A thread sender woken because one of its names was taken reads its
/// wake-up away and sleeps until its next round: it does not spin (it
/// did, on a wake-up it could not read, for the rest of its rounds).
#[test]
fn a_woken_thread_sender_sleeps_again() {
    let lab = lab();
    let ip = add(&lab, Port::APrimary, "198.51.100.10", 24);
    let other = add(&lab, Port::APrimary, "198.51.100.11", 24);
    let addr = Address::new(ip, 24).expect("address");
    let k = kernel_in_a(&lab, LinuxKernel::open_long_lived);
    let plan = AnnouncePlan {
        count: 5,
        interval: Duration::from_millis(400),
    };
    let both = [ip, other].map(|ip| ipkit::net::AnnounceRequest {
        adapter: adapter(Port::APrimary),
        ip,
        plan,
    });
    let before = lab
        .node_a()
        .run(|| {
            let announced = k.announce_addresses(&both);
            assert!(announced.iter().all(Result::is_ok), "{announced:?}");
            // One name taken: the sender is woken, and goes on with the other.
            k.delete_address(&adapter(Port::APrimary), &addr)
                .expect("delete");
            sender_threads_cpu_ms()
        })
        .expect("run");
    std::thread::sleep(Duration::from_secs(1));
    let spent = sender_threads_cpu_ms() - before;
    assert!(
        spent < 300,
        "the sender threads spent {spent} ms of CPU in 1 s"
    );
}

/// The rounds outlive the process that started them, and another process
/// (here: this one, after the child exited) stops them by deleting the
/// address, as a Pacemaker stop does after the start's process is gone.
#[test]
fn rounds_outlive_their_process_and_another_process_stops_them() {
    const ROLE: &str = "IPKIT_LAB_ANNOUNCER";
    if std::env::var_os(ROLE).is_some() {
        let k = LinuxKernel::open().expect("open");
        k.announce(
            &adapter(Port::APrimary),
            "198.51.100.10".parse().expect("ip"),
            LONG,
        )
        .expect("announce");
        return;
    }
    let lab = lab();
    let ip = add(&lab, Port::APrimary, "198.51.100.10", 24);
    let addr = Address::new(ip, 24).expect("address");
    let mac = mac_of(&lab, Port::APrimary);
    let cap = lab.capture(Port::APrimary).expect("capture");
    let exe = std::env::current_exe().expect("test binary");
    let out = lab
        .node_a()
        .run(|| {
            std::process::Command::new(exe)
                .args([
                    "--exact",
                    "rounds_outlive_their_process_and_another_process_stops_them",
                    "--test-threads=1",
                ])
                .env(ROLE, "1")
                .output()
        })
        .expect("run")
        .expect("spawn child");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The announcing process has exited; its rounds go on.
    assert!(cap.wait_for_count(FrameKind::ArpReply, ip, 3, WAIT));
    let k = kernel_in_a(&lab, LinuxKernel::open);
    lab.node_a()
        .run(|| k.delete_address(&adapter(Port::APrimary), &addr))
        .expect("run")
        .expect("delete");
    mark(&lab, &cap, Port::APrimary, "198.51.100.99");
    let sent = announcements_in(&cap.all(), ip, mac);
    assert!(
        sent < 2 * LONG.count as usize,
        "all rounds went out already"
    );
    let more = cap.wait_until(QUIET, |f| announcements_in(f, ip, mac) > sent);
    assert!(
        !more,
        "rounds went on after another process deleted the address"
    );
}

/// A local recovery right after a restore (the restore's rounds still
/// running) leaves the client on the backup adapter's MAC: the old rounds
/// on eth0 end when recover deletes the address there, so they cannot
/// re-announce eth0's MAC once its cable is back.
#[test]
fn recover_right_after_restore_leaves_the_client_on_the_backup() {
    use ipkit::cluster::Standalone;
    use ipkit::events::Recorder;
    use ipkit::ops::{self, Ctx, SystemClock};
    use ipkit::resource::{Definition, Operation, RuntimeState, Tag};

    let lab = lab();
    let address: Address = "198.51.100.10/24".parse().expect("address");
    let ip = address.ip();
    let mut def = Definition::new(
        Tag::new("vip").expect("tag"),
        address,
        adapter(Port::APrimary),
        Some(adapter(Port::ABackup)),
    )
    .expect("definition");
    def.tunables.announce_count = LONG.count;
    def.tunables.announce_interval = LONG.interval;
    def.tunables.probe_timeout = Duration::ZERO;
    let mut state = RuntimeState::default();
    let k = kernel_in_a(&lab, LinuxKernel::open);
    let mut run = |op: Operation| {
        let rec = Recorder::new();
        let ctx = Ctx {
            kernel: &k,
            cluster: &Standalone,
            events: &rec,
            clock: &SystemClock,
            node: "node-a",
        };
        lab.node_a()
            .run(|| ops::run_loaded(&ctx, &def, &mut state, op))
            .expect("run")
    };
    let primary = mac_of(&lab, Port::APrimary);
    let backup = mac_of(&lab, Port::ABackup);

    assert!(run(Operation::Restore).success, "restore");
    // The client talks to the address: it has an entry with the primary's
    // MAC (announcements update entries, they do not create them).
    assert!(lab.client_reaches(ip).expect("ping"));
    assert_eq!(
        lab.client_neighbour(ip).expect("neigh").map(Mac),
        Some(primary)
    );
    let client_cap = lab.capture(Port::Client).expect("capture");
    // Cable out, recover onto eth1, cable back in: all while the
    // restore's rounds on eth0 would still be going.
    lab.pull_cable(Port::APrimary).expect("pull");
    assert!(run(Operation::Recover).success, "recover");
    lab.plug_cable(Port::APrimary).expect("plug");
    // (A capture on a port ends when its cable is pulled: a new one.)
    let cap = lab.capture(Port::APrimary).expect("capture");
    assert!(
        client_cap.wait_until(WAIT, |_| {
            lab.client_neighbour(ip).ok().flatten().map(Mac) == Some(backup)
        }),
        "the client never moved to the backup MAC"
    );
    mark(&lab, &cap, Port::APrimary, "198.51.100.99");
    let sent = announcements_in(&cap.all(), ip, primary);
    // For twice the restore's whole schedule: no eth0 announcement, and
    // the client stays on the backup.
    let flipped = cap.wait_until(QUIET, |f| {
        announcements_in(f, ip, primary) > sent
            || lab.client_neighbour(ip).ok().flatten().map(Mac) != Some(backup)
    });
    assert!(
        !flipped,
        "eth0 announced again ({} frames) or the client left the backup: {:?}",
        announcements_in(&cap.all(), ip, primary) - sent,
        lab.client_neighbour(ip)
    );
}

/// LinuxKernel keeps its packet sockets: repeated announcements and
/// probes reuse them, and a kept probe socket neither misses a claim nor
/// reports one from a frame queued while it was idle.
#[test]
fn kept_probe_socket_is_reused_and_drained() {
    let lab = lab();
    let k = kernel_in_a(&lab, LinuxKernel::open);
    let eth0 = adapter(Port::APrimary);
    let client = mac_of(&lab, Port::Client);
    let free: IpAddr = "198.51.100.77".parse().expect("ip");
    let probe = |ip: IpAddr| {
        lab.node_a()
            .run(|| k.probe(&eth0, ip, Duration::from_millis(300)))
            .expect("run")
            .expect("probe")
    };
    for _ in 0..3 {
        assert_eq!(
            probe(IpAddr::V4(CLIENT_V4)),
            ProbeResult::InUse { mac: client }
        );
        // B announces `free` while A is not probing: A's kept socket must
        // not hold on to that frame for the next probe.
        announce_on(&lab, Port::B, free, 1, 0);
        assert_eq!(probe(free), ProbeResult::Free);
    }
    assert_eq!(
        probe(IpAddr::V6(CLIENT_V6)),
        ProbeResult::InUse { mac: client }
    );
}

/// The processes holding the announcer names of `ips` in the calling
/// thread's network namespace (None for a name nobody holds).
fn name_holders(ips: &[IpAddr]) -> Vec<Option<u32>> {
    let table = fs::read_to_string("/proc/thread-self/net/unix").expect("unix table");
    let inodes: Vec<Option<String>> = ips
        .iter()
        .map(|ip| {
            let name = format!("@ipkit/announce/{ip}");
            table
                .lines()
                .find(|l| l.split_whitespace().last() == Some(name.as_str()))
                .and_then(|l| l.split_whitespace().nth(6).map(str::to_owned))
        })
        .collect();
    let mut owner = vec![None; ips.len()];
    for entry in fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = fs::read_link(fd.path()) else {
                continue;
            };
            let link = link.to_string_lossy().into_owned();
            for (i, inode) in inodes.iter().enumerate() {
                if inode
                    .as_ref()
                    .is_some_and(|n| link == format!("socket:[{n}]"))
                {
                    owner[i] = Some(pid);
                }
            }
        }
    }
    owner
}

/// `ips` added on node A's eth0 and announced there in one pass (LONG
/// rounds) by a kernel `open`ed in node A: the addresses, eth0's MAC, a
/// capture of eth0 started before the pass, and the kernel (its background
/// sender runs).
fn announced_in_one_pass(
    lab: &Lab,
    ips: &[&str],
    open: fn() -> Result<LinuxKernel, ipkit::net::KernelError>,
) -> (Vec<IpAddr>, Mac, Capture, LinuxKernel) {
    use ipkit::net::AnnounceRequest;
    let ips: Vec<IpAddr> = ips
        .iter()
        .map(|ip| add(lab, Port::APrimary, ip, 24))
        .collect();
    let mac = mac_of(lab, Port::APrimary);
    let cap = lab.capture(Port::APrimary).expect("capture");
    let k = kernel_in_a(lab, open);
    let requests: Vec<AnnounceRequest> = ips
        .iter()
        .map(|ip| AnnounceRequest {
            adapter: adapter(Port::APrimary),
            ip: *ip,
            plan: LONG,
        })
        .collect();
    let results = lab
        .node_a()
        .run(|| k.announce_addresses(&requests))
        .expect("run");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    (ips, mac, cap, k)
}

/// One announcement pass over three addresses (issue 11): the first round
/// of each at once, one background sender for all their later rounds, and
/// deleting one address ends only that address's rounds. `thread`: the
/// daemon's kernel (the sender is a thread of this process) rather than
/// the command line's (a detached child).
fn one_pass_one_sender(thread: bool) {
    use ipkit::net::DeleteRequest;
    let lab = lab();
    let open = if thread {
        LinuxKernel::open_long_lived
    } else {
        LinuxKernel::open
    };
    let (ips, mac, cap, k) = announced_in_one_pass(
        &lab,
        &["198.51.100.10", "198.51.100.11", "198.51.100.12"],
        open,
    );
    // Every address's second round came: the background sender runs.
    for ip in &ips {
        assert!(
            cap.wait_for_count(FrameKind::ArpReply, *ip, 2, WAIT),
            "{ip}"
        );
    }
    // One sender holds all three names.
    let holders = lab.node_a().run(|| name_holders(&ips)).expect("run");
    let first = holders[0].expect("the first name is held");
    assert_eq!(holders, vec![Some(first); 3]);
    assert_eq!(first == std::process::id(), thread, "held by {first}");

    // Delete the second (a secondary address: the first is the subnet's
    // primary, whose deletion would take the others along).
    let gone = DeleteRequest {
        adapter: adapter(Port::APrimary),
        address: Address::new(ips[1], 24).expect("address"),
        routing: ipkit::net::Routing::Follow,
    };
    let deleted = lab
        .node_a()
        .run(|| k.delete_addresses(std::slice::from_ref(&gone)))
        .expect("run");
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
    let holders = lab.node_a().run(|| name_holders(&ips)).expect("run");
    assert_eq!(holders, [Some(first), None, Some(first)]);
    mark(&lab, &cap, Port::APrimary, "198.51.100.99");
    let sent = announcements_in(&cap.all(), ips[1], mac);
    assert!(
        sent < 2 * LONG.count as usize,
        "all rounds went out already"
    );
    let more = cap.wait_until(QUIET, |f| announcements_in(f, ips[1], mac) > sent);
    assert!(!more, "rounds of the deleted address went on");
    // The other two got every round (request + reply each).
    assert!(cap.wait_until(WAIT, |f| {
        [ips[0], ips[2]]
            .iter()
            .all(|ip| announcements_in(f, *ip, mac) >= 2 * LONG.count as usize)
    }));
    assert!(zombie_children().is_empty(), "{:?}", zombie_children());
}

/// Another process (`ipkit remove` while the daemon's rounds run) stops
/// one address of a thread sender of this process: the stop request on
/// the name reaches the thread, the other addresses go on.
#[test]
fn another_process_stops_one_address_of_a_thread_sender() {
    const ROLE: &str = "IPKIT_LAB_STOPPER";
    if let Some(ip) = std::env::var_os(ROLE) {
        let ip: IpAddr = ip.to_string_lossy().parse().expect("ip");
        let k = LinuxKernel::open().expect("open");
        let addr = Address::new(ip, 24).expect("address");
        k.delete_address(&adapter(Port::APrimary), &addr)
            .expect("delete");
        return;
    }
    let lab = lab();
    let (ips, mac, cap, _k) = announced_in_one_pass(
        &lab,
        &["198.51.100.10", "198.51.100.11"],
        LinuxKernel::open_long_lived,
    );
    assert!(cap.wait_for_count(FrameKind::ArpReply, ips[1], 2, WAIT));
    let exe = std::env::current_exe().expect("test binary");
    let out = lab
        .node_a()
        .run(|| {
            std::process::Command::new(exe)
                .args([
                    "--exact",
                    "another_process_stops_one_address_of_a_thread_sender",
                    "--test-threads=1",
                ])
                .env(ROLE, ips[1].to_string())
                .output()
        })
        .expect("run")
        .expect("spawn child");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    mark(&lab, &cap, Port::APrimary, "198.51.100.99");
    let sent = announcements_in(&cap.all(), ips[1], mac);
    assert!(
        sent < 2 * LONG.count as usize,
        "all rounds went out already"
    );
    let more = cap.wait_until(QUIET, |f| announcements_in(f, ips[1], mac) > sent);
    assert!(
        !more,
        "rounds went on after another process deleted the address"
    );
    assert!(cap.wait_until(WAIT, |f| {
        announcements_in(f, ips[0], mac) >= 2 * LONG.count as usize
    }));
}

#[test]
fn one_pass_one_detached_sender_and_a_delete_stops_only_its_address() {
    one_pass_one_sender(false);
}

#[test]
fn one_pass_one_thread_sender_and_a_delete_stops_only_its_address() {
    one_pass_one_sender(true);
}
