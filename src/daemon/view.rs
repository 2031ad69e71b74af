//! One reading of every link and every address ([`NodeSnapshot`]), shared by
//! the periodic quickChecks: with 1,000 resources, 200 checks a second
//! would otherwise each read every address of the node.
//!
//! A periodic quickCheck first runs against a snapshot at most [`MAX_AGE`]
//! old, silently. Only when that passes does it count; when it fails,
//! quickCheck runs again against the kernel itself, with its events, and
//! only that result is acted on. So a stale snapshot can delay a
//! safety-net check by [`MAX_AGE`] but never cause a recovery. Reported
//! changes, not this, are how the daemon learns of changes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;
use crate::events::{Event, EventSink};
use crate::net::{Kernel, KernelError, NodeSnapshot};

/// How old a snapshot may be when a periodic check uses it.
pub const MAX_AGE: Duration = Duration::from_millis(1000);

/// A snapshot and when it was taken (on the daemon's monotonic clock).
struct Taken {
    at: Duration,
    snapshot: Arc<NodeSnapshot>,
}

/// The shared, lazily refreshed snapshot.
pub struct Cache {
    clock: Arc<dyn Clock>,
    taken: Mutex<Option<Taken>>,
}

impl Cache {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            taken: Mutex::new(None),
        }
    }

    fn fresh_in(&self, taken: &Option<Taken>) -> Option<Arc<NodeSnapshot>> {
        let now = self.clock.monotonic();
        taken
            .as_ref()
            .filter(|t| now.saturating_sub(t.at) <= MAX_AGE)
            .map(|t| t.snapshot.clone())
    }

    /// The current snapshot if it is fresh enough; never reads the kernel.
    pub fn fresh(&self) -> Option<Arc<NodeSnapshot>> {
        let g = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        self.fresh_in(&g)
    }

    /// A snapshot no older than [`MAX_AGE`], taken from `kernel` if needed.
    pub fn get(&self, kernel: &dyn Kernel) -> Result<Arc<NodeSnapshot>, KernelError> {
        let mut g = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = self.fresh_in(&g) {
            return Ok(s);
        }
        let snapshot = Arc::new(kernel.snapshot()?);
        *g = Some(Taken {
            at: self.clock.monotonic(),
            snapshot: snapshot.clone(),
        });
        Ok(snapshot)
    }
}

/// Drops events: the silent first try of a periodic check.
pub struct Quiet;

impl EventSink for Quiet {
    fn emit(&self, _: &Event) {}
}
