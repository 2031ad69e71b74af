//! The file primitives the store and the event log stand on, for Windows
//! (the same small function set as `fs_unix.rs`): directories, opens that
//! follow no reparse point, atomic and durable replacement, exclusive
//! creation, the lock file and its lock. The Win32 calls underneath are in
//! `crate::sys::windows::files`.
//!
//! Rules (the Windows reading of issue 10 defect 7, docs/windows.md):
//! - the directories ipkit creates, and every file it writes, get an ACL
//!   of their own — SYSTEM and Administrators full control, nobody else
//!   anything — instead of what the parent would pass on;
//! - no symbolic link or junction (a reparse point) inside ipkit's
//!   directories is followed: files are opened with
//!   `FILE_FLAG_OPEN_REPARSE_POINT`, and a reparse point is refused as a
//!   [`Refusal::Symlink`] naming the path;
//! - replacing is `MoveFileExW(MOVEFILE_REPLACE_EXISTING |
//!   MOVEFILE_WRITE_THROUGH)` of a flushed temporary file, so a crash
//!   leaves the old or the new file (there is no directory fsync on
//!   Windows: the write-through move is what makes the name durable);
//! - locks are `LockFileEx` on one byte far past the end of the lock file
//!   (a mandatory lock there keeps no reader from the contents).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::windows::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::fs_common::refused;
pub(crate) use super::fs_common::{check_own_dir, is_present};
use super::{FileKind, Refusal};
use crate::sys::windows::files as win;

/// A reparse point is refused; anything but a regular file too.
fn must_be_regular(path: &Path, file: &File) -> io::Result<()> {
    let meta = file.metadata()?;
    if meta.file_type().is_symlink() {
        Err(refused(path, Refusal::Symlink))
    } else if meta.is_file() {
        Ok(())
    } else {
        Err(refused(path, Refusal::NotRegular))
    }
}

/// Create `dir` and its missing parents, each with the administrators-only
/// ACL. Directories that exist are left as they are.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all(parent)?;
    }
    match win::create_protected_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// One of the store's own subdirectories: created if missing, refused if
/// it is a link (a reparse point) or not a directory.
pub(crate) fn own_dir(dir: &Path) -> io::Result<()> {
    create_dir_all(dir)?;
    check_own_dir(dir)
}

/// Open a regular file for reading without following a reparse point.
pub(crate) fn open_read(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(win::FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    must_be_regular(path, &file)?;
    Ok(file)
}

/// The whole of a regular file of at most `max` bytes.
pub(crate) fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = open_read(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(refused(path, Refusal::TooLarge { max }));
    }
    Ok(bytes)
}

/// Give a file ipkit just created the administrators-only ACL.
fn protect_new(path: &Path) -> io::Result<()> {
    let file = OpenOptions::new()
        .access_mode(win::WRITE_DAC | win::READ_CONTROL)
        .custom_flags(win::FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    win::protect(&file)
}

/// Open `path` with `access`, creating it (with the administrators-only
/// ACL) if it does not exist. Never through a reparse point; only a
/// regular file.
fn open_or_create(
    path: &Path,
    access: impl Fn(&mut OpenOptions) -> &mut OpenOptions,
) -> io::Result<File> {
    // A file that disappears between the two opens (a log rotation) is
    // created again; a few rounds are plenty.
    for _ in 0..8 {
        match access(&mut OpenOptions::new())
            .create_new(true)
            .custom_flags(win::FILE_FLAG_OPEN_REPARSE_POINT)
            .open(path)
        {
            Ok(file) => {
                protect_new(path)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        match access(&mut OpenOptions::new())
            .custom_flags(win::FILE_FLAG_OPEN_REPARSE_POINT)
            .open(path)
        {
            Ok(file) => {
                must_be_regular(path, &file)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "{}: keeps disappearing while it is opened",
        path.display()
    )))
}

/// Open (creating it if needed) a file to append to.
pub(crate) fn open_append(path: &Path, _kind: FileKind) -> io::Result<File> {
    open_or_create(path, |o| o.append(true))
}

/// Open (creating it if needed) a lock file.
pub(crate) fn open_lock(path: &Path) -> io::Result<File> {
    open_or_create(path, |o| o.read(true).write(true))
}

/// Which file an open file or a path is: (volume serial, file index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId(u32, u64);

pub(crate) fn file_id(file: &File) -> io::Result<FileId> {
    let (volume, index) = win::file_id(file)?;
    Ok(FileId(volume, index))
}

/// The id of whatever is at `path` (a reparse point itself, not its
/// target); None when nothing is there.
pub(crate) fn path_id(path: &Path) -> Option<FileId> {
    let file = OpenOptions::new()
        .access_mode(0)
        .custom_flags(win::FILE_FLAG_OPEN_REPARSE_POINT | win::FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)
        .ok()?;
    file_id(&file).ok()
}

/// Take an exclusive lock on `file`, waiting for it.
pub(crate) fn lock(file: &File) -> io::Result<()> {
    win::lock(file, true).map(|_| ())
}

/// Try to take an exclusive lock on `file` without waiting: `Ok(false)`
/// when another holder has it.
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    win::lock(file, false)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A fresh temporary name beside `path` (never a `<tag>.toml` or
/// `<tag>.json`, so no reader mistakes it for a file of the store).
fn temporary_beside(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    parent(path).join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Write `bytes` into a new temporary file beside `path`, with the
/// administrators-only ACL, and flush it to disk. Returns its name.
fn write_temporary(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    create_dir_all(parent(path))?;
    let tmp = temporary_beside(path);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(win::FILE_FLAG_OPEN_REPARSE_POINT)
            .open(&tmp)?;
        protect_new(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Replace `path` with `bytes` atomically and durably: flushed temporary
/// file, then `MoveFileExW` over `path`, written through.
pub(crate) fn replace(path: &Path, bytes: &[u8], _kind: FileKind) -> io::Result<()> {
    let tmp = write_temporary(path, bytes)?;
    if let Err(e) = win::move_file(&tmp, path, true) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Replace several files, each atomically and durably, one result per
/// file. Windows has no `syncfs(2)` to commit a group with: each is a
/// flushed temporary file and a write-through move of its own
/// ([`replace`]), so a crash still leaves each file old or new.
pub(crate) fn replace_all(files: &[(PathBuf, Vec<u8>)], kind: FileKind) -> Vec<io::Result<()>> {
    files
        .iter()
        .map(|(path, bytes)| replace(path, bytes, kind))
        .collect()
}

/// Create `path` with `bytes`, atomically, durably, and only if nothing is
/// there yet: `AlreadyExists` otherwise. The complete file appears under
/// its name at once (a move without `MOVEFILE_REPLACE_EXISTING`).
pub(crate) fn create_new(path: &Path, bytes: &[u8], _kind: FileKind) -> io::Result<()> {
    let tmp = write_temporary(path, bytes)?;
    let moved = win::move_file(&tmp, path, false);
    if moved.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    moved
}

/// [`create_new`] of several files, one result per file (no group
/// commit on Windows, as for [`replace_all`]).
pub(crate) fn create_all(files: &[(PathBuf, Vec<u8>)], kind: FileKind) -> Vec<io::Result<()>> {
    files
        .iter()
        .map(|(path, bytes)| create_new(path, bytes, kind))
        .collect()
}

/// Remove `path` (a link itself, never its target).
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    fs::remove_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn replace_and_create_new_are_whole_files() {
        let d = dir();
        let p = d.path().join("a.json");
        replace(&p, b"one", FileKind::State).unwrap();
        replace(&p, b"two", FileKind::State).unwrap();
        assert_eq!(read_regular(&p, 100).unwrap(), b"two");
        let e = create_new(&p, b"three", FileKind::Definition).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(read_regular(&p, 100).unwrap(), b"two");
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.json"]);
    }

    #[test]
    fn a_lock_is_exclusive_between_handles_and_keeps_no_reader_out() {
        let d = dir();
        let p = d.path().join("x.lock");
        let a = open_lock(&p).unwrap();
        let b = open_lock(&p).unwrap();
        assert!(try_lock(&a).unwrap());
        assert!(!try_lock(&b).unwrap());
        // The locked byte is past the end: the contents stay readable.
        let mut w = open_append(&p, FileKind::EventLog).unwrap();
        w.write_all(b"line\n").unwrap();
        assert_eq!(read_regular(&p, 100).unwrap(), b"line\n");
        drop(a);
        assert!(try_lock(&b).unwrap());
    }

    #[test]
    fn ids_tell_files_apart_and_follow_a_rename() {
        let d = dir();
        let (p, q) = (d.path().join("p"), d.path().join("q"));
        let fp = open_append(&p, FileKind::EventLog).unwrap();
        let fq = open_append(&q, FileKind::EventLog).unwrap();
        let (ip, iq) = (file_id(&fp).unwrap(), file_id(&fq).unwrap());
        assert_ne!(ip, iq);
        assert_eq!(path_id(&p), Some(ip));
        drop(fq);
        fs::remove_file(&q).unwrap();
        fs::rename(&p, &q).unwrap();
        assert_eq!(path_id(&q), Some(ip));
        assert_eq!(path_id(&p), None);
    }

    /// The descriptors ipkit applies parse, and say exactly SYSTEM and
    /// Administrators, protected from inheritance. (That Windows keeps
    /// them on disk is on the operator checklist of docs/windows.md: Wine
    /// makes file ACLs up from the Unix mode and stores none.)
    #[test]
    fn the_administrators_only_descriptors_are_what_is_applied() {
        let file = win::sddl_round_trip(win::FILE_SDDL).unwrap();
        assert_eq!(file, "D:P(A;;FA;;;SY)(A;;FA;;;BA)");
        let dir = win::sddl_round_trip(win::DIR_SDDL).unwrap();
        assert_eq!(dir, "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)");
        // And applying them succeeds.
        let d = self::dir();
        let p = d.path().join("ipkit").join("state").join("vip.json");
        replace(&p, b"{}", FileKind::State).unwrap();
        assert!(d.path().join("ipkit").is_dir());
    }
}
