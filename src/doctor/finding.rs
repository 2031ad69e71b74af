//! One finding of `ipkit doctor`: its stable id, severity, subject, message and fix.

use std::fmt;

use serde::Serialize;

use crate::resource::{AdapterName, Tag};

/// How bad a finding is. The doctor's exit status is the worst one's
/// [`Severity::exit_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The check passed.
    Ok,
    /// A failover may misbehave; or the doctor could not test something.
    Warning,
    /// A failover will not work as intended.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    /// `ipkit doctor`'s exit status when this is the worst finding: 0, 1, 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Error => 2,
        }
    }
}

/// The stable id of a check (docs/doctor.md has a section for each). The
/// same id is reported with severity `ok` when the check passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingId {
    /// The links and addresses could not be read at all.
    KernelReadable,
    /// A definition file that cannot be read.
    DefinitionReadable,
    /// Two definitions protect the same address.
    UniqueAddress,
    CapNetAdmin,
    CapNetRaw,
    /// The Corosync ring runs over an adapter a resource protects.
    CorosyncRing,
    AdapterExists,
    AdapterUp,
    /// A frame sent on the recovery adapter arrives on the primary.
    SameSegment,
    ArpIgnore,
    ArpAnnounce,
    PromoteSecondaries,
    RpFilter,
    IgnoreRoutesWithLinkdown,
    /// IPv6 is disabled on an adapter of an IPv6 resource.
    Ipv6Disabled,
    /// ipkit's source rule for an address in place where the address is,
    /// nothing of it left where it is not, and no operator rule at its
    /// priority or ahead of it for the address (issue 11; see
    /// [`super::rules::routing`]).
    RoutingPolicy,
}

impl FindingId {
    /// Every id, in the order docs/doctor.md lists them.
    pub const ALL: [FindingId; 16] = [
        FindingId::KernelReadable,
        FindingId::DefinitionReadable,
        FindingId::UniqueAddress,
        FindingId::CapNetAdmin,
        FindingId::CapNetRaw,
        FindingId::CorosyncRing,
        FindingId::AdapterExists,
        FindingId::AdapterUp,
        FindingId::SameSegment,
        FindingId::ArpIgnore,
        FindingId::ArpAnnounce,
        FindingId::PromoteSecondaries,
        FindingId::RpFilter,
        FindingId::IgnoreRoutesWithLinkdown,
        FindingId::Ipv6Disabled,
        FindingId::RoutingPolicy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingId::KernelReadable => "kernel-readable",
            FindingId::DefinitionReadable => "definition-readable",
            FindingId::UniqueAddress => "unique-address",
            FindingId::CapNetAdmin => "cap-net-admin",
            FindingId::CapNetRaw => "cap-net-raw",
            FindingId::CorosyncRing => "corosync-ring",
            FindingId::AdapterExists => "adapter-exists",
            FindingId::AdapterUp => "adapter-up",
            FindingId::SameSegment => "same-segment",
            FindingId::ArpIgnore => "arp-ignore",
            FindingId::ArpAnnounce => "arp-announce",
            FindingId::PromoteSecondaries => "promote-secondaries",
            FindingId::RpFilter => "rp-filter",
            FindingId::IgnoreRoutesWithLinkdown => "ignore-routes-with-linkdown",
            FindingId::Ipv6Disabled => "ipv6-disabled",
            FindingId::RoutingPolicy => "routing-policy",
        }
    }
}

impl FindingId {
    /// What the check wants, in one line (`ipkit doctor --help`, the man
    /// page; docs/doctor.md says why and how to fix it).
    pub fn summary(self) -> &'static str {
        match self {
            FindingId::KernelReadable => "the node's links and addresses can be read",
            FindingId::DefinitionReadable => "every definition file can be read",
            FindingId::UniqueAddress => "no two definitions protect one address",
            FindingId::CapNetAdmin => "CAP_NET_ADMIN is held, and possible on this node",
            FindingId::CapNetRaw => "CAP_NET_RAW is held, and possible on this node",
            FindingId::CorosyncRing => "the Corosync ring avoids the protected adapters",
            FindingId::AdapterExists => "a resource's adapters exist, the NICs recorded",
            FindingId::AdapterUp => "they are up, with carrier",
            FindingId::SameSegment => "a frame sent on the recovery adapter reaches the primary",
            FindingId::ArpIgnore => "arp_ignore 1 where adapters share the subnet (ARP flux)",
            FindingId::ArpAnnounce => "arp_announce 2 there",
            FindingId::PromoteSecondaries => "promote_secondaries on an IPv4 address's adapters",
            FindingId::RpFilter => "rp_filter not strict where the address moves",
            FindingId::IgnoreRoutesWithLinkdown => {
                "ignore_routes_with_linkdown where the address moves without ipkit's source rule"
            }
            FindingId::Ipv6Disabled => "IPv6 enabled on an IPv6 address's adapters",
            FindingId::RoutingPolicy => {
                "ipkit's source rule follows the address; no rule of the operator in its way"
            }
        }
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One line of the doctor's report (`--json`: one object of the array,
/// every key present, `null` where it does not apply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: FindingId,
    pub severity: Severity,
    /// The resource it concerns; `None` for the node as a whole.
    pub resource: Option<Tag>,
    /// The adapter it concerns, if one.
    pub adapter: Option<AdapterName>,
    pub message: String,
    /// What to do about it; `None` when there is nothing to do.
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(id: FindingId, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            id,
            severity,
            resource: None,
            adapter: None,
            message: message.into(),
            fix: None,
        }
    }

    pub fn ok(id: FindingId, message: impl Into<String>) -> Self {
        Self::new(id, Severity::Ok, message)
    }

    pub fn warning(id: FindingId, message: impl Into<String>) -> Self {
        Self::new(id, Severity::Warning, message)
    }

    pub fn error(id: FindingId, message: impl Into<String>) -> Self {
        Self::new(id, Severity::Error, message)
    }

    pub fn about(mut self, resource: &Tag) -> Self {
        self.resource = Some(resource.clone());
        self
    }

    pub fn on(mut self, adapter: &AdapterName) -> Self {
        self.adapter = Some(adapter.clone());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// What it is about: `web/eth0`, `web`, `eth0` or `node`.
    pub fn subject(&self) -> String {
        match (&self.resource, &self.adapter) {
            (Some(r), Some(a)) => format!("{r}/{a}"),
            (Some(r), None) => r.to_string(),
            (None, Some(a)) => a.to_string(),
            (None, None) => "node".to_owned(),
        }
    }
}

/// One line: `warning rp-filter web/eth1: <message>; fix: <fix>`.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<7} {} {}: {}",
            self.severity.as_str(),
            self.id,
            self.subject(),
            self.message
        )?;
        if let Some(fix) = &self.fix {
            write!(f, "; fix: {fix}")?;
        }
        Ok(())
    }
}

/// The exit status for a report: the worst severity's (0 when empty).
pub fn exit_code(findings: &[Finding]) -> u8 {
    findings
        .iter()
        .map(|f| f.severity)
        .max()
        .unwrap_or(Severity::Ok)
        .exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for id in FindingId::ALL {
            let s = id.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{s}"
            );
        }
    }

    #[test]
    fn docs_doctor_md_has_a_section_for_every_id_in_order() {
        let doc = include_str!("../../docs/doctor.md");
        let sections: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("### `")?.strip_suffix('`'))
            .collect();
        let ids: Vec<&str> = FindingId::ALL.iter().map(|id| id.as_str()).collect();
        assert_eq!(sections, ids);
    }

    #[test]
    fn a_line_names_severity_id_subject_and_fix() {
        let tag = Tag::new("web").unwrap();
        let eth1 = AdapterName::new("eth1").unwrap();
        let f = Finding::warning(FindingId::RpFilter, "strict")
            .about(&tag)
            .on(&eth1)
            .fix("set it to 2");
        assert_eq!(
            f.to_string(),
            "warning rp-filter web/eth1: strict; fix: set it to 2"
        );
        let node = Finding::ok(FindingId::CapNetRaw, "held");
        assert_eq!(node.to_string(), "ok      cap-net-raw node: held");
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "rp-filter", "severity": "warning", "resource": "web",
                "adapter": "eth1", "message": "strict", "fix": "set it to 2"})
        );
    }

    #[test]
    fn the_exit_code_is_the_worst_severity() {
        let ok = Finding::ok(FindingId::CapNetRaw, "");
        let warn = Finding::warning(FindingId::CapNetRaw, "");
        let err = Finding::error(FindingId::CapNetRaw, "");
        assert_eq!(exit_code(&[]), 0);
        assert_eq!(exit_code(std::slice::from_ref(&ok)), 0);
        assert_eq!(exit_code(&[ok.clone(), warn.clone()]), 1);
        assert_eq!(exit_code(&[warn, err, ok]), 2);
    }
}
