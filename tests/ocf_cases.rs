//! The OCF agent's cases as data: every `tests/ocf/<case>/input.jsonl` is
//! replayed against `ipkit::ocf::run` on the simulated network and compared
//! line by line with `tests/ocf/<case>/output.jsonl`.
//!
//! The agent runs with its real store (in a temporary `HA_RSCTMP`) and its
//! real parameter parsing; only its [`Deps`] are simulated: the kernel is a
//! `SimNet`, the cluster view a `SimCluster`, the clock the `SimNet`'s own
//! (nothing sleeps), and events go to a recorder. No root is needed.
//!
//! # input.jsonl
//! One JSON object per line, each with one key, applied in order:
//! - `{"description": "..."}`: what the case shows (first line; required);
//! - `{"env": {"NAME": "value", "OTHER": null}}`: set (or, with `null`,
//!   unset) variables for every following action. The harness starts from
//!   `HA_RSCTMP=<temporary dir>` and `OCF_RESKEY_CRM_meta_on_node=node1`
//!   (Pacemaker always passes it);
//! - `{"adapter": {"name": "eth0", "carrier": true, "admin_up": true}}`: an
//!   adapter of this node (MACs 02:00:00:00:00:01, :02, ... in order);
//!   with `"loopback": true` it is the loopback adapter under that name: the
//!   kernel reports it at ifindex 1 with MAC 00:00:00:00:00:00, as Linux
//!   reports `lo` (also renamed);
//! - `{"assign": {"adapter": "eth0", "address": "198.51.100.50/24"}}` and
//!   `{"unassign": {...}}`: an address put on or taken off behind the
//!   agent's back;
//! - `{"carrier": {"adapter": "eth0", "up": false}}` (the cable),
//!   `{"admin": {"adapter": "eth0", "up": false}}`, `{"vanish": "eth0"}`;
//! - `{"remote": {"mac": "02:00:00:00:01:01", "ips": ["198.51.100.50"]}}`:
//!   another host answers for an address on the wire;
//! - `{"standby": {"node": "node2", "adapter": "eth0", "up": true,
//!   "link": "disconnected"}}`: a standby node in the cluster view;
//!   `{"cluster_unreadable": "reason"}` (or `null` again);
//! - `{"fault": {"call": "add", "errno": "EPERM", "times": 1}}`: the next
//!   matching kernel call(s) fail (`times` 0: all of them);
//! - `{"kernel_unavailable": "EPERM"}` (or `null`): opening the kernel fails;
//! - `{"rsctmp": "a-file"}`: `HA_RSCTMP` becomes a regular file;
//!   `"under-a-file"`: a path below that file (missing, and it cannot be
//!   created); `"usable"`: the temporary directory again;
//! - `{"run": "start"}` or `{"run": {"action": "monitor", "env": {...}}}`:
//!   run one action, with extra variables for this action only.
//!
//! # output.jsonl
//! For every `run`: the `run` line itself, then one `event` line per event
//! the agent emitted (number, severity, tag, node, text), the `stdout` and
//! `stderr` lines it printed, its `exit` (code, OCF name, exit reason), and
//! `after`: the address table, the announcements sent during the action,
//! the definitions published for a daemon, and the runtime state files.
//! The temporary directory is written `{HA_RSCTMP}` wherever it shows.
//!
//! `IPKIT_BLESS=1 cargo test --test ocf_cases` rewrites the outputs; review
//! the diff against SPEC §6 and the OCF exit codes before committing it.
//! [`CASES`] names every case: a directory missing from it, or a name
//! without its directory, fails the suite.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipkit::cluster::sim::SimCluster;
use ipkit::cluster::{ClusterError, ClusterView, StandbyNode};
use ipkit::doctor::HostFacts;
use ipkit::events::Recorder;
use ipkit::net::sim::{CallKind, Fault, SimNet};
use ipkit::net::{
    AddOptions, AnnouncePlan, Kernel, KernelError, KernelOp, LinkInfo, LinkState, NodeSnapshot,
    ProbeResult,
};
use ipkit::ocf::{Deps, OcfEnv, run};
use ipkit::resource::{AdapterName, Address, Definition, Mac, Tag};
use ipkit::store::Store;

#[path = "ocf_cases/format.rs"]
mod format;
use format::{AfterOut, EventOut, ExitOut, Line, PublishedOut, RsctmpIn, RunIn, StateOut, Step};

/// Every case directory under `tests/ocf`, in the order they are run.
const CASES: &[&str] = &[
    "meta-data",
    "usage-and-no-action",
    "unknown-action",
    "validate-all-ok",
    "validate-all-ip-missing",
    "validate-all-ip-malformed",
    "validate-all-netmask-contradicts",
    "validate-all-netmask-not-contiguous",
    "validate-all-nic-missing",
    "validate-all-nic-malformed",
    "validate-all-recovery-nic-is-nic",
    "validate-all-boolean-malformed",
    "validate-all-count-malformed",
    "validate-all-duration-malformed",
    "validate-all-refresh-too-large",
    "validate-all-adapter-not-on-node",
    "validate-all-kernel-unavailable",
    "validate-all-nic-is-loopback",
    "validate-all-warns-with-the-doctor",
    "ocf-tester-sequence",
    "start-ok",
    "start-publishes-stop-withdraws",
    "start-cable-out-on-primary",
    "start-both-cables-out",
    "start-in-use-elsewhere",
    "start-held-by-another-local-adapter",
    "start-no-privilege",
    "start-adapter-not-on-node",
    "start-bad-parameter",
    "start-nic-is-loopback",
    "stop-not-running",
    "stop-bad-parameter",
    "stop-state-dir-unusable",
    "stop-after-a-crash-mid-start",
    "monitor-running",
    "monitor-not-running",
    "monitor-probe-bad-parameter",
    "monitor-probe-adapter-not-on-node",
    "monitor-cable-pulled-recovers",
    "monitor-both-cables-pulled",
    "monitor-address-removed-recovers",
    "monitor-address-removed-no-local-recovery",
    "monitor-reports-address-found-on-nic",
    "monitor-not-started-does-not-recover",
    "monitor-instance-names-do-not-collide",
    "monitor-after-a-crash-mid-recover",
    "monitor-address-on-foreign-adapter",
    "monitor-refresh-announces",
    "monitor-deep-check",
    "reload-agent",
    "upgrade-takes-over-legacy-tag",
];

// ---------------------------------------------------------------- world

/// The cluster view the agent gets: shared with the harness, which changes it.
struct SharedCluster(Arc<SimCluster>);

impl ClusterView for SharedCluster {
    fn standby_nodes(&self, def: &Definition) -> Result<Vec<StandbyNode>, ClusterError> {
        self.0.standby_nodes(def)
    }
}

/// The kernel the agent gets: the simulated network, except that a loopback
/// adapter is reported at ifindex 1 with MAC 00:00:00:00:00:00, as Linux
/// reports `lo` under any name (the simulated network numbers adapters
/// from 2).
struct HarnessKernel {
    net: Arc<SimNet>,
    loopbacks: BTreeSet<AdapterName>,
}

impl Kernel for HarnessKernel {
    fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError> {
        let mut info = self.net.link(adapter)?;
        if self.loopbacks.contains(adapter) {
            info.ifindex = 1;
        }
        Ok(info)
    }
    fn link_state(&self, adapter: &AdapterName) -> Result<LinkState, KernelError> {
        self.net.link_state(adapter)
    }
    fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
        self.net.holders(ip)
    }
    fn snapshot(&self) -> Result<NodeSnapshot, KernelError> {
        self.net.snapshot()
    }
    fn same_segment(
        &self,
        from: &AdapterName,
        to: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<bool, KernelError> {
        self.net.same_segment(from, to, ip, timeout)
    }
    fn add_address(
        &self,
        adapter: &AdapterName,
        addr: &Address,
        opts: AddOptions,
    ) -> Result<(), KernelError> {
        self.net.add_address(adapter, addr, opts)
    }
    fn delete_address(&self, adapter: &AdapterName, addr: &Address) -> Result<(), KernelError> {
        self.net.delete_address(adapter, addr)
    }
    fn flush_neighbours(&self, ip: IpAddr) -> Result<(), KernelError> {
        self.net.flush_neighbours(ip)
    }
    fn announce(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        plan: AnnouncePlan,
    ) -> Result<(), KernelError> {
        self.net.announce(adapter, ip, plan)
    }
    fn probe(
        &self,
        adapter: &AdapterName,
        ip: IpAddr,
        timeout: Duration,
    ) -> Result<ProbeResult, KernelError> {
        self.net.probe(adapter, ip, timeout)
    }
}

struct World {
    net: Arc<SimNet>,
    /// Adapters the kernel reports as the loopback adapter.
    loopbacks: BTreeSet<AdapterName>,
    cluster: Arc<SimCluster>,
    events: Recorder,
    /// The errno opening the kernel fails with, when set.
    kernel_unavailable: Mutex<Option<i32>>,
    env: BTreeMap<String, String>,
    adapters: u8,
    announced: usize,
    /// The agent's `HA_RSCTMP`, removed when the case ends.
    rsctmp: tempfile::TempDir,
}

impl World {
    fn new() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let rsctmp = dir.path().to_str().ok_or("temporary dir is not UTF-8")?;
        let env = BTreeMap::from([
            ("HA_RSCTMP".to_owned(), rsctmp.to_owned()),
            ("OCF_RESKEY_CRM_meta_on_node".to_owned(), "node1".to_owned()),
        ]);
        Ok(Self {
            net: Arc::new(SimNet::new()),
            loopbacks: BTreeSet::new(),
            cluster: Arc::new(SimCluster::new()),
            events: Recorder::new(),
            kernel_unavailable: Mutex::new(None),
            env,
            adapters: 0,
            announced: 0,
            rsctmp: dir,
        })
    }

    fn apply(&mut self, step: Step, out: &mut Vec<Line>) -> Result<(), String> {
        match step {
            Step::Description(_) => return Err("description must be the first line only".into()),
            Step::Env(vars) => merge(&mut self.env, vars),
            Step::Adapter(a) => {
                self.adapters += 1;
                let name = nic(&a.name)?;
                let mac = if a.loopback {
                    self.loopbacks.insert(name.clone());
                    Mac([0; 6])
                } else {
                    Mac([2, 0, 0, 0, 0, self.adapters])
                };
                self.net.add_adapter(name.clone(), mac);
                self.net.set_carrier(&name, a.carrier);
                self.net.set_admin_up(&name, a.admin_up);
            }
            Step::Assign(p) => self.net.assign(&nic(&p.adapter)?, addr(&p.address)?),
            Step::Unassign(p) => self
                .net
                .delete_address(&nic(&p.adapter)?, &addr(&p.address)?)
                .map_err(|e| e.to_string())?,
            Step::Carrier(s) => self.net.set_carrier(&nic(&s.adapter)?, s.up),
            Step::Admin(s) => self.net.set_admin_up(&nic(&s.adapter)?, s.up),
            Step::Vanish(a) => self.net.vanish(&nic(&a)?),
            Step::Remote(r) => {
                let via = match r.via {
                    Some(v) => Some(v.iter().map(|a| nic(a)).collect::<Result<_, _>>()?),
                    None => None,
                };
                let mac: Mac = r.mac.parse().map_err(|e| format!("{e}"))?;
                self.net.add_remote(mac, r.ips, via);
            }
            Step::Standby(s) => self
                .cluster
                .add_node(&s.node, nic(&s.adapter)?, s.up, s.link),
            Step::ClusterUnreadable(reason) => self.cluster.fail_reads(reason.as_deref()),
            Step::Fault(f) => {
                let call = CallKind::parse(&f.call).ok_or(format!("unknown call {:?}", f.call))?;
                let mut fault = Fault::fails(call, errno(&f.errno)?).times(f.times);
                if let Some(a) = &f.adapter {
                    fault = fault.on_adapter(nic(a)?);
                }
                self.net.inject(fault);
            }
            Step::KernelUnavailable(e) => {
                *self.kernel_unavailable.lock().map_err(|e| e.to_string())? =
                    e.as_deref().map(errno).transpose()?;
            }
            Step::Rsctmp(to) => {
                let dir = self.rsctmp.path();
                let file = dir.join("rsctmp-file");
                let path = match to {
                    RsctmpIn::Usable => dir.to_path_buf(),
                    RsctmpIn::AFile => file.clone(),
                    RsctmpIn::UnderAFile => file.join("rsctmp"),
                };
                fs::write(&file, "not a directory\n").map_err(|e| e.to_string())?;
                let text = path.to_str().ok_or("temporary dir is not UTF-8")?;
                self.env.insert("HA_RSCTMP".to_owned(), text.to_owned());
            }
            Step::Run(r) => self.run(r, out)?,
        }
        Ok(())
    }

    fn run(&mut self, step: RunIn, out: &mut Vec<Line>) -> Result<(), String> {
        let mut vars = self.env.clone();
        let action = match &step {
            RunIn::Action(a) => a.clone(),
            RunIn::WithEnv { action, env } => {
                merge(&mut vars, env.clone());
                action.clone()
            }
        };
        let env = OcfEnv::from_pairs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let net = Arc::clone(&self.net);
        let loopbacks = self.loopbacks.clone();
        let unavailable = &self.kernel_unavailable;
        let open_kernel = move || match *unavailable.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(errno) => Err(KernelError::new(KernelOp::GetLink, None, errno)),
            None => Ok(Box::new(HarnessKernel {
                net: Arc::clone(&net),
                loopbacks: loopbacks.clone(),
            }) as Box<dyn Kernel>),
        };
        let shared = Arc::clone(&self.cluster);
        let cluster =
            move |_: &OcfEnv| Box::new(SharedCluster(Arc::clone(&shared))) as Box<dyn ClusterView>;
        let deps = Deps {
            open_kernel: &open_kernel,
            cluster: &cluster,
            events: &self.events,
            clock: self.net.clock(),
            // validate-all's doctor: the simulated network's links and
            // segment, no host facts (sysctls, capabilities, Corosync).
            read_host: &|_| HostFacts::default(),
        };
        let reply = run(&action, &env, &deps);

        out.push(Line::Run(step));
        for e in self.events.take() {
            out.push(Line::Event(EventOut {
                id: e.id,
                severity: e.severity.as_str().to_owned(),
                tag: e.tag,
                node: e.node,
                message: e.message,
            }));
        }
        // The meta-data names the package version; the cases name it
        // symbolically so a release does not rewrite them.
        let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
        out.extend(
            reply
                .stdout
                .lines()
                .map(|l| Line::Stdout(l.replace(&version, "version=\"{CARGO_PKG_VERSION}\""))),
        );
        out.extend(reply.stderr.lines().map(|l| Line::Stderr(l.to_owned())));
        out.push(Line::Exit(ExitOut {
            code: reply.exit.code(),
            name: reply.exit.name(),
            reason: reply.reason,
        }));
        out.push(Line::After(self.after(&env)?));
        Ok(())
    }

    fn after(&mut self, env: &OcfEnv) -> Result<AfterOut, String> {
        let addresses = self
            .net
            .addresses()
            .iter()
            .map(|(a, x)| format!("{a} {x}"))
            .collect();
        let all = self.net.announcements();
        let announced = all[self.announced.min(all.len())..]
            .iter()
            .map(|a| {
                let wire = if a.on_wire { "" } else { " (no carrier)" };
                let ms = a.plan.interval.as_millis();
                format!("{} {} {}x{ms}ms{wire}", a.adapter, a.ip, a.plan.count)
            })
            .collect();
        self.announced = all.len();
        let dir = env.state_dir();
        let store = Store::new(&dir, &dir);
        let mut published = Vec::new();
        // An unusable HA_RSCTMP holds nothing.
        let tags = match dir.is_dir() {
            true => store.list_tags().map_err(|e| e.to_string())?,
            false => Vec::new(),
        };
        for tag in tags {
            let d = store.load_definition(&tag).map_err(|e| e.to_string())?;
            published.push(PublishedOut {
                tag: d.tag.to_string(),
                address: d.address.to_string(),
                adapter: d.adapter.to_string(),
                recovery_adapter: d.recovery_adapter.map(|a| a.to_string()),
                local_recovery: d.local_recovery,
                hold_in_service: d.hold_in_service,
                probe_timeout_ms: d.tunables.probe_timeout.as_millis(),
                announce_count: d.tunables.announce_count,
                announce_interval_ms: d.tunables.announce_interval.as_millis(),
            });
        }
        let mut state = Vec::new();
        for tag in state_tags(&dir.join("state"))? {
            let s = store.load_state(&tag).map_err(|e| e.to_string())?;
            state.push(StateOut {
                tag: tag.to_string(),
                in_service: s.in_service,
                active_adapter: s.active_adapter.map(|a| a.to_string()),
            });
        }
        Ok(AfterOut {
            addresses,
            announced,
            published,
            state,
        })
    }
}

fn merge(env: &mut BTreeMap<String, String>, vars: BTreeMap<String, Option<String>>) {
    for (k, v) in vars {
        match v {
            Some(v) => env.insert(k, v),
            None => env.remove(&k),
        };
    }
}

/// The tags that have a state file.
fn state_tags(dir: &Path) -> Result<Vec<Tag>, String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut tags = Vec::new();
    for entry in entries {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".json") {
            tags.push(Tag::new(stem).map_err(|e| e.to_string())?);
        }
    }
    tags.sort();
    Ok(tags)
}

fn nic(s: &str) -> Result<AdapterName, String> {
    AdapterName::new(s).map_err(|e| e.to_string())
}

fn addr(s: &str) -> Result<Address, String> {
    s.parse()
        .map_err(|e: ipkit::resource::InvalidInput| e.to_string())
}

fn errno(name: &str) -> Result<i32, String> {
    Ok(match name {
        "EPERM" => libc::EPERM,
        "EACCES" => libc::EACCES,
        "EIO" => libc::EIO,
        "ENODEV" => libc::ENODEV,
        "ENETDOWN" => libc::ENETDOWN,
        "EBUSY" => libc::EBUSY,
        "EPROTONOSUPPORT" => libc::EPROTONOSUPPORT,
        other => return Err(format!("unknown errno name {other:?}")),
    })
}

// ---------------------------------------------------------------- suite

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ocf")
}

/// Replay one case; returns the output lines, or what is wrong with it.
fn replay(dir: &Path) -> Result<String, String> {
    let input = fs::read_to_string(dir.join("input.jsonl")).map_err(|e| format!("input: {e}"))?;
    let mut world = World::new()?;
    let mut out = Vec::new();
    for (i, text) in input.lines().enumerate() {
        let at = |e: String| format!("input.jsonl line {}: {e}", i + 1);
        let step: Step = serde_json::from_str(text).map_err(|e| at(e.to_string()))?;
        match (i, step) {
            (0, Step::Description(d)) if !d.trim().is_empty() => {}
            (0, _) => return Err(at("the first line must be a description".into())),
            (_, step) => world.apply(step, &mut out).map_err(at)?,
        }
    }
    if !out.iter().any(|l| matches!(l, Line::Run(_))) {
        return Err("input.jsonl runs no action".into());
    }
    let mut text = String::new();
    for line in &out {
        text.push_str(&serde_json::to_string(line).map_err(|e| e.to_string())?);
        text.push('\n');
    }
    // Messages naming the state directory name it symbolically.
    let tmp = world
        .rsctmp
        .path()
        .to_str()
        .ok_or("temporary dir is not UTF-8")?;
    Ok(text.replace(tmp, "{HA_RSCTMP}"))
}

/// The first line where `got` differs from `want`, for the failure message.
fn first_difference(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i), g.get(i));
        if a != b {
            return format!(
                "line {}:\n  expected {}\n  got      {}",
                i + 1,
                a.unwrap_or(&"(nothing)"),
                b.unwrap_or(&"(nothing)")
            );
        }
    }
    "(identical lines, different line endings)".into()
}

#[test]
fn every_ocf_case_replays_to_its_output() {
    let bless = std::env::var_os("IPKIT_BLESS").is_some_and(|v| v == "1");
    let mut problems = Vec::new();
    let on_disk: BTreeSet<String> = fs::read_dir(cases_dir())
        .expect("tests/ocf exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let listed: BTreeSet<String> = CASES.iter().map(|c| (*c).to_owned()).collect();
    assert_eq!(listed.len(), CASES.len(), "CASES names a case twice");
    for extra in on_disk.difference(&listed) {
        problems.push(format!("tests/ocf/{extra}: not listed in CASES"));
    }
    for missing in listed.difference(&on_disk) {
        problems.push(format!("tests/ocf/{missing}: listed in CASES but missing"));
    }
    let mut codes = BTreeSet::new();
    for case in CASES.iter().filter(|c| on_disk.contains(**c)) {
        let dir = cases_dir().join(case);
        let got = match replay(&dir) {
            Ok(got) => got,
            Err(e) => {
                problems.push(format!("{case}: {e}"));
                continue;
            }
        };
        for line in got.lines() {
            if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(line)
                && let Some(code) = o.get("exit").and_then(|x| x.get("code"))
            {
                codes.insert(code.as_u64().unwrap_or(u64::MAX));
            }
        }
        let path = dir.join("output.jsonl");
        if bless {
            fs::write(&path, &got).expect("write output.jsonl");
            continue;
        }
        match fs::read_to_string(&path) {
            Ok(want) if want == got => {}
            Ok(want) => problems.push(format!("{case}: {}", first_difference(&want, &got))),
            Err(e) => problems.push(format!(
                "{case}: output.jsonl: {e} (run with IPKIT_BLESS=1, then review it)"
            )),
        }
    }
    // Every OCF exit code the agent can give is shown by some case.
    for code in 0..=7 {
        if !codes.contains(&code) {
            problems.push(format!("no case ends with exit code {code}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// `docs/pacemaker.md` lists the parameters by hand; it must agree with the
/// agent's table (the meta-data renders that table, so they cannot drift).
#[test]
fn the_pacemaker_doc_lists_every_parameter_as_the_table_does() {
    let doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/pacemaker.md"))
        .expect("docs/pacemaker.md");
    for p in ipkit::ocf::parameters() {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}`", p.name)))
            .unwrap_or_else(|| panic!("docs/pacemaker.md has no row for {}", p.name));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        // | parameter | default | reloadable | meaning |
        let [_, name, default, reloadable, ..] = cells.as_slice() else {
            panic!("{}: row {row:?} has too few cells", p.name);
        };
        assert_eq!(
            name.contains("required"),
            p.required,
            "{}: required",
            p.name
        );
        assert_eq!(name.contains("unique"), p.unique, "{}: unique", p.name);
        let want = if p.reloadable { "yes" } else { "no" };
        assert_eq!(*reloadable, want, "{}: reloadable", p.name);
        if let ipkit::ocf::ParamDefault::Value(v) = p.default
            && !v.is_empty()
        {
            assert!(
                default.contains(&format!("`{v}`")),
                "{}: the doc's default {default:?} is not `{v}`",
                p.name
            );
        }
    }
}
