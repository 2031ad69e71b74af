//! The JSON-lines event log `events.jsonl`: one event per line, appended under a lock, rotated at a size cap.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::FailOnce;
use crate::events::{Event, EventSink};
use crate::store::FileKind;
use crate::store::fs::{self as files};

/// Size at which `events.jsonl` is rotated.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// How many rotated files (`events.jsonl.1` .. `.N`) are kept.
pub const DEFAULT_KEEP: u32 = 5;
/// The file name of the JSON-lines log inside the state directory.
pub const EVENT_LOG_NAME: &str = "events.jsonl";

/// Appends events to `events.jsonl`, rotating it at a size cap.
///
/// Several processes (the daemon, command lines, the OCF agent) append to
/// the same file. Each event is one `write(2)` of a whole line on an
/// `O_APPEND` descriptor, made under an exclusive `flock` of the file; the
/// writer that finds the file at its cap rotates it
/// (`.N-1` → `.N`, …, `events.jsonl` → `.1`) while holding the lock. A
/// writer that waited for the lock checks that its descriptor is still the
/// file at the path, and reopens it if a rotation happened meanwhile.
pub struct JsonLogSink {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    fail: FailOnce,
    guard: Mutex<()>,
}

impl JsonLogSink {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::with_limits(path, DEFAULT_MAX_BYTES, DEFAULT_KEEP)
    }

    pub fn with_limits(path: impl Into<PathBuf>, max_bytes: u64, keep: u32) -> Self {
        Self {
            path: path.into(),
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
            fail: FailOnce::new("JSON event log"),
            guard: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_locked(&self) -> io::Result<File> {
        loop {
            let file = files::open_append(&self.path, FileKind::EventLog)?;
            files::lock(&file)?;
            // Still the file at the path? (Another writer may have rotated it
            // while we waited for the lock.)
            let ours = files::file_id(&file)?;
            if files::path_id(&self.path) == Some(ours) {
                return Ok(file);
            }
        }
    }

    fn rotate(&self) -> io::Result<()> {
        let name = |n: u32| rotated_path(&self.path, n);
        // Drop the oldest, shift the rest up by one.
        match fs::remove_file(name(self.keep)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        for n in (1..self.keep).rev() {
            match fs::rename(name(n), name(n + 1)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        fs::rename(&self.path, name(1))
    }

    /// Append one event (exposed for tests and the daemon).
    pub fn append(&self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        let _g = self.guard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = self.path.parent() {
            files::create_dir_all(dir)?;
        }
        let mut file = self.open_locked()?;
        let size = file.metadata()?.len();
        if size > 0 && size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
            // The lock on the old file keeps other writers waiting; they
            // will notice the new inode and reopen.
            let fresh = self.open_locked()?;
            drop(file);
            file = fresh;
        }
        file.write_all(&line)?;
        file.flush()
    }
}

impl EventSink for JsonLogSink {
    fn emit(&self, event: &Event) {
        if let Err(e) = self.append(event) {
            self.fail
                .report(&self.path.display().to_string(), &e, event);
        }
    }
}

/// `events.jsonl.N`.
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Kind;
    use crate::log::read_all;
    use crate::log::testing::ev;
    use std::sync::atomic::Ordering;

    #[test]
    fn json_log_appends_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let sink = JsonLogSink::new(&path);
        sink.emit(&ev(Kind::RestoreStart));
        sink.emit(&ev(Kind::RestoreSucceeded));
        let (events, bad) = read_all(&path).unwrap();
        assert!(bad.is_empty());
        assert_eq!(
            events.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![6013, 6001]
        );
    }

    #[test]
    fn json_log_rotates_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let one = serde_json::to_vec(&ev(Kind::RestoreStart)).unwrap().len() as u64 + 1;
        // Room for two events per file, three rotated files.
        let sink = JsonLogSink::with_limits(&path, 2 * one + 10, 3);
        for _ in 0..20 {
            sink.append(&ev(Kind::RestoreStart)).unwrap();
        }
        assert!(rotated_path(&path, 3).exists());
        assert!(!rotated_path(&path, 4).exists());
        for p in [
            path.clone(),
            rotated_path(&path, 1),
            rotated_path(&path, 2),
            rotated_path(&path, 3),
        ] {
            assert!(fs::metadata(&p).unwrap().len() <= 2 * one + 10, "{p:?}");
        }
        let (events, _) = read_all(&path).unwrap();
        assert_eq!(events.len(), 8, "4 files of 2 events each are kept");
    }

    #[test]
    fn json_log_failure_is_reported_not_panicking() {
        let dir = tempfile::tempdir().unwrap();
        // The log path is a directory: every append fails.
        let path = dir.path().join("events.jsonl");
        fs::create_dir(&path).unwrap();
        let sink = JsonLogSink::new(&path);
        assert!(sink.append(&ev(Kind::RestoreStart)).is_err());
        sink.emit(&ev(Kind::RestoreStart));
        assert!(sink.fail.reported.load(Ordering::Relaxed));
    }

    #[cfg(unix)]
    #[test]
    fn json_log_is_never_appended_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        fs::write(&target, "untouched\n").unwrap();
        let path = dir.path().join("events.jsonl");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let e = JsonLogSink::new(&path)
            .append(&ev(Kind::RestoreStart))
            .unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(e.to_string().contains("events.jsonl"), "{e}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "untouched\n");
    }
}
