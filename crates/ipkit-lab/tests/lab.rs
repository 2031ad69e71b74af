//! The lab on the real kernel (needs root): namespaces, building and tearing down, cables, reachability, capture.

use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use ipkit_lab::{Lab, LabConfig, NetNs, Port};

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
    lab.add_address(port, ip, prefix).expect("add address");
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
    let v6: Vec<_> = lab
        .nl_of(Port::Client)
        .addresses()
        .expect("dump")
        .into_iter()
        .filter(|a| a.ip.is_ipv6())
        .collect();
    assert!(v6.is_empty(), "{v6:?}");
    let ip = add(&lab, Port::B, "198.51.100.20", 24);
    assert!(lab.client_reaches(ip).expect("ping"));
}
