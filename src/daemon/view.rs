//! One dump of every link and every address, shared by the periodic
//! quickChecks: with 1,000 resources, 200 checks a second would otherwise
//! each dump every address of the node.
//!
//! A periodic quickCheck first runs against a snapshot at most
//! [`MAX_AGE`] old, silently. Only when that passes does it count; when it
//! fails, quickCheck runs again against the kernel itself, with its events,
//! and only that result is acted on. So a stale snapshot can delay a
//! safety-net check by [`MAX_AGE`] but never cause a recovery. Netlink
//! events, not this, are how the daemon learns of changes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::events::{Event, EventSink};
use crate::net::linux::netlink::{LinkRecord, Netlink};
use crate::net::{
    AddOptions, AnnouncePlan, Kernel, KernelError, KernelOp, LinkInfo, LinkState, ProbeResult,
};
use crate::resource::{AdapterName, Address};

/// How old a snapshot may be when a periodic check uses it.
pub const MAX_AGE: Duration = Duration::from_millis(1000);

pub struct Snapshot {
    taken: Instant,
    links: HashMap<String, LinkRecord>,
    holders: HashMap<IpAddr, Vec<AdapterName>>,
}

impl Snapshot {
    pub fn take(nl: &Netlink) -> Result<Snapshot, KernelError> {
        let links = nl.links()?;
        let addrs = nl.addresses(None)?;
        let by_index: HashMap<u32, &LinkRecord> = links.iter().map(|l| (l.index, l)).collect();
        let mut holders: HashMap<IpAddr, Vec<AdapterName>> = HashMap::new();
        for a in addrs {
            if let Some(name) = by_index
                .get(&a.ifindex)
                .and_then(|l| AdapterName::new(&l.name).ok())
            {
                let v = holders.entry(a.ip).or_default();
                if !v.contains(&name) {
                    v.push(name);
                }
            }
        }
        Ok(Snapshot {
            taken: Instant::now(),
            links: links.into_iter().map(|l| (l.name.clone(), l)).collect(),
            holders,
        })
    }
}

/// The shared, lazily refreshed snapshot.
#[derive(Default)]
pub struct Cache {
    snap: Mutex<Option<Arc<Snapshot>>>,
}

impl Cache {
    /// The current snapshot if it is fresh enough; never dumps.
    pub fn fresh(&self) -> Option<Arc<Snapshot>> {
        let g = self.snap.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().filter(|s| s.taken.elapsed() <= MAX_AGE).cloned()
    }

    /// A snapshot no older than [`MAX_AGE`].
    pub fn get(&self, nl: &Netlink) -> Result<Arc<Snapshot>, KernelError> {
        let mut g = self.snap.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = g.as_ref()
            && s.taken.elapsed() <= MAX_AGE
        {
            return Ok(s.clone());
        }
        let s = Arc::new(Snapshot::take(nl)?);
        *g = Some(s.clone());
        Ok(s)
    }
}

/// The read side of [`Kernel`] answered from a snapshot. Anything that
/// would change the system is refused: only quickCheck runs on it.
pub struct SnapshotKernel<'a>(pub &'a Snapshot);

fn refused(op: KernelOp) -> KernelError {
    KernelError::with_message(op, None, libc::EROFS, "read-only snapshot")
}

impl Kernel for SnapshotKernel<'_> {
    fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError> {
        let l = self.0.links.get(adapter.as_str()).ok_or_else(|| {
            KernelError::new(KernelOp::GetLink, Some(adapter.to_string()), libc::ENODEV)
        })?;
        Ok(LinkInfo {
            name: adapter.clone(),
            ifindex: l.index,
            mac: l.mac.unwrap_or_default(),
            state: if l.admin_up && l.carrier {
                LinkState::Connected
            } else {
                LinkState::Disconnected
            },
        })
    }

    fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
        Ok(self.0.holders.get(&ip).cloned().unwrap_or_default())
    }

    fn add_address(&self, _: &AdapterName, _: &Address, _: AddOptions) -> Result<(), KernelError> {
        Err(refused(KernelOp::AddAddress))
    }

    fn delete_address(&self, _: &AdapterName, _: &Address) -> Result<(), KernelError> {
        Err(refused(KernelOp::DeleteAddress))
    }

    fn flush_neighbours(&self, _: IpAddr) -> Result<(), KernelError> {
        Err(refused(KernelOp::FlushNeighbours))
    }

    fn announce(&self, _: &AdapterName, _: IpAddr, _: AnnouncePlan) -> Result<(), KernelError> {
        Err(refused(KernelOp::Announce))
    }

    fn probe(&self, _: &AdapterName, _: IpAddr, _: Duration) -> Result<ProbeResult, KernelError> {
        Err(refused(KernelOp::Probe))
    }
}

/// Drops events: the silent first try of a periodic check.
pub struct Quiet;

impl EventSink for Quiet {
    fn emit(&self, _: &Event) {}
}
