//! Address conflicts in the daemon's status (issue 10, RFC 5227 §2.4): per
//! resource, the claims heard on the wire, the peers found holding the
//! address, the defences sent, and the last conflict; as JSON fields of a
//! resource and as Prometheus counters.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde::Serialize;

use crate::resource::{ConflictRecord, Tag, rfc3339};

/// One resource's conflict counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conflicts {
    /// Claims of the address by another host, heard on the wire.
    pub heard: u64,
    /// deepChecks that found a peer holding the address (7010).
    pub peers: u64,
    /// Announcements sent to defend the address.
    pub defences: u64,
    pub last: Option<ConflictRecord>,
    pub last_defence: Option<SystemTime>,
}

impl Conflicts {
    /// Another host claimed the address on the wire.
    pub fn heard(&mut self, record: ConflictRecord) {
        self.heard += 1;
        self.last = Some(record);
    }

    /// A peer reported the resource in service (deepCheck, 7010).
    pub fn peer(&mut self, record: ConflictRecord) {
        self.peers += 1;
        self.last = Some(record);
    }

    pub fn defended(&mut self, at: SystemTime) {
        self.defences += 1;
        self.last_defence = Some(at);
    }
}

/// The conflict fields of a resource in `/v1/resources`.
#[derive(Serialize)]
pub(super) struct ConflictsJson<'a> {
    address_conflicts: u64,
    address_defences: u64,
    last_conflict: Option<&'a ConflictRecord>,
    last_defence: Option<String>,
}

impl<'a> ConflictsJson<'a> {
    pub(super) fn of(c: &'a Conflicts) -> Self {
        Self {
            address_conflicts: c.heard + c.peers,
            address_defences: c.defences,
            last_conflict: c.last.as_ref(),
            last_defence: c.last_defence.map(rfc3339::format),
        }
    }
}

/// The conflict counter families of `/metrics`, one sample per resource
/// and its counters; `label` escapes a label value.
pub(super) fn write_metrics(
    o: &mut String,
    resources: &[(&Tag, &Conflicts)],
    label: impl Fn(&str) -> String,
) {
    let _ = writeln!(
        o,
        "# HELP ipkit_address_conflicts_total Another holder of the address while in service here: claims heard on the wire, peers reporting it in service."
    );
    let _ = writeln!(o, "# TYPE ipkit_address_conflicts_total counter");
    for (tag, c) in resources {
        let t = label(tag.as_str());
        let _ = writeln!(
            o,
            "ipkit_address_conflicts_total{{tag=\"{t}\",source=\"wire\"}} {}",
            c.heard
        );
        let _ = writeln!(
            o,
            "ipkit_address_conflicts_total{{tag=\"{t}\",source=\"peer\"}} {}",
            c.peers
        );
    }
    let _ = writeln!(
        o,
        "# HELP ipkit_address_defences_total Announcements sent to defend the address against a claim (at most one per 10 s)."
    );
    let _ = writeln!(o, "# TYPE ipkit_address_defences_total counter");
    for (tag, c) in resources {
        let _ = writeln!(
            o,
            "ipkit_address_defences_total{{tag=\"{}\"}} {}",
            label(tag.as_str()),
            c.defences
        );
    }
}
