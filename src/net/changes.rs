//! The change seam beside [`super::Kernel`]: what the system reports on
//! its own (a cable pulled, an address deleted behind our back), and a
//! wait for it that another thread can end early.
//!
//! The daemon sleeps in [`ChangeSource::wait`] with its next deadline as
//! the timeout. On Linux that is one `poll(2)` on the netlink monitor and
//! an eventfd; a backend without notifications (or whose notifications may
//! never arrive) polls its tables inside `wait` and reports the
//! differences. Nothing here exposes a file descriptor.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{KernelError, LinkStatus};
use crate::resource::AdapterName;

/// One change the system reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A link appeared or changed (carrier, administrative state, name).
    Link(LinkStatus),
    /// A link disappeared.
    LinkGone { ifindex: u32, name: AdapterName },
    /// An address appeared on the adapter with this index.
    AddressAdded { ifindex: u32, ip: IpAddr },
    /// An address left the adapter with this index.
    AddressRemoved { ifindex: u32, ip: IpAddr },
    /// Changes were lost (the backend's queue overflowed): re-read every
    /// link with [`ChangeSource::links`] and look at everything again.
    Overrun,
}

/// Something that ends a [`ChangeSource::wait`] early.
pub trait Wake: Send + Sync {
    fn wake(&self);
}

/// A cloneable handle that ends the current (or next) [`ChangeSource::wait`]
/// of its source: for worker completions, reload and stop.
#[derive(Clone)]
pub struct Waker(Arc<dyn Wake>);

impl Waker {
    pub fn new(wake: Arc<dyn Wake>) -> Self {
        Self(wake)
    }

    pub fn wake(&self) {
        self.0.wake();
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

/// Reports link and address changes of the node, in the order they
/// happened. Open it before reading the initial state, so that nothing
/// falls between the reading and the first change.
pub trait ChangeSource: Send {
    /// Every link now: at start, and after [`Change::Overrun`].
    fn links(&mut self) -> Result<Vec<LinkStatus>, KernelError>;

    /// Wait at most `timeout` (None: until something happens) for changes
    /// or a [`Waker::wake`]. Returns what arrived, which is empty after a
    /// timeout or a wake-up.
    fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<Change>, KernelError>;

    /// A handle that ends a wait from another thread.
    fn waker(&self) -> Waker;
}
