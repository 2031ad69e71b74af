//! How Linux tells the daemon to reload or stop: SIGHUP reloads, SIGTERM
//! and SIGINT stop; systemd hears READY, RELOADING and STOPPING
//! ([`super::notify`]).

use super::error::DaemonError;
use super::{Control, DaemonOptions, notify};

/// Before the signals are registered.
pub struct Lifecycle;

/// Run the daemon in this process (`serve` returns its exit status).
pub fn run(opts: &DaemonOptions, serve: fn(&DaemonOptions, Lifecycle) -> u8) -> u8 {
    serve(opts, Lifecycle)
}

/// The signals, registered and queued until [`Registered::ready`].
pub struct Registered {
    signals: signal_hook::iterator::Signals,
}

/// The thread that turns signals into reload and stop.
pub struct Watching {
    handle: signal_hook::iterator::Handle,
    thread: std::thread::JoinHandle<()>,
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
    /// Tell systemd the daemon is ready, and act on signals from now on.
    pub fn ready(self, control: Control) -> Watching {
        if let Err(e) = notify::notify("READY=1") {
            eprintln!("ipkit daemon: sd_notify: {e}");
        }
        let mut signals = self.signals;
        let handle = signals.handle();
        let thread = std::thread::spawn(move || {
            for sig in signals.forever() {
                if sig == signal_hook::consts::SIGHUP {
                    let _ = notify::notify("RELOADING=1");
                    control.reload();
                    let _ = notify::notify("READY=1");
                } else {
                    let _ = notify::notify("STOPPING=1");
                    control.stop();
                    break;
                }
            }
        });
        Watching { handle, thread }
    }
}

impl Watching {
    /// The daemon has stopped: stop listening for signals.
    pub fn finish(self) {
        self.handle.close();
        let _ = self.thread.join();
    }
}
