//! [`super`] on Windows, and the one module tree that names `windows_sys`
//! (issue 13: the fast-changing crate stays in one place):
//! - [`iphlpapi`]: the IP Helper API behind `net::windows::IpHelper`;
//! - [`notify`]: `NotifyIpInterfaceChange` / `NotifyUnicastIpAddressChange`;
//! - [`files`]: atomic replace, byte-range locks, file ids, ACLs;
//! - [`event_log`]: `RegisterEventSourceW` / `ReportEventW`;
//! - [`service`]: the service control dispatcher and status;
//! - [`admin`]: whether this process runs as an administrator;
//! - [`poll`]: `WSAPoll`, for the status API's server.
//!
//! Functions that an older Windows or Wine lacks are looked up at run time
//! ([`Library::function`]), so a missing export is an error, never an
//! abort.

use std::ffi::{OsStr, c_void};
use std::os::windows::ffi::OsStrExt;
use std::path::PathBuf;

use windows_sys::Win32::Foundation::HMODULE;
use windows_sys::Win32::System::LibraryLoader::{GetProcAddress, LoadLibraryW};
use windows_sys::Win32::System::SystemInformation::{ComputerNameDnsHostname, GetComputerNameExW};

pub mod admin;
pub mod event_log;
pub mod files;
pub mod iphlpapi;
pub mod notify;
pub mod poll;
pub mod service;

/// `s` as a NUL-terminated UTF-16 string.
pub fn wide(s: impl AsRef<OsStr>) -> Vec<u16> {
    s.as_ref().encode_wide().chain(Some(0)).collect()
}

/// The text of a NUL-terminated UTF-16 string, or of a fixed buffer up to
/// its first NUL.
pub fn from_wide(buf: &[u16]) -> String {
    let end = buf.iter().position(|c| *c == 0).unwrap_or(buf.len());
    String::from_utf16_lossy(&buf[..end])
}

/// # Safety
/// `p` is null or points to a NUL-terminated UTF-16 string.
pub unsafe fn from_wide_ptr(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the caller promises a terminating NUL.
    while unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: len elements were just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}

pub fn node_name() -> Option<String> {
    let mut buf = [0u16; 256];
    let mut len = buf.len() as u32;
    // SAFETY: buf holds len UTF-16 units.
    let ok = unsafe { GetComputerNameExW(ComputerNameDnsHostname, buf.as_mut_ptr(), &mut len) };
    (ok != 0 && len > 0).then(|| from_wide(&buf[..len as usize]))
}

/// The C runtime's text for `errno`. msvcrt's `strerror` has glibc's
/// words for the classic values (below 43); the POSIX supplement (100 and
/// up: `ENOBUFS`, `EOPNOTSUPP`...) it calls "Unknown error", so those the
/// kernel seam carries get glibc's words here.
pub fn errno_message(errno: i32) -> String {
    let supplement = match errno {
        libc::EADDRINUSE => "Address already in use",
        libc::EADDRNOTAVAIL => "Cannot assign requested address",
        libc::EHOSTUNREACH => "No route to host",
        libc::ELOOP => "Too many levels of symbolic links",
        libc::ENETDOWN => "Network is down",
        libc::ENETUNREACH => "Network is unreachable",
        libc::ENOBUFS => "No buffer space available",
        libc::EOPNOTSUPP => "Operation not supported",
        libc::EPROTO => "Protocol error",
        libc::ETIMEDOUT => "Connection timed out",
        _ => "",
    };
    if !supplement.is_empty() {
        return supplement.to_owned();
    }
    // SAFETY: strerror returns a pointer to a static NUL-terminated string.
    let p = unsafe { libc::strerror(errno) };
    if p.is_null() {
        return format!("errno {errno}");
    }
    // SAFETY: as above.
    unsafe { std::ffi::CStr::from_ptr(p) }
        .to_string_lossy()
        .into_owned()
}

fn program_data() -> PathBuf {
    std::env::var_os("ProgramData")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
        .join("ipkit")
}

pub fn default_config_dir() -> PathBuf {
    program_data()
}

pub fn default_state_dir() -> PathBuf {
    program_data()
}

/// A DLL loaded for [`Library::function`] lookups (kept loaded for the
/// life of the process).
#[derive(Debug, Clone, Copy)]
pub struct Library(HMODULE);

// SAFETY: a module handle is a process-wide value, usable from any thread.
unsafe impl Send for Library {}
// SAFETY: as above.
unsafe impl Sync for Library {}

impl Library {
    pub fn load(name: &str) -> Option<Self> {
        let w = wide(name);
        // SAFETY: w is NUL-terminated.
        let h = unsafe { LoadLibraryW(w.as_ptr()) };
        (!h.is_null()).then_some(Self(h))
    }

    /// The address of the export `name` (NUL-terminated), None when this
    /// system's DLL does not export it.
    pub fn function(&self, name: &'static [u8]) -> Option<*const c_void> {
        debug_assert_eq!(name.last(), Some(&0));
        // SAFETY: name is NUL-terminated; the module stays loaded.
        let f = unsafe { GetProcAddress(self.0, name.as_ptr()) };
        f.map(|f| f as *const c_void)
    }
}
