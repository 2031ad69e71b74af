//! Shared by the command-line tests: a namespace lab, temporary config and
//! state directories, the real `ipkit` binary run inside node A's network
//! namespace, and snapshots of everything a command could change (every
//! file under both directories, and node A's links, addresses and
//! neighbour entries).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ipkit_lab::{Lab, LabConfig};

pub struct Env {
    pub lab: Lab,
    pub dir: tempfile::TempDir,
}

/// What a command could have changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    pub kernel: String,
}

/// A capability to drop in the child before exec.
#[derive(Debug, Clone, Copy)]
pub enum Drop_ {
    Nothing,
    NetAdmin,
    NetRaw,
}

pub const CAP_NET_ADMIN: u32 = 12;
pub const CAP_NET_RAW: u32 = 13;

impl Env {
    pub fn new() -> Env {
        let lab = Lab::build(LabConfig::unique()).expect("build the lab (needs root)");
        let dir = tempfile::tempdir().expect("temporary directory");
        Env { lab, dir }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("var")
    }

    /// `ipkit ARGS` inside node A's namespace, with this env's directories.
    pub fn ipkit(&self, args: &[&str]) -> Command {
        self.ipkit_dropping(args, Drop_::Nothing)
    }

    pub fn ipkit_dropping(&self, args: &[&str], drop: Drop_) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin!("ipkit"));
        cmd.args(args)
            .env("IPKIT_CONFIG_DIR", self.config_dir())
            .env("IPKIT_STATE_DIR", self.state_dir())
            .env_remove("RUST_BACKTRACE");
        self.enter(cmd, drop)
    }

    /// Make `cmd` run inside node A's namespace, optionally without a
    /// capability.
    pub fn enter(&self, mut cmd: Command, drop: Drop_) -> Command {
        let fd = self.lab.node_a().fd().as_raw_fd();
        // SAFETY: between fork and exec only async-signal-safe calls are
        // made (setns, prctl, raw capget/capset syscalls) on memory that
        // belongs to this closure.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                match drop {
                    Drop_::Nothing => {}
                    Drop_::NetAdmin => drop_cap(CAP_NET_ADMIN)?,
                    Drop_::NetRaw => drop_cap(CAP_NET_RAW)?,
                }
                Ok(())
            });
        }
        cmd
    }

    /// Run and collect; the command never reads stdin.
    pub fn run(&self, args: &[&str]) -> Output {
        self.ipkit(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run ipkit")
    }

    /// `ip ARGS` inside node A's namespace (set-up and observation only).
    pub fn ip(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("ip");
        cmd.args(args);
        let out = self.enter(cmd, Drop_::Nothing).output().expect("run ip");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Node A's links (name, flags, MAC), addresses and neighbour entries.
    pub fn kernel_state(&self) -> String {
        let links: Vec<String> = self
            .ip(&["-o", "link", "show"])
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .filter(|w| !w.starts_with("qlen"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        format!(
            "links:\n{}\naddresses:\n{}\nneighbours:\n{}",
            links.join("\n"),
            self.ip(&["-o", "addr", "show"]),
            self.ip(&["neigh", "show"])
        )
    }

    /// The names of node A's adapters that hold `ip` right now, sorted
    /// (read with the lab's own netlink client).
    pub fn holders(&self, ip: std::net::IpAddr) -> Vec<String> {
        let nl = self.lab.nl_of(ipkit_lab::Port::APrimary);
        let links: BTreeMap<u32, String> = nl
            .links()
            .expect("links of node A")
            .into_iter()
            .map(|l| (l.index, l.name))
            .collect();
        let mut held: Vec<String> = nl
            .addresses()
            .expect("addresses of node A")
            .into_iter()
            .filter(|a| a.ip == ip)
            .map(|a| links.get(&a.ifindex).cloned().unwrap_or_default())
            .collect();
        held.sort();
        held
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut files = BTreeMap::new();
        walk(self.dir.path(), &mut files);
        Snapshot {
            files,
            kernel: self.kernel_state(),
        }
    }
}

fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.insert(p.clone(), b"<dir>".to_vec());
            walk(&p, out);
        } else {
            out.insert(p.clone(), std::fs::read(&p).unwrap_or_default());
        }
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Drop `cap` from the bounding set and from the effective, permitted and
/// inheritable sets, so the exec'd root process cannot regain it.
fn drop_cap(cap: u32) -> std::io::Result<()> {
    // SAFETY: plain syscalls on local, correctly laid out structs.
    unsafe {
        if libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut hdr = CapHeader {
            version: 0x2008_0522,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        if libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        let mask = !(1u32 << cap);
        data[0].effective &= mask;
        data[0].permitted &= mask;
        data[0].inheritable &= mask;
        if libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// The events in `<state_dir>/events.jsonl`, oldest first (a line that
/// does not parse fails the test).
pub fn event_log(state_dir: &Path) -> Vec<ipkit::events::Event> {
    let text = std::fs::read_to_string(state_dir.join("events.jsonl")).unwrap_or_default();
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("events.jsonl: {e}: {line}"))
        })
        .collect()
}
