//! Shared by the netlink tests: a thread in a fresh network namespace, veths made with the lab's own netlink, test addresses.

use std::net::IpAddr;

use ipkit_lab::NetNs;
use ipkit_lab::netlink::RouteSocket;

use crate::resource::Address;

/// Runs `f` on a thread inside a new network namespace (dropped after).
pub(crate) fn in_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let ns = NetNs::new().expect("new network namespace (needs root)");
    ns.run(f).expect("enter the namespace")
}

pub(crate) fn v4(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

pub(crate) fn addr(s: &str) -> Address {
    s.parse().expect("test address")
}

/// A veth pair a/b, both down, made through the lab's own socket (which
/// is returned for further link changes).
pub(crate) fn veth() -> RouteSocket {
    let admin = RouteSocket::open().expect("open the lab's netlink");
    admin.create_veth("a", "b", None).expect("create veth");
    admin
}

/// A veth pair a/b, both up (so both have carrier).
pub(crate) fn veth_up() -> RouteSocket {
    let admin = veth();
    admin.set_up("a", true).expect("a up");
    admin.set_up("b", true).expect("b up");
    admin
}
