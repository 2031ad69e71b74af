//! Why the daemon could not start, and the exit status each reason gets
//! (docs/daemon.md "Exit statuses"). The one place that maps a failure to
//! an exit status, and the one table `ipkit daemon --help` prints.

use crate::config::ConfigError;
use crate::net::KernelError;
use crate::store::StoreError;

/// The exit statuses of `ipkit daemon` (and `ipkit daemon --check-config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DaemonExit {
    /// Stopped by SIGTERM or SIGINT; `--check-config`: everything valid.
    Ok = 0,
    /// Could not start: the kernel seam, privileges, the status API's port,
    /// the pid file, the definitions directory.
    CouldNotStart = 1,
    /// `ipkit.toml` or a definition is invalid; nothing was started.
    BadConfig = 2,
}

impl DaemonExit {
    /// Every status, in order: what the help text lists.
    pub const ALL: [DaemonExit; 3] = [
        DaemonExit::Ok,
        DaemonExit::CouldNotStart,
        DaemonExit::BadConfig,
    ];

    pub const fn code(self) -> u8 {
        self as u8
    }

    /// One line for `ipkit daemon --help` and ipkit-daemon(1).
    pub fn meaning(self) -> &'static str {
        match self {
            DaemonExit::Ok => {
                "stopped cleanly (SIGTERM, SIGINT); with --check-config: the configuration and every definition are valid"
            }
            DaemonExit::CouldNotStart => {
                "could not start: the kernel seam (privileges: CAP_NET_ADMIN, CAP_NET_RAW), the status API's address, the pid file, the definitions directory"
            }
            DaemonExit::BadConfig => {
                "invalid ipkit.toml or definition (the message names the file and the field); nothing was started"
            }
        }
    }
}

/// The "Exit status" section of `ipkit daemon --help`, from [`DaemonExit`].
pub fn exit_help() -> String {
    let mut text = String::from("Exit status:\n");
    for e in DaemonExit::ALL {
        text.push_str(&format!("  {}  {}\n", e.code(), e.meaning()));
    }
    text.push_str("\nSee docs/daemon.md (signals: SIGHUP reloads, SIGTERM stops).");
    text
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// `ipkit.toml` is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// At least one definition cannot be read; each line names its file.
    #[error("refusing to start with broken definitions:\n  {}", .0.join("\n  "))]
    BrokenDefinitions(Vec<String>),
    /// The definitions directory cannot be listed.
    #[error("reading the definitions: {0}")]
    Definitions(StoreError),
    /// The kernel seam could not be opened or read (privileges, sockets).
    #[error("{what}: {source}")]
    Kernel {
        what: &'static str,
        source: KernelError,
    },
    /// The status API could not listen (address in use, not local).
    #[error("{0}")]
    Api(std::io::Error),
    /// The signal handlers could not be installed.
    #[error("signals: {0}")]
    Signals(std::io::Error),
    #[error("pid file: {0}")]
    PidFile(StoreError),
    /// A thread of the daemon could not be started.
    #[error("{what} thread: {source}")]
    Thread {
        what: &'static str,
        source: std::io::Error,
    },
}

impl DaemonError {
    pub(super) fn kernel(what: &'static str) -> impl FnOnce(KernelError) -> Self {
        move |source| DaemonError::Kernel { what, source }
    }

    pub(super) fn thread(what: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| DaemonError::Thread { what, source }
    }

    /// The exit status of `ipkit daemon` for this failure.
    pub fn exit(&self) -> DaemonExit {
        match self {
            DaemonError::Config(_) | DaemonError::BrokenDefinitions(_) => DaemonExit::BadConfig,
            DaemonError::Definitions(_)
            | DaemonError::Kernel { .. }
            | DaemonError::Api(_)
            | DaemonError::Signals(_)
            | DaemonError::PidFile(_)
            | DaemonError::Thread { .. } => DaemonExit::CouldNotStart,
        }
    }

    /// [`DaemonError::exit`] as the process exit status.
    pub fn exit_code(&self) -> u8 {
        self.exit().code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::KernelOp;

    #[test]
    fn configuration_and_definitions_exit_2_the_rest_1() {
        let config = ConfigError {
            path: "/etc/ipkit/ipkit.toml".into(),
            reason: "daemon.listen: bad".into(),
        };
        assert_eq!(
            DaemonError::from(config).exit_code(),
            DaemonExit::BadConfig.code()
        );
        let broken = DaemonError::BrokenDefinitions(vec!["a.toml: corrupt".into()]);
        assert_eq!(broken.exit_code(), DaemonExit::BadConfig.code());
        assert_eq!(
            broken.to_string(),
            "refusing to start with broken definitions:\n  a.toml: corrupt"
        );
        let kernel = DaemonError::kernel("watching changes")(KernelError::new(
            KernelOp::Open,
            None,
            libc::EPERM,
        ));
        assert_eq!(kernel.exit_code(), DaemonExit::CouldNotStart.code());
        let api = DaemonError::Api(std::io::Error::from(std::io::ErrorKind::AddrInUse));
        assert_eq!(api.exit_code(), DaemonExit::CouldNotStart.code());
    }

    #[test]
    fn the_help_lists_every_status_of_the_table_in_order() {
        let help = exit_help();
        let listed: Vec<u8> = help
            .lines()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        let table: Vec<u8> = DaemonExit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(listed, table, "{help}");
        for e in DaemonExit::ALL {
            assert!(help.contains(e.meaning()), "{help}");
        }
    }
}
