//! The store's file primitives that are the same on every platform: the refusal error, the directory check, presence.

use std::fs;
use std::io;
use std::path::Path;

use super::{Refusal, Refused};

/// The error for a path the store refuses to use (`what` says why).
pub(super) fn refused(path: &Path, what: Refusal) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        Refused {
            path: path.to_owned(),
            what,
        },
    )
}

/// Like `own_dir` for a reader: a missing directory is `NotFound`; a link
/// or anything but a directory is refused.
pub(crate) fn check_own_dir(dir: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        Err(refused(dir, Refusal::Symlink))
    } else if !meta.is_dir() {
        Err(refused(dir, Refusal::NotADirectory))
    } else {
        Ok(())
    }
}

/// Whether anything (a file, a link, even a dangling one) is at `path`.
pub(crate) fn is_present(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}
