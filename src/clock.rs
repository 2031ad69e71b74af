//! Time as the operations and the daemon see it: wall-clock time for event
//! records, a monotonic reading for deadlines, and sleeping. Tests swap in
//! a fake (`net::sim::SimClock`) so debounce, timers and the restart window
//! run in virtual time, without sleeping.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

/// The one source of time for the operations (`ops::Ctx`) and the daemon.
pub trait Clock: Send + Sync {
    /// Wall-clock time: what event records and persisted results carry.
    fn now(&self) -> SystemTime;

    /// Time since an arbitrary fixed origin that never goes backwards: what
    /// deadlines, the debounce and the restart window are measured in.
    fn monotonic(&self) -> Duration;

    fn sleep(&self, d: Duration);
}

/// The system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// The origin of [`SystemClock::monotonic`]: the first reading in this process.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn monotonic(&self) -> Duration {
        origin().elapsed()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }

    fn monotonic(&self) -> Duration {
        (**self).monotonic()
    }

    fn sleep(&self, d: Duration) {
        (**self).sleep(d)
    }
}
