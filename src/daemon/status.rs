//! What the daemon knows, shared between its event loop (the writer) and
//! the status API (readers): per-resource view and counters, adapter link
//! states, events by number. Rendered as JSON for `/v1/*` and as Prometheus
//! text for `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::conflicts::{self, Conflicts, ConflictsJson};
use super::histogram::Histogram;
use crate::events::{Event, EventSink, Severity};
use crate::net::{LinkState, LinkStatus};
use crate::resource::{AdapterName, Definition, Tag, rfc3339};

/// One adapter as the change source reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdapterEntry {
    pub name: String,
    pub ifindex: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    pub admin_up: bool,
    pub carrier: bool,
    /// SPEC §2: connected = carrier and administratively up.
    pub link: LinkState,
    /// When the change source reported `link` taking this value (None: not
    /// seen to change since the daemon started or last re-read every
    /// link). quickCheck's debounce counts from it (issue 10).
    #[serde(skip)]
    pub link_since: Option<SystemTime>,
}

impl From<&LinkStatus> for AdapterEntry {
    fn from(l: &LinkStatus) -> Self {
        Self {
            name: l.name.to_string(),
            ifindex: l.ifindex,
            mac: l.mac.map(|m| m.to_string()),
            admin_up: l.admin_up,
            carrier: l.carrier,
            link: l.state(),
            link_since: None,
        }
    }
}

/// The daemon's view of one resource, with its counters.
#[derive(Debug, Clone)]
pub struct ResourceEntry {
    pub def: Definition,
    pub in_service: bool,
    pub failed: bool,
    pub active: AdapterName,
    /// The last quickCheck succeeded (None: none ran yet).
    pub up: Option<bool>,
    pub last_quick: Option<(SystemTime, bool)>,
    pub last_deep: Option<(SystemTime, bool)>,
    pub quick_checks: u64,
    pub quick_failures: u64,
    pub deep_checks: u64,
    /// deepChecks that warned (6406 / 7006); deepCheck itself never fails.
    pub deep_warnings: u64,
    pub recoveries_ok: u64,
    pub recoveries_failed: u64,
    pub last_recovery: Option<(SystemTime, Duration, bool)>,
    /// Every local recovery's duration (successful or not).
    pub recovery_seconds: Histogram,
    /// Other holders of the address seen while in service (issue 10).
    pub conflicts: Conflicts,
}

impl ResourceEntry {
    fn new(def: Definition) -> Self {
        Self {
            active: def.adapter.clone(),
            def,
            in_service: false,
            failed: false,
            up: None,
            last_quick: None,
            last_deep: None,
            quick_checks: 0,
            quick_failures: 0,
            deep_checks: 0,
            deep_warnings: 0,
            recoveries_ok: 0,
            recoveries_failed: 0,
            last_recovery: None,
            recovery_seconds: Histogram::default(),
            conflicts: Conflicts::default(),
        }
    }

    /// The adapter that would receive the address here: the active one
    /// when in service, else the primary (what restore uses first).
    pub fn standby_adapter(&self) -> &AdapterName {
        if self.in_service {
            &self.active
        } else {
            &self.def.adapter
        }
    }
}

#[derive(Default)]
struct Inner {
    resources: BTreeMap<Tag, ResourceEntry>,
    adapters: BTreeMap<String, AdapterEntry>,
    events: BTreeMap<(u16, Severity), u64>,
}

/// Shared status. Cheap to lock: every writer holds it for microseconds.
pub struct Status {
    node: String,
    started: SystemTime,
    inner: Mutex<Inner>,
    in_flight: std::sync::atomic::AtomicUsize,
}

#[derive(Serialize)]
struct CheckJson {
    time: String,
    success: bool,
}

#[derive(Serialize)]
struct RecoveryJson {
    time: String,
    seconds: f64,
    success: bool,
}

#[derive(Serialize)]
struct ResourceJson<'a> {
    tag: &'a str,
    id: String,
    address: String,
    adapter: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_adapter: Option<&'a str>,
    local_recovery: bool,
    hold_in_service: bool,
    node: &'a str,
    active_adapter: &'a str,
    in_service: bool,
    failed: bool,
    up: Option<bool>,
    /// The adapter that would receive the address on this node, and its
    /// link state: what a peer's deepCheck asks for (SPEC §5).
    standby_adapter: &'a str,
    standby_link: LinkState,
    adapters: BTreeMap<&'a str, LinkState>,
    last_quick_check: Option<CheckJson>,
    last_deep_check: Option<CheckJson>,
    last_recovery: Option<RecoveryJson>,
    quick_checks: u64,
    quick_check_failures: u64,
    deep_checks: u64,
    deep_check_warnings: u64,
    recoveries: u64,
    recovery_failures: u64,
    #[serde(flatten)]
    conflicts: ConflictsJson<'a>,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn check_json(c: &Option<(SystemTime, bool)>) -> Option<CheckJson> {
    c.map(|(t, ok)| CheckJson {
        time: rfc3339::format(t),
        success: ok,
    })
}

impl Inner {
    fn link_of(&self, name: &AdapterName) -> LinkState {
        self.adapters
            .get(name.as_str())
            .map(|a| a.link)
            .unwrap_or(LinkState::Missing)
    }

    fn resource_json<'a>(&'a self, node: &'a str, e: &'a ResourceEntry) -> ResourceJson<'a> {
        let d = &e.def;
        let mut adapters = BTreeMap::new();
        adapters.insert(d.adapter.as_str(), self.link_of(&d.adapter));
        if let Some(r) = &d.recovery_adapter {
            adapters.insert(r.as_str(), self.link_of(r));
        }
        ResourceJson {
            tag: d.tag.as_str(),
            id: d.id(),
            address: d.address.to_string(),
            adapter: d.adapter.as_str(),
            recovery_adapter: d.recovery_adapter.as_ref().map(|a| a.as_str()),
            local_recovery: d.local_recovery,
            hold_in_service: d.hold_in_service,
            node,
            active_adapter: e.active.as_str(),
            in_service: e.in_service,
            failed: e.failed,
            up: e.up,
            standby_adapter: e.standby_adapter().as_str(),
            standby_link: self.link_of(e.standby_adapter()),
            adapters,
            last_quick_check: check_json(&e.last_quick),
            last_deep_check: check_json(&e.last_deep),
            last_recovery: e.last_recovery.map(|(t, d, ok)| RecoveryJson {
                time: rfc3339::format(t),
                seconds: d.as_secs_f64(),
                success: ok,
            }),
            quick_checks: e.quick_checks,
            quick_check_failures: e.quick_failures,
            deep_checks: e.deep_checks,
            deep_check_warnings: e.deep_warnings,
            recoveries: e.recoveries_ok + e.recoveries_failed,
            recovery_failures: e.recoveries_failed,
            conflicts: ConflictsJson::of(&e.conflicts),
        }
    }
}

/// Escape a Prometheus label value.
fn label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Status {
    pub fn new(node: String) -> Self {
        Self {
            node,
            started: SystemTime::now(),
            inner: Mutex::new(Inner::default()),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Jobs queued or running (0 = the daemon is idle).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_in_flight(&self, n: usize) {
        self.in_flight
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Install the definitions (start, reload); counters of kept resources
    /// stay.
    pub fn set_definitions(&self, defs: &[Definition]) {
        let mut g = lock(&self.inner);
        let mut next = BTreeMap::new();
        for d in defs {
            let e = match g.resources.remove(&d.tag) {
                Some(mut e) => {
                    e.def = d.clone();
                    e
                }
                None => ResourceEntry::new(d.clone()),
            };
            next.insert(d.tag.clone(), e);
        }
        g.resources = next;
    }

    /// Change one resource's entry (no-op for an unknown tag).
    pub fn update(&self, tag: &Tag, f: impl FnOnce(&mut ResourceEntry)) {
        if let Some(e) = lock(&self.inner).resources.get_mut(tag) {
            f(e);
        }
    }

    pub fn resource(&self, tag: &Tag) -> Option<ResourceEntry> {
        lock(&self.inner).resources.get(tag).cloned()
    }

    /// The active adapter of a resource the daemon believes in service and
    /// not failed (None otherwise).
    pub fn watched_active(&self, tag: &Tag) -> Option<AdapterName> {
        lock(&self.inner)
            .resources
            .get(tag)
            .filter(|e| e.in_service && !e.failed)
            .map(|e| e.active.clone())
    }

    /// One adapter as the change source reported it at `now`.
    pub fn set_adapter(&self, mut a: AdapterEntry, now: SystemTime) {
        let mut g = lock(&self.inner);
        a.link_since = match g.adapters.get(&a.name) {
            Some(old) if old.link == a.link => old.link_since,
            _ => Some(now),
        };
        g.adapters.insert(a.name.clone(), a);
    }

    pub fn remove_adapter(&self, name: &str) {
        lock(&self.inner).adapters.remove(name);
    }

    /// Every adapter, re-read (start, overrun). A link state that changed
    /// meanwhile changed at a time nobody knows.
    pub fn replace_adapters(&self, all: Vec<AdapterEntry>) {
        let mut g = lock(&self.inner);
        let next = all
            .into_iter()
            .map(|mut a| {
                a.link_since = g
                    .adapters
                    .get(&a.name)
                    .filter(|old| old.link == a.link)
                    .and_then(|old| old.link_since);
                (a.name.clone(), a)
            })
            .collect();
        g.adapters = next;
    }

    /// When the adapter's link was reported going down, if it is down and
    /// the daemon saw it go.
    pub fn link_down_since(&self, name: &AdapterName) -> Option<SystemTime> {
        lock(&self.inner)
            .adapters
            .get(name.as_str())
            .filter(|a| a.link != LinkState::Connected)
            .and_then(|a| a.link_since)
    }

    /// The interface index of an adapter, as last reported.
    pub fn ifindex_of(&self, name: &str) -> Option<u32> {
        lock(&self.inner).adapters.get(name).map(|a| a.ifindex)
    }

    pub fn adapter_by_index(&self, ifindex: u32) -> Option<String> {
        lock(&self.inner)
            .adapters
            .values()
            .find(|a| a.ifindex == ifindex)
            .map(|a| a.name.clone())
    }

    /// `/v1/resources`
    pub fn resources_json(&self) -> String {
        let g = lock(&self.inner);
        let list: Vec<ResourceJson<'_>> = g
            .resources
            .values()
            .map(|e| g.resource_json(&self.node, e))
            .collect();
        serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned())
    }

    /// `/v1/resources/{tag}`
    pub fn resource_json(&self, tag: &str) -> Option<String> {
        let tag = Tag::new(tag).ok()?;
        let g = lock(&self.inner);
        let e = g.resources.get(&tag)?;
        serde_json::to_string(&g.resource_json(&self.node, e)).ok()
    }

    /// `/v1/adapters`
    pub fn adapters_json(&self) -> String {
        let g = lock(&self.inner);
        let list: Vec<&AdapterEntry> = g.adapters.values().collect();
        serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned())
    }

    /// `/metrics` in the Prometheus text exposition format (0.0.4).
    pub fn metrics_text(&self) -> String {
        let g = lock(&self.inner);
        let mut o = String::with_capacity(512 + g.resources.len() * 900);
        let family = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}");
            let _ = writeln!(o, "# TYPE {name} {kind}");
        };
        family(
            &mut o,
            "ipkit_build_info",
            "gauge",
            "Always 1; the labels say which ipkit this is.",
        );
        let _ = writeln!(
            o,
            "ipkit_build_info{{version=\"{}\",os=\"{}\",arch=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH
        );
        family(
            &mut o,
            "ipkit_daemon_start_time_seconds",
            "gauge",
            "Start time of the daemon since the Unix epoch.",
        );
        let _ = writeln!(
            o,
            "ipkit_daemon_start_time_seconds {:.3}",
            unix_secs(self.started)
        );
        family(
            &mut o,
            "ipkit_daemon_jobs_in_flight",
            "gauge",
            "Operations queued or running.",
        );
        let _ = writeln!(o, "ipkit_daemon_jobs_in_flight {}", self.in_flight());
        family(
            &mut o,
            "ipkit_resources",
            "gauge",
            "Resources the daemon watches.",
        );
        let _ = writeln!(o, "ipkit_resources {}", g.resources.len());

        let per = |o: &mut String, name: &str, f: &dyn Fn(&ResourceEntry) -> String| {
            for (tag, e) in &g.resources {
                let _ = writeln!(o, "{name}{{tag=\"{}\"}} {}", label(tag.as_str()), f(e));
            }
        };
        family(
            &mut o,
            "ipkit_resource_up",
            "gauge",
            "1 when the resource is in service and its last quickCheck succeeded.",
        );
        per(&mut o, "ipkit_resource_up", &|e| {
            u8::from(e.in_service && !e.failed && e.up == Some(true)).to_string()
        });
        family(
            &mut o,
            "ipkit_resource_in_service",
            "gauge",
            "1 when the resource is in service on this node.",
        );
        per(&mut o, "ipkit_resource_in_service", &|e| {
            u8::from(e.in_service).to_string()
        });
        family(
            &mut o,
            "ipkit_resource_failed",
            "gauge",
            "1 when the resource is marked failed (restart threshold or failed recovery).",
        );
        per(&mut o, "ipkit_resource_failed", &|e| {
            u8::from(e.failed).to_string()
        });

        family(
            &mut o,
            "ipkit_checks_total",
            "counter",
            "Checks run by the daemon, by kind.",
        );
        for (tag, e) in &g.resources {
            let t = label(tag.as_str());
            let _ = writeln!(
                o,
                "ipkit_checks_total{{tag=\"{t}\",kind=\"quick\"}} {}",
                e.quick_checks
            );
            let _ = writeln!(
                o,
                "ipkit_checks_total{{tag=\"{t}\",kind=\"deep\"}} {}",
                e.deep_checks
            );
        }
        family(
            &mut o,
            "ipkit_check_failures_total",
            "counter",
            "Failed quickChecks, and deepChecks that warned, by kind.",
        );
        for (tag, e) in &g.resources {
            let t = label(tag.as_str());
            let _ = writeln!(
                o,
                "ipkit_check_failures_total{{tag=\"{t}\",kind=\"quick\"}} {}",
                e.quick_failures
            );
            let _ = writeln!(
                o,
                "ipkit_check_failures_total{{tag=\"{t}\",kind=\"deep\"}} {}",
                e.deep_warnings
            );
        }
        family(
            &mut o,
            "ipkit_recoveries_total",
            "counter",
            "Local recoveries run by the daemon, by result.",
        );
        for (tag, e) in &g.resources {
            let t = label(tag.as_str());
            let _ = writeln!(
                o,
                "ipkit_recoveries_total{{tag=\"{t}\",result=\"success\"}} {}",
                e.recoveries_ok
            );
            let _ = writeln!(
                o,
                "ipkit_recoveries_total{{tag=\"{t}\",result=\"failure\"}} {}",
                e.recoveries_failed
            );
        }
        family(
            &mut o,
            "ipkit_recovery_duration_seconds",
            "histogram",
            "How long local recoveries took, successful or not.",
        );
        for (tag, e) in &g.resources {
            let labels = format!("tag=\"{}\"", label(tag.as_str()));
            e.recovery_seconds
                .write(&mut o, "ipkit_recovery_duration_seconds", &labels);
        }
        let counters: Vec<_> = g.resources.iter().map(|(t, e)| (t, &e.conflicts)).collect();
        conflicts::write_metrics(&mut o, &counters, label);
        family(
            &mut o,
            "ipkit_adapter_connected",
            "gauge",
            "1 when the adapter has carrier and is administratively up.",
        );
        // Only the adapters a resource names: a node's other links (lo,
        // bridges, container veths) are not ipkit's to report.
        let used: std::collections::BTreeSet<&str> = g
            .resources
            .values()
            .flat_map(|e| [Some(&e.def.adapter), e.def.recovery_adapter.as_ref()])
            .flatten()
            .map(|a| a.as_str())
            .collect();
        for a in g
            .adapters
            .values()
            .filter(|a| used.contains(a.name.as_str()))
        {
            let _ = writeln!(
                o,
                "ipkit_adapter_connected{{adapter=\"{}\"}} {}",
                label(&a.name),
                u8::from(a.link == LinkState::Connected)
            );
        }
        family(
            &mut o,
            "ipkit_events_total",
            "counter",
            "Events emitted by the daemon, by catalog number and severity.",
        );
        for ((id, sev), n) in &g.events {
            let _ = writeln!(
                o,
                "ipkit_events_total{{id=\"{id}\",severity=\"{}\"}} {n}",
                sev.as_str()
            );
        }
        o
    }
}

/// Counting events by number is one of the sinks.
impl EventSink for Status {
    fn emit(&self, event: &Event) {
        *lock(&self.inner)
            .events
            .entry((event.id, event.severity))
            .or_insert(0) += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Kind;
    use crate::resource::Operation;

    fn def() -> Definition {
        crate::resource::sample_definition(true)
    }

    #[test]
    fn json_and_metrics() {
        let s = Status::new("node-a".into());
        let d = def();
        s.set_definitions(std::slice::from_ref(&d));
        s.set_adapter(
            AdapterEntry {
                name: "eth0".into(),
                ifindex: 2,
                mac: None,
                admin_up: true,
                carrier: false,
                link: LinkState::Disconnected,
                link_since: None,
            },
            SystemTime::UNIX_EPOCH,
        );
        s.set_adapter(
            AdapterEntry {
                name: "lo".into(),
                ifindex: 1,
                mac: None,
                admin_up: true,
                carrier: true,
                link: LinkState::Connected,
                link_since: None,
            },
            SystemTime::UNIX_EPOCH,
        );
        s.update(&d.tag, |e| {
            e.in_service = true;
            e.up = Some(true);
            e.quick_checks = 3;
        });
        s.emit(&Event::about(
            &d,
            Operation::QuickCheck,
            "node-a",
            &Kind::CableDisconnected {
                nic: d.adapter.clone(),
            },
            SystemTime::now(),
        ));
        let v: serde_json::Value = serde_json::from_str(&s.resource_json("vip").unwrap()).unwrap();
        assert_eq!(v["standby_adapter"], "eth0");
        assert_eq!(v["standby_link"], "disconnected");
        assert_eq!(v["adapters"]["eth1"], "missing");
        assert_eq!(v["in_service"], true);
        assert!(s.resource_json("nope").is_none());
        let m = s.metrics_text();
        assert!(m.contains("ipkit_resource_up{tag=\"vip\"} 1\n"), "{m}");
        assert!(
            m.contains("ipkit_checks_total{tag=\"vip\",kind=\"quick\"} 3\n"),
            "{m}"
        );
        assert!(
            m.contains("ipkit_events_total{id=\"6507\",severity=\"Error\"} 1\n"),
            "{m}"
        );
        assert!(m.contains("ipkit_adapter_connected{adapter=\"eth0\"} 0\n"));
        assert!(
            !m.contains("adapter=\"lo\""),
            "an adapter no resource uses: {m}"
        );
        let build = format!(
            "ipkit_build_info{{version=\"{}\",",
            env!("CARGO_PKG_VERSION")
        );
        assert!(m.contains(&build), "{m}");
        assert!(
            m.contains("ipkit_recovery_duration_seconds_count{tag=\"vip\"} 0\n"),
            "{m}"
        );
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
    /// The daemon's side of issue 10 defect 10: when a link went down, as
    /// the change source reported it.
    #[test]
    fn a_link_down_is_dated_by_the_report_of_its_change() {
        let s = Status::new("node-a".into());
        let eth0 = AdapterName::new("eth0").unwrap();
        let entry = |carrier: bool| AdapterEntry {
            name: "eth0".into(),
            ifindex: 2,
            mac: None,
            admin_up: true,
            carrier,
            link: LinkState::from_flags(true, carrier),
            link_since: None,
        };
        let at = |secs: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        // Read at start: down since nobody knows when.
        s.replace_adapters(vec![entry(false)]);
        assert_eq!(s.link_down_since(&eth0), None);
        s.set_adapter(entry(true), at(10));
        assert_eq!(s.link_down_since(&eth0), None, "connected");
        s.set_adapter(entry(false), at(20));
        // Another report of the same state keeps the time of the change.
        s.set_adapter(entry(false), at(30));
        assert_eq!(s.link_down_since(&eth0), Some(at(20)));
        // A re-read that finds it unchanged keeps it; a changed one drops it.
        s.replace_adapters(vec![entry(false)]);
        assert_eq!(s.link_down_since(&eth0), Some(at(20)));
        s.replace_adapters(vec![entry(true)]);
        s.replace_adapters(vec![entry(false)]);
        assert_eq!(s.link_down_since(&eth0), None);
    }
}
