//! The file primitives the store and the event log stand on, for Unix:
//! directories, no-follow opens, atomic and durable replacement, exclusive
//! creation, the lock file and its `flock`. Everything that depends on the
//! operating system's file semantics is here, behind small functions, so
//! that another system gets a file of its own.
//!
//! Rules (issue 10 defect 7):
//! - modes are set explicitly with `fchmod`/`chmod` after creation, never
//!   taken from the umask: [`FileKind::mode`], directories 0755;
//! - no symbolic link inside ipkit's directories is followed: files are
//!   opened with `O_NOFOLLOW` (a link gives a [`Refusal::Symlink`] naming
//!   the path), the store's own subdirectories are checked with `lstat`,
//!   replacing renames over the path (a link there is replaced, never
//!   written through) and removing unlinks (the link, never its target);
//! - files are opened with `O_NONBLOCK` and must be regular files, so a
//!   FIFO or a device planted in their place cannot block or feed ipkit.
//!
//! The config and state directories themselves may be links: the operator
//! chooses them (command line, environment, unit file).

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::fs_common::refused;
pub(crate) use super::fs_common::{check_own_dir, is_present};
use super::{FileKind, Refusal};

/// The mode of every directory ipkit creates.
const DIR_MODE: u32 = 0o755;

impl FileKind {
    /// The mode a file of this kind is created with, whatever the umask.
    pub(crate) fn mode(self) -> u32 {
        match self {
            // Readable by monitoring users (`ipkit status` needs no root).
            FileKind::Definition | FileKind::State | FileKind::Plain => 0o644,
            FileKind::EventLog => 0o640,
            FileKind::Lock => 0o600,
        }
    }
}

/// `O_NOFOLLOW` answers a link with `ELOOP`: say what it means.
fn no_follow_error(path: &Path, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        refused(path, Refusal::Symlink)
    } else {
        e
    }
}

fn must_be_regular(path: &Path, file: &File) -> io::Result<fs::Metadata> {
    let meta = file.metadata()?;
    if meta.is_file() {
        Ok(meta)
    } else {
        Err(refused(path, Refusal::NotRegular))
    }
}

/// Create `dir` and its missing parents, each with mode 0755. Directories
/// that exist are left as they are.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// One of the store's own subdirectories (`resources/`, `state/`,
/// `locks/`): created if missing, refused if it is a link or not a
/// directory.
pub(crate) fn own_dir(dir: &Path) -> io::Result<()> {
    // Nearly always there already: one lstat.
    match check_own_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_dir_all(dir)?;
            check_own_dir(dir)
        }
        checked => checked,
    }
}

/// Open a regular file for reading without following a link.
pub(crate) fn open_read(path: &Path) -> io::Result<File> {
    open_regular(path).map(|(file, _)| file)
}

/// [`open_read`], with what the check learnt of the file.
fn open_regular(path: &Path) -> io::Result<(File, fs::Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| no_follow_error(path, e))?;
    let meta = must_be_regular(path, &file)?;
    Ok((file, meta))
}

/// The whole of a regular file of at most `max` bytes.
pub(crate) fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let (file, meta) = open_regular(path)?;
    // Room for the whole file (and the one byte that shows it grew), so
    // that it is read in one call rather than in doubling steps; its size
    // from the regular-file check (issue 11: one fstat per state read).
    let size = meta.len().min(max);
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(refused(path, Refusal::TooLarge { max }));
    }
    Ok(bytes)
}

/// Open `path` with `access`, creating it with exactly `kind`'s mode if it
/// does not exist. Never through a link; only a regular file.
fn open_or_create(
    path: &Path,
    kind: FileKind,
    access: impl Fn(&mut OpenOptions) -> &mut OpenOptions,
) -> io::Result<File> {
    const FLAGS: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK;
    // The file nearly always exists: open it first. One that appears or
    // disappears between the two opens (a concurrent create, a log
    // rotation) is tried again; a few rounds are plenty.
    for _ in 0..8 {
        match access(&mut OpenOptions::new())
            .custom_flags(FLAGS)
            .open(path)
        {
            Ok(file) => {
                must_be_regular(path, &file)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(no_follow_error(path, e)),
        }
        match access(&mut OpenOptions::new())
            .create_new(true)
            .mode(kind.mode())
            .custom_flags(FLAGS)
            .open(path)
        {
            Ok(file) => {
                file.set_permissions(Permissions::from_mode(kind.mode()))?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(no_follow_error(path, e)),
        }
    }
    Err(io::Error::other(format!(
        "{}: keeps disappearing while it is opened",
        path.display()
    )))
}

/// Open (creating it if needed) a file to append to.
pub(crate) fn open_append(path: &Path, kind: FileKind) -> io::Result<File> {
    open_or_create(path, kind, |o| o.append(true))
}

/// Open (creating it if needed) a lock file.
pub(crate) fn open_lock(path: &Path) -> io::Result<File> {
    open_or_create(path, FileKind::Lock, |o| o.read(true).write(true))
}

/// Which file an open file or a path is: (device, inode). Two equal ids
/// are the same file (the event log's rotation is noticed by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileId(u64, u64);

pub(crate) fn file_id(file: &File) -> io::Result<FileId> {
    let meta = file.metadata()?;
    Ok(FileId(meta.dev(), meta.ino()))
}

/// The id of whatever is at `path` (a link itself, not its target); None
/// when nothing is there.
pub(crate) fn path_id(path: &Path) -> Option<FileId> {
    let meta = fs::symlink_metadata(path).ok()?;
    Some(FileId(meta.dev(), meta.ino()))
}

/// Take an exclusive lock on `file`, waiting for it (`flock`).
pub(crate) fn lock(file: &File) -> io::Result<()> {
    file.lock()
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

/// Make a directory's entries durable (after a rename or an unlink in it).
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A fresh temporary name beside `path` (never a `<tag>.toml` or
/// `<tag>.json`, so no reader mistakes it for a file of the store).
fn temporary_beside(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    parent(path).join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// The writer's pid in a temporary name of `path`'s (`.<name>.<pid>.<n>.tmp`).
#[cfg(test)]
fn temporary_writer(path: &Path, candidate: &str) -> Option<libc::pid_t> {
    let name = path.file_name()?.to_string_lossy();
    let (of, pid) = temporary_of(candidate)?;
    (of == name).then_some(pid)
}

/// The file a temporary name stands for and its writer's pid
/// (`.<name>.<pid>.<n>.tmp`; `<name>` may hold dots).
fn temporary_of(candidate: &str) -> Option<(&str, libc::pid_t)> {
    let rest = candidate.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (rest, n) = rest.rsplit_once('.')?;
    n.parse::<u64>().ok()?;
    let (name, pid) = rest.rsplit_once('.')?;
    Some((name, pid.parse().ok()?))
}

/// Remove the temporary files of `path` that a writer killed before its
/// rename left (issue 10, found by the crash harness): those whose pid is
/// no process any more. A live writer's file is never touched; a pid
/// reused since only keeps a stale file a little longer.
fn remove_stale_temporaries(path: &Path) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_temporaries_in(parent(path), &[name.as_str()]);
}

/// [`remove_stale_temporaries`] of several files of `dir` with one reading
/// of the directory (a group commit in a directory of 10,000 files read it
/// once per file before: quadratic, issue 11).
fn remove_stale_temporaries_in(dir: &Path, names: &[&str]) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let names: std::collections::HashSet<&str> = names.iter().copied().collect();
    for entry in entries.flatten() {
        let candidate = entry.file_name();
        let candidate = candidate.to_string_lossy();
        let Some((name, pid)) = temporary_of(&candidate) else {
            continue;
        };
        if !names.contains(name) {
            continue;
        }
        // SAFETY: kill(2) with signal 0 sends nothing; it only checks.
        let gone = unsafe { libc::kill(pid, 0) } != 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Each directory of `paths` once, sorted, with the file names in it.
fn by_directory(paths: &[&Path]) -> Vec<(PathBuf, Vec<String>)> {
    let mut dirs: Vec<(PathBuf, Vec<String>)> = Vec::new();
    for path in paths {
        let dir = parent(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match dirs.iter_mut().find(|(d, _)| d == dir) {
            Some((_, names)) => names.push(name),
            None => dirs.push((dir.to_path_buf(), vec![name])),
        }
    }
    dirs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    dirs
}

/// Create each directory of `paths` and clear its stale temporary files,
/// once per directory: what each [`write_temporary_with`] of a group would
/// otherwise do once per file.
fn prepare_group(paths: &[&Path]) -> Vec<PathBuf> {
    let dirs = by_directory(paths);
    for (dir, names) in &dirs {
        if create_dir_all(dir).is_ok() {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            remove_stale_temporaries_in(dir, &names);
        }
    }
    dirs.into_iter().map(|(d, _)| d).collect()
}

/// Write `bytes` into a new temporary file beside `path`, with `kind`'s
/// mode, and make it durable. Returns its name.
fn write_temporary(path: &Path, bytes: &[u8], kind: FileKind) -> io::Result<PathBuf> {
    create_dir_all(parent(path))?;
    remove_stale_temporaries(path);
    write_temporary_with(path, bytes, kind, true)
}

/// [`write_temporary`], durable only when `sync` (else the caller syncs
/// the file system before anything depends on it), in a directory the
/// caller made and cleared ([`prepare_group`]).
fn write_temporary_with(
    path: &Path,
    bytes: &[u8],
    kind: FileKind,
    sync: bool,
) -> io::Result<PathBuf> {
    let tmp = temporary_beside(path);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(kind.mode())
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        file.set_permissions(Permissions::from_mode(kind.mode()))?;
        file.write_all(bytes)?;
        if sync { file.sync_all() } else { Ok(()) }
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Replace `path` with `bytes` atomically and durably: temporary file,
/// fsync, rename over `path`, fsync the directory. A crash leaves the old
/// or the new file, never half of one.
pub(crate) fn replace(path: &Path, bytes: &[u8], kind: FileKind) -> io::Result<()> {
    let tmp = write_temporary(path, bytes, kind)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(parent(path))
}

/// Replace several files at once, atomically and durably, with two syncs in
/// all (group commit, issue 11): every temporary file is written, one
/// `syncfs(2)` makes them all durable, then each is renamed over its file,
/// then each directory involved is fsynced once. A crash leaves each file
/// old or new, never half of one: a temporary file is durable before it
/// is renamed. One file: exactly [`replace`]. One result per file.
pub(crate) fn replace_all(files: &[(PathBuf, Vec<u8>)], kind: FileKind) -> Vec<io::Result<()>> {
    if let [(path, bytes)] = files {
        return vec![replace(path, bytes, kind)];
    }
    group_commit(files, kind, |tmp, path| {
        let renamed = fs::rename(tmp, path);
        if renamed.is_err() {
            let _ = fs::remove_file(tmp);
        }
        renamed
    })
}

/// The group commit behind [`replace_all`] and [`create_all`]: every
/// temporary file written, one `syncfs(2)` of each file system involved
/// (in practice one directory), `put` each temporary file under its name
/// (`put(temporary, name)`, which also disposes of the temporary file),
/// one fsync of each directory. One result per file, in order.
fn group_commit(
    files: &[(PathBuf, Vec<u8>)],
    kind: FileKind,
    put: impl Fn(&Path, &Path) -> io::Result<()>,
) -> Vec<io::Result<()>> {
    let paths: Vec<&Path> = files.iter().map(|(path, _)| path.as_path()).collect();
    let dirs = prepare_group(&paths);
    let written: Vec<io::Result<PathBuf>> = files
        .iter()
        .map(|(path, bytes)| write_temporary_with(path, bytes, kind, false))
        .collect();
    let synced: Vec<(&Path, io::Result<()>)> = dirs
        .iter()
        .map(|dir| (dir.as_path(), sync_file_system(dir)))
        .collect();
    let mut results: Vec<io::Result<()>> = files
        .iter()
        .zip(written)
        .map(|((path, _), tmp)| {
            let tmp = tmp?;
            match synced.iter().find(|(dir, _)| *dir == parent(path)) {
                Some((_, Err(e))) => {
                    let _ = fs::remove_file(&tmp);
                    Err(io::Error::new(e.kind(), e.to_string()))
                }
                _ => put(&tmp, path),
            }
        })
        .collect();
    for dir in &dirs {
        if let Err(e) = sync_dir(dir) {
            for ((path, _), result) in files.iter().zip(results.iter_mut()) {
                if parent(path) == dir.as_path() && result.is_ok() {
                    *result = Err(io::Error::new(e.kind(), e.to_string()));
                }
            }
        }
    }
    results
}

/// `syncfs(2)` of the file system that holds `dir`: everything written to
/// it so far is durable.
fn sync_file_system(dir: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let d = File::open(dir)?;
    // SAFETY: syncfs(2) on a descriptor we own.
    if unsafe { libc::syncfs(d.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Create `path` with `bytes`, atomically, durably, and only if nothing is
/// there yet (not even a dangling link): `AlreadyExists` otherwise. The
/// complete file appears under its name at once (a hard link of the
/// temporary file), so no reader ever sees it half written.
pub(crate) fn create_new(path: &Path, bytes: &[u8], kind: FileKind) -> io::Result<()> {
    let tmp = write_temporary(path, bytes, kind)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    linked?;
    sync_dir(parent(path))
}

/// [`create_new`] of several files with one group commit: every
/// temporary file written, one `syncfs(2)`, each linked under its name,
/// one fsync of each directory (issue 11: 10,000 definitions for a bench
/// took 20,000 fsyncs). A crash leaves each file absent or whole. One
/// result per file, in order; `AlreadyExists` for a name that is taken.
pub(crate) fn create_all(files: &[(PathBuf, Vec<u8>)], kind: FileKind) -> Vec<io::Result<()>> {
    if let [(path, bytes)] = files {
        return vec![create_new(path, bytes, kind)];
    }
    group_commit(files, kind, |tmp, path| {
        let linked = fs::hard_link(tmp, path);
        let _ = fs::remove_file(tmp);
        linked
    })
}

/// Remove `path` (a link itself, never its target) and make that durable.
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    fs::remove_file(path)?;
    sync_dir(parent(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_writers_temporary_file_goes_at_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vip.json");
        // A process that has exited: its pid is no process any more.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let own = std::process::id();
        let stale = dir.path().join(format!(".vip.json.{dead}.0.tmp"));
        let live = dir.path().join(format!(".vip.json.{own}.99.tmp"));
        let other = dir.path().join(format!(".web.json.{dead}.0.tmp"));
        for p in [&stale, &live, &other] {
            fs::write(p, b"{\"in_serv").unwrap();
        }
        replace(&path, b"{}", FileKind::State).unwrap();
        assert!(!stale.exists(), "the dead writer's file is gone");
        assert!(live.exists(), "a live writer's file stays");
        assert!(
            other.exists(),
            "another file's temporaries are its own writer's"
        );
        assert_eq!(fs::read(&path).unwrap(), b"{}");
        let name = format!(".vip.json.{dead}.0.tmp");
        assert_eq!(temporary_writer(&path, &name), Some(dead as libc::pid_t));
        assert_eq!(temporary_writer(&path, ".vip.json.x.0.tmp"), None);
        assert_eq!(temporary_writer(&path, ".vip.json.12.tmp"), None);
    }
}
