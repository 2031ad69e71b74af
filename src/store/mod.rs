//! Persisted definitions and runtime state (SPEC §1, §4, §7).
//!
//! Layout:
//! - `<config_dir>/resources/<tag>.toml`: one definition per file, TOML,
//!   readable and editable by hand;
//! - `<state_dir>/state/<tag>.json`: runtime state;
//! - `<state_dir>/locks/<tag>.lock`: the per-resource lock file.
//!
//! Every write is atomic: write a temporary file, fsync it, rename it over
//! the old one, fsync the directory. A crash leaves the old or the new file,
//! never half of one. Readers never take the lock, so `status` never waits
//! behind a slow operation.
//!
//! Files: [`definitions`] (the TOML definitions), [`state`] (runtime
//! state), [`lock`] (per-resource locks), `fs_unix` (the operating
//! system's file primitives); this file holds the layout and the errors.

use std::io;
use std::path::{Path, PathBuf};

mod definitions;
#[cfg(unix)]
#[path = "fs_unix.rs"]
pub(crate) mod fs;
mod lock;
mod state;

pub use lock::ResourceLock;

use crate::resource::Tag;

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
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        StoreError::Io {
            path: path.to_owned(),
            source,
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
        self.state_dir.join("state").join(format!("{tag}.json"))
    }

    pub(crate) fn lock_path(&self, tag: &Tag) -> PathBuf {
        self.state_dir.join("locks").join(format!("{tag}.lock"))
    }

    /// The JSON-lines event log.
    pub fn event_log_path(&self) -> PathBuf {
        self.state_dir.join("events.jsonl")
    }
}

/// Write `bytes` to `path` atomically and durably: temporary file in the
/// same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    fs::replace(path, bytes).map_err(|e| StoreError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{AdapterName, Definition, Operation, RuntimeState};
    use std::fs;
    use std::time::{Duration, SystemTime};

    fn tmp() -> (PathBuf, Store) {
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

    fn def(tag: &str) -> Definition {
        Definition::new(
            Tag::new(tag).unwrap(),
            "198.51.100.10/24".parse().unwrap(),
            AdapterName::new("eth0").unwrap(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn definitions_and_state_round_trip() {
        let (dir, store) = tmp();
        let d = def("vip");
        store.create_definition(&d).unwrap();
        assert!(matches!(
            store.create_definition(&d),
            Err(StoreError::Exists(_))
        ));
        assert_eq!(store.load_definition(&d.tag).unwrap(), d);
        assert_eq!(store.list_tags().unwrap(), vec![d.tag.clone()]);
        let mut st = store.load_state(&d.tag).unwrap();
        assert_eq!(st, RuntimeState::default());
        st.in_service = true;
        st.record(Operation::Restore, true, Some(6001), SystemTime::UNIX_EPOCH);
        store.save_state(&d.tag, &st).unwrap();
        assert_eq!(store.load_state(&d.tag).unwrap(), st);
        store.delete_definition(&d.tag).unwrap();
        assert!(matches!(
            store.load_definition(&d.tag),
            Err(StoreError::UnknownTag(_))
        ));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_files_name_the_file() {
        let (dir, store) = tmp();
        let d = def("vip");
        store.create_definition(&d).unwrap();
        fs::write(store.definition_path(&d.tag), "tag = [").unwrap();
        let e = store.load_definition(&d.tag).unwrap_err().to_string();
        assert!(e.contains("vip.toml") && e.contains("corrupt"), "{e}");
        fs::create_dir_all(store.state_path(&d.tag).parent().unwrap()).unwrap();
        fs::write(store.state_path(&d.tag), "{\"in_service\": tru").unwrap();
        let e = store.load_state(&d.tag).unwrap_err().to_string();
        assert!(e.contains("vip.json"), "{e}");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn second_locker_gets_busy_after_timeout() {
        let (dir, store) = tmp();
        let tag = Tag::new("vip").unwrap();
        let held = store.lock(&tag, Duration::from_secs(1)).unwrap();
        let e = store.lock(&tag, Duration::from_millis(30)).unwrap_err();
        assert!(matches!(e, StoreError::Busy { .. }), "{e}");
        assert!(e.to_string().contains("busy"));
        drop(held);
        store.lock(&tag, Duration::from_millis(30)).unwrap();
        fs::remove_dir_all(dir).unwrap();
    }
}
