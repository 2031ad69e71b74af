//! Capability check before an operation changes anything (issue 4: a
//! missing privilege is refused with exit status 3 before the system is
//! touched).

/// `CAP_NET_ADMIN`: add and delete addresses, flush neighbour entries.
pub const CAP_NET_ADMIN: u32 = 12;
/// `CAP_NET_RAW`: `AF_PACKET` for announcements and the in-use probe.
pub const CAP_NET_RAW: u32 = 13;

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The effective capability set of this process (capget(2)), as a 64-bit
/// mask; `None` if the kernel refuses to say.
pub fn effective() -> Option<u64> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: hdr and data are valid for the version-3 layout (two
    // CapData structs), as capget(2) requires.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return None;
    }
    Some(u64::from(data[0].effective) | (u64::from(data[1].effective) << 32))
}

pub fn name(cap: u32) -> &'static str {
    match cap {
        CAP_NET_ADMIN => "CAP_NET_ADMIN",
        CAP_NET_RAW => "CAP_NET_RAW",
        _ => "a capability",
    }
}

/// The capabilities of `wanted` that this process lacks (empty when it
/// has them all, or when capget itself fails: then the kernel's own EPERM
/// still gives exit status 3 later).
pub fn missing(wanted: &[u32]) -> Vec<u32> {
    match effective() {
        Some(set) => wanted
            .iter()
            .copied()
            .filter(|c| set & (1u64 << c) == 0)
            .collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capget_answers_and_agrees_with_euid() {
        let set = effective().expect("capget works");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert!(missing(&[CAP_NET_ADMIN, CAP_NET_RAW]).is_empty(), "{set:x}");
        } else {
            assert_eq!(missing(&[CAP_NET_ADMIN]).len(), 1);
        }
    }
}
