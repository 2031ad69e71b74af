//! Whether this process runs with the Administrators group enabled in its
//! token (the Windows counterpart of `CAP_NET_ADMIN`; `cli::caps`).

use std::ptr::null_mut;

use windows_sys::Win32::Security::{
    AllocateAndInitializeSid, CheckTokenMembership, FreeSid, PSID, SECURITY_NT_AUTHORITY,
};

const SECURITY_BUILTIN_DOMAIN_RID: u32 = 32;
const DOMAIN_ALIAS_RID_ADMINS: u32 = 544;

/// None when Windows would not say.
pub fn is_admin() -> Option<bool> {
    let mut sid: PSID = null_mut();
    // SAFETY: sid receives an allocated SID, freed below.
    let ok = unsafe {
        AllocateAndInitializeSid(
            &SECURITY_NT_AUTHORITY,
            2,
            SECURITY_BUILTIN_DOMAIN_RID,
            DOMAIN_ALIAS_RID_ADMINS,
            0,
            0,
            0,
            0,
            0,
            0,
            &mut sid,
        )
    };
    if ok == 0 {
        return None;
    }
    let mut member = 0;
    // SAFETY: a null token means this thread's (or process's) token.
    let ok = unsafe { CheckTokenMembership(std::ptr::null_mut(), sid, &mut member) };
    // SAFETY: allocated above.
    unsafe { FreeSid(sid) };
    (ok != 0).then_some(member != 0)
}
