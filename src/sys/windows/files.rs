//! The Windows file calls the store's `fs_windows` stands on: atomic
//! replacement (`MoveFileExW`), byte-range locks (`LockFileEx`), file ids
//! (`GetFileInformationByHandle`) and the ACL that keeps non-administrators
//! out (SYSTEM and Administrators full control, nobody else anything).

use std::fs::File;
use std::io;
use std::os::windows::io::AsRawHandle;
use std::path::Path;
use std::ptr::{null, null_mut};

use windows_sys::Win32::Foundation::{ERROR_IO_PENDING, ERROR_LOCK_VIOLATION, HANDLE, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSecurityDescriptorToStringSecurityDescriptorW,
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
    SE_FILE_OBJECT, SetSecurityInfo,
};
use windows_sys::Win32::Security::{
    ACL, DACL_SECURITY_INFORMATION, GetSecurityDescriptorDacl, PROTECTED_DACL_SECURITY_INFORMATION,
    PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, CreateDirectoryW, GetFileInformationByHandle,
    LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx, MOVEFILE_REPLACE_EXISTING,
    MOVEFILE_WRITE_THROUGH, MoveFileExW,
};
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::wide;

pub use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, READ_CONTROL, WRITE_DAC,
};

/// SYSTEM and the Administrators group: full control; nobody else has an
/// entry; nothing inherited from above (`P`). Directories pass both entries
/// on to what is created inside them (`OICI`).
pub const FILE_SDDL: &str = "D:P(A;;FA;;;SY)(A;;FA;;;BA)";
pub const DIR_SDDL: &str = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

fn handle(file: &File) -> HANDLE {
    file.as_raw_handle() as HANDLE
}

fn check(ok: i32) -> io::Result<()> {
    if ok != 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Move `from` onto `to` in one step, on disk before it returns
/// (`MOVEFILE_WRITE_THROUGH`); with `replace`, over an existing `to`
/// (`MOVEFILE_REPLACE_EXISTING`), else `AlreadyExists` when `to` exists.
pub fn move_file(from: &Path, to: &Path, replace: bool) -> io::Result<()> {
    let mut flags = MOVEFILE_WRITE_THROUGH;
    if replace {
        flags |= MOVEFILE_REPLACE_EXISTING;
    }
    let (f, t) = (wide(from), wide(to));
    // SAFETY: both strings are NUL-terminated.
    check(unsafe { MoveFileExW(f.as_ptr(), t.as_ptr(), flags) })
}

/// The byte the locks take: far past any real file's end, so a lock never
/// keeps a reader from the file's contents (Windows byte-range locks are
/// mandatory).
const LOCK_OFFSET: u64 = u64::MAX - 1;

/// Take the exclusive lock of `file` (`LockFileEx`), waiting for it or,
/// with `wait` false, `Ok(false)` when another handle holds it.
pub fn lock(file: &File, wait: bool) -> io::Result<bool> {
    let mut flags = LOCKFILE_EXCLUSIVE_LOCK;
    if !wait {
        flags |= LOCKFILE_FAIL_IMMEDIATELY;
    }
    // SAFETY: an all-zero OVERLAPPED is valid; only the offset is set.
    let mut overlapped: OVERLAPPED = unsafe { std::mem::zeroed() };
    overlapped.Anonymous.Anonymous.Offset = LOCK_OFFSET as u32;
    overlapped.Anonymous.Anonymous.OffsetHigh = (LOCK_OFFSET >> 32) as u32;
    // SAFETY: the handle is open; overlapped outlives the call (the file
    // is opened for synchronous I/O, so the call completes before return).
    let ok = unsafe { LockFileEx(handle(file), flags, 0, 1, 0, &mut overlapped) };
    if ok != 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error().map(|c| c as u32) {
        Some(ERROR_LOCK_VIOLATION) | Some(ERROR_IO_PENDING) if !wait => Ok(false),
        _ => Err(e),
    }
}

/// (volume serial number, file index): equal ids are the same file.
pub fn file_id(file: &File) -> io::Result<(u32, u64)> {
    // SAFETY: an all-zero BY_HANDLE_FILE_INFORMATION is valid output space.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: the handle is open; info is writable.
    check(unsafe { GetFileInformationByHandle(handle(file), &mut info) })?;
    Ok((
        info.dwVolumeSerialNumber,
        (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
    ))
}

/// A security descriptor made from SDDL, freed on drop.
struct Descriptor(PSECURITY_DESCRIPTOR);

impl Descriptor {
    fn from_sddl(sddl: &str) -> io::Result<Self> {
        let w = wide(sddl);
        let mut sd: PSECURITY_DESCRIPTOR = null_mut();
        // SAFETY: w is NUL-terminated; sd receives a LocalAlloc'd block.
        check(unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                w.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                null_mut(),
            )
        })?;
        Ok(Self(sd))
    }

    fn dacl(&self) -> io::Result<*mut ACL> {
        let (mut present, mut defaulted) = (0, 0);
        let mut dacl: *mut ACL = null_mut();
        // SAFETY: self.0 is a valid descriptor.
        check(unsafe {
            GetSecurityDescriptorDacl(self.0, &mut present, &mut dacl, &mut defaulted)
        })?;
        Ok(dacl)
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptor...W.
        unsafe { LocalFree(self.0) };
    }
}

/// Create the directory `path` with [`DIR_SDDL`] (`CreateDirectoryW`).
pub fn create_protected_dir(path: &Path) -> io::Result<()> {
    let sd = Descriptor::from_sddl(DIR_SDDL)?;
    let attributes = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: sd.0,
        bInheritHandle: 0,
    };
    let w = wide(path);
    // SAFETY: w is NUL-terminated; attributes and sd outlive the call.
    check(unsafe { CreateDirectoryW(w.as_ptr(), &attributes) })
}

/// Give the open `file` (opened with `WRITE_DAC`) the ACL [`FILE_SDDL`],
/// replacing whatever it inherited.
pub fn protect(file: &File) -> io::Result<()> {
    let sd = Descriptor::from_sddl(FILE_SDDL)?;
    let dacl = sd.dacl()?;
    // SAFETY: the handle is open; dacl points into sd, alive here.
    let rc = unsafe {
        SetSecurityInfo(
            handle(file),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            dacl,
            null(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc as i32))
    }
}

/// `sddl` parsed into a descriptor and written back as SDDL (the DACL
/// part): what Windows makes of a descriptor string.
pub fn sddl_round_trip(sddl: &str) -> io::Result<String> {
    let sd = Descriptor::from_sddl(sddl)?;
    to_sddl(&sd)
}

fn to_sddl(sd: &Descriptor) -> io::Result<String> {
    let mut text: *mut u16 = null_mut();
    // SAFETY: sd is valid; text receives a LocalAlloc'd string.
    check(unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd.0,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            null_mut(),
        )
    })?;
    // SAFETY: text is NUL-terminated.
    let out = unsafe { super::from_wide_ptr(text) };
    // SAFETY: allocated by the call above.
    unsafe { LocalFree(text.cast()) };
    Ok(out)
}

/// The DACL of the open `file` (opened with `READ_CONTROL`) as SDDL.
pub fn dacl_sddl(file: &File) -> io::Result<String> {
    let mut sd: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: the handle is open; sd receives a LocalAlloc'd block.
    let rc = unsafe {
        GetSecurityInfo(
            handle(file),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
            &mut sd,
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc as i32));
    }
    to_sddl(&Descriptor(sd))
}
