//! Gathering the node facts on Linux: links, addresses and the same-segment test through the kernel seam; `/proc/sys` and the `Cap*` lines of `/proc/{self,1}/status`; `corosync.conf`.
//!
//! Everything is read in the caller's network namespace (`/proc/sys/net`
//! answers for the namespace of the thread that opens it). Nothing here
//! changes the system; the only thing sent is the same-segment test frame
//! ([`crate::net::Kernel::same_segment`]), under the resource's lock.

use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::conf::{Conf, Scope, Sysctls};
use super::corosync::{RingValue, ring_entries};
use super::facts::{
    CAP_NET_RAW, Capabilities, Corosync, HostFacts, NodeFacts, RingAddress, RingTarget,
    SegmentOutcome, SegmentTest,
};
use super::rules::{moves_between_adapters, resource_adapters};
use crate::net::{Kernel, NodeSnapshot};
use crate::resource::{AdapterName, Definition};
use crate::store::Store;

/// Where Corosync keeps its configuration.
pub const COROSYNC_CONF: &str = "/etc/corosync/corosync.conf";

/// How long the same-segment test listens for its frame (it usually
/// arrives within a millisecond; two frames are sent in this time).
pub const SEGMENT_TIMEOUT: Duration = Duration::from_millis(500);

/// Where the host facts are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// `/proc` (its `sys/net/...` and `1/status`).
    pub proc: PathBuf,
    pub corosync_conf: PathBuf,
}

impl HostPaths {
    pub fn system() -> Self {
        Self {
            proc: PathBuf::from("/proc"),
            corosync_conf: PathBuf::from(COROSYNC_CONF),
        }
    }
}

/// The sysctls of `adapters` (and `conf.all`), the capabilities, and the
/// Corosync rings. A value that cannot be read is left out.
pub fn read_host(adapters: &[AdapterName], paths: &HostPaths) -> HostFacts {
    let mut sysctls = Sysctls::default();
    let scopes = std::iter::once(Scope::All).chain(adapters.iter().cloned().map(Scope::Adapter));
    for scope in scopes {
        for conf in Conf::ALL {
            let path = paths.proc.join("sys").join(conf.path(&scope));
            if let Some(value) = read_number(&path) {
                sysctls.set(conf, scope.clone(), value);
            }
        }
    }
    let status = |pid: &str, key: &str| {
        let text = std::fs::read_to_string(paths.proc.join(pid).join("status")).ok()?;
        cap_line(&text, key)
    };
    let capabilities = status("self", "CapEff").map(|effective| Capabilities {
        effective,
        service_bounding: status("1", "CapBnd"),
    });
    HostFacts {
        sysctls,
        capabilities,
        corosync: read_corosync(&paths.corosync_conf),
    }
}

fn read_number(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The mask of a `Cap*:` line of `/proc/<pid>/status` (hexadecimal).
pub fn cap_line(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key)
            .then(|| u64::from_str_radix(v.trim(), 16).ok())
            .flatten()
    })
}

fn read_corosync(path: &Path) -> Corosync {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Corosync::Absent,
        Err(e) => return Corosync::Unreadable(format!("{}: {e}", path.display())),
    };
    match ring_entries(&text) {
        Ok(entries) => Corosync::Rings(
            entries
                .into_iter()
                .map(|e| RingAddress {
                    ring: e.ring,
                    written: e.written,
                    target: match e.value {
                        RingValue::Network(ip) => RingTarget::Network(ip),
                        RingValue::Host(host) => resolve(&host),
                    },
                })
                .collect(),
        ),
        Err(why) => Corosync::Unreadable(format!("{}: {why}", path.display())),
    }
}

/// An address, or a host name resolved the way Corosync resolves it
/// (getaddrinfo: `/etc/hosts`, then DNS, as nsswitch.conf says).
fn resolve(host: &str) -> RingTarget {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return RingTarget::Addresses(vec![ip]);
    }
    match (host, 0).to_socket_addrs() {
        Ok(found) => RingTarget::Addresses(found.map(|s| s.ip()).collect()),
        Err(e) => RingTarget::Unresolved(format!("{host}: {e}")),
    }
}

/// What gathering needs from its caller.
pub struct Gather<'a> {
    pub kernel: &'a dyn Kernel,
    /// Whose resource locks the same-segment test takes.
    pub store: &'a Store,
    /// Reads the host facts for these adapters ([`read_host`] on a node).
    pub read_host: &'a dyn Fn(&[AdapterName]) -> HostFacts,
    /// How long the same-segment test listens; `None`: send nothing.
    pub segment_timeout: Option<Duration>,
}

impl Gather<'_> {
    /// The facts about `definitions` and this node; `broken` names the
    /// definition files that could not be read.
    pub fn facts(&self, definitions: Vec<Definition>, broken: Vec<String>) -> NodeFacts {
        let node = self.kernel.snapshot().map_err(|e| e.to_string());
        let routing = self.kernel.policy_rules().map_err(|e| e.to_string());
        let adapters: Vec<AdapterName> = match &node {
            Ok(snapshot) => snapshot.links().iter().map(|l| l.name.clone()).collect(),
            Err(_) => definitions
                .iter()
                .flat_map(resource_adapters)
                .cloned()
                .collect(),
        };
        let host = (self.read_host)(&adapters);
        let segments = match (&node, self.segment_timeout) {
            (Ok(snapshot), Some(timeout)) => definitions
                .iter()
                .filter_map(|def| self.segment_test(snapshot, &host, def, timeout))
                .collect(),
            _ => Vec::new(),
        };
        NodeFacts {
            definitions,
            broken_definitions: broken,
            node,
            routing,
            host,
            segments,
        }
    }

    /// The test of a moving address: a probe for it sent on the recovery
    /// adapter, listened for on the primary. None when one of them is
    /// missing or down (reported as such).
    fn segment_test(
        &self,
        snapshot: &NodeSnapshot,
        host: &HostFacts,
        def: &Definition,
        timeout: Duration,
    ) -> Option<SegmentTest> {
        let from = def.recovery_adapter.as_ref()?;
        let to = &def.adapter;
        if !moves_between_adapters(def)
            || !snapshot.link_state(from).is_connected()
            || !snapshot.link_state(to).is_connected()
        {
            return None;
        }
        let outcome = if host.capabilities.is_some_and(|c| !c.held(CAP_NET_RAW)) {
            SegmentOutcome::NotTested("sending the test frame needs CAP_NET_RAW".into())
        } else {
            // Under the resource's lock: no restore of this address (whose
            // in-use probe would take the test frame for a rival) runs
            // meanwhile on this node.
            match self.store.lock(&def.tag, Duration::ZERO) {
                Err(e) => SegmentOutcome::NotTested(e.to_string()),
                Ok(_lock) => match self
                    .kernel
                    .same_segment(from, to, def.address.ip(), timeout)
                {
                    Ok(true) => SegmentOutcome::Seen,
                    Ok(false) => SegmentOutcome::NotSeen(timeout),
                    Err(e) => SegmentOutcome::NotTested(e.to_string()),
                },
            }
        };
        Some(SegmentTest {
            tag: def.tag.clone(),
            from: from.clone(),
            to: to.clone(),
            outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_lines_are_hexadecimal_masks() {
        let status = "Name:\tsystemd\nCapInh:\t0000000000000000\nCapBnd:\t000001ffffffffff\n";
        assert_eq!(cap_line(status, "CapBnd"), Some(0x1ff_ffff_ffff));
        assert_eq!(cap_line(status, "CapInh"), Some(0));
        assert_eq!(cap_line(status, "CapAmb"), None);
        assert_eq!(cap_line("CapBnd:\tzz\n", "CapBnd"), None);
    }

    #[test]
    fn host_facts_come_from_the_given_proc_and_corosync_paths() {
        let dir = tempfile::tempdir().unwrap();
        let proc = dir.path().join("proc");
        let conf = proc.join("sys/net/ipv4/conf");
        for (scope, value) in [("all", "0\n"), ("eth0", "2\n")] {
            std::fs::create_dir_all(conf.join(scope)).unwrap();
            std::fs::write(conf.join(scope).join("arp_announce"), value).unwrap();
        }
        for (pid, status) in [
            ("1", "CapBnd:\t0000000000003000\n"),
            ("self", "CapEff:\t0000000000001000\n"),
        ] {
            std::fs::create_dir_all(proc.join(pid)).unwrap();
            std::fs::write(proc.join(pid).join("status"), status).unwrap();
        }
        let corosync = dir.path().join("corosync.conf");
        std::fs::write(
            &corosync,
            "nodelist {\n node {\n  ring0_addr: 198.51.100.2\n }\n}\n",
        )
        .unwrap();
        let paths = HostPaths {
            proc,
            corosync_conf: corosync.clone(),
        };
        let eth0 = AdapterName::new("eth0").unwrap();
        let host = read_host(std::slice::from_ref(&eth0), &paths);
        let e = host.sysctls.effective(Conf::ArpAnnounce, &eth0).unwrap();
        assert_eq!((e.value, e.all), (2, Some(0)));
        assert_eq!(host.sysctls.get(Conf::ArpIgnore, &Scope::All), None);
        let caps = host.capabilities.expect("CapEff read");
        assert_eq!(
            (caps.effective, caps.service_bounding),
            (0x1000, Some(0x3000))
        );
        assert!(caps.held(12) && !caps.held(13) && caps.possible(13));
        assert_eq!(
            host.corosync,
            Corosync::Rings(vec![RingAddress {
                ring: 0,
                written: "nodelist.node ring0_addr 198.51.100.2".into(),
                target: RingTarget::Addresses(vec!["198.51.100.2".parse().unwrap()]),
            }])
        );
        std::fs::write(&corosync, "totem {\n").unwrap();
        let host = read_host(&[], &paths);
        assert!(
            matches!(&host.corosync, Corosync::Unreadable(why) if why.contains("never closed")),
            "{:?}",
            host.corosync
        );
        std::fs::remove_file(&corosync).unwrap();
        assert_eq!(read_host(&[], &paths).corosync, Corosync::Absent);
    }
}
