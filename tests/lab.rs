//! The lab and the packet functions on the real kernel (needs root).

use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ipkit::lab::{CLIENT_V4, CLIENT_V6, FrameKind, Lab, LabConfig, Port};
use ipkit::net::linux::packet;
use ipkit::net::linux::pdu::{arp, ethernet::EthernetFrame, ndp};
use ipkit::net::{AnnouncePlan, ProbeResult};
use ipkit::netns::NetNs;
use ipkit::resource::Address;

fn inode(path: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path).expect("stat").ino()
}

#[test]
fn netns_is_separate_and_has_lo_up() {
    let ns = NetNs::new().expect("new netns");
    let host = inode("/proc/thread-self/ns/net");
    let inside = ns.run(|| inode("/proc/thread-self/ns/net")).expect("run");
    assert_ne!(host, inside, "the closure ran in the host namespace");
    // lo is up: a UDP datagram to ourselves over 127.0.0.1 arrives.
    let echoed = ns
        .run(|| -> std::io::Result<Vec<u8>> {
            let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
            s.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
            s.send_to(b"lo", s.local_addr()?)?;
            let mut buf = [0u8; 8];
            let n = s.recv(&mut buf)?;
            Ok(buf[..n].to_vec())
        })
        .expect("run");
    assert_eq!(echoed.expect("loopback works"), b"lo");
    assert_eq!(ns.name(), None);
    ns.set_sysctl("net/ipv6/conf/all/accept_dad", "0")
        .expect("sysctl");
    assert_eq!(
        ns.sysctl("net/ipv6/conf/all/accept_dad").expect("read"),
        "0"
    );
}

#[test]
fn netns_run_propagates_a_panic_and_stays_usable() {
    let ns = NetNs::new().expect("new netns");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ns.run(|| panic!("inside the namespace"))
    }));
    assert!(r.is_err(), "the panic was swallowed");
    assert_eq!(ns.run(|| 42).expect("run"), 42);
}

#[test]
fn named_netns_is_mounted_and_removed() {
    let name = format!("ipkt{}n", std::process::id());
    let path = Path::new("/run/netns").join(&name);
    {
        let ns = NetNs::new_named(&name).expect("new named");
        assert_eq!(ns.name(), Some(name.as_str()));
        let inside = ns.run(|| inode("/proc/thread-self/ns/net")).expect("run");
        assert_eq!(inode(path.to_str().expect("utf8")), inside);
        let again = NetNs::new_named(&name).expect_err("duplicate name");
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
    }
    assert!(!path.exists(), "{} left behind", path.display());
}

fn lab() -> Lab {
    Lab::build(LabConfig::unique()).expect("build lab")
}

/// Puts `ip` on the adapter behind `port` (in its node's namespace).
fn add(lab: &Lab, port: Port, ip: &str, prefix: u8) -> IpAddr {
    let ip: IpAddr = ip.parse().expect("ip");
    let addr = Address::new(ip, prefix).expect("address");
    let index = lab.ifindex_of(port).expect("ifindex");
    lab.nl_of(port)
        .add_address(index, &addr, false)
        .expect("add address");
    ip
}

#[test]
fn lab_builds_and_tears_down() {
    let t = Instant::now();
    let lab = lab();
    eprintln!("lab built in {:?}", t.elapsed());
    let names: Vec<String> = [lab.switch(), lab.node_a(), lab.node_b(), lab.client()]
        .iter()
        .map(|ns| ns.name().expect("named").to_owned())
        .collect();
    for n in &names {
        assert!(Path::new("/run/netns").join(n).exists(), "{n} missing");
    }
    // Every port has distinct node-side MACs and the client has its address.
    let macs: Vec<_> = Port::ALL
        .iter()
        .map(|p| lab.mac_of(*p).expect("mac"))
        .collect();
    for (i, m) in macs.iter().enumerate() {
        assert!(!macs[..i].contains(m));
    }
    let t = Instant::now();
    drop(lab);
    eprintln!("lab dropped in {:?}", t.elapsed());
    for n in &names {
        assert!(!Path::new("/run/netns").join(n).exists(), "{n} left behind");
    }
}

#[test]
fn lab_is_torn_down_on_panic() {
    let cfg = LabConfig::unique();
    let name = format!("{}-a", cfg.prefix);
    let r = std::panic::catch_unwind(move || {
        let _lab = Lab::build(cfg).expect("build lab");
        panic!("test panic inside a lab");
    });
    assert!(r.is_err());
    assert!(!Path::new("/run/netns").join(&name).exists());
}

#[test]
fn client_reaches_a_peer_address_v4_and_v6() {
    let lab = lab();
    let v4: IpAddr = "198.51.100.10".parse().expect("ip");
    let v6: IpAddr = "2001:db8:1::10".parse().expect("ip");
    assert!(
        !lab.client_reaches_within(v4, Duration::from_millis(300))
            .expect("ping")
    );
    add(&lab, Port::APrimary, "198.51.100.10", 24);
    add(&lab, Port::APrimary, "2001:db8:1::10", 64);
    assert!(lab.client_reaches(v4).expect("ping v4"));
    assert!(lab.client_reaches(v6).expect("ping v6"));
    // The client learnt node A's primary MAC for both.
    let mac = lab.mac_of(Port::APrimary).expect("mac");
    assert_eq!(lab.client_neighbour(v4).expect("neigh"), Some(mac));
    assert_eq!(lab.client_neighbour(v6).expect("neigh"), Some(mac));
}

#[test]
fn cable_pull_changes_carrier_seen_from_node_a() {
    let lab = lab();
    let carrier = |lab: &Lab| {
        lab.nl_of(Port::APrimary)
            .link_by_name("eth0")
            .expect("link")
            .expect("eth0 exists")
            .carrier
    };
    assert!(carrier(&lab));
    lab.pull_cable(Port::APrimary).expect("pull");
    assert!(!carrier(&lab));
    // The backup adapter is not affected.
    let backup = lab.nl_of(Port::ABackup).link_by_name("eth1").expect("link");
    assert!(backup.expect("eth1").carrier);
    lab.plug_cable(Port::APrimary).expect("plug");
    assert!(carrier(&lab));
    lab.delete_adapter(Port::ABackup).expect("delete");
    assert!(
        lab.nl_of(Port::ABackup)
            .link_by_name("eth1")
            .expect("dump")
            .is_none()
    );
    assert!(lab.mac_of(Port::ABackup).is_err());
}

#[test]
fn capture_sees_frames_in_both_directions() {
    let lab = lab();
    let v4: IpAddr = "198.51.100.10".parse().expect("ip");
    add(&lab, Port::APrimary, "198.51.100.10", 24);
    let cap = lab.capture(Port::APrimary).expect("capture");
    assert!(lab.client_reaches(v4).expect("ping"));
    let frames = cap.stop().expect("stop");
    // The client's echo request went towards node A, the reply came from it.
    assert!(frames.iter().any(|f| f.from_node), "nothing from node A");
    assert!(
        frames.iter().any(|f| !f.from_node),
        "nothing towards node A"
    );
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
    let mac = lab.mac_of(port).expect("mac");
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
    let mac = lab.mac_of(Port::APrimary).expect("mac");
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
        .filter(|b| ipkit::lab::kind_of(b, ip).is_some())
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
    let mac = lab.mac_of(Port::APrimary).expect("mac");
    let cap = lab.capture(Port::APrimary).expect("capture");
    announce_on(&lab, Port::APrimary, ip, 4, 50);
    assert!(cap.wait_for_count(FrameKind::NeighbourAdvertisement, ip, 4, WAIT));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(cap.count(FrameKind::NeighbourAdvertisement, ip), 4);
    let na = ndp::unsolicited_na(mac, v6).to_vec();
    let frames = cap.stop().expect("stop");
    let nas: Vec<_> = frames
        .iter()
        .filter(|f| f.from_node && ipkit::lab::kind_of(&f.bytes, ip).is_some())
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
    let primary = lab.mac_of(Port::APrimary).expect("mac");
    let backup = lab.mac_of(Port::ABackup).expect("mac");
    assert_eq!(lab.client_neighbour(v4).expect("neigh"), Some(primary));
    assert_eq!(lab.client_neighbour(v6).expect("neigh"), Some(primary));

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
        && (lab.client_neighbour(v4).expect("neigh") != Some(backup)
            || lab.client_neighbour(v6).expect("neigh") != Some(backup))
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(lab.client_neighbour(v4).expect("neigh"), Some(backup));
    assert_eq!(lab.client_neighbour(v6).expect("neigh"), Some(backup));
}

fn probe_from(lab: &Lab, port: Port, ip: IpAddr, timeout_ms: u64) -> ProbeResult {
    let index = lab.ifindex_of(port).expect("ifindex");
    let mac = lab.mac_of(port).expect("mac");
    lab.ns_of(port)
        .run(|| packet::probe(index, mac, ip, Duration::from_millis(timeout_ms)))
        .expect("run")
        .expect("probe")
}

fn probe_detects(ip: IpAddr, free: IpAddr, probe_kind: FrameKind) {
    let lab = lab();
    let client = lab.mac_of(Port::Client).expect("mac");
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
    let b = lab.mac_of(Port::B).expect("mac");
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
    let b = lab.mac_of(Port::B).expect("mac");
    let index = lab.ifindex_of(Port::APrimary).expect("ifindex");
    let mac = lab.mac_of(Port::APrimary).expect("mac");
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
    let mac = lab.mac_of(Port::ABackup).expect("mac");
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
        let mac: ipkit::resource::Mac = it.next().and_then(|s| s.parse().ok()).expect("mac");
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
    let mac = lab.mac_of(Port::APrimary).expect("mac");
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

#[test]
fn ipv4_only_lab_disables_ipv6() {
    let mut cfg = LabConfig::unique();
    cfg.ipv6 = false;
    let lab = Lab::build(cfg).expect("build lab");
    assert!(!lab.ipv6());
    for ns in [lab.switch(), lab.node_a(), lab.node_b(), lab.client()] {
        assert_eq!(
            ns.sysctl("net/ipv6/conf/all/disable_ipv6").expect("sysctl"),
            "1"
        );
    }
    let v6 = lab
        .nl_of(Port::Client)
        .addresses(Some(ipkit::net::linux::netlink::Family::V6))
        .expect("dump");
    assert!(v6.is_empty(), "{v6:?}");
    let ip = add(&lab, Port::B, "198.51.100.20", 24);
    assert!(lab.client_reaches(ip).expect("ping"));
}

// ---------------------------------------------------------------------------
// The announcer registry: background rounds end with the address
// ---------------------------------------------------------------------------

use ipkit::net::Kernel;
use ipkit::net::linux::LinuxKernel;
use ipkit::resource::{AdapterName, Mac};

/// A long schedule, so that "no further frames" means something: ten
/// rounds 100 ms apart.
const LONG: AnnouncePlan = AnnouncePlan {
    count: 10,
    interval: Duration::from_millis(100),
};

/// Twice the whole schedule: how long "no further frames" waits.
const QUIET: Duration = Duration::from_secs(2);

fn adapter(port: Port) -> AdapterName {
    AdapterName::new(port.adapter()).expect("adapter name")
}

/// Announcement frames about `ip` among `frames` that the node sent with
/// Ethernet source `mac`.
fn announcements_in(frames: &[ipkit::lab::Frame], ip: IpAddr, mac: Mac) -> usize {
    frames
        .iter()
        .filter(|f| f.from_node)
        .filter(|f| {
            matches!(
                ipkit::lab::kind_of(&f.bytes, ip),
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
fn mark(lab: &Lab, cap: &ipkit::lab::Capture, port: Port, marker: &str) {
    let marker: IpAddr = marker.parse().expect("marker ip");
    let before = cap.count(FrameKind::ArpReply, marker);
    announce_on(lab, port, marker, 1, 0);
    assert!(
        cap.wait_for_count(FrameKind::ArpReply, marker, before + 1, WAIT),
        "the marker frame never showed up"
    );
}

/// After announce on eth0 and then delete_address (both through
/// LinuxKernel), no further frame about the address leaves eth0.
#[test]
fn delete_address_ends_the_background_rounds() {
    let lab = lab();
    let ip = add(&lab, Port::APrimary, "198.51.100.10", 24);
    let addr = Address::new(ip, 24).expect("address");
    let mac = lab.mac_of(Port::APrimary).expect("mac");
    let cap = lab.capture(Port::APrimary).expect("capture");
    let eth0 = adapter(Port::APrimary);
    let k = lab
        .node_a()
        .run(LinuxKernel::open)
        .expect("run")
        .expect("open");
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
    let primary = lab.mac_of(Port::APrimary).expect("mac");
    let backup = lab.mac_of(Port::ABackup).expect("mac");
    let cap = lab.capture(Port::APrimary).expect("capture");
    let backup_cap = lab.capture(Port::ABackup).expect("capture");
    let k = lab
        .node_a()
        .run(LinuxKernel::open)
        .expect("run")
        .expect("open");
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
    let mac = lab.mac_of(Port::APrimary).expect("mac");
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
    let k = lab
        .node_a()
        .run(LinuxKernel::open)
        .expect("run")
        .expect("open");
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
    let k = lab
        .node_a()
        .run(LinuxKernel::open)
        .expect("run")
        .expect("open");
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
    let primary = lab.mac_of(Port::APrimary).expect("mac");
    let backup = lab.mac_of(Port::ABackup).expect("mac");

    assert!(run(Operation::Restore).success, "restore");
    // The client talks to the address: it has an entry with the primary's
    // MAC (announcements update entries, they do not create them).
    assert!(lab.client_reaches(ip).expect("ping"));
    assert_eq!(lab.client_neighbour(ip).expect("neigh"), Some(primary));
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
            lab.client_neighbour(ip).ok().flatten() == Some(backup)
        }),
        "the client never moved to the backup MAC"
    );
    mark(&lab, &cap, Port::APrimary, "198.51.100.99");
    let sent = announcements_in(&cap.all(), ip, primary);
    // For twice the restore's whole schedule: no eth0 announcement, and
    // the client stays on the backup.
    let flipped = cap.wait_until(QUIET, |f| {
        announcements_in(f, ip, primary) > sent
            || lab.client_neighbour(ip).ok().flatten() != Some(backup)
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
    let k = lab
        .node_a()
        .run(LinuxKernel::open)
        .expect("run")
        .expect("open");
    let eth0 = adapter(Port::APrimary);
    let client = lab.mac_of(Port::Client).expect("mac");
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
