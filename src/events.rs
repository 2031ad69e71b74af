//! The numbered event catalog of SPEC §3, the event record, and sinks.
//!
//! Number, severity and wording are a compatibility contract: operators
//! grep for them. [`Kind::render`] produces the exact catalog text; the unit
//! tests compare every entry with SPEC §3 character for character.
//!
//! Events beyond the seed's use numbers outside 6000–6999 (7xxx), with the
//! same structure; they are listed in [`EXTRA_CATALOG`].

use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::resource::{AdapterName, Definition, Operation, Tag};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Severity {
    Information,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Information => "Information",
            Severity::Warning => "Warning",
            Severity::Error => "Error",
        }
    }

    /// syslog / journald PRIORITY.
    pub fn syslog_priority(self) -> u8 {
        match self {
            Severity::Information => 6,
            Severity::Warning => 4,
            Severity::Error => 3,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One catalog entry with the values its text needs. The resource's own
/// values (`{id}`, `{tag}`, `{ip}`, `{mask}`) come from the definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// 6001
    RestoreSucceeded,
    /// 6002
    RestoreFailed,
    /// 6008
    RestoreLocalRecoveryDisabled,
    /// 6013
    RestoreStart,
    /// 6016
    AnnounceFailed { err: String, guid: AdapterName },
    /// 6017
    InsertVerifyFailed { guid: AdapterName },
    /// 6018
    StillActive { nic: AdapterName },
    /// 6019
    CableNotConnected { cmd: Operation, nic: AdapterName },
    /// 6101
    RemoveSucceeded,
    /// 6102
    RemoveFailed,
    /// 6105
    DeleteFailed {
        guid: AdapterName,
        errno: i32,
        errmsg: String,
    },
    /// 6406 (warning)
    StandbyCableDisconnected { nic: AdapterName, node: String },
    /// 6507
    CableDisconnected { nic: AdapterName },
    /// 6508
    NotOnAdapter { nic: AdapterName },
    /// 6603
    RecoverSucceeded,
    /// 6604
    RecoverFailed,
    /// 6605 (Information)
    RecoverStart,
    /// 6605 (Error)
    RecoverNotEnabled,
    /// 6607
    AddPrimaryFailed { guid: AdapterName },
    /// 6608
    AddRecoveryFailed { guid: AdapterName },

    // ---- beyond the seed (7xxx) ----
    /// 7001: step 3-2 of restore, another host answers for the address.
    InUseOnWire { mac: String, nic: AdapterName },
    /// 7002: step 3-2 of restore, another local adapter holds the address.
    HeldByOtherAdapter { nic: AdapterName },
    /// 7003: the in-use probe could not run (warning; restore goes on).
    ProbeFailed { nic: AdapterName, err: String },
    /// 7004: a kernel call failed inside an operation.
    KernelError { err: String },
    /// 7005: the adapter's MAC or ifindex differs from the one recorded.
    AdapterReplaced { nic: AdapterName, detail: String },
    /// 7006: a standby node's adapter state could not be read (warning).
    ClusterViewUnavailable { err: String },
    /// 7101: daemon started.
    DaemonStarted { resources: usize },
    /// 7102: daemon stopping.
    DaemonStopping,
    /// 7103: definitions reloaded.
    DaemonReloaded { resources: usize },
    /// 7104: restart threshold exceeded; the resource is failed.
    RestartThresholdExceeded { count: u32, window_secs: u64 },
    /// 7105: netlink overrun; the daemon re-reads all state.
    NetlinkOverrun,
    /// 7106: the on_failure command ran.
    OnFailureRan { status: String },
    /// 7107: the failed mark was cleared by an operator.
    FailedCleared,
    /// 7201: resource defined (on its primary adapter `nic`).
    ResourceCreated { nic: AdapterName },
    /// 7202: resource deleted.
    ResourceDeleted,
}

/// (number, severity, template) for every SPEC §3 entry, in catalog order.
/// The templates are the SPEC wording verbatim; README tables are generated
/// from this list and the tests check `render` against it.
pub const CATALOG: &[(u16, Severity, &str)] = &[
    (
        6001,
        Severity::Information,
        "Restore IP Address {id} End: Successful",
    ),
    (6002, Severity::Error, "Restore IP Address {id} Failed"),
    (
        6008,
        Severity::Error,
        "Local Recovery was not enabled for {ip}. Failing IP restore action.",
    ),
    (6013, Severity::Information, "Restore IP Address {id} Start"),
    (
        6016,
        Severity::Error,
        "ARP cache update for IP address {id} on the Primary network adapter failed ({err}) (arpupdate {ip} {guid}).",
    ),
    (
        6017,
        Severity::Error,
        "Verification of IP address insertion of IP address {id} on the Primary network adapter failed. (IPINDEX={guid}; EXTIPADDR={ip}; EXTMASK={mask}).",
    ),
    (
        6018,
        Severity::Error,
        "IP address {id} was still active on a network interface {nic}. IP address deletion has failed.",
    ),
    (
        6019,
        Severity::Error,
        "{cmd}: Network cable on adapter {nic} is not connected !",
    ),
    (
        6101,
        Severity::Information,
        "Remove IP Address {id} End: Successful",
    ),
    (6102, Severity::Error, "Remove IP Address {id} Failed"),
    (
        6105,
        Severity::Error,
        "IP address deletion was not successful. The kernel returned an error. However, the remove action is continuing. The IPCONTEXT={guid}; SWITCHABLEIP={ip}; Error Code={errno}; Error Message: {errmsg}",
    ),
    (
        6406,
        Severity::Warning,
        "The network cable for network adapter {nic} servicing protected IP address {ip} on system {node} is currently disconnected! This could prevent a successful resource failover to that system. Please reconnect the cable.",
    ),
    (
        6507,
        Severity::Error,
        "Network cable for IP address {id} on network adapter {nic} is disconnected !.",
    ),
    (
        6508,
        Severity::Error,
        "IP address {id} was not found on network adapter {nic}. Failing IP resource.",
    ),
    (
        6603,
        Severity::Information,
        "Recover IP Address {id} End: Successful",
    ),
    (6604, Severity::Error, "Recover IP Address {id} Failed"),
    (
        6605,
        Severity::Information,
        "Recover IP Address {id} Start.",
    ),
    (
        6605,
        Severity::Error,
        "{tag} was not created for local recovery. Aborting local recovery.",
    ),
    (
        6607,
        Severity::Error,
        "IP address addition for resource {tag} and IP address {id} on the primary network adapter failed; ( -n{guid} -i{ip} -m{mask}). Trying Local Recovery Adapter.",
    ),
    (
        6608,
        Severity::Error,
        "IP address addition for resource {tag} and IP address {id} on the local recovery adapter failed; (-n{guid} -i{ip} -m{mask}). Failing the resource.",
    ),
];

/// The events ipkit adds beyond the seed, with the same structure.
pub const EXTRA_CATALOG: &[(u16, Severity, &str)] = &[
    (
        7001,
        Severity::Error,
        "IP address {id} is already in use on the network by {mac} (probed on {nic}). Failing IP restore action.",
    ),
    (
        7002,
        Severity::Error,
        "IP address {id} is already held by another local network adapter {nic}. Failing IP restore action.",
    ),
    (
        7003,
        Severity::Warning,
        "Probe for IP address {id} on network adapter {nic} could not run ({err}); continuing without it.",
    ),
    (
        7004,
        Severity::Error,
        "Kernel call failed for IP address {id}: {err}",
    ),
    (
        7005,
        Severity::Warning,
        "Network adapter {nic} for IP address {id} is not the adapter recorded at definition time ({detail}).",
    ),
    (
        7006,
        Severity::Warning,
        "Could not read the state of the standby nodes for IP address {id} ({err}); deepCheck goes on without them.",
    ),
    (
        7101,
        Severity::Information,
        "ipkit daemon started with {count} resource(s).",
    ),
    (7102, Severity::Information, "ipkit daemon stopping."),
    (
        7103,
        Severity::Information,
        "ipkit daemon reloaded its definitions: {count} resource(s).",
    ),
    (
        7104,
        Severity::Error,
        "Local recovery of {tag} ({id}) ran {count} times in {window} s; the resource is marked failed and local recovery stops until an operator clears it.",
    ),
    (
        7105,
        Severity::Warning,
        "Netlink event overrun; re-reading all link and address state.",
    ),
    (
        7106,
        Severity::Information,
        "on_failure command for {tag} ({id}) finished: {status}.",
    ),
    (
        7107,
        Severity::Information,
        "Failed mark of {tag} ({id}) cleared by an operator.",
    ),
    (
        7201,
        Severity::Information,
        "Resource {tag} for IP address {id} created on network adapter {nic}.",
    ),
    (
        7202,
        Severity::Information,
        "Resource {tag} for IP address {id} deleted.",
    ),
];

/// What the text of an event is built from.
pub struct Subject<'a> {
    pub tag: &'a str,
    pub ip: IpAddr,
    pub mask: String,
}

impl<'a> Subject<'a> {
    pub fn of(def: &'a Definition) -> Self {
        Self {
            tag: def.tag.as_str(),
            ip: def.address.ip(),
            mask: def.address.mask_text(),
        }
    }
}

impl Kind {
    pub fn id(&self) -> u16 {
        use Kind::*;
        match self {
            RestoreSucceeded => 6001,
            RestoreFailed => 6002,
            RestoreLocalRecoveryDisabled => 6008,
            RestoreStart => 6013,
            AnnounceFailed { .. } => 6016,
            InsertVerifyFailed { .. } => 6017,
            StillActive { .. } => 6018,
            CableNotConnected { .. } => 6019,
            RemoveSucceeded => 6101,
            RemoveFailed => 6102,
            DeleteFailed { .. } => 6105,
            StandbyCableDisconnected { .. } => 6406,
            CableDisconnected { .. } => 6507,
            NotOnAdapter { .. } => 6508,
            RecoverSucceeded => 6603,
            RecoverFailed => 6604,
            RecoverStart | RecoverNotEnabled => 6605,
            AddPrimaryFailed { .. } => 6607,
            AddRecoveryFailed { .. } => 6608,
            InUseOnWire { .. } => 7001,
            HeldByOtherAdapter { .. } => 7002,
            ProbeFailed { .. } => 7003,
            KernelError { .. } => 7004,
            AdapterReplaced { .. } => 7005,
            ClusterViewUnavailable { .. } => 7006,
            DaemonStarted { .. } => 7101,
            DaemonStopping => 7102,
            DaemonReloaded { .. } => 7103,
            RestartThresholdExceeded { .. } => 7104,
            NetlinkOverrun => 7105,
            OnFailureRan { .. } => 7106,
            FailedCleared => 7107,
            ResourceCreated { .. } => 7201,
            ResourceDeleted => 7202,
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            Kind::RecoverStart => Severity::Information,
            Kind::RecoverNotEnabled => Severity::Error,
            other => lookup(other.id())
                .map(|(_, s, _)| s)
                .unwrap_or(Severity::Error),
        }
    }

    fn template(&self) -> &'static str {
        match self {
            Kind::RecoverStart => CATALOG[16].2,
            Kind::RecoverNotEnabled => CATALOG[17].2,
            other => lookup(other.id()).map(|(_, _, t)| t).unwrap_or("{err}"),
        }
    }

    /// The adapter the event is about, for the structured fields.
    pub fn adapter(&self) -> Option<&AdapterName> {
        use Kind::*;
        match self {
            AnnounceFailed { guid, .. }
            | InsertVerifyFailed { guid }
            | DeleteFailed { guid, .. }
            | AddPrimaryFailed { guid }
            | AddRecoveryFailed { guid } => Some(guid),
            StillActive { nic }
            | CableNotConnected { nic, .. }
            | StandbyCableDisconnected { nic, .. }
            | CableDisconnected { nic }
            | NotOnAdapter { nic }
            | InUseOnWire { nic, .. }
            | HeldByOtherAdapter { nic }
            | ProbeFailed { nic, .. }
            | AdapterReplaced { nic, .. }
            | ResourceCreated { nic } => Some(nic),
            _ => None,
        }
    }

    /// The error text carried by the event, for the structured fields.
    pub fn error(&self) -> Option<String> {
        use Kind::*;
        match self {
            AnnounceFailed { err, .. }
            | ProbeFailed { err, .. }
            | KernelError { err }
            | ClusterViewUnavailable { err } => Some(err.clone()),
            DeleteFailed { errno, errmsg, .. } => Some(format!("errno {errno}: {errmsg}")),
            _ => None,
        }
    }

    /// The exact catalog text for this event.
    pub fn render(&self, s: &Subject<'_>) -> String {
        use Kind::*;
        let id = s.ip.to_string();
        let mut vars: Vec<(&str, String)> = vec![
            ("id", id.clone()),
            ("ip", id),
            ("tag", s.tag.to_owned()),
            ("mask", s.mask.clone()),
        ];
        match self {
            AnnounceFailed { err, guid } => {
                vars.push(("err", err.clone()));
                vars.push(("guid", guid.to_string()));
            }
            InsertVerifyFailed { guid }
            | AddPrimaryFailed { guid }
            | AddRecoveryFailed { guid } => vars.push(("guid", guid.to_string())),
            StillActive { nic }
            | CableDisconnected { nic }
            | NotOnAdapter { nic }
            | HeldByOtherAdapter { nic }
            | ResourceCreated { nic } => vars.push(("nic", nic.to_string())),
            CableNotConnected { cmd, nic } => {
                vars.push(("cmd", cmd.name().to_owned()));
                vars.push(("nic", nic.to_string()));
            }
            DeleteFailed {
                guid,
                errno,
                errmsg,
            } => {
                vars.push(("guid", guid.to_string()));
                vars.push(("errno", errno.to_string()));
                vars.push(("errmsg", errmsg.clone()));
            }
            StandbyCableDisconnected { nic, node } => {
                vars.push(("nic", nic.to_string()));
                vars.push(("node", node.clone()));
            }
            InUseOnWire { mac, nic } => {
                vars.push(("mac", mac.clone()));
                vars.push(("nic", nic.to_string()));
            }
            ProbeFailed { nic, err } => {
                vars.push(("nic", nic.to_string()));
                vars.push(("err", err.clone()));
            }
            KernelError { err } | ClusterViewUnavailable { err } => vars.push(("err", err.clone())),
            AdapterReplaced { nic, detail } => {
                vars.push(("nic", nic.to_string()));
                vars.push(("detail", detail.clone()));
            }
            DaemonStarted { resources } | DaemonReloaded { resources } => {
                vars.push(("count", resources.to_string()))
            }
            RestartThresholdExceeded { count, window_secs } => {
                vars.push(("count", count.to_string()));
                vars.push(("window", window_secs.to_string()));
            }
            OnFailureRan { status } => vars.push(("status", status.clone())),
            _ => {}
        }
        fill(self.template(), &vars)
    }
}

fn lookup(id: u16) -> Option<(u16, Severity, &'static str)> {
    CATALOG
        .iter()
        .chain(EXTRA_CATALOG.iter())
        .find(|(n, _, _)| *n == id)
        .copied()
}

/// Replace `{name}` placeholders in one pass (values are never re-scanned,
/// so a value that contains braces is printed as it is).
fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// One emitted event with its structured fields (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(with = "crate::resource::rfc3339")]
    pub time: SystemTime,
    pub id: u16,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub message: String,
}

impl Event {
    /// An event about a resource.
    pub fn about(
        def: &Definition,
        op: Operation,
        node: &str,
        kind: &Kind,
        time: SystemTime,
    ) -> Self {
        let node_field = match kind {
            Kind::StandbyCableDisconnected { node, .. } => node.clone(),
            _ => node.to_owned(),
        };
        Self {
            time,
            id: kind.id(),
            severity: kind.severity(),
            tag: Some(def.tag.to_string()),
            address: Some(def.address.to_string()),
            adapter: kind.adapter().map(|a| a.to_string()),
            node: Some(node_field),
            operation: Some(op),
            error: kind.error(),
            message: kind.render(&Subject::of(def)),
        }
    }

    /// An event about the daemon itself (no resource).
    pub fn daemon(node: &str, kind: &Kind, time: SystemTime) -> Self {
        let subject = Subject {
            tag: "",
            ip: IpAddr::from([0, 0, 0, 0]),
            mask: String::new(),
        };
        Self {
            time,
            id: kind.id(),
            severity: kind.severity(),
            tag: None,
            address: None,
            adapter: None,
            node: Some(node.to_owned()),
            operation: Some(Operation::Daemon),
            error: kind.error(),
            message: kind.render(&subject),
        }
    }

    /// The human form: `Information 6013 Restore IP Address 198.51.100.10 Start`.
    pub fn human(&self) -> String {
        format!("{} {} {}", self.severity, self.id, self.message)
    }

    pub fn tag_is(&self, tag: &Tag) -> bool {
        self.tag.as_deref() == Some(tag.as_str())
    }
}

/// Where events go. Sinks must never lose an event silently: a sink that
/// cannot deliver reports it on stderr (SPEC §7).
pub trait EventSink: Send + Sync {
    fn emit(&self, event: &Event);
}

/// Collects events in memory (tests, and operations that report their
/// events to their caller).
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn snapshot(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl EventSink for Recorder {
    fn emit(&self, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}

/// Sends every event to several sinks, in order.
#[derive(Default)]
pub struct Fanout {
    sinks: Vec<Box<dyn EventSink>>,
}

impl Fanout {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, sink: impl EventSink + 'static) -> Self {
        self.sinks.push(Box::new(sink));
        self
    }

    pub fn push(&mut self, sink: Box<dyn EventSink>) {
        self.sinks.push(sink);
    }
}

impl EventSink for Fanout {
    fn emit(&self, event: &Event) {
        for s in &self.sinks {
            s.emit(event);
        }
    }
}

impl<T: EventSink + ?Sized> EventSink for std::sync::Arc<T> {
    fn emit(&self, event: &Event) {
        (**self).emit(event)
    }
}

/// Writes the human form to stderr.
pub struct StderrSink;

impl EventSink for StderrSink {
    fn emit(&self, event: &Event) {
        eprintln!("{}", event.human());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Definition;

    fn def4() -> Definition {
        crate::resource::sample_definition(true)
    }

    fn text(kind: Kind) -> (u16, Severity, String) {
        let d = def4();
        (kind.id(), kind.severity(), kind.render(&Subject::of(&d)))
    }

    fn nic(s: &str) -> AdapterName {
        AdapterName::new(s).unwrap()
    }

    // One test per catalog entry; the expected strings are SPEC §3 with the
    // placeholders filled in by hand.
    #[test]
    fn e6001() {
        assert_eq!(
            text(Kind::RestoreSucceeded),
            (
                6001,
                Severity::Information,
                "Restore IP Address 198.51.100.10 End: Successful".into()
            )
        );
    }
    #[test]
    fn e6002() {
        assert_eq!(
            text(Kind::RestoreFailed),
            (
                6002,
                Severity::Error,
                "Restore IP Address 198.51.100.10 Failed".into()
            )
        );
    }
    #[test]
    fn e6008() {
        assert_eq!(
            text(Kind::RestoreLocalRecoveryDisabled),
            (
                6008,
                Severity::Error,
                "Local Recovery was not enabled for 198.51.100.10. Failing IP restore action."
                    .into()
            )
        );
    }
    #[test]
    fn e6013() {
        assert_eq!(
            text(Kind::RestoreStart),
            (
                6013,
                Severity::Information,
                "Restore IP Address 198.51.100.10 Start".into()
            )
        );
    }
    #[test]
    fn e6016() {
        assert_eq!(
            text(Kind::AnnounceFailed { err: "Network is down (os error 100)".into(), guid: nic("eth0") }),
            (6016, Severity::Error, "ARP cache update for IP address 198.51.100.10 on the Primary network adapter failed (Network is down (os error 100)) (arpupdate 198.51.100.10 eth0).".into())
        );
    }
    #[test]
    fn e6017() {
        assert_eq!(
            text(Kind::InsertVerifyFailed { guid: nic("eth0") }),
            (6017, Severity::Error, "Verification of IP address insertion of IP address 198.51.100.10 on the Primary network adapter failed. (IPINDEX=eth0; EXTIPADDR=198.51.100.10; EXTMASK=255.255.255.0).".into())
        );
    }
    #[test]
    fn e6018() {
        assert_eq!(
            text(Kind::StillActive { nic: nic("eth1") }),
            (6018, Severity::Error, "IP address 198.51.100.10 was still active on a network interface eth1. IP address deletion has failed.".into())
        );
    }
    #[test]
    fn e6019() {
        assert_eq!(
            text(Kind::CableNotConnected {
                cmd: Operation::Restore,
                nic: nic("eth0")
            }),
            (
                6019,
                Severity::Error,
                "restore: Network cable on adapter eth0 is not connected !".into()
            )
        );
    }
    #[test]
    fn e6101() {
        assert_eq!(
            text(Kind::RemoveSucceeded),
            (
                6101,
                Severity::Information,
                "Remove IP Address 198.51.100.10 End: Successful".into()
            )
        );
    }
    #[test]
    fn e6102() {
        assert_eq!(
            text(Kind::RemoveFailed),
            (
                6102,
                Severity::Error,
                "Remove IP Address 198.51.100.10 Failed".into()
            )
        );
    }
    #[test]
    fn e6105() {
        assert_eq!(
            text(Kind::DeleteFailed { guid: nic("eth0"), errno: 1, errmsg: "Operation not permitted".into() }),
            (6105, Severity::Error, "IP address deletion was not successful. The kernel returned an error. However, the remove action is continuing. The IPCONTEXT=eth0; SWITCHABLEIP=198.51.100.10; Error Code=1; Error Message: Operation not permitted".into())
        );
    }
    #[test]
    fn e6406() {
        assert_eq!(
            text(Kind::StandbyCableDisconnected { nic: nic("eth0"), node: "node2".into() }),
            (6406, Severity::Warning, "The network cable for network adapter eth0 servicing protected IP address 198.51.100.10 on system node2 is currently disconnected! This could prevent a successful resource failover to that system. Please reconnect the cable.".into())
        );
    }
    #[test]
    fn e6507() {
        assert_eq!(
            text(Kind::CableDisconnected { nic: nic("eth0") }),
            (6507, Severity::Error, "Network cable for IP address 198.51.100.10 on network adapter eth0 is disconnected !.".into())
        );
    }
    #[test]
    fn e6508() {
        assert_eq!(
            text(Kind::NotOnAdapter { nic: nic("eth0") }),
            (6508, Severity::Error, "IP address 198.51.100.10 was not found on network adapter eth0. Failing IP resource.".into())
        );
    }
    #[test]
    fn e6603() {
        assert_eq!(
            text(Kind::RecoverSucceeded),
            (
                6603,
                Severity::Information,
                "Recover IP Address 198.51.100.10 End: Successful".into()
            )
        );
    }
    #[test]
    fn e6604() {
        assert_eq!(
            text(Kind::RecoverFailed),
            (
                6604,
                Severity::Error,
                "Recover IP Address 198.51.100.10 Failed".into()
            )
        );
    }
    #[test]
    fn e6605_information() {
        assert_eq!(
            text(Kind::RecoverStart),
            (
                6605,
                Severity::Information,
                "Recover IP Address 198.51.100.10 Start.".into()
            )
        );
    }
    #[test]
    fn e6605_error() {
        assert_eq!(
            text(Kind::RecoverNotEnabled),
            (
                6605,
                Severity::Error,
                "vip was not created for local recovery. Aborting local recovery.".into()
            )
        );
    }
    #[test]
    fn e6607() {
        assert_eq!(
            text(Kind::AddPrimaryFailed { guid: nic("eth0") }),
            (6607, Severity::Error, "IP address addition for resource vip and IP address 198.51.100.10 on the primary network adapter failed; ( -neth0 -i198.51.100.10 -m255.255.255.0). Trying Local Recovery Adapter.".into())
        );
    }
    #[test]
    fn e6608() {
        assert_eq!(
            text(Kind::AddRecoveryFailed { guid: nic("eth1") }),
            (6608, Severity::Error, "IP address addition for resource vip and IP address 198.51.100.10 on the local recovery adapter failed; (-neth1 -i198.51.100.10 -m255.255.255.0). Failing the resource.".into())
        );
    }

    #[test]
    fn ipv6_mask_is_the_prefix_length() {
        let d = Definition::new(
            Tag::new("vip6").unwrap(),
            "2001:db8::10/64".parse().unwrap(),
            nic("eth0"),
            None,
        )
        .unwrap();
        assert_eq!(
            Kind::InsertVerifyFailed { guid: nic("eth0") }.render(&Subject::of(&d)),
            "Verification of IP address insertion of IP address 2001:db8::10 on the Primary network adapter failed. (IPINDEX=eth0; EXTIPADDR=2001:db8::10; EXTMASK=64)."
        );
    }

    #[test]
    fn catalog_has_twenty_entries_with_both_6605s() {
        assert_eq!(CATALOG.len(), 20);
        assert_eq!(CATALOG.iter().filter(|e| e.0 == 6605).count(), 2);
        for (n, _, _) in EXTRA_CATALOG {
            assert!(!(6000..7000).contains(n), "{n} must lie outside 6000-6999");
        }
    }

    #[test]
    fn e7201_names_the_adapter() {
        let (id, _, t) = text(Kind::ResourceCreated { nic: nic("eth0") });
        assert_eq!(id, 7201);
        assert_eq!(
            t,
            "Resource vip for IP address 198.51.100.10 created on network adapter eth0."
        );
    }

    #[test]
    fn values_with_braces_are_not_rescanned() {
        let (_, _, t) = text(Kind::KernelError { err: "{id}".into() });
        assert_eq!(t, "Kernel call failed for IP address 198.51.100.10: {id}");
    }

    #[test]
    fn event_record_round_trips_as_json() {
        let d = def4();
        let e = Event::about(
            &d,
            Operation::Restore,
            "node1",
            &Kind::RestoreStart,
            SystemTime::UNIX_EPOCH,
        );
        let line = serde_json::to_string(&e).unwrap();
        assert!(line.contains("\"time\":\"1970-01-01T00:00:00Z\""), "{line}");
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
        assert_eq!(
            e.human(),
            "Information 6013 Restore IP Address 198.51.100.10 Start"
        );
    }
}
