//! What the command line takes from the running system: the kernel seam,
//! a one-shot view of links and addresses for `status`, and the cluster
//! view. Everything here is opened in the caller's network namespace.

use std::path::Path;

use crate::cluster::ClusterView;
use crate::net::{Kernel, KernelError, NodeSnapshot};
use crate::resource::{AdapterIdentity, AdapterName};

/// This platform's kernel seam (on Linux: netlink + `AF_PACKET`).
pub fn open_kernel() -> Result<Box<dyn Kernel>, KernelError> {
    crate::net::backend::native().open_kernel()
}

/// One dump of every link and one of every address: what `status` shows,
/// without a socket per resource.
pub fn system_view() -> Result<NodeSnapshot, KernelError> {
    open_kernel()?.snapshot()
}

/// Why `adapter` is not the NIC recorded at definition time (SPEC §1: a
/// replaced or renamed NIC is reported clearly), or `None` when it is, or
/// when nothing was recorded or it is missing.
pub fn identity_change(
    view: &NodeSnapshot,
    adapter: &AdapterName,
    recorded: Option<&AdapterIdentity>,
) -> Option<String> {
    let link = view.link(adapter)?;
    let what = recorded?.differences(link.mac, link.ifindex)?;
    Some(format!("{adapter}: {what}"))
}

/// The cluster view for deepCheck (SPEC §5): the peers listed in
/// `<config_dir>/ipkit.toml` (`[[peer]]`), or standalone when there are
/// none. A broken `ipkit.toml` is a configuration error (exit 2), found
/// before the operation changes anything.
pub fn cluster_view(config_dir: &Path) -> Result<Box<dyn ClusterView>, super::CliError> {
    crate::cluster::peers::view_for(config_dir)
        .map_err(|e| super::CliError::new(super::Exit::Invalid, e.to_string()))
}
