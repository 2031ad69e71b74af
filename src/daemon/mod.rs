//! ipkit daemon: event-driven monitoring, local recovery, status API,
//! metrics (SPEC §6; user documentation in docs/daemon.md). It runs on the
//! seams only (`net::Kernel`, `net::ChangeSource`, `ClusterView`,
//! `EventSink`, `Clock`); the platform comes in as a `net::Backend`.
//!
//! - [`policy`]: the reaction policy, a pure state machine;
//! - `event_loop`: waits for reported changes, feeds the policy, hands its
//!   job requests to the workers (or runs them inline);
//! - [`executor`]: one function per job, under the per-resource lock
//!   (`check`: the check jobs, and the batch of one adapter's cable loss);
//! - `queue`: the job queue and the worker threads;
//! - [`startup`]: starting it all ([`spawn`], [`SteppedDaemon`]);
//! - [`async_sink`]: events to the status counters and the operator's sinks;
//! - [`status`] and [`api`]: what the daemon knows, served read-only over
//!   HTTP as JSON and Prometheus text ([`conflicts`]: its address conflict
//!   counters), by a bounded server of its own ([`http_server`], over the
//!   byte-level [`http`]) within the descriptor budget of [`fd_limit`];
//!   [`histogram`]: the recovery duration's buckets;
//! - [`config`]: the configuration file `ipkit.toml` in the config dir;
//! - [`error`]: why it could not start, and the exit status for each reason;
//! - [`check_config`]: `--check-config`, the start's validation alone;
//! - [`hook`]: the operator's `on_failure` command;
//! - [`watchdog`]: the systemd watchdog, fed while the event loop answers;
//! - `lifecycle_unix` / `lifecycle_windows`: how the platform tells the
//!   daemon to reload or stop (signals and systemd; the service control
//!   manager or the console), chosen below;
//! - [`view`]: one shared snapshot of links and addresses for periodic checks;
//! - `wire_watch`: which addresses the change source listens for claims of.

use std::path::PathBuf;

pub mod api;
pub mod async_sink;
mod check;
pub mod check_config;
pub mod conflicts;
pub mod control;
pub mod error;
mod event_loop;
pub mod executor;
pub mod fd_limit;
pub mod histogram;
pub mod hook;
#[doc(hidden)]
pub mod http;
pub mod http_server;
#[cfg(target_os = "linux")]
#[path = "lifecycle_unix.rs"]
mod lifecycle;
#[cfg(windows)]
#[path = "lifecycle_windows.rs"]
mod lifecycle;
pub mod pidfile;
pub mod policy;
mod queue;
pub mod startup;
pub mod status;
pub mod view;
pub mod watchdog;
mod wire_watch;

pub use control::Control;
pub use error::{DaemonError, DaemonExit};
pub use startup::{Daemon, Parts, SteppedDaemon, spawn, spawn_with};

/// What `ipkit daemon` is started with. Everything else comes from
/// `<config_dir>/ipkit.toml` (see [`config`]).
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
}

/// Run the daemon until SIGTERM (or SIGINT); SIGHUP reloads the
/// definitions. On Windows: as a service when the service control manager
/// started it (stop and "paramchange" reload), else in the console until
/// Ctrl-C. The error says why it could not start; its exit status is
/// [`DaemonError::exit`].
pub fn main(opts: &DaemonOptions) -> Result<(), DaemonError> {
    lifecycle::run(opts, serve)
}

fn serve(opts: &DaemonOptions, lifecycle: lifecycle::Lifecycle) -> Result<(), DaemonError> {
    let config = crate::config::Config::load(&opts.config_dir)?;
    for warning in check_config::warnings(&config) {
        eprintln!("ipkit daemon: warning: {warning}");
    }
    // Descriptors for recovery however busy the status API gets (issue 10):
    // the soft limit up to the hard one; the API takes an eighth at most.
    // (Windows has no per-process descriptor limit to raise.)
    #[cfg(unix)]
    match fd_limit::raise_to_hard() {
        Ok(soft) if soft < 1024 => eprintln!(
            "ipkit daemon: warning: only {soft} file descriptors (RLIMIT_NOFILE); set LimitNOFILE"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("ipkit daemon: cannot raise RLIMIT_NOFILE: {e}"),
    }
    // Register the signals (the stop and reload requests) before anything
    // can race them.
    let lifecycle = lifecycle.register()?;
    // Under systemd stderr goes to the journal already.
    let to_stderr = std::env::var_os("JOURNAL_STREAM").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let sinks = crate::log::standard_sinks(&opts.state_dir, to_stderr);
    // The pid goes out before the definitions are read: an OCF agent that
    // writes a definition after this sends SIGHUP, which waits in the
    // signal queue until the loop below reads it.
    pidfile::write(&opts.state_dir).map_err(DaemonError::PidFile)?;
    let daemon = match spawn(opts, config, Box::new(sinks)) {
        Ok(d) => d,
        Err(e) => {
            pidfile::remove(&opts.state_dir);
            return Err(e);
        }
    };
    if let Some(a) = daemon.api_addr() {
        eprintln!("ipkit daemon: status API on http://{a}/");
    }
    let watching = match lifecycle.ready(daemon.control()) {
        Ok(w) => w,
        Err(e) => {
            daemon.stop();
            pidfile::remove(&opts.state_dir);
            return Err(e);
        }
    };
    daemon.wait();
    watching.finish();
    pidfile::remove(&opts.state_dir);
    Ok(())
}
