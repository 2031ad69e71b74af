//! How Linux tells the daemon to reload or stop: SIGHUP reloads, SIGTERM
//! and SIGINT stop; systemd hears READY, RELOADING and STOPPING, and the
//! watchdog ([`super::watchdog`]) is fed while the event loop answers.

use sd_notify::NotifyState;

use super::error::DaemonError;
use super::{Control, DaemonOptions, watchdog};

/// Before the signals are registered.
pub struct Lifecycle;

/// Run the daemon in this process.
pub fn run(
    opts: &DaemonOptions,
    serve: fn(&DaemonOptions, Lifecycle) -> Result<(), DaemonError>,
) -> Result<(), DaemonError> {
    serve(opts, Lifecycle)
}

/// The signals, registered and queued until [`Registered::ready`].
pub struct Registered {
    signals: signal_hook::iterator::Signals,
}

/// The thread that turns signals into reload and stop, and the watchdog.
pub struct Watching {
    handle: signal_hook::iterator::Handle,
    thread: std::thread::JoinHandle<()>,
    watchdog: Option<watchdog::Watchdog>,
}

impl Lifecycle {
    /// Register SIGHUP, SIGTERM and SIGINT (before anything can race them;
    /// a signal that comes before [`Registered::ready`] waits in the queue).
    pub fn register(self) -> Result<Registered, DaemonError> {
        let signals = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGHUP,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
        ])
        .map_err(DaemonError::Signals)?;
        Ok(Registered { signals })
    }
}

impl Registered {
    /// Tell systemd the daemon is ready, start the watchdog where the unit
    /// asks for one (`WatchdogSec=`: fed only while the loop answers), and
    /// act on signals from now on.
    pub fn ready(self, control: Control) -> Result<Watching, DaemonError> {
        if let Err(e) = sd_notify::notify(&[NotifyState::Ready]) {
            eprintln!("ipkit daemon: sd_notify: {e}");
        }
        let watchdog = match sd_notify::watchdog_enabled() {
            Some(period) => Some(
                watchdog::Watchdog::start(control.clone(), period, || {
                    let _ = sd_notify::notify(&[NotifyState::Watchdog]);
                })
                .map_err(DaemonError::thread("watchdog"))?,
            ),
            None => None,
        };
        let mut signals = self.signals;
        let handle = signals.handle();
        let thread = std::thread::spawn(move || {
            for sig in signals.forever() {
                if sig == signal_hook::consts::SIGHUP {
                    let _ = sd_notify::notify(&[NotifyState::Reloading]);
                    control.reload();
                    let _ = sd_notify::notify(&[NotifyState::Ready]);
                } else {
                    let _ = sd_notify::notify(&[NotifyState::Stopping]);
                    control.stop();
                    break;
                }
            }
        });
        Ok(Watching {
            handle,
            thread,
            watchdog,
        })
    }
}

impl Watching {
    /// The daemon has stopped: stop the watchdog and the signal thread.
    pub fn finish(self) {
        if let Some(w) = self.watchdog {
            w.stop();
        }
        self.handle.close();
        let _ = self.thread.join();
    }
}
