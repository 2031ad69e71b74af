//! The cluster view of SPEC §5: which standby nodes are up, and the cable
//! state of the adapter each would use for a resource.

use crate::net::LinkState;
use crate::resource::{AdapterName, Definition};

pub mod pacemaker;
pub mod peers;
pub mod sim;

/// A standby node that is up, and the state of the adapter that would
/// receive the address there (`None` when that could not be learnt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandbyNode {
    pub name: String,
    pub adapter: AdapterName,
    pub link: Option<LinkState>,
}

/// What the cluster view knows of the other nodes for one resource, from
/// one reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterNodes {
    /// The standby nodes that are up (SPEC §4 deepCheck 1).
    pub standby: Vec<StandbyNode>,
    /// The nodes that report the resource in service there: with it in
    /// service here too, an address conflict (SPEC §5, issue 10).
    pub holding: Vec<String>,
}

/// Failure to read the cluster view: deepCheck reports it as a warning,
/// never as a failed check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ClusterError(pub String);

pub trait ClusterView: Send + Sync {
    /// The standby nodes for `def` that are up (SPEC §4 deepCheck 1), each
    /// with the link state of its adapter (deepCheck 2).
    fn standby_nodes(&self, def: &Definition) -> Result<Vec<StandbyNode>, ClusterError>;

    /// The standby nodes and the nodes holding the resource. A view that
    /// cannot tell who holds it (the default) reports no holder.
    fn nodes(&self, def: &Definition) -> Result<ClusterNodes, ClusterError> {
        Ok(ClusterNodes {
            standby: self.standby_nodes(def)?,
            holding: Vec::new(),
        })
    }
}

/// No cluster configured: there are no standby nodes.
pub struct Standalone;

impl ClusterView for Standalone {
    fn standby_nodes(&self, _def: &Definition) -> Result<Vec<StandbyNode>, ClusterError> {
        Ok(Vec::new())
    }
}
