//! The Windows [`Backend`]: a [`WindowsKernel`] per worker, and a change
//! source that compares readings of the node ([`PollingChanges`]) and is
//! woken early by Windows' own notifications (`NotifyIpInterfaceChange`,
//! `NotifyUnicastIpAddressChange`, in `crate::sys::windows::notify`).
//!
//! The notifications are subscribed with an initial notification, so a
//! system where they work says so at once; there the readings are only a
//! safety net, taken every [`POLL_WITH_NOTIFICATIONS`]. Where none ever
//! arrives (Wine 8 never calls back) the readings are the change source,
//! taken every [`POLL_WITHOUT_NOTIFICATIONS`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{IpHelper, WindowsKernel};
use crate::net::polling::PollingChanges;
use crate::net::{Backend, Change, ChangeSource, Kernel, KernelError, LinkStatus, Waker};

/// How often the node is read while no notification has arrived.
pub const POLL_WITHOUT_NOTIFICATIONS: Duration = Duration::from_millis(500);
/// How often the node is read once notifications have proven to work.
pub const POLL_WITH_NOTIFICATIONS: Duration = Duration::from_secs(10);

/// Subscribes to the system's notifications: on each, `heard` is set and
/// the waker woken. The returned value unsubscribes when dropped; None
/// when the subscription failed.
pub type Subscribe = fn(Waker, Arc<AtomicBool>) -> Option<Box<dyn Send>>;

#[derive(Clone)]
pub struct WindowsBackend {
    help: Arc<dyn IpHelper>,
    subscribe: Option<Subscribe>,
}

impl WindowsBackend {
    /// On `help`, with `subscribe` for notifications (None: readings only).
    pub fn new(help: Arc<dyn IpHelper>, subscribe: Option<Subscribe>) -> Self {
        Self { help, subscribe }
    }

    /// The real IP Helper API and Windows' notifications.
    #[cfg(windows)]
    pub fn native() -> Self {
        Self::new(
            Arc::new(crate::sys::windows::iphlpapi::Win32IpHelper::open()),
            Some(crate::sys::windows::notify::subscribe),
        )
    }
}

impl Backend for WindowsBackend {
    fn open_kernel(&self) -> Result<Box<dyn Kernel>, KernelError> {
        Ok(Box::new(WindowsKernel::new(self.help.clone())))
    }

    fn open_changes(&self) -> Result<Box<dyn ChangeSource>, KernelError> {
        Ok(Box::new(WindowsChanges::open(
            WindowsKernel::new(self.help.clone()),
            self.subscribe,
        )?))
    }
}

/// Readings compared ([`PollingChanges`]), woken by notifications.
pub struct WindowsChanges {
    polling: PollingChanges,
    heard: Arc<AtomicBool>,
    _subscription: Option<Box<dyn Send>>,
}

impl WindowsChanges {
    pub fn open(kernel: WindowsKernel, subscribe: Option<Subscribe>) -> Result<Self, KernelError> {
        let polling = PollingChanges::open(Box::new(kernel), POLL_WITHOUT_NOTIFICATIONS)?;
        let heard = Arc::new(AtomicBool::new(false));
        let subscription = subscribe.and_then(|s| s(polling.waker(), heard.clone()));
        Ok(Self {
            polling,
            heard,
            _subscription: subscription,
        })
    }

    /// Whether a notification has arrived (then they work here).
    pub fn notifications_work(&self) -> bool {
        self.heard.load(Ordering::Relaxed)
    }
}

impl ChangeSource for WindowsChanges {
    fn links(&mut self) -> Result<Vec<LinkStatus>, KernelError> {
        self.polling.links()
    }

    fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<Change>, KernelError> {
        self.polling.set_interval(if self.notifications_work() {
            POLL_WITH_NOTIFICATIONS
        } else {
            POLL_WITHOUT_NOTIFICATIONS
        });
        self.polling.wait(timeout)
    }

    fn waker(&self) -> Waker {
        self.polling.waker()
    }
}
