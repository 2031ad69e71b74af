//! The locks: per resource, `<state_dir>/locks/<tag>.lock` (operations on
//! one resource never interleave, whichever process runs them, SPEC §4),
//! and over the definitions, `<config_dir>/resources/.lock` (two creates
//! never both pass the uniqueness checks, issue 10).

use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Store, StoreError, fs as files};
use crate::resource::{Tag, Tunables};

/// Holds a resource's exclusive lock until dropped.
#[derive(Debug)]
pub struct ResourceLock {
    _file: File,
}

/// Holds the lock of the definitions directory until dropped: checks
/// across definitions and the write that depends on them are one step.
#[derive(Debug)]
pub struct DefinitionsLock {
    _file: File,
}

impl Store {
    /// Take the resource's exclusive lock, waiting at most `timeout`.
    pub fn lock(&self, tag: &Tag, timeout: Duration) -> Result<ResourceLock, StoreError> {
        let file = lock_in(&self.locks_dir(), &self.lock_path(tag), timeout, |waited| {
            busy(tag, waited)
        })?;
        Ok(ResourceLock { _file: file })
    }

    /// [`Store::lock`] of each of `tags`, one after the other in the order
    /// given, each waiting at most `timeout`; the locks directory is
    /// checked once for all (issue 11: the daemon's batch of 100). When
    /// that check fails, each lock is tried as [`Store::lock`] does, and
    /// reports the directory's own error.
    pub fn lock_each(
        &self,
        tags: &[&Tag],
        timeout: Duration,
    ) -> Vec<Result<ResourceLock, StoreError>> {
        let checked = files::own_dir(&self.locks_dir()).is_ok();
        tags.iter()
            .map(|tag| {
                if !checked {
                    return self.lock(tag, timeout);
                }
                let file = lock_file(&self.lock_path(tag), timeout, |waited| busy(tag, waited))?;
                Ok(ResourceLock { _file: file })
            })
            .collect()
    }

    /// Take the lock of the definitions directory
    /// (`<config_dir>/resources/.lock`), waiting at most the default
    /// `lock_timeout`.
    pub fn lock_definitions(&self) -> Result<DefinitionsLock, StoreError> {
        let dir = self.resources_dir();
        let file = lock_in(
            &dir,
            &dir.join(".lock"),
            Tunables::default().lock_timeout,
            |waited| StoreError::DefinitionsBusy {
                waited_ms: waited.as_millis(),
            },
        )?;
        Ok(DefinitionsLock { _file: file })
    }
}

/// `tag`'s lock was held by another for all of `waited`.
fn busy(tag: &Tag, waited: Duration) -> StoreError {
    StoreError::Busy {
        tag: tag.to_string(),
        waited_ms: waited.as_millis(),
    }
}

/// Open the lock file `path` in the store's own directory `dir` and take
/// its exclusive lock, waiting at most `timeout` (then `busy`).
fn lock_in(
    dir: &Path,
    path: &Path,
    timeout: Duration,
    busy: impl Fn(Duration) -> StoreError,
) -> Result<File, StoreError> {
    files::own_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    lock_file(path, timeout, busy)
}

/// Open the lock file `path` (its directory checked already) and take its
/// exclusive lock, waiting at most `timeout` (then `busy`).
fn lock_file(
    path: &Path,
    timeout: Duration,
    busy: impl Fn(Duration) -> StoreError,
) -> Result<File, StoreError> {
    let file = files::open_lock(path).map_err(|e| StoreError::io(path, e))?;
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        if files::try_lock(&file).map_err(|e| StoreError::io(path, e))? {
            return Ok(file);
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(busy(waited));
        }
        std::thread::sleep(pause.min(timeout - waited));
        pause = (pause * 2).min(Duration::from_millis(20));
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
    fn lock_each_takes_the_free_locks_and_reports_the_busy_one() {
        let (dir, store) = tmp();
        let tags: Vec<Tag> = ["a", "b", "c"]
            .iter()
            .map(|t| Tag::new(t).unwrap())
            .collect();
        let held = store.lock(&tags[1], Duration::from_secs(1)).unwrap();
        let refs: Vec<&Tag> = tags.iter().collect();
        let locks = store.lock_each(&refs, Duration::from_millis(20));
        assert!(locks[0].is_ok() && locks[2].is_ok(), "{locks:?}");
        assert!(matches!(&locks[1], Err(StoreError::Busy { tag, .. }) if tag == "b"));
        // The ones taken are held: a second taker waits, then is busy.
        let again = store.lock(&tags[0], Duration::from_millis(20)).unwrap_err();
        assert!(matches!(again, StoreError::Busy { .. }), "{again}");
        drop((held, locks));
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)] // makes a symbolic link
    #[test]
    fn lock_each_refuses_a_symlinked_locks_directory_for_every_tag() {
        let (dir, store) = tmp();
        let elsewhere = dir.join("elsewhere");
        fs::create_dir_all(&elsewhere).unwrap();
        fs::create_dir_all(dir.join("var")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join("var/locks")).unwrap();
        let tags: Vec<Tag> = ["a", "b"].iter().map(|t| Tag::new(t).unwrap()).collect();
        let refs: Vec<&Tag> = tags.iter().collect();
        for lock in store.lock_each(&refs, Duration::from_millis(10)) {
            let e = lock.unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{e}");
        }
        assert_eq!(
            fs::read_dir(&elsewhere).unwrap().count(),
            0,
            "a lock file went through the link"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)] // makes a symbolic link
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
