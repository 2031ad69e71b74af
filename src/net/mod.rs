//! The kernel seam: everything the operations need from the system
//! (SPEC §2). Nothing in `ops` touches the kernel except through [`Kernel`].
//!
//! Implementations: [`linux`] (netlink + `AF_PACKET`) and [`sim`] (an
//! in-memory network with fault injection, for deterministic tests).
//! Beside it: [`changes`] (what the system reports on its own, for the
//! daemon), [`snapshot`] (the whole node at once), [`link`] (cable state),
//! [`backend`] (how the daemon opens a platform), [`polling`] (changes
//! found by comparing readings, where notifications do not work),
//! [`batch`] (the requests of the batch methods, issue 11) and [`memo`] (each
//! read made once until something changes, for the OCF agent).

use std::net::IpAddr;
use std::time::Duration;

use crate::resource::{AdapterName, Address, Mac};

pub mod backend;
pub mod batch;
pub mod changes;
pub mod link;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod memo;
pub mod policy_rules;
pub mod polling;
pub mod sim;
pub mod snapshot;
pub mod windows;

pub use backend::Backend;
pub use batch::{AddRequest, AnnounceRequest, DeleteRequest, Routing};
pub use changes::{Change, ChangeSource, Waker, WatchedAddress, WireWatch};
pub use link::{LinkInfo, LinkState, LinkStatus};
pub use policy_rules::{PolicyRule, PolicyRules};
pub use snapshot::{AddressEntry, NodeSnapshot, SnapshotKernel};

/// Which kernel call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelOp {
    GetLink,
    DumpAddresses,
    AddAddress,
    DeleteAddress,
    FlushNeighbours,
    Announce,
    Probe,
    Open,
    /// Adding a neighbour entry (test set-up).
    AddNeighbour,
    /// Reading the netlink event monitor.
    Monitor,
    /// Dumping, adding or deleting a policy rule (source routing).
    Rule,
    /// Dumping, replacing or deleting a route of ipkit's tables.
    Route,
    /// Listening on the wire for other hosts claiming an address.
    Listen,
}

impl KernelOp {
    pub fn as_str(self) -> &'static str {
        match self {
            KernelOp::GetLink => "get link",
            KernelOp::DumpAddresses => "dump addresses",
            KernelOp::AddAddress => "add address",
            KernelOp::DeleteAddress => "delete address",
            KernelOp::FlushNeighbours => "flush neighbours",
            KernelOp::Announce => "announce",
            KernelOp::Probe => "probe",
            KernelOp::Open => "open socket",
            KernelOp::AddNeighbour => "add neighbour",
            KernelOp::Monitor => "read netlink events",
            KernelOp::Rule => "policy rule",
            KernelOp::Route => "route",
            KernelOp::Listen => "listen for address claims",
        }
    }
}

/// A kernel error keeps its errno and the operation it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} failed{}: {message} (errno {errno})", op.as_str(), target.as_deref().map(|t| format!(" on {t}")).unwrap_or_default())]
pub struct KernelError {
    pub op: KernelOp,
    /// The adapter or address involved, if any.
    pub target: Option<String>,
    pub errno: i32,
    pub message: String,
}

impl KernelError {
    pub fn new(op: KernelOp, target: Option<String>, errno: i32) -> Self {
        Self {
            op,
            target,
            errno,
            message: crate::sys::errno_message(errno),
        }
    }

    pub fn with_message(
        op: KernelOp,
        target: Option<String>,
        errno: i32,
        message: impl Into<String>,
    ) -> Self {
        Self {
            op,
            target,
            errno,
            message: message.into(),
        }
    }

    #[cfg(unix)]
    pub fn from_io(op: KernelOp, target: Option<String>, e: &std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(errno) => Self::new(op, target, errno),
            None => Self::with_message(op, target, libc::EIO, e.to_string()),
        }
    }

    /// EPERM/EACCES: the process lacks CAP_NET_ADMIN / CAP_NET_RAW.
    pub fn is_permission(&self) -> bool {
        self.errno == libc::EPERM || self.errno == libc::EACCES
    }

    /// ENODEV: the adapter vanished.
    pub fn is_missing_adapter(&self) -> bool {
        self.errno == libc::ENODEV
    }
}

/// How to announce an address after an add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnouncePlan {
    pub count: u32,
    pub interval: Duration,
}

/// Options for adding an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddOptions {
    pub noprefixroute: bool,
    /// Add the address deprecated (preferred lifetime 0, valid forever), so
    /// that the kernel's source-address selection passes it over for
    /// another address of the node (IPv6: RFC 6724 rule 3; IPv4: the kernel
    /// ignores it: docs/linux-backend.md "Things an operator should know").
    pub never_as_source: bool,
    /// Where the platform steers traffic sourced from the address through
    /// the adapter that holds it (Linux: the priority of ipkit's policy
    /// rule, docs/linux-backend.md "Source routing"); 0 = not at all.
    pub source_rule_priority: u32,
}

/// The answer of an in-use probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// Nobody answered within the timeout.
    Free,
    /// Another host answered for (or announced) the address.
    InUse { mac: Mac },
}

/// Everything the operations need from the kernel (SPEC §2).
///
/// All calls work in the network namespace the implementation was opened
/// in. `add_address` of an address already on the adapter, and
/// `delete_address` of one that is not there, succeed (EEXIST / ENOENT are
/// absorbed) so operations can be idempotent.
pub trait Kernel: Send + Sync {
    /// Link state and identity of an adapter. A missing adapter is
    /// `Ok(LinkInfo { state: Missing, .. })` only through [`Kernel::link_state`];
    /// here it is an error with ENODEV.
    fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError>;

    /// The cable state; a missing adapter is [`LinkState::Missing`].
    fn link_state(&self, adapter: &AdapterName) -> Result<LinkState, KernelError> {
        match self.link(adapter) {
            Ok(info) => Ok(info.state),
            Err(e) if e.is_missing_adapter() => Ok(LinkState::Missing),
            Err(e) => Err(e),
        }
    }

    /// Every local adapter that holds `ip` (any prefix length).
    fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError>;

    /// [`Kernel::holders`], with the [`LinkInfo`] of each holder that the
    /// backend read anyway to name it (Linux asks for each holder's link
    /// by its index), so that a reader who remembers answers
    /// ([`memo::ReadMemo`]) need not ask for that link again. The default
    /// reads no link: holders and no infos.
    fn holders_and_links(
        &self,
        ip: IpAddr,
    ) -> Result<(Vec<AdapterName>, Vec<LinkInfo>), KernelError> {
        Ok((self.holders(ip)?, Vec::new()))
    }

    /// Every link and every address at once (one dump of each), for views
    /// of the whole node. The real backends and the simulation provide it;
    /// a fake that does not is refused with EOPNOTSUPP.
    fn snapshot(&self) -> Result<NodeSnapshot, KernelError> {
        Err(KernelError::with_message(
            KernelOp::DumpAddresses,
            None,
            libc::EOPNOTSUPP,
            "this kernel seam cannot list the whole node",
        ))
    }

    /// The adapter's GUID, where the platform has one (Windows); None
    /// elsewhere. Recorded in the definition as part of its identity.
    fn adapter_guid(&self, _adapter: &AdapterName) -> Result<Option<String>, KernelError> {
        Ok(None)
    }

    fn add_address(
        &self,
        adapter: &AdapterName,
        addr: &Address,
        opts: AddOptions,
    ) -> Result<(), KernelError>;

    fn delete_address(&self, adapter: &AdapterName, addr: &Address) -> Result<(), KernelError>;

    /// Bring what the platform keeps beside an address (Linux: ipkit's
    /// source rule and table) in line with the adapter that holds it now,
    /// repairing what a crash between an address change and that state
    /// left behind. `add_address` and `delete_address` keep it in line
    /// themselves; this is for the reconcile before an operation. Returns
    /// what was changed, in words. Platforms without such state do nothing.
    fn settle_routing(
        &self,
        _addr: &Address,
        _opts: AddOptions,
    ) -> Result<Vec<String>, KernelError> {
        Ok(Vec::new())
    }

    /// [`Kernel::settle_routing`] of each `(address, options)`, one result
    /// per request, in order (the daemon's batch, issue 11). The default
    /// settles them one by one; Linux reads the routing once for all.
    fn settle_routing_many(
        &self,
        requests: &[(Address, AddOptions)],
    ) -> Vec<Result<Vec<String>, KernelError>> {
        batch::one_by_one(requests, |(addr, opts)| self.settle_routing(addr, *opts))
    }

    /// The node's policy routing rules, for `ipkit doctor` (Linux: every
    /// rule of each family, ipkit's with the adapter their table uses).
    /// Platforms without policy routing have none.
    fn policy_rules(&self) -> Result<PolicyRules, KernelError> {
        Ok(PolicyRules::default())
    }

    /// Delete every neighbour (ARP/NDP) entry for `ip`, on every adapter.
    fn flush_neighbours(&self, ip: IpAddr) -> Result<(), KernelError>;

    /// Gratuitous ARP (IPv4) / unsolicited NA (IPv6) on `adapter`. Returns
    /// after the first round; later rounds are sent in the background.
    fn announce(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        plan: AnnouncePlan,
    ) -> Result<(), KernelError>;

    /// Is `ip` answered on the wire by another host? ARP probe (RFC 5227) /
    /// DAD NS, listening at most `timeout`.
    fn probe(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<ProbeResult, KernelError>;

    // Batches (issue 11): one result per request, in order. The defaults
    // run the requests one by one; a backend may do better (Linux
    // pipelines the netlink requests and announces in one pass).

    /// [`Kernel::link_state`] of each adapter.
    fn link_states(&self, adapters: &[AdapterName]) -> Vec<Result<LinkState, KernelError>> {
        batch::one_by_one(adapters, |a| self.link_state(a))
    }

    /// [`Kernel::holders`] of each address.
    fn holders_of(&self, ips: &[IpAddr]) -> Vec<Result<Vec<AdapterName>, KernelError>> {
        batch::one_by_one(ips, |ip| self.holders(*ip))
    }

    /// [`Kernel::add_address`] of each request.
    fn add_addresses(&self, requests: &[AddRequest]) -> Vec<Result<(), KernelError>> {
        batch::one_by_one(requests, |r| {
            self.add_address(&r.adapter, &r.address, r.opts)
        })
    }

    /// [`Kernel::delete_address`] of each request.
    fn delete_addresses(&self, requests: &[DeleteRequest]) -> Vec<Result<(), KernelError>> {
        batch::one_by_one(requests, |r| self.delete_address(&r.adapter, &r.address))
    }

    /// [`Kernel::flush_neighbours`] of each address.
    fn flush_neighbours_of(&self, ips: &[IpAddr]) -> Vec<Result<(), KernelError>> {
        batch::one_by_one(ips, |ip| self.flush_neighbours(*ip))
    }

    /// [`Kernel::announce`] of each request: the first round of every
    /// address before this returns, the later rounds in the background.
    fn announce_addresses(&self, requests: &[AnnounceRequest]) -> Vec<Result<(), KernelError>> {
        batch::one_by_one(requests, |r| self.announce(&r.adapter, r.ip, r.plan))
    }

    /// Are `from` and `to` on the same L2 segment? Sends the in-use probe
    /// frame for `ip` (an RFC 5227 ARP probe, sender 0.0.0.0 / a DAD NS
    /// from ::) on `from` and listens on `to` at most `timeout` for it to
    /// arrive (`ipkit doctor`, docs/doctor.md "same-segment": why this
    /// frame changes nobody's neighbour cache). A seam that cannot send
    /// frames is refused with EOPNOTSUPP.
    fn same_segment(
        &self,
        from: &AdapterName,
        to: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<bool, KernelError> {
        let _ = (from, to, ip, timeout);
        Err(KernelError::with_message(
            KernelOp::Probe,
            None,
            libc::EOPNOTSUPP,
            "this kernel seam cannot send test frames",
        ))
    }
}

impl<T: Kernel + ?Sized> Kernel for std::sync::Arc<T> {
    fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError> {
        (**self).link(adapter)
    }
    fn link_state(&self, adapter: &AdapterName) -> Result<LinkState, KernelError> {
        (**self).link_state(adapter)
    }
    fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
        (**self).holders(ip)
    }
    fn holders_and_links(
        &self,
        ip: IpAddr,
    ) -> Result<(Vec<AdapterName>, Vec<LinkInfo>), KernelError> {
        (**self).holders_and_links(ip)
    }
    fn snapshot(&self) -> Result<NodeSnapshot, KernelError> {
        (**self).snapshot()
    }
    fn adapter_guid(&self, adapter: &AdapterName) -> Result<Option<String>, KernelError> {
        (**self).adapter_guid(adapter)
    }
    fn add_address(
        &self,
        adapter: &AdapterName,
        addr: &Address,
        opts: AddOptions,
    ) -> Result<(), KernelError> {
        (**self).add_address(adapter, addr, opts)
    }
    fn delete_address(&self, adapter: &AdapterName, addr: &Address) -> Result<(), KernelError> {
        (**self).delete_address(adapter, addr)
    }
    fn settle_routing(&self, addr: &Address, opts: AddOptions) -> Result<Vec<String>, KernelError> {
        (**self).settle_routing(addr, opts)
    }
    fn settle_routing_many(
        &self,
        requests: &[(Address, AddOptions)],
    ) -> Vec<Result<Vec<String>, KernelError>> {
        (**self).settle_routing_many(requests)
    }
    fn policy_rules(&self) -> Result<PolicyRules, KernelError> {
        (**self).policy_rules()
    }
    fn flush_neighbours(&self, ip: IpAddr) -> Result<(), KernelError> {
        (**self).flush_neighbours(ip)
    }
    fn announce(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        plan: AnnouncePlan,
    ) -> Result<(), KernelError> {
        (**self).announce(adapter, ip, plan)
    }
    fn probe(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<ProbeResult, KernelError> {
        (**self).probe(adapter, ip, timeout)
    }
    fn link_states(&self, adapters: &[AdapterName]) -> Vec<Result<LinkState, KernelError>> {
        (**self).link_states(adapters)
    }
    fn holders_of(&self, ips: &[IpAddr]) -> Vec<Result<Vec<AdapterName>, KernelError>> {
        (**self).holders_of(ips)
    }
    fn add_addresses(&self, requests: &[AddRequest]) -> Vec<Result<(), KernelError>> {
        (**self).add_addresses(requests)
    }
    fn delete_addresses(&self, requests: &[DeleteRequest]) -> Vec<Result<(), KernelError>> {
        (**self).delete_addresses(requests)
    }
    fn flush_neighbours_of(&self, ips: &[IpAddr]) -> Vec<Result<(), KernelError>> {
        (**self).flush_neighbours_of(ips)
    }
    fn announce_addresses(&self, requests: &[AnnounceRequest]) -> Vec<Result<(), KernelError>> {
        (**self).announce_addresses(requests)
    }
    fn same_segment(
        &self,
        from: &AdapterName,
        to: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<bool, KernelError> {
        (**self).same_segment(from, to, ip, timeout)
    }
}
