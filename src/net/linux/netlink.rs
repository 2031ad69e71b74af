//! The one module that speaks netlink (netlink-packet-route + netlink-sys).
