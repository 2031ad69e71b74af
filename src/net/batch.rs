//! The kernel seam's batch requests (issue 11): several addresses added,
//! deleted or announced, several neighbour caches flushed, several links
//! and holders read, in one call. Each request gets its own result, in the
//! order given. A backend that has nothing better runs them one by one
//! ([`one_by_one`], the trait's defaults); the Linux backend pipelines the
//! netlink requests and announces in one pass.

use std::net::IpAddr;

use super::{AddOptions, AnnouncePlan, KernelError};
use crate::resource::{AdapterName, Address};

/// What an add or a delete does to the routing the platform keeps beside
/// the address (Linux: ipkit's source rule and table, docs/linux-backend.md
/// "Source routing").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Routing {
    /// Steer it after the address change, as the single calls always do.
    #[default]
    Follow,
    /// Leave it as it is: the caller moves the address again at once and
    /// settles the routing itself where the address comes to rest (recover's
    /// intermediate moves, issue 11). A crash in between leaves routing
    /// that the next reconcile settles.
    Later,
}

/// One address to add to one adapter ([`super::Kernel::add_addresses`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddRequest {
    pub adapter: AdapterName,
    pub address: Address,
    pub opts: AddOptions,
    pub routing: Routing,
}

/// One address to delete from one adapter, with whatever prefix length it
/// has there ([`super::Kernel::delete_addresses`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRequest {
    pub adapter: AdapterName,
    pub address: Address,
    pub routing: Routing,
}

/// One address to announce on one adapter
/// ([`super::Kernel::announce_addresses`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    pub adapter: AdapterName,
    pub ip: IpAddr,
    pub plan: AnnouncePlan,
}

/// One result per request, each from `each` in turn: the default of every
/// batch method.
pub fn one_by_one<R, T>(
    requests: &[R],
    each: impl FnMut(&R) -> Result<T, KernelError>,
) -> Vec<Result<T, KernelError>> {
    requests.iter().map(each).collect()
}
