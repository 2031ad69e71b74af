//! The lab and the packet functions on the real kernel (needs root).

use std::fs;
use std::path::Path;

use ipkit::netns::NetNs;

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
