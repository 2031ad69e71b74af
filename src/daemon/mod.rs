//! ipkit daemon: event-driven monitoring, local recovery, status API,
//! metrics (SPEC §6; user documentation in docs/daemon.md).
//!
//! - [`policy`]: the reaction policy, a pure state machine;
//! - [`run`]: the event loop (netlink monitor) and the workers that run the
//!   operations under the per-resource lock;
//! - [`status`] and [`api`]: what the daemon knows, served read-only over
//!   HTTP as JSON and Prometheus text;
//! - [`config`]: the configuration file `ipkit.toml` in the config dir;
//! - [`hook`]: the operator's `on_failure` command;
//! - [`notify`]: systemd readiness;
//! - [`view`]: one shared dump of links and addresses for periodic checks.

use std::path::PathBuf;

pub mod api;
pub mod config;
pub mod hook;
pub mod notify;
pub mod pidfile;
pub mod policy;
pub mod run;
pub mod status;
pub mod view;

pub use run::{Control, Daemon, spawn};

/// What `ipkit daemon` is started with. Everything else comes from
/// `<config_dir>/ipkit.toml` (see [`config`]).
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
}

/// Exit statuses of `ipkit daemon`.
pub const EXIT_OK: u8 = 0;
/// The configuration or a definition is invalid; nothing was changed.
pub const EXIT_CONFIG: u8 = 2;
/// The daemon could not start (netlink, privileges, the API port).
pub const EXIT_START: u8 = 1;

/// Run the daemon until SIGTERM (or SIGINT); SIGHUP reloads the
/// definitions. Returns the process exit status.
pub fn main(opts: DaemonOptions) -> u8 {
    let config = match config::Config::load(&opts.config_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipkit daemon: {e}");
            return EXIT_CONFIG;
        }
    };
    if let Some(addr) = config.listen
        && !addr.ip().is_loopback()
        && config.token.is_none()
    {
        eprintln!(
            "ipkit daemon: warning: the status API listens on {addr} without a token; set [daemon] token"
        );
    }
    // Register the signals before anything can race them.
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ipkit daemon: signals: {e}");
            return EXIT_START;
        }
    };
    // Under systemd stderr goes to the journal already.
    let to_stderr = std::env::var_os("JOURNAL_STREAM").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let sinks = crate::log::standard_sinks(&opts.state_dir, to_stderr);
    // The pid goes out before the definitions are read: an OCF agent that
    // writes a definition after this sends SIGHUP, which waits in the
    // signal queue until the loop below reads it.
    if let Err(e) = pidfile::write(&opts.state_dir) {
        eprintln!("ipkit daemon: pid file: {e}");
        return EXIT_START;
    }
    let daemon = match spawn(&opts, config, Box::new(sinks)) {
        Ok(d) => d,
        Err(e) => {
            pidfile::remove(&opts.state_dir);
            eprintln!("ipkit daemon: {e}");
            return if e.contains("definition") {
                EXIT_CONFIG
            } else {
                EXIT_START
            };
        }
    };
    if let Some(a) = daemon.api_addr() {
        eprintln!("ipkit daemon: status API on http://{a}/");
    }
    if let Err(e) = notify::notify("READY=1") {
        eprintln!("ipkit daemon: sd_notify: {e}");
    }
    let control = daemon.control();
    let handle = signals.handle();
    let signal_thread = std::thread::spawn(move || {
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
    daemon.wait();
    handle.close();
    let _ = signal_thread.join();
    pidfile::remove(&opts.state_dir);
    EXIT_OK
}
