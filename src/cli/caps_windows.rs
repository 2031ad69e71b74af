//! The privilege check before an operation changes anything, on Windows:
//! changing addresses needs an administrator (the Administrators group
//! enabled in the process token), which stands for both Linux
//! capabilities; a missing privilege is refused with exit status 3 before
//! the system is touched, as on Linux (`caps.rs`).

/// Add and delete addresses, flush neighbour entries.
pub const CAP_NET_ADMIN: u32 = 12;
/// Probe and announce.
pub const CAP_NET_RAW: u32 = 13;

pub fn name(_cap: u32) -> &'static str {
    "administrator rights"
}

/// The privileges of `wanted` this process lacks: all of them when it is
/// not an administrator, none when it is or when Windows would not say
/// (then the system's own ERROR_ACCESS_DENIED still gives exit status 3).
pub fn missing(wanted: &[u32]) -> Vec<u32> {
    match crate::sys::windows::admin::is_admin() {
        Some(false) => wanted.to_vec(),
        Some(true) | None => Vec::new(),
    }
}
