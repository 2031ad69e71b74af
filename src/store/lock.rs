//! The per-resource lock, `<state_dir>/locks/<tag>.lock`: operations on
//! one resource never interleave, whichever process runs them (SPEC §4).

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Store, StoreError, fs as files};
use crate::resource::Tag;

/// Holds a resource's exclusive lock until dropped.
#[derive(Debug)]
pub struct ResourceLock {
    _file: File,
}

impl Store {
    /// Take the resource's exclusive lock, waiting at most `timeout`.
    pub fn lock(&self, tag: &Tag, timeout: Duration) -> Result<ResourceLock, StoreError> {
        let path = self.lock_path(tag);
        let dir = path.parent().unwrap_or(Path::new("."));
        files::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        let file = files::open_lock(&path).map_err(|e| StoreError::io(&path, e))?;
        let start = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            if files::try_lock(&file).map_err(|e| StoreError::io(&path, e))? {
                return Ok(ResourceLock { _file: file });
            }
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
    }
}
