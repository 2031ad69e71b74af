//! Persisted definitions and runtime state (SPEC §1, §4, §7).
//!
//! Layout:
//! - `<config_dir>/resources/<tag>.toml`: one definition per file, TOML,
//!   readable and editable by hand;
//! - `<state_dir>/state/<tag>.json`: runtime state;
//! - `<state_dir>/locks/<tag>.lock`: the per-resource lock file;
//! - `<config_dir>/resources/.lock`: the lock over the definitions.
//!
//! Every write is atomic: write a temporary file, fsync it, rename it over
//! the old one, fsync the directory. A crash leaves the old or the new file,
//! never half of one. Readers never take the lock, so `status` never waits
//! behind a slow operation. Modes are explicit, never the umask's, and no
//! symbolic link inside these directories is followed (`fs_unix` says
//! how); a refused file is named, and its contents are never quoted.
//!
//! Files: [`definitions`] (the TOML definitions), [`state`] (runtime
//! state), [`lock`] (per-resource locks), `fs_unix` / `fs_windows` (the
//! operating system's file primitives, one file per platform with the
//! same functions); this file holds the layout and the errors.

use std::io;
use std::path::{Path, PathBuf};

mod definitions;
#[cfg(unix)]
#[path = "fs_unix.rs"]
pub(crate) mod fs;
#[cfg(windows)]
#[path = "fs_windows.rs"]
pub(crate) mod fs;
mod fs_common;
mod lock;
mod state;

pub use definitions::{Definitions, parse_definition};
pub use lock::{DefinitionsLock, ResourceLock};

use crate::resource::Tag;

/// What a file of the store is, for the mode it gets (`fs_unix`:
/// definitions and state 0644, the event log 0640, locks 0600).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Definition,
    State,
    EventLog,
    Lock,
    /// Anything else written with [`write_atomic`] (e.g. the daemon's pid).
    Plain,
}

/// Why a path in ipkit's directories is refused before anything is read
/// from it or written to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Symlink,
    NotRegular,
    NotADirectory,
    TooLarge { max: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Symlink => f.write_str(
                "is a symbolic link; ipkit follows no links inside its directories (put the file itself there)",
            ),
            Refusal::NotRegular => f.write_str("is not a regular file"),
            Refusal::NotADirectory => f.write_str("is not a directory"),
            Refusal::TooLarge { max } => write!(f, "is larger than {max} bytes"),
        }
    }
}

/// A refused path, carried inside an `io::Error` from the file primitives.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {what}", path.display())]
pub struct Refused {
    pub path: PathBuf,
    pub what: Refusal,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: corrupt or unreadable: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// A link, a FIFO, a file too large...: refused without being read.
    #[error("{0}")]
    Refused(Refused),
    #[error("{path}: not written: {reason}")]
    Unwritable { path: PathBuf, reason: String },
    #[error("unknown tag {0:?}: no such resource is defined")]
    UnknownTag(String),
    #[error("invalid tag: a resource named {0:?} already exists")]
    Exists(String),
    #[error(
        "resource {tag} is busy: another operation held its lock for {waited_ms} ms (lock_timeout)"
    )]
    Busy { tag: String, waited_ms: u128 },
    #[error(
        "the definitions are busy: another create held their lock for {waited_ms} ms (lock_timeout)"
    )]
    DefinitionsBusy { waited_ms: u128 },
}

impl StoreError {
    /// An error of the file primitives about `path`: a refusal keeps its
    /// own wording, anything else is an I/O error naming the path.
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        match source.get_ref().and_then(|e| e.downcast_ref::<Refused>()) {
            Some(refused) => StoreError::Refused(refused.clone()),
            None => StoreError::Io {
                path: path.to_owned(),
                source,
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    config_dir: PathBuf,
    state_dir: PathBuf,
}

impl Store {
    pub fn new(config_dir: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            config_dir: config_dir.into(),
            state_dir: state_dir.into(),
        }
    }

    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub(crate) fn resources_dir(&self) -> PathBuf {
        self.config_dir.join("resources")
    }

    pub fn definition_path(&self, tag: &Tag) -> PathBuf {
        self.resources_dir().join(format!("{tag}.toml"))
    }

    pub fn state_path(&self, tag: &Tag) -> PathBuf {
        self.state_files_dir().join(format!("{tag}.json"))
    }

    pub(crate) fn lock_path(&self, tag: &Tag) -> PathBuf {
        self.locks_dir().join(format!("{tag}.lock"))
    }

    pub(crate) fn state_files_dir(&self) -> PathBuf {
        self.state_dir.join("state")
    }

    pub(crate) fn locks_dir(&self) -> PathBuf {
        self.state_dir.join("locks")
    }

    /// The JSON-lines event log.
    pub fn event_log_path(&self) -> PathBuf {
        self.state_dir.join("events.jsonl")
    }
}

/// Write `bytes` to `path` atomically and durably (mode 0644): temporary
/// file in the same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    fs::replace(path, bytes, FileKind::Plain).map_err(|e| StoreError::io(path, e))
}

/// What the store's unit tests share: a store in a fresh directory, a
/// definition, and a line no message may ever show.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::resource::{AdapterName, Definition};
    use std::time::SystemTime;

    /// It stands for `/etc/shadow`.
    pub(crate) const SECRET: &str = "root:$6$SECRET-HASH:19000:0:99999:7:::";

    pub(crate) fn tmp() -> (PathBuf, Store) {
        let dir = std::env::temp_dir().join(format!(
            "ipkit-store-test-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let store = Store::new(dir.join("etc"), dir.join("var"));
        (dir, store)
    }

    pub(crate) fn def(tag: &str) -> Definition {
        Definition::new(
            Tag::new(tag).unwrap(),
            "198.51.100.10/24".parse().unwrap(),
            AdapterName::new("eth0").unwrap(),
            None,
        )
        .unwrap()
    }
}
