//! The OCF resource-agent face (Pacemaker), OCF resource-agent API 1.1.
//!
//! Installed as `/usr/lib/ocf/resource.d/ipkit/vip` (a symlink to the
//! `ipkit` binary, recognised by its name) or run as `ipkit ocf ACTION`.
//!
//! - Parameters come from `OCF_RESKEY_*` ([`Params`]); the tag is
//!   `OCF_RESOURCE_INSTANCE` (characters a tag may not hold become `-`).
//! - The definition is rebuilt from the environment on every call:
//!   Pacemaker's CIB is its home. While the resource runs on this node a
//!   copy is published as `resources/<tag>.toml` in the state dir (written
//!   by a successful `start` and `reload-agent`, removed by `stop`, with
//!   `hold_in_service = false`) so that an `ipkit daemon` serving that dir
//!   recovers it on netlink events; the agent SIGHUPs such a daemon (found
//!   by `daemon.pid`, see [`crate::daemon::pidfile`]). The runtime state
//!   (`active_adapter`, in service, last results) is kept with
//!   [`Store`] under `$HA_RSCTMP/ipkit` (`/run/ipkit` when `HA_RSCTMP` is
//!   unset): `state/<tag>.json` and `locks/<tag>.lock`. Both live on tmpfs,
//!   so a reboot forgets them, as Pacemaker expects.
//! - Every operation takes the resource's lock, loads the state, runs, and
//!   saves the state before the agent exits.
//!
//! Actions: `start` = restore, `stop` = remove, `monitor` = quickCheck (and
//! deepCheck at `OCF_CHECK_LEVEL` >= 10; a failed quickCheck on a resource in
//! service runs recover first), `validate-all`, `meta-data`, `reload-agent`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
#[cfg(test)]
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::{ClusterView, Standalone};
use crate::events::{Event, EventSink, Recorder, Severity};
use crate::net::{AnnouncePlan, Kernel, KernelError, LinkState};
use crate::ops::{self, Clock, Ctx, Outcome, SystemClock};
use crate::resource::{
    AdapterName, Address, Definition, InvalidInput, Operation, RuntimeState, Tag,
};
use crate::store::{Store, StoreError};

/// OCF exit codes (OCF RA API 1.1, section "Return codes").
pub mod rc {
    pub const SUCCESS: u8 = 0;
    pub const ERR_GENERIC: u8 = 1;
    pub const ERR_ARGS: u8 = 2;
    pub const ERR_UNIMPLEMENTED: u8 = 3;
    pub const ERR_PERM: u8 = 4;
    pub const ERR_INSTALLED: u8 = 5;
    pub const ERR_CONFIGURED: u8 = 6;
    pub const NOT_RUNNING: u8 = 7;
}

/// The environment an action sees: `OCF_*` and `HA_*` variables.
#[derive(Debug, Clone, Default)]
pub struct OcfEnv {
    vars: HashMap<String, String>,
}

impl OcfEnv {
    /// The process environment (only the `OCF_`/`HA_` variables).
    pub fn from_process() -> Self {
        let vars = std::env::vars()
            .filter(|(k, _)| k.starts_with("OCF_") || k.starts_with("HA_"))
            .collect();
        Self { vars }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// `OCF_RESKEY_<name>`, with an empty value treated as unset.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.get(&format!("OCF_RESKEY_{name}"))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// A probe: a monitor with `OCF_RESKEY_CRM_meta_interval=0`.
    pub fn is_probe(&self) -> bool {
        self.get("OCF_RESKEY_CRM_meta_interval")
            .is_some_and(|v| v.trim() == "0")
    }

    /// `OCF_CHECK_LEVEL` (0 when unset or not a number).
    pub fn check_level(&self) -> u32 {
        self.get("OCF_CHECK_LEVEL")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Where the runtime state lives: `$HA_RSCTMP/ipkit`, else `/run/ipkit`.
    pub fn state_dir(&self) -> PathBuf {
        match self.get("HA_RSCTMP").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d).join("ipkit"),
            None => PathBuf::from("/run/ipkit"),
        }
    }

    /// This node's name as Pacemaker knows it, else the hostname.
    pub fn node(&self) -> String {
        self.param("CRM_meta_on_node")
            .map(str::to_owned)
            .unwrap_or_else(crate::node_name)
    }

    /// Running under Pacemaker (it always passes `CRM_meta_on_node`).
    pub fn under_pacemaker(&self) -> bool {
        self.param("CRM_meta_on_node").is_some()
    }
}

/// The agent's parameters with their defaults (see [`meta_data`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub tag: Tag,
    pub address: Address,
    pub nic: AdapterName,
    pub recovery_nic: Option<AdapterName>,
    pub local_recovery: bool,
    pub probe_timeout: Duration,
    pub arp_count: u32,
    pub arp_interval: Duration,
    pub arp_count_refresh: u32,
}

/// Defaults, shared by the parser and the meta-data.
const DEFAULT_PROBE_TIMEOUT_MS: u64 = 200;
const DEFAULT_ARP_COUNT: u32 = 5;
const DEFAULT_ARP_INTERVAL_MS: u64 = 200;
const DEFAULT_ARP_COUNT_REFRESH: u32 = 0;

impl Params {
    /// Parse and check every parameter; the error names the parameter.
    pub fn from_env(env: &OcfEnv) -> Result<Self, InvalidInput> {
        let ip_text = env
            .param("ip")
            .ok_or_else(|| InvalidInput::new("ip", "is required (OCF_RESKEY_ip is not set)"))?;
        let address = parse_address(ip_text, env.param("cidr_netmask"))?;
        let nic = match env.param("nic") {
            Some(n) => AdapterName::new_for("nic", n)?,
            None => {
                return Err(InvalidInput::new(
                    "nic",
                    "is required (OCF_RESKEY_nic is not set)",
                ));
            }
        };
        let recovery_nic = env
            .param("recovery_nic")
            .map(|n| AdapterName::new_for("recovery_nic", n))
            .transpose()?;
        if recovery_nic.as_ref() == Some(&nic) {
            return Err(InvalidInput::new(
                "recovery_nic",
                format!("{nic} is the primary nic; the recovery nic must be another one"),
            ));
        }
        let local_recovery = match env.param("local_recovery") {
            None => true,
            Some(v) => parse_bool("local_recovery", v)?,
        };
        let probe_timeout = match env.param("probe_timeout") {
            None => Duration::from_millis(DEFAULT_PROBE_TIMEOUT_MS),
            Some(v) => parse_ms("probe_timeout", v)?,
        };
        let arp_count = match env.param("arp_count") {
            None => DEFAULT_ARP_COUNT,
            Some(v) => parse_count("arp_count", v)?,
        };
        let arp_interval = match env.param("arp_interval") {
            None => Duration::from_millis(DEFAULT_ARP_INTERVAL_MS),
            Some(v) => parse_ms("arp_interval", v)?,
        };
        let arp_count_refresh = match env.param("arp_count_refresh") {
            None => DEFAULT_ARP_COUNT_REFRESH,
            Some(v) => parse_count("arp_count_refresh", v)?,
        };
        if arp_count_refresh > 100 {
            return Err(InvalidInput::new(
                "arp_count_refresh",
                "must be at most 100",
            ));
        }
        let tag = match env.get("OCF_RESOURCE_INSTANCE").filter(|t| !t.is_empty()) {
            Some(instance) => tag_from_instance(instance)?,
            None => Tag::default_for(address.ip()),
        };
        let params = Self {
            tag,
            address,
            nic,
            recovery_nic,
            local_recovery,
            probe_timeout,
            arp_count,
            arp_interval,
            arp_count_refresh,
        };
        // Let the core check the tunables' bounds, naming our parameters.
        params.definition().map_err(|e| {
            let field = match e.field {
                "probe_timeout" => "probe_timeout",
                "announce_count" => "arp_count",
                "announce_interval" => "arp_interval",
                "recovery_adapter" => "recovery_nic",
                other => other,
            };
            InvalidInput::new(field, e.reason)
        })?;
        Ok(params)
    }

    /// The resource definition these parameters describe.
    pub fn definition(&self) -> Result<Definition, InvalidInput> {
        let mut def = Definition::new(
            self.tag.clone(),
            self.address,
            self.nic.clone(),
            self.recovery_nic.clone(),
        )?;
        def.local_recovery = self.local_recovery;
        def.tunables.probe_timeout = self.probe_timeout;
        def.tunables.announce_count = self.arp_count;
        def.tunables.announce_interval = self.arp_interval;
        def.validate()?;
        Ok(def)
    }
}

/// `OCF_RESOURCE_INSTANCE` as a tag: clone instances (`vip:0`) and other
/// characters a tag may not hold become `-`; at most 64 characters.
fn tag_from_instance(instance: &str) -> Result<Tag, InvalidInput> {
    let mut text: String = instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        text.insert(0, 'r');
        text.truncate(64);
    }
    Tag::new(&text).map_err(|e| InvalidInput::new("OCF_RESOURCE_INSTANCE", e.reason))
}

/// `ip` (optionally `/prefix`) and `cidr_netmask` (a prefix length, or a
/// dotted IPv4 netmask). Neither gives a prefix: /32 (IPv4) or /128 (IPv6).
fn parse_address(ip_text: &str, netmask: Option<&str>) -> Result<Address, InvalidInput> {
    let (ip_part, own_prefix) = match ip_text.split_once('/') {
        Some((ip, p)) => (ip, Some(p)),
        None => (ip_text, None),
    };
    let ip: IpAddr = ip_part.parse().map_err(|_| {
        InvalidInput::new("ip", format!("{ip_part:?} is not an IPv4 or IPv6 address"))
    })?;
    let own = own_prefix.map(|p| parse_prefix("ip", p, ip)).transpose()?;
    let mask = netmask
        .map(|m| parse_prefix("cidr_netmask", m, ip))
        .transpose()?;
    let prefix = match (own, mask) {
        (Some(a), Some(b)) if a != b => {
            return Err(InvalidInput::new(
                "cidr_netmask",
                format!("/{b} contradicts the prefix /{a} given in ip"),
            ));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            if ip.is_ipv4() {
                32
            } else {
                128
            }
        }
    };
    Address::new(ip, prefix).map_err(|e| {
        let field = if e.field == "prefix" {
            "cidr_netmask"
        } else {
            "ip"
        };
        InvalidInput::new(field, e.reason)
    })
}

fn parse_prefix(field: &'static str, text: &str, ip: IpAddr) -> Result<u8, InvalidInput> {
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u8>() {
            Ok(p) if p <= max => Ok(p),
            _ => Err(InvalidInput::new(
                field,
                format!("/{text} is out of range for {ip} (1..={max})"),
            )),
        };
    }
    if ip.is_ipv4()
        && let Ok(mask) = text.parse::<Ipv4Addr>()
    {
        let bits = u32::from(mask);
        if bits.leading_ones() + bits.trailing_zeros() == 32 {
            return Ok(u8::try_from(bits.leading_ones()).unwrap_or(32));
        }
        return Err(InvalidInput::new(
            field,
            format!("{text} is not a contiguous netmask"),
        ));
    }
    Err(InvalidInput::new(
        field,
        format!("{text:?} is neither a prefix length nor a netmask"),
    ))
}

fn parse_bool(field: &'static str, v: &str) -> Result<bool, InvalidInput> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "y" => Ok(true),
        "0" | "false" | "no" | "off" | "n" => Ok(false),
        _ => Err(InvalidInput::new(
            field,
            format!("{v:?} is not a boolean (true/false, yes/no, 1/0)"),
        )),
    }
}

fn parse_count(field: &'static str, v: &str) -> Result<u32, InvalidInput> {
    v.parse::<u32>()
        .map_err(|_| InvalidInput::new(field, format!("{v:?} is not a whole number")))
}

/// Milliseconds: `250`, `250ms` or `2s`.
fn parse_ms(field: &'static str, v: &str) -> Result<Duration, InvalidInput> {
    let bad = || {
        InvalidInput::new(
            field,
            format!("{v:?} is not a duration (whole milliseconds, or with ms/s suffix)"),
        )
    };
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000)
    } else {
        (v, 1)
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    n.checked_mul(scale)
        .map(Duration::from_millis)
        .ok_or_else(bad)
}

/// What the agent needs from outside: the kernel, the cluster view and the
/// event sink. [`run_action`] uses the real ones; tests inject fakes.
pub struct Deps<'a> {
    pub open_kernel: &'a dyn Fn() -> Result<Box<dyn Kernel>, KernelError>,
    pub cluster: &'a dyn Fn(&OcfEnv) -> Box<dyn ClusterView>,
    pub events: &'a dyn EventSink,
    pub clock: &'a dyn Clock,
}

/// What an action answers: the exit code, the `ocf-exit-reason` for a
/// failure, and text for stdout and stderr (meta-data, usage).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub code: u8,
    pub reason: Option<String>,
    pub stdout: String,
    pub stderr: String,
}

impl From<(u8, Option<String>)> for Reply {
    fn from((code, reason): (u8, Option<String>)) -> Self {
        Self {
            code,
            reason,
            ..Self::default()
        }
    }
}

/// Run one OCF action with parameters from `OCF_RESKEY_*`; returns the OCF
/// exit code (0-7).
pub fn run_action(action: &str) -> u8 {
    let env = OcfEnv::from_process();
    if action == "meta-data" {
        print!("{}", meta_data());
        return rc::SUCCESS;
    }
    // Events: journal (or syslog), `<state dir>/events.jsonl`, and stderr,
    // which Pacemaker's executor copies into its log with the operation.
    let sink = crate::log::standard_sinks(&env.state_dir(), true);
    let deps = Deps {
        open_kernel: &open_linux_kernel,
        cluster: &cluster_view,
        events: &sink,
        clock: &SystemClock,
    };
    let reply = run(action, &env, &deps);
    print!("{}", reply.stdout);
    eprint!("{}", reply.stderr);
    if let Some(reason) = reply.reason {
        eprintln!("ocf-exit-reason:{reason}");
    }
    reply.code
}

/// The Linux kernel seam. Its `delete_address` stops the address's
/// background announcement rounds first (`packet::stop_announcing`), so a
/// stop followed at once by a start on another node (a move) never lets
/// the new node's in-use probe hear this node's trailing announcements.
fn open_linux_kernel() -> Result<Box<dyn Kernel>, KernelError> {
    Ok(Box::new(crate::net::linux::LinuxKernel::open()?))
}

/// The Pacemaker cluster view under Pacemaker, else standalone.
fn cluster_view(env: &OcfEnv) -> Box<dyn ClusterView> {
    if env.under_pacemaker() {
        Box::new(crate::cluster::pacemaker::Pacemaker::new(env.node()))
    } else {
        Box::new(Standalone)
    }
}

/// Run one action; returns the exit code and, for a failure, the
/// `ocf-exit-reason` text.
pub fn run(action: &str, env: &OcfEnv, deps: &Deps<'_>) -> Reply {
    match action {
        "meta-data" => Reply {
            stdout: meta_data(),
            ..Reply::default()
        },
        "start" | "stop" | "monitor" | "validate-all" | "reload-agent" => {
            let params = match Params::from_env(env) {
                Ok(p) => p,
                Err(e) => return config_error(action, env, &e).into(),
            };
            Agent {
                env,
                deps,
                params: &params,
            }
            .run(action)
            .into()
        }
        "usage" | "help" => Reply {
            stdout: format!("{USAGE}\n"),
            ..Reply::default()
        },
        "" => Reply {
            code: rc::ERR_ARGS,
            reason: Some("no action given".to_owned()),
            stderr: format!("{USAGE}\n"),
            ..Reply::default()
        },
        other => (
            rc::ERR_UNIMPLEMENTED,
            Some(format!("action {other:?} is not implemented")),
        )
            .into(),
    }
}

const USAGE: &str = "usage: vip {start|stop|monitor|validate-all|reload-agent|meta-data}";

/// A bad parameter. `stop` and probes must not fail on configuration a
/// resource that never ran cannot have used: a stop with a broken
/// configuration has nothing of ours to remove, and a probe reports "not
/// running".
fn config_error(action: &str, env: &OcfEnv, e: &InvalidInput) -> (u8, Option<String>) {
    let reason = format!("{e}");
    match action {
        "stop" => (rc::SUCCESS, None),
        "monitor" if env.is_probe() => (rc::NOT_RUNNING, None),
        _ => (rc::ERR_CONFIGURED, Some(reason)),
    }
}

struct Agent<'a> {
    env: &'a OcfEnv,
    deps: &'a Deps<'a>,
    params: &'a Params,
}

impl Agent<'_> {
    fn run(&self, action: &str) -> (u8, Option<String>) {
        let def = match self.params.definition() {
            Ok(d) => d,
            Err(e) => return config_error(action, self.env, &e),
        };
        let kernel = match (self.deps.open_kernel)() {
            Ok(k) => k,
            Err(e) => return kernel_unavailable(action, &e),
        };
        if action == "validate-all" {
            return self.validate(kernel.as_ref(), &def, action);
        }
        if action == "reload-agent" {
            let out = self.validate(kernel.as_ref(), &def, action);
            if out.0 == rc::SUCCESS {
                self.reload(&def);
            }
            return out;
        }
        let store = Store::new(self.env.state_dir(), self.env.state_dir());
        let _lock = match store.lock(&def.tag, def.tunables.lock_timeout) {
            Ok(l) => l,
            Err(e) => return (rc::ERR_GENERIC, Some(format!("state: {e}"))),
        };
        let mut state = match store.load_state(&def.tag) {
            Ok(s) => s,
            // A corrupt state file is not fatal: the kernel is the truth
            // for an address; start over from it.
            Err(StoreError::Corrupt { .. }) => RuntimeState::default(),
            Err(e) => return (rc::ERR_GENERIC, Some(format!("state: {e}"))),
        };
        sanitise(&def, &mut state);
        let recorder = Recorder::new();
        let fan = Tee {
            recorder: &recorder,
            sink: self.deps.events,
        };
        let cluster = (self.deps.cluster)(self.env);
        let node = self.env.node();
        let ctx = Ctx {
            kernel: kernel.as_ref(),
            cluster: cluster.as_ref(),
            events: &fan,
            clock: self.deps.clock,
            node: &node,
        };
        let result = match action {
            "start" => self.start(&ctx, &def, &mut state, &recorder),
            "stop" => self.stop(&ctx, &def, &mut state, &recorder),
            _ => self.monitor(&ctx, &def, &mut state, &recorder),
        };
        // The definition is published for a daemon serving this state dir
        // while the resource runs here (still under the lock).
        let published = match (action, result.0) {
            ("start", rc::SUCCESS) => publish_definition(&store, &def),
            ("stop", rc::SUCCESS) => withdraw_definition(&store, &def.tag),
            _ => false,
        };
        if let Err(e) = store.save_state(&def.tag, &state) {
            // The kernel already changed; report it, the state is rebuilt
            // from the kernel on the next call.
            eprintln!("ipkit: could not save the state of {}: {e}", def.tag);
        }
        if published {
            tell_daemon(store.state_dir());
        }
        result
    }

    /// `reload-agent`: new parameters. A resource running here (its
    /// definition is published) gets the new definition, and the daemon,
    /// if any, reloads it.
    fn reload(&self, def: &Definition) {
        let store = Store::new(self.env.state_dir(), self.env.state_dir());
        if !store.exists(&def.tag) {
            return;
        }
        let Ok(_lock) = store.lock(&def.tag, def.tunables.lock_timeout) else {
            return;
        };
        if store.exists(&def.tag) && publish_definition(&store, def) {
            tell_daemon(store.state_dir());
        }
    }

    fn validate(
        &self,
        kernel: &dyn Kernel,
        def: &Definition,
        action: &str,
    ) -> (u8, Option<String>) {
        // The adapters must exist on this node (read only).
        for nic in std::iter::once(&def.adapter).chain(def.recovery_adapter.as_ref()) {
            match kernel.link_state(nic) {
                Ok(LinkState::Missing) => {
                    let field = if *nic == def.adapter {
                        "nic"
                    } else {
                        "recovery_nic"
                    };
                    return (
                        rc::ERR_INSTALLED,
                        Some(format!(
                            "invalid {field}: adapter {nic} does not exist on this node"
                        )),
                    );
                }
                Ok(_) => {}
                Err(e) => return kernel_unavailable(action, &e),
            }
        }
        (rc::SUCCESS, None)
    }

    fn start(
        &self,
        ctx: &Ctx<'_>,
        def: &Definition,
        state: &mut RuntimeState,
        rec: &Recorder,
    ) -> (u8, Option<String>) {
        // An adapter missing on this node is a node-local installation
        // problem (the cluster tries another node), not a failed start.
        let missing = |a: &AdapterName| matches!(ctx.kernel.link_state(a), Ok(LinkState::Missing));
        let recovery_missing = match &def.recovery_adapter {
            Some(r) => missing(r),
            None => true,
        };
        if missing(&def.adapter) && (recovery_missing || !def.local_recovery) {
            return (
                rc::ERR_INSTALLED,
                Some(format!(
                    "invalid nic: adapter {} does not exist on this node",
                    def.adapter
                )),
            );
        }
        let out = ops::restore(ctx, def, state);
        finish(out, rec, "start failed")
    }

    fn stop(
        &self,
        ctx: &Ctx<'_>,
        def: &Definition,
        state: &mut RuntimeState,
        rec: &Recorder,
    ) -> (u8, Option<String>) {
        let out = ops::remove(ctx, def, state);
        finish(out, rec, "stop failed")
    }

    fn monitor(
        &self,
        ctx: &Ctx<'_>,
        def: &Definition,
        state: &mut RuntimeState,
        rec: &Recorder,
    ) -> (u8, Option<String>) {
        let ip = def.address.ip();
        let holders = match ctx.kernel.holders(ip) {
            Ok(h) => h,
            Err(e) => return (kernel_rc(&e), Some(e.to_string())),
        };
        if !state.in_service {
            // Not started by us (or this node rebooted): report what the
            // kernel shows. Present nowhere: not running.
            if holders.is_empty() {
                return (rc::NOT_RUNNING, None);
            }
            // Found on one of our adapters: adopt it and check it.
            match holders.as_slice() {
                [one] if *one == def.adapter || Some(one) == def.recovery_adapter.as_ref() => {
                    state.active_adapter = Some(one.clone());
                    state.in_service = true;
                }
                _ => {
                    return (
                        rc::ERR_GENERIC,
                        Some(format!(
                            "address {ip} is held by {}, not (only) by nic {} or recovery_nic",
                            join(&holders),
                            def.adapter
                        )),
                    );
                }
            }
        }
        // In service. quickCheck; a failure runs recover first.
        let quick = ops::quick_check(ctx, def, state);
        if quick.success {
            if self.env.check_level() >= 10 {
                ops::deep_check(ctx, def, state);
            }
            self.refresh(ctx, def, state);
            return (rc::SUCCESS, None);
        }
        let out = ops::recover(ctx, def, state);
        if out.success {
            return (rc::SUCCESS, None);
        }
        let reason = failure_reason(rec, &out, "monitor: quickCheck and local recovery failed");
        match ctx.kernel.holders(ip) {
            Ok(h) if h.is_empty() => (rc::NOT_RUNNING, Some(reason)),
            _ => (rc::ERR_GENERIC, Some(reason)),
        }
    }

    /// `arp_count_refresh`: re-announce on each successful monitor.
    fn refresh(&self, ctx: &Ctx<'_>, def: &Definition, state: &RuntimeState) {
        let count = self.params.arp_count_refresh;
        if count == 0 {
            return;
        }
        let plan = AnnouncePlan {
            count,
            interval: def.tunables.announce_interval,
        };
        let active = state.active_adapter(def).clone();
        if let Err(e) = ctx.kernel.announce(&active, def.address.ip(), plan) {
            let event = Event::about(
                def,
                Operation::QuickCheck,
                ctx.node,
                &crate::events::Kind::AnnounceFailed {
                    err: e.to_string(),
                    guid: active,
                },
                ctx.clock.now(),
            );
            ctx.events.emit(&event);
        }
    }
}

/// Write the definition a daemon serving the state dir watches
/// (`<state_dir>/resources/<tag>.toml`). `hold_in_service` is off: the
/// daemon never brings an agent's resource up by itself. A write failure is
/// only a warning: the resource runs, the daemon just does not watch it.
fn publish_definition(store: &Store, def: &Definition) -> bool {
    let mut d = def.clone();
    d.hold_in_service = false;
    match store.save_definition(&d) {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "ipkit: warning: could not publish the definition of {} for the daemon: {e}",
                def.tag
            );
            false
        }
    }
}

/// Remove the published definition after a stop (none is fine).
fn withdraw_definition(store: &Store, tag: &Tag) -> bool {
    match store.delete_definition(tag) {
        Ok(()) => true,
        Err(StoreError::UnknownTag(_)) => false,
        Err(e) => {
            eprintln!("ipkit: warning: could not withdraw the definition of {tag}: {e}");
            // Still tell a daemon: the state says stopped, so it leaves
            // the address alone either way.
            true
        }
    }
}

/// SIGHUP the daemon serving `state_dir`, if one runs (no daemon: nothing).
fn tell_daemon(state_dir: &std::path::Path) {
    use crate::daemon::pidfile::{Reload, signal_reload};
    match signal_reload(state_dir) {
        Reload::NoDaemon | Reload::Sent(_) => {}
        Reload::Failed(pid, errno) => eprintln!(
            "ipkit: warning: could not tell the daemon (pid {pid}) to reload: {}",
            std::io::Error::from_raw_os_error(errno)
        ),
    }
}

/// Forget an `active_adapter` that is neither of this definition's adapters
/// (the parameters changed since it was recorded).
fn sanitise(def: &Definition, state: &mut RuntimeState) {
    if let Some(a) = &state.active_adapter
        && *a != def.adapter
        && Some(a) != def.recovery_adapter.as_ref()
    {
        state.active_adapter = None;
    }
}

fn finish(out: Outcome, rec: &Recorder, fallback: &str) -> (u8, Option<String>) {
    if out.success {
        return (rc::SUCCESS, None);
    }
    let code = if out.needs_privilege() {
        rc::ERR_PERM
    } else {
        rc::ERR_GENERIC
    };
    (code, Some(failure_reason(rec, &out, fallback)))
}

/// The exit reason: the first error event that decided the failure (the
/// cause, e.g. 6019 or 7001), else the last error event, else `fallback`.
fn failure_reason(rec: &Recorder, out: &Outcome, fallback: &str) -> String {
    let events = rec.snapshot();
    let errors: Vec<&Event> = events
        .iter()
        .filter(|e| e.severity == Severity::Error)
        .collect();
    let cause = errors
        .iter()
        .find(|e| !matches!(e.id, 6002 | 6102 | 6604 | 7004))
        .or_else(|| errors.last());
    let mut text = match cause {
        Some(e) => format!("{} {}", e.id, e.message),
        None => fallback.to_owned(),
    };
    if let Some(err) = &out.error
        && !text.contains(&err.message)
    {
        text.push_str(&format!(" ({err})"));
    }
    text
}

fn kernel_rc(e: &KernelError) -> u8 {
    if e.is_permission() {
        rc::ERR_PERM
    } else {
        rc::ERR_GENERIC
    }
}

/// The kernel could not be opened (no privilege, no backend).
fn kernel_unavailable(action: &str, e: &KernelError) -> (u8, Option<String>) {
    let reason = format!("cannot reach the kernel: {e}");
    match action {
        "validate-all" | "reload-agent" if !e.is_permission() => (rc::ERR_INSTALLED, Some(reason)),
        _ if e.is_permission() => (rc::ERR_PERM, Some(reason)),
        _ => (rc::ERR_GENERIC, Some(reason)),
    }
}

fn join(list: &[AdapterName]) -> String {
    list.iter()
        .map(AdapterName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every event goes to the caller's sink and to a recorder (for the exit
/// reason).
struct Tee<'a> {
    recorder: &'a Recorder,
    sink: &'a dyn EventSink,
}

impl EventSink for Tee<'_> {
    fn emit(&self, event: &Event) {
        self.recorder.emit(event);
        self.sink.emit(event);
    }
}

/// The OCF 1.1 meta-data. The document names `ra-api-1.dtd` (as
/// `xmllint --valid` and `ocf-tester` expect) and declares the two OCF 1.1
/// additions that DTD predates (`reloadable`, the `reload-agent` action) in
/// its internal subset, so it validates against the 1.0 file too.
pub fn meta_data() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let p = |name: &str,
             required: bool,
             unique: bool,
             reloadable: bool,
             ty: &str,
             default: Option<&str>,
             short: &str,
             long: &str| {
        let default = default
            .map(|d| format!(" default=\"{}\"", xml_escape(d)))
            .unwrap_or_default();
        format!(
            "    <parameter name=\"{name}\" required=\"{}\" unique=\"{}\" reloadable=\"{}\">\n      <longdesc lang=\"en\">{}</longdesc>\n      <shortdesc lang=\"en\">{}</shortdesc>\n      <content type=\"{ty}\"{default}/>\n    </parameter>\n",
            u8::from(required),
            u8::from(unique),
            u8::from(reloadable),
            xml_escape(long),
            xml_escape(short),
        )
    };
    let mut params = String::new();
    params.push_str(&p("ip", true, true, false, "string", None,
        "IPv4 or IPv6 address (optionally with /prefix)",
        "The switchable address this resource keeps alive, e.g. 198.51.100.50 or 198.51.100.50/24 or 2001:db8::50/64. Unique: two resources cannot protect the same address."));
    params.push_str(&p("cidr_netmask", false, false, false, "string", Some("32 (IPv4) / 128 (IPv6)"),
        "Prefix length or netmask",
        "The prefix length (24) or, for IPv4, the dotted netmask (255.255.255.0). Used when ip carries no /prefix; must agree with it when it does. Default: a host address (/32 or /128)."));
    params.push_str(&p("nic", true, false, false, "string", None,
        "Primary network adapter",
        "The interface that normally holds the address (e.g. eth0). It must exist on the nodes that may run the resource; a node where it is missing reports 'not installed' for start and 'not running' for probes."));
    params.push_str(&p("recovery_nic", false, false, false, "string", Some(""),
        "Local recovery adapter",
        "A second interface on the same LAN. When the primary adapter loses its cable, monitor moves the address to it without a failover. Default: none (local recovery re-adds the address on nic)."));
    params.push_str(&p("local_recovery", false, false, true, "boolean", Some("true"),
        "Enable local recovery",
        "When a monitor finds the address gone or its cable disconnected, first try to recover it on this node (nic, then recovery_nic) before reporting a failure to the cluster."));
    params.push_str(&p("probe_timeout", false, false, true, "integer", Some("200"),
        "In-use probe timeout (ms)",
        "How long start listens for another host that already answers for the address (ARP probe, RFC 5227 / IPv6 DAD) before adding it. 0 disables the probe."));
    params.push_str(&p("arp_count", false, false, true, "integer", Some("5"),
        "Gratuitous ARP / unsolicited NA count",
        "How many gratuitous ARP (IPv4) or unsolicited Neighbour Advertisements (IPv6) are sent after the address is added. The first goes out before the action returns, the rest in the background."));
    params.push_str(&p(
        "arp_interval",
        false,
        false,
        true,
        "integer",
        Some("200"),
        "Interval between announcements (ms)",
        "Milliseconds between two gratuitous ARP / unsolicited NA rounds.",
    ));
    params.push_str(&p("arp_count_refresh", false, false, true, "integer", Some("0"),
        "Re-announcements on each monitor",
        "How many announcements each successful monitor sends again, to refresh switches and neighbours. 0 (default) sends none."));
    format!(
        r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd" [
<!ATTLIST parameter reloadable (1|0) "0">
<!ATTLIST action name (start|stop|recover|monitor|restart|migrate_to|migrate_from|promote|demote|notify|status|reload|reload-agent|meta-data|usage|methods|validate-all) #REQUIRED>
]>
<resource-agent name="vip" version="{version}">
  <version>1.1</version>
  <longdesc lang="en">
ipkit keeps a switchable (virtual) IP address alive on one node, like
ocf:heartbeat:IPaddr2, following the LifeKeeper IP Recovery Kit. On top of
adding and removing the address it probes for another owner before adding it,
announces it (gratuitous ARP / unsolicited NA), and recovers it locally onto a
backup adapter when the primary adapter's cable is pulled, so the cluster sees
no failure. Monitor depth 0 (quickCheck): the active adapter has its cable and
holds the address, nowhere else. Depth 10 (deepCheck) also warns (event 6406)
when a standby node's adapter is disconnected, from the ethmonitor-NIC node
attributes. Events are numbered (6001...) and logged.
  </longdesc>
  <shortdesc lang="en">Switchable IP address with local recovery (ipkit)</shortdesc>
  <parameters>
{params}  </parameters>
  <actions>
    <action name="start" timeout="20s"/>
    <action name="stop" timeout="20s"/>
    <action name="monitor" timeout="20s" interval="10s" depth="0"/>
    <action name="monitor" timeout="20s" interval="60s" depth="10"/>
    <action name="validate-all" timeout="20s"/>
    <action name="reload-agent" timeout="20s"/>
    <action name="meta-data" timeout="5s"/>
  </actions>
</resource-agent>
"#
    )
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::sim::SimCluster;
    use crate::net::{AddOptions, KernelOp, LinkInfo, ProbeResult};
    use crate::resource::Mac;
    use std::sync::Mutex;

    /// A tiny in-memory kernel: links with a cable state, addresses.
    #[derive(Default)]
    struct Fake {
        links: Mutex<Vec<(String, LinkState)>>,
        addrs: Mutex<Vec<(String, IpAddr)>>,
    }

    impl Fake {
        fn with(links: &[(&str, LinkState)]) -> Arc<Self> {
            let f = Self::default();
            *f.links.lock().unwrap() = links.iter().map(|(n, s)| (n.to_string(), *s)).collect();
            Arc::new(f)
        }
        fn set(&self, name: &str, s: LinkState) {
            for l in self.links.lock().unwrap().iter_mut() {
                if l.0 == name {
                    l.1 = s;
                }
            }
        }
        fn holders_of(&self, ip: &str) -> Vec<String> {
            let ip: IpAddr = ip.parse().unwrap();
            self.addrs
                .lock()
                .unwrap()
                .iter()
                .filter(|a| a.1 == ip)
                .map(|a| a.0.clone())
                .collect()
        }
    }

    impl Kernel for Fake {
        fn link(&self, adapter: &AdapterName) -> Result<LinkInfo, KernelError> {
            let links = self.links.lock().unwrap();
            let (i, l) = links
                .iter()
                .enumerate()
                .find(|(_, l)| l.0 == adapter.as_str())
                .ok_or_else(|| KernelError::new(KernelOp::GetLink, None, libc::ENODEV))?;
            if l.1 == LinkState::Missing {
                return Err(KernelError::new(KernelOp::GetLink, None, libc::ENODEV));
            }
            Ok(LinkInfo {
                name: adapter.clone(),
                ifindex: i as u32 + 2,
                mac: Mac([2, 0, 0, 0, 0, i as u8]),
                state: l.1,
            })
        }
        fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
            Ok(self
                .addrs
                .lock()
                .unwrap()
                .iter()
                .filter(|a| a.1 == ip)
                .map(|a| AdapterName::new(&a.0).unwrap())
                .collect())
        }
        fn add_address(
            &self,
            a: &AdapterName,
            addr: &Address,
            _: AddOptions,
        ) -> Result<(), KernelError> {
            self.link(a)?;
            let mut addrs = self.addrs.lock().unwrap();
            if !addrs.iter().any(|x| x.0 == a.as_str() && x.1 == addr.ip()) {
                addrs.push((a.to_string(), addr.ip()));
            }
            Ok(())
        }
        fn delete_address(&self, a: &AdapterName, addr: &Address) -> Result<(), KernelError> {
            self.addrs
                .lock()
                .unwrap()
                .retain(|x| !(x.0 == a.as_str() && x.1 == addr.ip()));
            Ok(())
        }
        fn flush_neighbours(&self, _: IpAddr) -> Result<(), KernelError> {
            Ok(())
        }
        fn announce(&self, _: &AdapterName, _: IpAddr, _: AnnouncePlan) -> Result<(), KernelError> {
            Ok(())
        }
        fn probe(
            &self,
            _: &AdapterName,
            _: IpAddr,
            _: Duration,
        ) -> Result<ProbeResult, KernelError> {
            Ok(ProbeResult::Free)
        }
    }

    struct World {
        kernel: Arc<Fake>,
        cluster: Arc<SimCluster>,
        events: Recorder,
        dir: tempfile::TempDir,
    }

    impl World {
        fn new() -> Self {
            Self {
                kernel: Fake::with(&[
                    ("eth0", LinkState::Connected),
                    ("eth1", LinkState::Connected),
                ]),
                cluster: Arc::new(SimCluster::new()),
                events: Recorder::new(),
                dir: tempfile::tempdir().unwrap(),
            }
        }
        fn env(&self, extra: &[(&str, &str)]) -> OcfEnv {
            let dir = self.dir.path().to_str().unwrap().to_owned();
            let mut pairs: Vec<(String, String)> = vec![
                ("HA_RSCTMP".into(), dir),
                ("OCF_RESOURCE_INSTANCE".into(), "vip".into()),
                ("OCF_RESKEY_ip".into(), "198.51.100.50/24".into()),
                ("OCF_RESKEY_nic".into(), "eth0".into()),
                ("OCF_RESKEY_recovery_nic".into(), "eth1".into()),
                ("OCF_RESKEY_probe_timeout".into(), "0".into()),
            ];
            for (k, v) in extra {
                pairs.retain(|p| p.0 != *k);
                if !v.is_empty() {
                    pairs.push((k.to_string(), v.to_string()));
                }
            }
            OcfEnv::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        }
        fn run(&self, action: &str, extra: &[(&str, &str)]) -> (u8, Option<String>) {
            let k = Arc::clone(&self.kernel);
            let open = move || Ok(Box::new(Arc::clone(&k)) as Box<dyn Kernel>);
            let c = Arc::clone(&self.cluster);
            let cluster = move |_: &OcfEnv| Box::new(Arc::clone(&c)) as Box<dyn ClusterView>;
            let deps = Deps {
                open_kernel: &open,
                cluster: &cluster,
                events: &self.events,
                clock: &SystemClock,
            };
            let reply = run(action, &self.env(extra), &deps);
            (reply.code, reply.reason)
        }
        fn ids(&self) -> Vec<u16> {
            self.events.take().iter().map(|e| e.id).collect()
        }
    }

    impl ClusterView for Arc<SimCluster> {
        fn standby_nodes(
            &self,
            def: &Definition,
        ) -> Result<Vec<crate::cluster::StandbyNode>, crate::cluster::ClusterError> {
            (**self).standby_nodes(def)
        }
    }

    #[test]
    fn ocf_tester_sequence() {
        let w = World::new();
        assert_eq!(w.run("validate-all", &[]).0, rc::SUCCESS);
        assert_eq!(w.run("monitor", &[]).0, rc::NOT_RUNNING);
        assert_eq!(
            w.run("monitor", &[("OCF_RESKEY_CRM_meta_interval", "0")]).0,
            rc::NOT_RUNNING
        );
        assert_eq!(w.run("start", &[]).0, rc::SUCCESS);
        assert_eq!(w.kernel.holders_of("198.51.100.50"), vec!["eth0"]);
        assert_eq!(w.run("monitor", &[]).0, rc::SUCCESS);
        assert_eq!(w.run("start", &[]).0, rc::SUCCESS);
        assert_eq!(w.run("stop", &[]).0, rc::SUCCESS);
        assert!(w.kernel.holders_of("198.51.100.50").is_empty());
        assert_eq!(w.run("monitor", &[]).0, rc::NOT_RUNNING);
        assert_eq!(w.run("stop", &[]).0, rc::SUCCESS);
        assert_eq!(w.run("promote", &[]).0, rc::ERR_UNIMPLEMENTED);
        assert_eq!(w.run("reload-agent", &[]).0, rc::SUCCESS);
    }

    #[test]
    fn start_publishes_the_definition_and_stop_withdraws_it() {
        let w = World::new();
        let store = Store::new(w.dir.path().join("ipkit"), w.dir.path().join("ipkit"));
        let tag = Tag::new("vip").unwrap();
        assert!(!store.exists(&tag));
        assert_eq!(w.run("monitor", &[]).0, rc::NOT_RUNNING);
        assert!(!store.exists(&tag), "a monitor publishes nothing");
        assert_eq!(w.run("start", &[]).0, rc::SUCCESS);
        let def = store.load_definition(&tag).unwrap();
        assert!(!def.hold_in_service);
        assert_eq!(def.address.ip().to_string(), "198.51.100.50");
        assert_eq!(def.adapter.as_str(), "eth0");
        assert_eq!(
            def.recovery_adapter.as_ref().map(|a| a.as_str()),
            Some("eth1")
        );
        // reload-agent rewrites the published definition.
        assert_eq!(
            w.run("reload-agent", &[("OCF_RESKEY_arp_count", "2")]).0,
            rc::SUCCESS
        );
        assert_eq!(
            store.load_definition(&tag).unwrap().tunables.announce_count,
            2
        );
        assert_eq!(w.run("stop", &[]).0, rc::SUCCESS);
        assert!(!store.exists(&tag));
        assert!(!store.load_state(&tag).unwrap().in_service);
        // Stopped: reload-agent and a second stop publish nothing.
        assert_eq!(w.run("reload-agent", &[]).0, rc::SUCCESS);
        assert_eq!(w.run("stop", &[]).0, rc::SUCCESS);
        assert!(!store.exists(&tag));
    }

    #[test]
    fn a_failed_start_publishes_nothing() {
        let w = World::new();
        w.kernel.set("eth0", LinkState::Disconnected);
        w.kernel.set("eth1", LinkState::Disconnected);
        assert_ne!(w.run("start", &[]).0, rc::SUCCESS);
        let store = Store::new(w.dir.path().join("ipkit"), w.dir.path().join("ipkit"));
        assert!(!store.exists(&Tag::new("vip").unwrap()));
    }

    #[test]
    fn monitor_recovers_onto_the_backup_adapter() {
        let w = World::new();
        assert_eq!(w.run("start", &[]).0, rc::SUCCESS);
        w.ids();
        w.kernel.set("eth0", LinkState::Disconnected);
        assert_eq!(w.run("monitor", &[]), (rc::SUCCESS, None));
        assert_eq!(w.kernel.holders_of("198.51.100.50"), vec!["eth1"]);
        let ids = w.ids();
        assert!(ids.contains(&6507) && ids.contains(&6603), "{ids:?}");
        // The next monitor checks eth1 and passes without recovery.
        assert_eq!(w.run("monitor", &[]).0, rc::SUCCESS);
        assert!(!w.ids().contains(&6605));
    }

    #[test]
    fn monitor_fails_when_both_cables_are_pulled() {
        let w = World::new();
        assert_eq!(w.run("start", &[]).0, rc::SUCCESS);
        w.kernel.set("eth0", LinkState::Disconnected);
        w.kernel.set("eth1", LinkState::Disconnected);
        let (code, reason) = w.run("monitor", &[]);
        assert_eq!(code, rc::ERR_GENERIC);
        assert!(reason.unwrap().contains("6507"));
        assert_eq!(w.run("stop", &[]).0, rc::SUCCESS);
        let (code, reason) = w.run("start", &[]);
        assert_eq!(code, rc::ERR_GENERIC);
        assert!(reason.unwrap().starts_with("6019"));
    }

    #[test]
    fn deep_monitor_warns_about_a_standby_cable() {
        let w = World::new();
        w.cluster.add_node(
            "node2",
            AdapterName::new("eth0").unwrap(),
            true,
            LinkState::Disconnected,
        );
        assert_eq!(w.run("start", &[]).0, rc::SUCCESS);
        w.ids();
        assert_eq!(w.run("monitor", &[]).0, rc::SUCCESS);
        assert!(!w.ids().contains(&6406));
        assert_eq!(
            w.run("monitor", &[("OCF_CHECK_LEVEL", "10")]).0,
            rc::SUCCESS
        );
        let ev = w.events.take();
        let e = ev.iter().find(|e| e.id == 6406).expect("6406");
        assert_eq!(e.node.as_deref(), Some("node2"));
        // An unreadable cluster is a warning, never a failed monitor.
        w.cluster.fail_reads(Some("crm_mon timed out"));
        assert_eq!(
            w.run("monitor", &[("OCF_CHECK_LEVEL", "10")]).0,
            rc::SUCCESS
        );
        assert!(w.ids().contains(&7006));
    }

    #[test]
    fn probe_on_a_node_without_the_adapter_is_not_running() {
        let w = World::new();
        w.kernel.set("eth0", LinkState::Missing);
        w.kernel.set("eth1", LinkState::Missing);
        assert_eq!(
            w.run("monitor", &[("OCF_RESKEY_CRM_meta_interval", "0")]).0,
            rc::NOT_RUNNING
        );
        assert_eq!(w.run("start", &[]).0, rc::ERR_INSTALLED);
        assert_eq!(w.run("validate-all", &[]).0, rc::ERR_INSTALLED);
        assert_eq!(w.run("stop", &[]).0, rc::SUCCESS);
    }

    #[test]
    fn address_removed_behind_our_back_is_recovered() {
        let w = World::new();
        assert_eq!(w.run("start", &[]).0, rc::SUCCESS);
        w.kernel.addrs.lock().unwrap().clear();
        assert_eq!(w.run("monitor", &[]).0, rc::SUCCESS);
        assert_eq!(w.kernel.holders_of("198.51.100.50"), vec!["eth0"]);
        // Without local recovery the same loss is reported as not running.
        w.kernel.addrs.lock().unwrap().clear();
        let (code, reason) = w.run("monitor", &[("OCF_RESKEY_local_recovery", "false")]);
        assert_eq!(code, rc::NOT_RUNNING);
        assert!(reason.unwrap().contains("6508"));
    }

    #[test]
    fn bad_parameters_name_the_field() {
        let w = World::new();
        let (code, reason) = w.run("validate-all", &[("OCF_RESKEY_ip", "")]);
        assert_eq!(code, rc::ERR_CONFIGURED);
        assert!(reason.unwrap().contains("ip"));
        let (code, reason) = w.run(
            "start",
            &[
                ("OCF_RESKEY_ip", "198.51.100.50/24"),
                ("OCF_RESKEY_cidr_netmask", "16"),
            ],
        );
        assert_eq!(code, rc::ERR_CONFIGURED);
        assert!(reason.unwrap().contains("cidr_netmask"));
        let (code, reason) = w.run("validate-all", &[("OCF_RESKEY_arp_count", "many")]);
        assert_eq!(code, rc::ERR_CONFIGURED);
        assert!(reason.unwrap().contains("arp_count"));
        let (code, _) = w.run("validate-all", &[("OCF_RESKEY_recovery_nic", "eth0")]);
        assert_eq!(code, rc::ERR_CONFIGURED);
        // A probe or a stop never fails on configuration.
        assert_eq!(
            w.run(
                "monitor",
                &[
                    ("OCF_RESKEY_ip", "x"),
                    ("OCF_RESKEY_CRM_meta_interval", "0")
                ]
            )
            .0,
            rc::NOT_RUNNING
        );
        assert_eq!(w.run("stop", &[("OCF_RESKEY_ip", "x")]).0, rc::SUCCESS);
    }

    #[test]
    fn parameter_forms() {
        let a = parse_address("198.51.100.50", Some("255.255.255.0")).unwrap();
        assert_eq!(a.prefix(), 24);
        assert_eq!(parse_address("198.51.100.50", None).unwrap().prefix(), 32);
        assert_eq!(
            parse_address("2001:db8::5", Some("64")).unwrap().prefix(),
            64
        );
        assert!(parse_address("198.51.100.50", Some("255.0.255.0")).is_err());
        assert_eq!(parse_ms("x", "2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_ms("x", "150ms").unwrap(), Duration::from_millis(150));
        assert_eq!(tag_from_instance("vip:0").unwrap().as_str(), "vip-0");
        assert_eq!(tag_from_instance("_x").unwrap().as_str(), "r_x");
    }

    #[test]
    fn meta_data_declares_the_parameters() {
        let m = meta_data();
        assert!(m.contains("<parameter name=\"ip\" required=\"1\" unique=\"1\" reloadable=\"0\">"));
        assert!(m.contains(
            "<parameter name=\"arp_count\" required=\"0\" unique=\"0\" reloadable=\"1\">"
        ));
        assert!(m.contains("<action name=\"reload-agent\""));
        assert!(m.contains("depth=\"10\""));
    }
}
