//! What the command line takes from the running system: the kernel seam,
//! a one-shot view of links and addresses for `status`, and the cluster
//! view. Everything here is opened in the caller's network namespace.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use crate::cluster::{ClusterView, Standalone};
use crate::net::{Kernel, KernelError, KernelOp, LinkState};

/// The Linux kernel seam (netlink + `AF_PACKET`).
pub fn open_kernel() -> Result<Box<dyn Kernel>, KernelError> {
    backend::open_kernel()
}

/// One dump of every link and one of every address: what `status` shows,
/// without a socket per resource.
#[derive(Debug, Clone, Default)]
pub struct SystemView {
    /// Cable state by adapter name (admin-down or no carrier =
    /// disconnected; a name absent here is missing).
    pub links: HashMap<String, LinkState>,
    /// Which adapters hold each local address.
    pub holders: HashMap<IpAddr, Vec<String>>,
}

impl SystemView {
    pub fn link_state(&self, adapter: &str) -> LinkState {
        self.links
            .get(adapter)
            .copied()
            .unwrap_or(LinkState::Missing)
    }

    pub fn holders_of(&self, ip: IpAddr) -> &[String] {
        self.holders.get(&ip).map(Vec::as_slice).unwrap_or(&[])
    }
}

pub fn system_view() -> Result<SystemView, KernelError> {
    backend::system_view()
}

/// The cluster view for deepCheck (SPEC §5). The seam for the daemon's
/// peers (`cluster::peers`) and Pacemaker: today every command-line
/// operation runs standalone; when a peers configuration exists in
/// `config_dir`, build the peers view here instead.
pub fn cluster_view(_config_dir: &Path) -> Box<dyn ClusterView> {
    Box::new(Standalone)
}

#[allow(dead_code)]
fn not_built() -> KernelError {
    KernelError::with_message(
        KernelOp::Open,
        None,
        libc::ENOSYS,
        "the Linux backend (net::linux) is not built into this binary yet",
    )
}

mod backend {
    use super::*;

    pub fn open_kernel() -> Result<Box<dyn Kernel>, KernelError> {
        Err(not_built())
    }

    pub fn system_view() -> Result<SystemView, KernelError> {
        Err(not_built())
    }
}
