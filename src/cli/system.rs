//! What the command line takes from the running system: the kernel seam,
//! a one-shot view of links and addresses for `status`, and the cluster
//! view. Everything here is opened in the caller's network namespace.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use crate::cluster::ClusterView;
use crate::net::{Kernel, KernelError, LinkState};
use crate::resource::{AdapterIdentity, Mac};

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
    /// Each adapter's ifindex and MAC, to compare with the identity
    /// recorded at definition time.
    pub identities: HashMap<String, (u32, Option<Mac>)>,
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

    /// Why `adapter` is not the NIC recorded at definition time (SPEC §1:
    /// a replaced or renamed NIC is reported clearly), or `None` when it
    /// is, or when nothing was recorded or it is missing.
    pub fn identity_change(
        &self,
        adapter: &str,
        recorded: Option<&AdapterIdentity>,
    ) -> Option<String> {
        let (index, mac) = self.identities.get(adapter)?;
        let what = recorded?.differences(*mac, *index)?;
        Some(format!("{adapter}: {what}"))
    }
}

pub fn system_view() -> Result<SystemView, KernelError> {
    backend::system_view()
}

/// The cluster view for deepCheck (SPEC §5): the peers listed in
/// `<config_dir>/ipkit.toml` (`[[peer]]`), or standalone when there are
/// none. A broken `ipkit.toml` is a configuration error (exit 2), found
/// before the operation changes anything.
pub fn cluster_view(config_dir: &Path) -> Result<Box<dyn ClusterView>, super::CliError> {
    crate::cluster::peers::view_for(config_dir)
        .map_err(|e| super::CliError::new(super::Exit::Invalid, e.to_string()))
}

mod backend {
    use super::*;
    use crate::net::linux::LinuxKernel;
    use crate::net::linux::netlink::Netlink;

    pub fn open_kernel() -> Result<Box<dyn Kernel>, KernelError> {
        Ok(Box::new(LinuxKernel::open()?))
    }

    /// SPEC §2: carrier, and administratively down counts as disconnected
    /// (the same rule as `LinuxKernel::link_state`).
    pub fn system_view() -> Result<SystemView, KernelError> {
        let nl = Netlink::open()?;
        let mut view = SystemView::default();
        let mut names: HashMap<u32, String> = HashMap::new();
        for l in nl.links()? {
            let state = if l.admin_up && l.carrier {
                LinkState::Connected
            } else {
                LinkState::Disconnected
            };
            names.insert(l.index, l.name.clone());
            view.identities.insert(l.name.clone(), (l.index, l.mac));
            view.links.insert(l.name, state);
        }
        for a in nl.addresses(None)? {
            if let Some(name) = names.get(&a.ifindex) {
                let holders = view.holders.entry(a.ip).or_default();
                if !holders.contains(name) {
                    holders.push(name.clone());
                }
            }
        }
        Ok(view)
    }
}
