//! A simulated cluster view: standby nodes whose cables can be pulled, and
//! which can report the resource in service (an address conflict).

use std::sync::Mutex;

use super::{ClusterError, ClusterNodes, ClusterView, StandbyNode};
use crate::net::LinkState;
use crate::resource::{AdapterName, Definition};

#[derive(Debug, Clone)]
struct Node {
    name: String,
    adapter: AdapterName,
    up: bool,
    link: LinkState,
    /// Reports the resource in service there.
    in_service: bool,
}

#[derive(Default)]
pub struct SimCluster {
    nodes: Mutex<Vec<Node>>,
    fail: Mutex<Option<String>>,
}

impl SimCluster {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_node(&self, name: &str, adapter: AdapterName, up: bool, link: LinkState) {
        self.lock().push(Node {
            name: name.to_owned(),
            adapter,
            up,
            link,
            in_service: false,
        });
    }

    /// The node reports the resource in service (it holds the address).
    pub fn set_in_service(&self, name: &str, in_service: bool) {
        if let Some(n) = self.lock().iter_mut().find(|n| n.name == name) {
            n.in_service = in_service;
        }
    }

    pub fn set_link(&self, name: &str, link: LinkState) {
        if let Some(n) = self.lock().iter_mut().find(|n| n.name == name) {
            n.link = link;
        }
    }

    pub fn set_up(&self, name: &str, up: bool) {
        if let Some(n) = self.lock().iter_mut().find(|n| n.name == name) {
            n.up = up;
        }
    }

    /// Make the next reads fail (a cluster that cannot be asked).
    pub fn fail_reads(&self, reason: Option<&str>) {
        *self.fail.lock().unwrap_or_else(|e| e.into_inner()) = reason.map(str::to_owned);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Node>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ClusterView for SimCluster {
    fn standby_nodes(&self, def: &Definition) -> Result<Vec<StandbyNode>, ClusterError> {
        Ok(self.nodes(def)?.standby)
    }

    fn nodes(&self, _def: &Definition) -> Result<ClusterNodes, ClusterError> {
        if let Some(r) = self.fail.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(ClusterError(r));
        }
        let mut out = ClusterNodes::default();
        for n in self.lock().iter().filter(|n| n.up) {
            if n.in_service {
                out.holding.push(n.name.clone());
            } else {
                out.standby.push(StandbyNode {
                    name: n.name.clone(),
                    adapter: n.adapter.clone(),
                    link: Some(n.link),
                });
            }
        }
        Ok(out)
    }
}
