//! A throwaway lab of Linux network namespaces for `ipkit demo`, ipkit's tests and its benchmarks.
//!
//! - [`netns`]: network namespaces (create, bind-mount, run code inside).
//! - [`netlink`]: the lab's own small `NETLINK_ROUTE` client (link
//!   administration, lab addresses, neighbour reads).
//! - [`Lab`]: a LAN bridge, node A with two adapters, node B and a client,
//!   with cable pulls, reachability and neighbour checks.
//! - [`capture`]: frames captured on a switch port, classified with
//!   etherparse.
//! - [`Stream`]: a TCP stream from a server in one namespace to a client
//!   in another, recording the longest pause and how it ended.
//! - [`inject`]: frames a node sends as another host would (claims and
//!   probes of an address), for [`Lab::send_frame`].
//!
//! This crate does not depend on `ipkit` (ipkit depends on it, for `ipkit
//! demo`): it uses std types (`IpAddr`, `[u8; 6]` MACs), and its own
//! netlink and frame decoding, so the lab observes the kernel
//! independently of the code under test. Nothing here touches the host's
//! interfaces: everything lives in namespaces the lab creates and removes.

pub mod capture;
pub mod inject;
mod lab;
pub mod netlink;
pub mod netns;
mod ping;
mod stream;

pub use capture::{Capture, Frame, FrameKind, kind_of};
pub use lab::{
    A_BASE_V4, A_BASE_V6, BRIDGE, CLIENT_V4, CLIENT_V6, LAN_V4_PREFIX, LAN_V6_PREFIX, Lab,
    LabConfig, Port, REACH_TIMEOUT, SETTLE_TIMEOUT,
};
pub use netns::NetNs;
pub use stream::{
    NOTED_PAUSE, Pace, Reading, Stream, StreamEnd, StreamReport, read_to_end, write_until_stopped,
};
