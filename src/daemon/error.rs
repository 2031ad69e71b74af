//! Why the daemon could not start, and the exit status each reason gets
//! (docs/daemon.md "Exit statuses": 1 could not start, 2 bad configuration
//! or definition). The one place that maps a failure to an exit status.

use crate::net::KernelError;
use crate::store::StoreError;

use super::{EXIT_CONFIG, EXIT_START};
use crate::config::ConfigError;

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
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Config(_) | DaemonError::BrokenDefinitions(_) => EXIT_CONFIG,
            DaemonError::Definitions(_)
            | DaemonError::Kernel { .. }
            | DaemonError::Api(_)
            | DaemonError::Signals(_)
            | DaemonError::PidFile(_)
            | DaemonError::Thread { .. } => EXIT_START,
        }
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
        assert_eq!(DaemonError::from(config).exit_code(), EXIT_CONFIG);
        let broken = DaemonError::BrokenDefinitions(vec!["a.toml: corrupt".into()]);
        assert_eq!(broken.exit_code(), EXIT_CONFIG);
        assert_eq!(
            broken.to_string(),
            "refusing to start with broken definitions:\n  a.toml: corrupt"
        );
        let kernel = DaemonError::kernel("watching changes")(KernelError::new(
            KernelOp::Open,
            None,
            libc::EPERM,
        ));
        assert_eq!(kernel.exit_code(), EXIT_START);
        let api = DaemonError::Api(std::io::Error::from(std::io::ErrorKind::AddrInUse));
        assert_eq!(api.exit_code(), EXIT_START);
    }
}
