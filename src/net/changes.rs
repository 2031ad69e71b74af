//! The change seam beside [`super::Kernel`]: what the system reports on
//! its own (a cable pulled, an address deleted behind our back), and a
//! wait for it that another thread can end early.
//!
//! The daemon sleeps in [`ChangeSource::wait`] with its next deadline as
//! the timeout. On Linux that is one `poll(2)` on the netlink monitor and
//! an eventfd; a backend without notifications (or whose notifications may
//! never arrive) polls its tables inside `wait` and reports the
//! differences. Nothing here exposes a file descriptor.
//!
//! Beside the kernel's own reports, a source may listen on the wire for
//! other hosts claiming the addresses the daemon protects (RFC 5227 §2.4,
//! [`ChangeSource::watch_addresses`]): those claims arrive in the same
//! `wait`, as [`Change::AddressClaimed`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{KernelError, LinkStatus};
use crate::resource::{AdapterName, Mac};

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
    /// Another host, with link-layer address `mac` (none of this node's),
    /// claimed `ip` on the adapter with this index: a gratuitous ARP or
    /// any ARP packet whose sender IP is `ip`, a neighbour advertisement
    /// for `ip`, or a neighbour solicitation sent from `ip` (RFC 5227
    /// §2.4, RFC 4861 §7.2). Only for addresses being watched
    /// ([`ChangeSource::watch_addresses`]).
    AddressClaimed { ifindex: u32, ip: IpAddr, mac: Mac },
}

/// An address to listen for claims of, on the adapter with this index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatchedAddress {
    pub ifindex: u32,
    pub ip: IpAddr,
}

/// Whether a change source listens on the wire for address claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireWatch {
    /// Claims of the watched addresses arrive as [`Change::AddressClaimed`].
    Listening,
    /// This source cannot listen on the wire (a platform without packet
    /// access): no claim is ever reported.
    Unsupported,
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

    /// From now on, report other hosts claiming exactly these addresses
    /// (the previous set is replaced; an empty set stops listening). The
    /// daemon passes the addresses in service, each on its active adapter,
    /// whenever that set changes. The default cannot listen.
    fn watch_addresses(&mut self, addresses: &[WatchedAddress]) -> Result<WireWatch, KernelError> {
        let _ = addresses;
        Ok(WireWatch::Unsupported)
    }
}
