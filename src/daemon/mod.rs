//! ipkit daemon: event-driven monitoring, local recovery, status API, metrics.

use std::path::PathBuf;

pub mod api;
pub mod config;
pub mod hook;
pub mod notify;
pub mod policy;
pub mod status;

/// What `ipkit daemon` is started with.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub config_dir: PathBuf,
    pub state_dir: PathBuf,
}

/// Run the daemon until SIGTERM; returns the process exit status.
pub fn main(opts: DaemonOptions) -> u8 {
    eprintln!("ipkit daemon is not built yet ({opts:?})");
    2
}
