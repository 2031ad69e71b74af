//! Reading the JSON-lines event log back: every event of the current and rotated files, the lines that are not events, and following it as it grows.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::events::Event;
use crate::store::fs::{self as files, FileId};

use super::jsonl::rotated_path;

/// A line of the log that is not an event (e.g. cut short by a full disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
}

/// Every event in the log, oldest first: `events.jsonl.N` .. `.1`, then
/// `events.jsonl`. Unparsable lines are returned apart, never hidden.
pub fn read_all(path: &Path) -> io::Result<(Vec<Event>, Vec<BadLine>)> {
    read_log(path).map(|(events, bad, _)| (events, bad))
}

/// The events in `text` (the bytes of one log file, `file`), and the lines
/// that are not events. The parser every line of the log goes through;
/// public for the fuzzer (`fuzz/`).
#[doc(hidden)]
pub fn parse_lines(file: &Path, text: &[u8], events: &mut Vec<Event>, bad: &mut Vec<BadLine>) {
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Event>(line) {
            Ok(ev) => events.push(ev),
            Err(e) => bad.push(BadLine {
                file: file.to_owned(),
                line: i + 1,
                reason: e.to_string(),
            }),
        }
    }
}

/// [`read_all`], plus a [`Follower`] that continues exactly where the
/// reading stopped (no event is printed twice or missed between the two).
pub fn read_log(path: &Path) -> io::Result<(Vec<Event>, Vec<BadLine>, Follower)> {
    // The live file first: a rotation after this point moves it to .1,
    // which is then recognised by its inode and not read twice.
    let mut live = match files::open_read(path) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let live_id = match &live {
        Some(f) => Some(files::file_id(f)?),
        None => None,
    };
    let mut rotated: Vec<PathBuf> = Vec::new();
    let mut n = 1;
    while let Some(id) = files::path_id(&rotated_path(path, n)) {
        if Some(id) != live_id {
            rotated.push(rotated_path(path, n));
        }
        n += 1;
    }
    rotated.reverse();
    let mut events = Vec::new();
    let mut bad = Vec::new();
    for f in rotated {
        match files::open_read(&f).and_then(|mut file| {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map(|_| bytes)
        }) {
            Ok(bytes) => parse_lines(&f, &bytes, &mut events, &mut bad),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let mut pending = Vec::new();
    if let Some(f) = live.as_mut() {
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)?;
        // A last line without its newline is still being written: the
        // follower completes it.
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        pending = bytes.split_off(complete);
        parse_lines(path, &bytes, &mut events, &mut bad);
    }
    let follower = Follower {
        path: path.to_owned(),
        file: live,
        ino: live_id,
        pending,
    };
    Ok((events, bad, follower))
}

/// Tails `events.jsonl` from its current end, across rotations: when the
/// path names a new file, the rest of the old one is read first.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    ino: Option<FileId>,
    pending: Vec<u8>,
}

impl Follower {
    /// Start at the current end of the log (or at the start of a log that
    /// does not exist yet).
    pub fn from_end(path: &Path) -> Self {
        let mut f = Self {
            path: path.to_owned(),
            file: None,
            ino: None,
            pending: Vec::new(),
        };
        if let Ok(mut file) = files::open_read(path)
            && let Ok(id) = files::file_id(&file)
            && file.seek(SeekFrom::End(0)).is_ok()
        {
            f.ino = Some(id);
            f.file = Some(file);
        }
        f
    }

    fn drain(&mut self, out: &mut Vec<Event>) -> io::Result<()> {
        if let Some(file) = self.file.as_mut() {
            file.read_to_end(&mut self.pending)?;
        }
        while let Some(nl) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=nl).collect();
            if let Ok(ev) = serde_json::from_slice::<Event>(&line) {
                out.push(ev);
            }
        }
        Ok(())
    }

    /// New events since the last call (never blocks).
    pub fn poll(&mut self) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        self.drain(&mut out)?;
        let now = files::path_id(&self.path);
        if now.is_some() && now != self.ino {
            // Rotated (or created): the old file was finished above. Files
            // rotated in between (newer than ours, older than the current
            // one) are read whole, then the new file from its start.
            self.pending.clear();
            let mut newer = Vec::new();
            let mut n = 1;
            loop {
                let p = rotated_path(&self.path, n);
                let Some(id) = files::path_id(&p) else {
                    break;
                };
                if Some(id) == self.ino {
                    break;
                }
                newer.push(p);
                n += 1;
            }
            if self.ino.is_none() {
                newer.clear();
            }
            for p in newer.iter().rev() {
                if let Ok(file) = files::open_read(p) {
                    self.file = Some(file);
                    self.drain(&mut out)?;
                    self.pending.clear();
                }
            }
            match files::open_read(&self.path) {
                Ok(file) => {
                    self.ino = files::file_id(&file).ok();
                    self.file = Some(file);
                    self.drain(&mut out)?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Kind;
    use crate::log::JsonLogSink;
    use crate::log::testing::ev;
    use std::fs;
    use std::io::Write;

    #[test]
    fn follower_tails_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let one = serde_json::to_vec(&ev(Kind::RestoreStart)).unwrap().len() as u64 + 1;
        let sink = JsonLogSink::with_limits(&path, 2 * one + 10, 5);
        sink.append(&ev(Kind::RestoreStart)).unwrap();
        let mut f = Follower::from_end(&path);
        assert!(f.poll().unwrap().is_empty(), "starts at the end");
        sink.append(&ev(Kind::RestoreSucceeded)).unwrap();
        assert_eq!(
            f.poll().unwrap().iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![6001]
        );
        // The followed file is full: 6101 rotates it to .1 and starts a new
        // file, 6102 joins it, 6605 rotates again. Between two polls the
        // followed file moved twice; nothing may be missed.
        sink.append(&ev(Kind::RemoveSucceeded)).unwrap();
        sink.append(&ev(Kind::RemoveFailed)).unwrap();
        sink.append(&ev(Kind::RecoverStart)).unwrap();
        assert!(rotated_path(&path, 2).exists());
        let got: Vec<u16> = f.poll().unwrap().iter().map(|e| e.id).collect();
        assert_eq!(got, vec![6101, 6102, 6605]);
    }

    #[test]
    fn read_log_then_follow_misses_nothing_and_repeats_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let sink = JsonLogSink::new(&path);
        sink.append(&ev(Kind::RestoreStart)).unwrap();
        // Half a line: a writer in the middle of its write.
        let line = serde_json::to_vec(&ev(Kind::RestoreSucceeded)).unwrap();
        let (first, rest) = line.split_at(10);
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(first)
            .unwrap();
        let (events, bad, mut f) = read_log(&path).unwrap();
        assert_eq!(events.iter().map(|e| e.id).collect::<Vec<_>>(), vec![6013]);
        assert!(bad.is_empty(), "{bad:?}");
        let mut tail = rest.to_vec();
        tail.push(b'\n');
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&tail)
            .unwrap();
        sink.append(&ev(Kind::RemoveSucceeded)).unwrap();
        assert_eq!(
            f.poll().unwrap().iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![6001, 6101]
        );
        assert!(f.poll().unwrap().is_empty());
    }

    #[test]
    fn follower_sees_a_log_created_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut f = Follower::from_end(&path);
        assert!(f.poll().unwrap().is_empty());
        JsonLogSink::new(&path)
            .append(&ev(Kind::RestoreStart))
            .unwrap();
        assert_eq!(f.poll().unwrap().len(), 1);
    }
}
