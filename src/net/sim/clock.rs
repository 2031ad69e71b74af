//! A fake clock shared by a simulated network, the operations and the
//! daemon: `sleep` only moves time forward, so debounce, timers and the
//! restart window run in virtual time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::clock::Clock;

/// A fake clock shared by a [`super::SimNet`] and the operations: `sleep`
/// only moves time forward.
#[derive(Debug, Clone)]
pub struct SimClock {
    start: SystemTime,
    elapsed: Arc<Mutex<Duration>>,
}

impl SimClock {
    /// A clock starting at 2026-01-01T00:00:00Z.
    pub fn new() -> Self {
        Self::starting_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    }

    pub fn starting_at(start: SystemTime) -> Self {
        Self {
            start,
            elapsed: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    /// How far the clock has moved since its start.
    pub fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn advance(&self, d: Duration) {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner()) += d;
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SimClock {
    fn now(&self) -> SystemTime {
        self.start + self.elapsed()
    }

    /// Time since the clock's start.
    fn monotonic(&self) -> Duration {
        self.elapsed()
    }

    fn sleep(&self, d: Duration) {
        self.advance(d);
    }
}
