//! The per-resource lock, `<state_dir>/locks/<tag>.lock`: operations on
//! one resource never interleave, whichever process runs them (SPEC §4).

use std::fs::File;
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
        let dir = self.locks_dir();
        files::own_dir(&dir).map_err(|e| StoreError::io(&dir, e))?;
        let path = self.lock_path(tag);
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

#[cfg(test)]
mod tests {
    use super::super::tests::tmp;
    use super::*;
    use std::fs;

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

    #[test]
    fn a_symlinked_lock_file_is_refused_and_its_target_not_created() {
        let (dir, store) = tmp();
        let tag = Tag::new("vip").unwrap();
        fs::create_dir_all(dir.join("var/locks")).unwrap();
        let target = dir.join("created-through-the-link");
        std::os::unix::fs::symlink(&target, dir.join("var/locks/vip.lock")).unwrap();
        let e = store.lock(&tag, Duration::from_millis(10)).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!target.exists(), "the lock target was created");
        fs::remove_dir_all(dir).unwrap();
    }
}
