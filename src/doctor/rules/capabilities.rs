//! `CAP_NET_ADMIN` and `CAP_NET_RAW`: held by the doctor itself, and possible at all for a service of this node.

use crate::doctor::facts::{CAP_NET_ADMIN, CAP_NET_RAW, NodeFacts};
use crate::doctor::{Finding, FindingId};

pub fn check(facts: &NodeFacts, out: &mut Vec<Finding>) {
    let Some(caps) = facts.host.capabilities else {
        return;
    };
    for (number, cap, id, needed_for) in [
        (
            CAP_NET_ADMIN,
            "CAP_NET_ADMIN",
            FindingId::CapNetAdmin,
            "adding and deleting addresses",
        ),
        (
            CAP_NET_RAW,
            "CAP_NET_RAW",
            FindingId::CapNetRaw,
            "announcements and the in-use probe",
        ),
    ] {
        let flag = cap.trim_start_matches("CAP_");
        let finding = if !caps.possible(number) {
            Finding::error(
                id,
                format!(
                    "{cap} is not in PID 1's bounding set: no service of this node can have it (a container without it?), and ipkit needs it for {needed_for}"
                ),
            )
            .fix(format!(
                "give the node {cap} (a container: `--cap-add {flag}`, or `CapabilityBoundingSet=` of its manager)"
            ))
        } else if !caps.held(number) {
            Finding::warning(
                id,
                format!(
                    "this doctor runs without {cap}: ipkit needs it for {needed_for}, and the checks that need it could not all run"
                ),
            )
            .fix("run `ipkit doctor` as root, as ipkit's daemon and agent run")
        } else {
            Finding::ok(id, format!("{cap} is held ({needed_for})"))
        };
        out.push(finding);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Node, of};
    use super::*;
    use crate::doctor::Capabilities;
    use crate::doctor::Severity::{Error, Ok, Warning};

    fn found(effective: u64, bounding: Option<u64>) -> Vec<Finding> {
        let mut n = Node::new();
        n.host.capabilities = Some(Capabilities {
            effective,
            service_bounding: bounding,
        });
        let mut out = Vec::new();
        check(&n.facts(vec![]), &mut out);
        out
    }

    #[test]
    fn held_lacking_here_and_impossible_on_the_node() {
        let admin = 1u64 << CAP_NET_ADMIN;
        let raw = 1u64 << CAP_NET_RAW;
        let f = found(admin | raw, Some(u64::MAX));
        assert_eq!(of(&f, FindingId::CapNetAdmin), [(Ok, "node".to_owned())]);
        assert_eq!(of(&f, FindingId::CapNetRaw), [(Ok, "node".to_owned())]);
        // Not root, on a node whose services can have both.
        let f = found(0, Some(u64::MAX));
        assert_eq!(of(&f, FindingId::CapNetRaw), [(Warning, "node".to_owned())]);
        // A container without NET_RAW: whoever runs the doctor.
        let f = found(admin | raw, Some(!raw));
        assert_eq!(of(&f, FindingId::CapNetRaw), [(Error, "node".to_owned())]);
        assert_eq!(of(&f, FindingId::CapNetAdmin), [(Ok, "node".to_owned())]);
        assert!(f[1].fix.as_deref().unwrap().contains("--cap-add NET_RAW"));
        // PID 1 unreadable: only the doctor's own set is known.
        let f = found(admin, None);
        assert_eq!(of(&f, FindingId::CapNetRaw), [(Warning, "node".to_owned())]);
    }

    #[test]
    fn unknown_capabilities_say_nothing() {
        let mut out = Vec::new();
        check(&Node::new().facts(vec![]), &mut out);
        assert!(out.is_empty());
    }
}
