//! The node facts the doctor's rules read: gathered once ([`super::gather`]), then plain data.

use std::net::IpAddr;
use std::time::Duration;

use super::conf::Sysctls;
use crate::net::{NodeSnapshot, PolicyRules};
use crate::resource::{AdapterName, Definition, Tag};

/// Everything the rules look at.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    /// The definitions that could be read.
    pub definitions: Vec<Definition>,
    /// One message per definition file that could not be read (each
    /// names its file).
    pub broken_definitions: Vec<String>,
    /// Every link and address, or why they could not be read.
    pub node: Result<NodeSnapshot, String>,
    /// The policy routing rules (ipkit's source routing and the
    /// operator's), or why they could not be read.
    pub routing: Result<PolicyRules, String>,
    pub host: HostFacts,
    /// The same-segment tests run (or not) for the resources.
    pub segments: Vec<SegmentTest>,
}

/// What the doctor reads from the host beside the kernel seam. The
/// default knows nothing, and rules say nothing about what is unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    pub sysctls: Sysctls,
    pub capabilities: Option<Capabilities>,
    pub corosync: Corosync,
}

/// `CAP_NET_ADMIN` (capability.h): add and delete addresses, flush neighbours.
pub const CAP_NET_ADMIN: u32 = 12;
/// `CAP_NET_RAW`: `AF_PACKET` sockets (announcements, probes, the segment test).
pub const CAP_NET_RAW: u32 = 13;

/// The capabilities that matter, as 64-bit masks (bit n = capability n).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The doctor's own effective set (`CapEff` of `/proc/self/status`).
    pub effective: u64,
    /// The bounding set of PID 1 (`/proc/1/status` `CapBnd`): what a
    /// service of this node can be given at all; `None` if unreadable.
    pub service_bounding: Option<u64>,
}

/// What `corosync.conf` says about the rings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Corosync {
    /// No `corosync.conf`: no Corosync on this node.
    #[default]
    Absent,
    /// It exists but could not be read or parsed (the reason names the file).
    Unreadable(String),
    /// The ring addresses it names.
    Rings(Vec<RingAddress>),
}

/// One address a ring is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingAddress {
    /// The ring (or knet link) number.
    pub ring: u8,
    /// Where it is written, e.g. `nodelist.node ring0_addr node1`.
    pub written: String,
    pub target: RingTarget,
}

/// How a ring address finds its adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingTarget {
    /// `ringN_addr`: the adapters that hold one of these addresses
    /// (a host name resolves to several).
    Addresses(Vec<IpAddr>),
    /// `bindnetaddr`: the adapters with an address in this network.
    Network(IpAddr),
    /// A host name that did not resolve (the reason).
    Unresolved(String),
}

/// The same-segment test of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentTest {
    pub tag: Tag,
    /// Sent on (the recovery adapter).
    pub from: AdapterName,
    /// Listened on (the primary adapter).
    pub to: AdapterName,
    pub outcome: SegmentOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentOutcome {
    /// The frame arrived.
    Seen,
    /// It did not arrive within this long.
    NotSeen(Duration),
    /// The test could not run (why).
    NotTested(String),
}

impl Capabilities {
    /// Does the doctor itself hold `cap`?
    pub fn held(&self, cap: u32) -> bool {
        self.effective & (1u64 << cap) != 0
    }

    /// Can a service of this node be given `cap` at all? (Unknown: yes.)
    pub fn possible(&self, cap: u32) -> bool {
        self.service_bounding
            .is_none_or(|set| set & (1u64 << cap) != 0)
    }
}

impl NodeFacts {
    /// The snapshot, when the kernel could be read.
    pub fn snapshot(&self) -> Option<&NodeSnapshot> {
        self.node.as_ref().ok()
    }
}
