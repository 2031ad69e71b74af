//! Which addresses the daemon asks its change source to listen for claims
//! of (RFC 5227 §2.4): every resource in service, on its active adapter.
//! The set follows the policy's view; it is computed again only when the
//! policy says it may have changed or an adapter changed, and the source
//! is told only when it did.

use std::net::IpAddr;

use super::policy::Policy;
use super::status::Status;
use crate::net::{ChangeSource, WatchedAddress, WireWatch};
use crate::resource::AdapterName;

/// The set last given to the change source, and whether it may be stale.
#[derive(Debug)]
pub(super) struct ClaimWatch {
    sent: Option<Vec<WatchedAddress>>,
    /// An adapter changed (its interface index may have).
    stale: bool,
    /// The policy's [`Policy::watched_version`] the set was computed at.
    version: Option<u64>,
    /// What was last said on stderr about listening (said once).
    said: Option<String>,
}

impl Default for ClaimWatch {
    fn default() -> Self {
        Self {
            sent: None,
            stale: true,
            version: None,
            said: None,
        }
    }
}

/// The addresses of `watched` whose adapter has a known interface index.
fn resolve(watched: Vec<(IpAddr, AdapterName)>, status: &Status) -> Vec<WatchedAddress> {
    let mut out: Vec<WatchedAddress> = watched
        .into_iter()
        .filter_map(|(ip, adapter)| {
            let ifindex = status.ifindex_of(adapter.as_str())?;
            Some(WatchedAddress { ifindex, ip })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

impl ClaimWatch {
    /// An adapter appeared, changed or went away.
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// Tell `changes` the current set, if it changed.
    pub fn update(&mut self, policy: &Policy, status: &Status, changes: &mut dyn ChangeSource) {
        let version = policy.watched_version();
        if !self.stale && self.version == Some(version) {
            return;
        }
        self.stale = false;
        self.version = Some(version);
        let wanted = resolve(policy.watched(), status);
        if self.sent.as_ref() == Some(&wanted) {
            return;
        }
        let note = match changes.watch_addresses(&wanted) {
            Ok(WireWatch::Listening) => None,
            Ok(WireWatch::Unsupported) => Some(
                "this platform cannot listen for address conflicts; they are found by deepCheck's peers only"
                    .to_owned(),
            ),
            Err(e) => Some(format!("cannot listen for address conflicts: {e}")),
        };
        if note != self.said
            && let Some(n) = &note
        {
            eprintln!("ipkit daemon: {n}");
        }
        self.said = note;
        self.sent = Some(wanted);
    }
}
