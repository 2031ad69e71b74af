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

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::resource::{Definition, RuntimeState, Tag};

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
    fn io(path: &Path, source: io::Error) -> Self {
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

/// Holds a resource's exclusive lock until dropped.
#[derive(Debug)]
pub struct ResourceLock {
    _file: File,
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

    fn resources_dir(&self) -> PathBuf {
        self.config_dir.join("resources")
    }

    pub fn definition_path(&self, tag: &Tag) -> PathBuf {
        self.resources_dir().join(format!("{tag}.toml"))
    }

    pub fn state_path(&self, tag: &Tag) -> PathBuf {
        self.state_dir.join("state").join(format!("{tag}.json"))
    }

    fn lock_path(&self, tag: &Tag) -> PathBuf {
        self.state_dir.join("locks").join(format!("{tag}.lock"))
    }

    /// The JSON-lines event log.
    pub fn event_log_path(&self) -> PathBuf {
        self.state_dir.join("events.jsonl")
    }

    /// Every defined tag, sorted. Files that are not `<tag>.toml` with a
    /// valid tag are ignored (editor backups, temporary files).
    pub fn list_tags(&self) -> Result<Vec<Tag>, StoreError> {
        let dir = self.resources_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io(&dir, e)),
        };
        let mut tags = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(stem) = name.strip_suffix(".toml") else {
                continue;
            };
            if let Ok(tag) = Tag::new(stem) {
                tags.push(tag);
            }
        }
        tags.sort();
        Ok(tags)
    }

    pub fn exists(&self, tag: &Tag) -> bool {
        self.definition_path(tag).exists()
    }

    pub fn load_definition(&self, tag: &Tag) -> Result<Definition, StoreError> {
        let path = self.definition_path(tag);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::UnknownTag(tag.to_string()));
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        let def: Definition = toml::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string().trim_end().to_owned(),
        })?;
        if &def.tag != tag {
            return Err(StoreError::Corrupt {
                path,
                reason: format!(
                    "the file says tag = {:?}, its name says {tag:?}",
                    def.tag.as_str()
                ),
            });
        }
        def.validate().map_err(|e| StoreError::Corrupt {
            path,
            reason: e.to_string(),
        })?;
        Ok(def)
    }

    /// Every definition. A broken file is an error naming it.
    pub fn load_all(&self) -> Result<Vec<Definition>, StoreError> {
        self.list_tags()?
            .iter()
            .map(|t| self.load_definition(t))
            .collect()
    }

    pub fn save_definition(&self, def: &Definition) -> Result<(), StoreError> {
        let path = self.definition_path(&def.tag);
        let body = toml::to_string(def).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let text = format!(
            "# ipkit resource definition (see `man ipkit` / README, \"Configuration\").\n\
             # Edit by hand if you like; `ipkit show {}` checks it.\n{body}",
            def.tag
        );
        write_atomic(&path, text.as_bytes())
    }

    /// Create a new definition; refuses an existing tag.
    pub fn create_definition(&self, def: &Definition) -> Result<(), StoreError> {
        if self.exists(&def.tag) {
            return Err(StoreError::Exists(def.tag.to_string()));
        }
        self.save_definition(def)
    }

    pub fn delete_definition(&self, tag: &Tag) -> Result<(), StoreError> {
        let path = self.definition_path(tag);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::UnknownTag(tag.to_string()));
            }
            Err(e) => return Err(StoreError::io(&path, e)),
        }
        sync_dir(path.parent().unwrap_or(Path::new(".")))?;
        let state = self.state_path(tag);
        match fs::remove_file(&state) {
            Ok(()) => sync_dir(state.parent().unwrap_or(Path::new("."))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(&state, e)),
        }
    }

    /// Runtime state; a resource that never ran has the default state.
    pub fn load_state(&self, tag: &Tag) -> Result<RuntimeState, StoreError> {
        let path = self.state_path(tag);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(RuntimeState::default()),
            Err(e) => Err(StoreError::io(&path, e)),
        }
    }

    pub fn save_state(&self, tag: &Tag, state: &RuntimeState) -> Result<(), StoreError> {
        let path = self.state_path(tag);
        let mut body = serde_json::to_vec_pretty(state).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        body.push(b'\n');
        write_atomic(&path, &body)
    }

    /// Take the resource's exclusive lock, waiting at most `timeout`.
    pub fn lock(&self, tag: &Tag, timeout: Duration) -> Result<ResourceLock, StoreError> {
        let path = self.lock_path(tag);
        ensure_dir(path.parent().unwrap_or(Path::new(".")))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io(&path, e))?;
        let start = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(ResourceLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) => {
                    let waited = start.elapsed();
                    if waited >= timeout {
                        return Err(StoreError::Busy {
                            tag: tag.to_string(),
                            waited_ms: waited.as_millis(),
                        });
                    }
                    std::thread::sleep(pause.min(timeout - waited));
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(fs::TryLockError::Error(e)) => return Err(StoreError::io(&path, e)),
            }
        }
    }
}

fn ensure_dir(dir: &Path) -> Result<(), StoreError> {
    fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

/// Write `bytes` to `path` atomically and durably: temporary file in the
/// same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_dir(dir)?;
    let mut file =
        atomic_write_file::AtomicWriteFile::open(path).map_err(|e| StoreError::io(path, e))?;
    file.write_all(bytes).map_err(|e| StoreError::io(path, e))?;
    // commit() fsyncs the file and renames it into place.
    file.commit().map_err(|e| StoreError::io(path, e))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{AdapterName, Operation};
    use std::time::SystemTime;

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
