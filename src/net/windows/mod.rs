//! The Windows implementation of the kernel seam (issue 13,
//! docs/windows.md): [`WindowsKernel`] on the IP Helper API behind the thin
//! [`IpHelper`] trait, and [`WindowsBackend`] with its change source.
//!
//! Everything here is plain Rust and builds on every platform, so the
//! kernel's tests — every SPEC §4 step against the [`RecordingIpHelper`]
//! fake, in `tests/windows_kernel.rs` — run in the Linux `cargo test` as
//! well as under Wine. Only the
//! real [`IpHelper`] (`crate::sys::windows::iphlpapi`) and the
//! notifications need Windows.

mod announce;
mod backend;
pub mod iphelper;
mod kernel;
pub mod recording;

pub use backend::{WindowsBackend, WindowsChanges};
pub use iphelper::{Guid, IpHelper, Win32Error};
pub use kernel::WindowsKernel;
pub use recording::{Call, RecordingIpHelper};
