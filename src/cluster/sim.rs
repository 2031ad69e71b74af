//! A simulated cluster view: standby nodes whose cables can be pulled.

use std::sync::Mutex;

use super::{ClusterError, ClusterView, StandbyNode};
use crate::net::LinkState;
use crate::resource::{AdapterName, Definition};

#[derive(Debug, Clone)]
struct Node {
    name: String,
    adapter: AdapterName,
    up: bool,
    link: LinkState,
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
        });
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
    fn standby_nodes(&self, _def: &Definition) -> Result<Vec<StandbyNode>, ClusterError> {
        if let Some(r) = self.fail.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(ClusterError(r));
        }
        Ok(self
            .lock()
            .iter()
            .filter(|n| n.up)
            .map(|n| StandbyNode {
                name: n.name.clone(),
                adapter: n.adapter.clone(),
                link: Some(n.link),
            })
            .collect())
    }
}
