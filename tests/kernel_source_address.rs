//! Source-address control (issue 12 item 6) against the real kernel, in a
//! throwaway namespace lab (needs root). A resource with `never_as_source`
//! is restored through `ipkit::ops` with a `LinuxKernel`; the kernel's own
//! choice of source address for node A's outgoing connections is read with
//! connect(2) + getsockname(2) on a UDP socket (the route lookup a TCP
//! connect makes, without sending anything):
//!
//! - IPv6: the address is deprecated, and the node's own address is chosen
//!   instead (RFC 6724 rule 3), where without the tunable the address would
//!   be (rule 8, the longest match, favours it for this destination);
//! - IPv4: the address is deprecated too, but the kernel's IPv4 selection
//!   ignores that: the connected route's preferred source still names it.
//!   This test records that, so a kernel that changes it is noticed.
#![cfg(target_os = "linux")] // network namespaces or Unix files: not on Windows (docs/windows.md)

use std::net::{IpAddr, SocketAddr, UdpSocket};

use ipkit::cluster::Standalone;
use ipkit::events::Recorder;
use ipkit::net::linux::LinuxKernel;
use ipkit::ops::{self, Ctx, SystemClock};
use ipkit::resource::{AdapterName, Definition, Operation, RuntimeState, Tag};
use ipkit_lab::{Lab, LabConfig, Port};

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

/// Restore a resource for `address` on node A's eth0.
fn restore(lab: &Lab, address: &str, never_as_source: bool) {
    let mut def = Definition::new(
        Tag::new("vip").expect("tag"),
        address.parse().expect("address"),
        AdapterName::new("eth0").expect("adapter"),
        None,
    )
    .expect("definition");
    def.tunables.probe_timeout = std::time::Duration::ZERO;
    def.tunables.announce_count = 1;
    def.tunables.never_as_source = never_as_source;
    let out = lab
        .node_a()
        .run(move || {
            let kernel = LinuxKernel::open().expect("open LinuxKernel in node A");
            let ctx = Ctx {
                kernel: &kernel,
                cluster: &Standalone,
                events: &Recorder::new(),
                clock: &SystemClock,
                node: "node-a",
            };
            ops::run_loaded(&ctx, &def, &mut RuntimeState::default(), Operation::Restore)
        })
        .expect("run in node A");
    assert!(out.success, "{out:?}");
}

/// The source address node A's kernel picks for a connection to `dest`.
fn source_for(lab: &Lab, dest: IpAddr) -> IpAddr {
    lab.node_a()
        .run(move || {
            let any: SocketAddr = if dest.is_ipv6() {
                "[::]:0".parse().expect("any")
            } else {
                "0.0.0.0:0".parse().expect("any")
            };
            let socket = UdpSocket::bind(any).expect("bind");
            socket.connect((dest, 9)).expect("connect (route lookup)");
            socket.local_addr().expect("getsockname").ip()
        })
        .expect("run in node A")
}

/// Whether the lab's own netlink (not the code under test) shows `ip` on
/// node A with IFA_F_DEPRECATED.
fn deprecated(lab: &Lab, address: IpAddr) -> bool {
    lab.nl_of(Port::APrimary)
        .addresses()
        .expect("dump")
        .into_iter()
        .find(|a| a.ip == address)
        .map(|a| a.deprecated)
        .expect("the address is on node A")
}

/// Node A's own address on eth0, added before any resource.
fn own_address(lab: &Lab, address: IpAddr, prefix: u8) {
    let nl = lab.nl_of(Port::APrimary);
    let eth0 = nl.link_by_name("eth0").expect("link").expect("eth0");
    nl.add_address(eth0.index, address, prefix)
        .expect("own address");
}

fn lab(v6: bool) -> Lab {
    let mut cfg = LabConfig::unique();
    cfg.ipv6 = v6;
    Lab::build(cfg).expect("build lab (needs root)")
}

#[test]
fn ipv6_the_node_takes_its_own_address_as_source_not_the_deprecated_one() {
    // A destination whose longest match (RFC 6724 rule 8) is the VIP.
    let dest = ip("2001:db8:1::51");
    for (never_as_source, want) in [(false, "2001:db8:1::50"), (true, "2001:db8:1::1")] {
        let lab = lab(true);
        own_address(&lab, ip("2001:db8:1::1"), 64);
        restore(&lab, "2001:db8:1::50/64", never_as_source);
        assert_eq!(deprecated(&lab, ip("2001:db8:1::50")), never_as_source);
        assert_eq!(
            source_for(&lab, dest),
            ip(want),
            "never_as_source = {never_as_source}"
        );
    }
}

#[test]
fn ipv4_the_address_is_deprecated_but_the_kernel_still_takes_it_as_source() {
    let lab = lab(false);
    // The node's own address in another subnet; the VIP is the only (so
    // the primary) address of its subnet, and its prefix route's
    // preferred source.
    own_address(&lab, ip("203.0.113.1"), 24);
    restore(&lab, "198.51.100.50/24", true);
    assert!(deprecated(&lab, ip("198.51.100.50")));
    assert_eq!(source_for(&lab, ip("198.51.100.99")), ip("198.51.100.50"));
}
