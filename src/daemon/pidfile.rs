//! `<state_dir>/daemon.pid`: how the OCF agent finds a daemon serving its
//! state directory, to tell it to reload after a start, stop or reload
//! (docs/pacemaker.md, "Event-driven recovery with the daemon").
//!
//! The daemon writes its pid atomically before it reads the definitions
//! (a reload asked for while it starts is queued by the signal handler)
//! and removes the file on a clean exit. A reader trusts the file only when
//! the process is alive, is not itself, and is ipkit (`/proc/<pid>/comm` or
//! the name of `/proc/<pid>/exe`), so a stale file whose pid was reused by
//! another program is never signalled.

use std::fs;
use std::path::{Path, PathBuf};

use crate::store::{StoreError, write_atomic};

/// The file name under the state directory.
pub const FILE: &str = "daemon.pid";

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// The pid in a pidfile's text: one decimal number > 1, surrounding
/// whitespace allowed, nothing else.
pub fn parse(text: &str) -> Option<i32> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse::<i32>().ok().filter(|p| *p > 1)
}

/// Whether a process looks like ipkit: its command name (`comm`, which the
/// kernel cuts at 15 bytes) is `ipkit`, or its executable's file name is
/// (a replaced binary shows as `ipkit (deleted)`), or it runs the very
/// binary we run.
pub fn is_ipkit(comm: Option<&str>, exe: Option<&Path>, self_exe: Option<&Path>) -> bool {
    if comm.map(str::trim) == Some("ipkit") {
        return true;
    }
    let Some(exe) = exe else { return false };
    let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let name = name.strip_suffix(" (deleted)").unwrap_or(name);
    name == "ipkit" || (self_exe.is_some() && self_exe == Some(exe))
}

/// Write our pid, atomically.
pub fn write(state_dir: &Path) -> Result<(), StoreError> {
    write_atomic(
        &path(state_dir),
        format!("{}\n", std::process::id()).as_bytes(),
    )
}

/// Remove the pidfile if it is still ours.
pub fn remove(state_dir: &Path) {
    let p = path(state_dir);
    let ours = fs::read_to_string(&p)
        .ok()
        .and_then(|t| parse(&t))
        .is_some_and(|pid| u32::try_from(pid).ok() == Some(std::process::id()));
    if ours {
        let _ = fs::remove_file(&p);
    }
}

/// The pid of a live ipkit daemon serving `state_dir`, if there is one.
pub fn running_daemon(state_dir: &Path) -> Option<i32> {
    let pid = parse(&fs::read_to_string(path(state_dir)).ok()?)?;
    if u32::try_from(pid).ok() == Some(std::process::id()) {
        return None;
    }
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let comm = fs::read_to_string(proc_dir.join("comm")).ok();
    let exe = fs::read_link(proc_dir.join("exe")).ok();
    let self_exe = fs::read_link("/proc/self/exe").ok();
    is_ipkit(comm.as_deref(), exe.as_deref(), self_exe.as_deref()).then_some(pid)
}

/// What [`signal_reload`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// No daemon serves this state directory.
    NoDaemon,
    /// SIGHUP sent to this pid.
    Sent(i32),
    /// The daemon is there but kill(2) failed (errno).
    Failed(i32, i32),
}

/// Tell the daemon serving `state_dir`, if any, to reload its definitions.
pub fn signal_reload(state_dir: &Path) -> Reload {
    let Some(pid) = running_daemon(state_dir) else {
        return Reload::NoDaemon;
    };
    send_reload(pid)
}

/// SIGHUP to `pid`. (On Windows no process is ever found here: there is no
/// `/proc`, and the service reloads on `sc.exe control ipkit paramchange`.)
#[cfg(unix)]
fn send_reload(pid: i32) -> Reload {
    // SAFETY: kill(2) with a checked pid > 1 and a valid signal number.
    let rc = unsafe { libc::kill(pid, libc::SIGHUP) };
    if rc == 0 {
        Reload::Sent(pid)
    } else {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        Reload::Failed(pid, errno)
    }
}

#[cfg(not(unix))]
fn send_reload(pid: i32) -> Reload {
    Reload::Failed(pid, libc::ENOSYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_one_pid_only() {
        assert_eq!(parse("1234\n"), Some(1234));
        assert_eq!(parse("  77 "), Some(77));
        for bad in [
            "",
            "\n",
            "0",
            "1",
            "-5",
            "12 34",
            "abc",
            "12a",
            "99999999999",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn is_ipkit_by_comm_or_exe() {
        let p = |s: &'static str| Some(Path::new(s));
        assert!(is_ipkit(Some("ipkit\n"), None, None));
        assert!(is_ipkit(Some("x"), p("/usr/bin/ipkit"), None));
        assert!(is_ipkit(None, p("/usr/bin/ipkit (deleted)"), None));
        assert!(is_ipkit(Some("vip"), p("/opt/a/b"), p("/opt/a/b")));
        assert!(!is_ipkit(
            Some("sleep"),
            p("/usr/bin/sleep"),
            p("/usr/bin/ipkit")
        ));
        assert!(!is_ipkit(Some("ipkitd"), p("/usr/bin/ipkitd"), None));
        assert!(!is_ipkit(None, None, None));
    }

    #[cfg(unix)] // /proc and sleep(1)
    #[test]
    fn write_remove_and_find() {
        let dir = tempfile::tempdir().unwrap();
        // Our own pid is never "the daemon" (we would signal ourselves).
        write(dir.path()).unwrap();
        assert_eq!(
            parse(&fs::read_to_string(path(dir.path())).unwrap()),
            i32::try_from(std::process::id()).ok()
        );
        assert_eq!(running_daemon(dir.path()), None);
        remove(dir.path());
        assert!(!path(dir.path()).exists());
        assert_eq!(signal_reload(dir.path()), Reload::NoDaemon);
        // A live process that is not ipkit is not signalled.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        fs::write(path(dir.path()), format!("{}\n", child.id())).unwrap();
        assert_eq!(running_daemon(dir.path()), None);
        assert_eq!(signal_reload(dir.path()), Reload::NoDaemon);
        // remove() leaves a pidfile that is not ours.
        remove(dir.path());
        assert!(path(dir.path()).exists());
        let _ = child.kill();
        let _ = child.wait();
    }
}
