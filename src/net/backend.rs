//! How a long-running face (the daemon) opens the system: kernel handles
//! for its workers and a change source. `net::linux::LinuxBackend`
//! provides the real one, `Arc<net::sim::SimNet>` a simulated one; another
//! platform provides its own.

use super::{ChangeSource, Kernel, KernelError};

pub trait Backend: Send + Sync {
    /// A kernel handle for one thread's use (each worker gets its own).
    /// Opened in the caller's context (on Linux: its network namespace).
    fn open_kernel(&self) -> Result<Box<dyn Kernel>, KernelError>;

    /// Subscribe to link and address changes.
    fn open_changes(&self) -> Result<Box<dyn ChangeSource>, KernelError>;
}

/// The backend of the platform this build runs on (the one place that
/// picks it), for a process that ends soon after its operation (the
/// command line).
#[cfg(target_os = "linux")]
pub fn native() -> std::sync::Arc<dyn Backend> {
    std::sync::Arc::new(super::linux::LinuxBackend::short_lived())
}

/// [`native`] for a long-lived process (the daemon): background work, such
/// as later announcement rounds, stays in this process (a thread) instead
/// of a detached one, so no fork lies on the path of a recovery.
#[cfg(target_os = "linux")]
pub fn native_long_lived() -> std::sync::Arc<dyn Backend> {
    std::sync::Arc::new(super::linux::LinuxBackend::long_lived())
}

/// The backend of the platform this build runs on (the one place that
/// picks it): the IP Helper API.
#[cfg(windows)]
pub fn native() -> std::sync::Arc<dyn Backend> {
    std::sync::Arc::new(super::windows::WindowsBackend::native())
}

/// [`native`] for the daemon: the same on Windows, whose later
/// announcement rounds are threads of the process either way.
#[cfg(windows)]
pub fn native_long_lived() -> std::sync::Arc<dyn Backend> {
    native()
}
