//! The file primitives the store stands on, for Unix: directories, atomic
//! and durable replacement, the lock file and its `flock`. Everything that
//! depends on the operating system's file semantics is here, behind small
//! functions, so that another system gets a file of its own.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Create `dir` and its missing parents.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Make a directory's entries durable (after a rename or an unlink in it).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

/// Write `bytes` to `path` atomically and durably: temporary file in the
/// same directory, fsync, rename, fsync the directory.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    create_dir_all(dir)?;
    let mut file = atomic_write_file::AtomicWriteFile::open(path)?;
    file.write_all(bytes)?;
    // commit() fsyncs the file and renames it into place.
    file.commit()?;
    sync_dir(dir)
}

/// Remove a file and make that durable.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    fs::remove_file(path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Open (creating it if needed) a lock file.
pub(crate) fn open_lock(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Try to take an exclusive lock on `file` without waiting: `Ok(false)`
/// when another holder has it.
pub(crate) fn try_lock(file: &File) -> io::Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(fs::TryLockError::WouldBlock) => Ok(false),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}
