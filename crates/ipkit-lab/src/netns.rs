//! Network namespaces: create, enter, run code inside (used by the lab and tests).
//!
//! A [`NetNs`] owns a file descriptor of a network namespace; the namespace
//! lives as long as that descriptor (and anything else inside it, such as
//! sockets). Named namespaces are also bind-mounted at
//! `/run/netns/<name>`, as `ip netns add` does, so `ip netns exec` works on
//! them; the mount is removed on drop.
//!
//! Switching namespace is per thread: [`NetNs::run`] runs a closure on a
//! scoped helper thread that `setns`'d into the namespace, so the caller's
//! own thread never changes namespace.

use std::ffi::CString;
use std::fs;
use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;

/// Where named namespaces are bind-mounted (iproute2's `NETNS_RUN_DIR`).
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// Serialises the one-time shared-mount set-up of [`NETNS_RUN_DIR`].
static RUN_DIR_SETUP: Mutex<()> = Mutex::new(());

/// The mounts of this process's live named namespaces, for
/// [`remove_all_mounts`]; `None` once that ran (no new one is made then).
static LIVE_MOUNTS: Mutex<Option<Vec<PathBuf>>> = Mutex::new(Some(Vec::new()));

/// Unmount and remove every `/run/netns` entry this process's named
/// namespaces still hold, and refuse new ones from now on: for a process
/// about to exit without unwinding (a bench or a test harness interrupted
/// by SIGINT/SIGTERM, whose labs' `Drop` never runs). The namespaces
/// themselves go when the process's descriptors close at its exit.
pub fn remove_all_mounts() {
    let live = LIVE_MOUNTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_default();
    for path in live {
        let _ = umount(&path);
        let _ = fs::remove_file(&path);
    }
}

/// Note a mount made at `path`; false (nothing noted) after
/// [`remove_all_mounts`].
fn note_mount(path: &Path) -> bool {
    let mut live = LIVE_MOUNTS.lock().unwrap_or_else(|p| p.into_inner());
    match live.as_mut() {
        Some(paths) => {
            paths.push(path.to_path_buf());
            true
        }
        None => false,
    }
}

fn forget_mount(path: &Path) {
    let mut live = LIVE_MOUNTS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(paths) = live.as_mut() {
        paths.retain(|p| p != path);
    }
}

/// An owned network namespace.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
    name: Option<String>,
    mount: Option<PathBuf>,
}

impl NetNs {
    /// A fresh anonymous namespace (unshared on a helper thread), `lo` up.
    pub fn new() -> io::Result<NetNs> {
        let fd = thread::scope(|s| {
            s.spawn(|| -> io::Result<OwnedFd> {
                let fd = unshare_net()?;
                set_up("lo")?;
                Ok(fd)
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })?;
        Ok(NetNs {
            fd,
            name: None,
            mount: None,
        })
    }

    /// A fresh namespace, also bind-mounted at `/run/netns/<name>` (so `ip
    /// netns exec <name>` works); unmounted and removed on drop. Fails with
    /// `AlreadyExists` if that name is taken.
    pub fn new_named(name: &str) -> io::Result<NetNs> {
        validate_name(name)?;
        prepare_run_dir()?;
        let path = Path::new(NETNS_RUN_DIR).join(name);
        // The mount point: created exclusively, so two labs never share it.
        // Noted first, so an interruption from here on removes it too.
        if !note_mount(&path) {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                format!("netns name {name:?}: the lab's mounts were removed (interrupted)"),
            ));
        }
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                forget_mount(&path);
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("netns name {name:?}: {} already exists", path.display()),
                ));
            }
            Err(e) => {
                forget_mount(&path);
                return Err(annotate(e, &format!("create {}", path.display())));
            }
        }
        let mut ns = match NetNs::new() {
            Ok(ns) => ns,
            Err(e) => {
                let _ = fs::remove_file(&path);
                forget_mount(&path);
                return Err(e);
            }
        };
        // Owning the mount from here on: drop cleans it even if mount fails.
        ns.mount = Some(path.clone());
        ns.name = Some(name.to_owned());
        let source = format!("/proc/self/fd/{}", ns.fd.as_raw_fd());
        mount(&source, &path, libc::MS_BIND)
            .map_err(|e| annotate(e, &format!("bind-mount netns at {}", path.display())))?;
        Ok(ns)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Runs `f` on a scoped thread that `setns`'d into this namespace; a
    /// panic in `f` is propagated.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let fd = self.fd.as_raw_fd();
        thread::scope(|s| {
            s.spawn(move || -> io::Result<T> {
                // SAFETY: fd is a namespace fd kept open by self for the
                // whole scope.
                if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                    return Err(annotate(io::Error::last_os_error(), "setns"));
                }
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Writes a sysctl of this namespace, e.g. `net/ipv6/conf/all/accept_dad`.
    pub fn set_sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        let path = Path::new("/proc/sys").join(key);
        self.run(|| fs::write(&path, value))?
            .map_err(|e| annotate(e, &format!("write {}", path.display())))
    }

    /// Reads a sysctl of this namespace (trimmed).
    pub fn sysctl(&self, key: &str) -> io::Result<String> {
        let path = Path::new("/proc/sys").join(key);
        self.run(|| fs::read_to_string(&path))?
            .map(|s| s.trim().to_owned())
            .map_err(|e| annotate(e, &format!("read {}", path.display())))
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Some(path) = &self.mount {
            // Best effort: lazily detach, then remove the mount point.
            let _ = umount(path);
            let _ = fs::remove_file(path);
            forget_mount(path);
        }
    }
}

fn annotate(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn validate_name(name: &str) -> io::Result<()> {
    let bad = |why: &str| {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("netns name {name:?}: {why}"),
        ))
    };
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.len() > 255 {
        return bad("longer than 255 bytes");
    }
    if name == "." || name == ".." {
        return bad("is a path component");
    }
    if name.contains(['/', '\0']) {
        return bad("must not contain '/' or NUL");
    }
    Ok(())
}

/// unshare(CLONE_NEWNET) on this thread; returns the new namespace's fd.
fn unshare_net() -> io::Result<OwnedFd> {
    // SAFETY: affects only the calling (helper) thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(annotate(
            io::Error::last_os_error(),
            "unshare(CLONE_NEWNET)",
        ));
    }
    let path = c"/proc/thread-self/ns/net";
    // SAFETY: valid C string.
    let raw = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(annotate(
            io::Error::last_os_error(),
            "open /proc/thread-self/ns/net",
        ));
    }
    // SAFETY: fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Brings an interface of the current thread's namespace up (SIOCSIFFLAGS).
fn set_up(ifname: &str) -> io::Result<()> {
    // SAFETY: plain socket(2).
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(annotate(io::Error::last_os_error(), "socket"));
    }
    // SAFETY: fresh fd we own.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; zero is valid.
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    if ifname.len() >= req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {ifname:?}: too long"),
        ));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: ioctls on a valid socket with a valid ifreq.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(annotate(io::Error::last_os_error(), "SIOCGIFFLAGS"));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(annotate(io::Error::last_os_error(), "SIOCSIFFLAGS"));
        }
    }
    Ok(())
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path {}: contains NUL", p.display()),
        )
    })
}

fn mount(source: &str, target: &Path, flags: libc::c_ulong) -> io::Result<()> {
    let source = cpath(Path::new(source))?;
    let target = cpath(target)?;
    // SAFETY: valid C strings; no data argument.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            c"none".as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn umount(target: &Path) -> io::Result<()> {
    let target = cpath(target)?;
    // SAFETY: valid C string.
    if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Creates `/run/netns` and makes it a shared mount, as `ip netns add`
/// does: if it is not a mount point yet (EINVAL), bind-mount it onto
/// itself first. Shared propagation lets namespace mounts made here show
/// up in other mount namespaces (and `ip netns` in them).
fn prepare_run_dir() -> io::Result<()> {
    let _guard = RUN_DIR_SETUP.lock().unwrap_or_else(|p| p.into_inner());
    let dir = Path::new(NETNS_RUN_DIR);
    match fs::create_dir_all(dir) {
        Ok(()) => {}
        Err(e) => return Err(annotate(e, &format!("create {NETNS_RUN_DIR}"))),
    }
    let mut bound = false;
    loop {
        match mount("", dir, libc::MS_SHARED | libc::MS_REC) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && !bound => {
                mount(NETNS_RUN_DIR, dir, libc::MS_BIND | libc::MS_REC)
                    .map_err(|e| annotate(e, &format!("bind-mount {NETNS_RUN_DIR}")))?;
                bound = true;
            }
            Err(e) => {
                return Err(annotate(e, &format!("make {NETNS_RUN_DIR} a shared mount")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            let e = validate_name(bad).expect_err(bad);
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().starts_with("netns name"), "{e}");
        }
        assert!(validate_name(&"x".repeat(256)).is_err());
        assert!(validate_name("ipk123x0-sw").is_ok());
    }
}
