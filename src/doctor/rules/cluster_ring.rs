//! The Corosync ring over a protected adapter: a pulled cable there cuts the node from its cluster at the moment local recovery should keep the address here.

use std::collections::BTreeSet;

use super::{in_network, names, resource_adapters};
use crate::doctor::facts::{Corosync, NodeFacts, RingAddress, RingTarget};
use crate::doctor::{Finding, FindingId};
use crate::net::NodeSnapshot;
use crate::resource::AdapterName;

pub fn check(facts: &NodeFacts, out: &mut Vec<Finding>) {
    let rings = match &facts.host.corosync {
        Corosync::Absent => return,
        Corosync::Unreadable(why) => {
            out.push(
                Finding::warning(
                    FindingId::CorosyncRing,
                    format!("could not check the Corosync rings: {why}"),
                )
                .fix("run `ipkit doctor` as root, or correct corosync.conf"),
            );
            return;
        }
        Corosync::Rings(rings) => rings,
    };
    let Some(snapshot) = facts.snapshot() else {
        return;
    };
    // (ring, adapter) for every ring address this node holds.
    let local: BTreeSet<(u8, AdapterName)> = rings
        .iter()
        .flat_map(|r| carriers(snapshot, r).into_iter().map(move |a| (r.ring, a)))
        .collect();
    if local.is_empty() {
        let written: Vec<&str> = rings.iter().map(|r| r.written.as_str()).collect();
        out.push(Finding::warning(
            FindingId::CorosyncRing,
            format!(
                "none of corosync.conf's ring addresses is on this node ({}), so the adapter the ring uses is unknown",
                written.join("; ")
            ),
        ));
        return;
    }
    let protectors = |adapter: &AdapterName| -> Vec<&crate::resource::Definition> {
        facts
            .definitions
            .iter()
            .filter(|d| resource_adapters(d).contains(&adapter))
            .collect()
    };
    let unprotected: Vec<(u8, AdapterName)> = local
        .iter()
        .filter(|(_, a)| protectors(a).is_empty())
        .cloned()
        .collect();
    for (ring, adapter) in &local {
        for def in protectors(adapter) {
            let spare = unprotected.iter().find(|(r, _)| r != ring);
            let said = format!(
                "Corosync ring {ring} runs over {adapter}, which {} protects",
                def.tag
            );
            let finding = match spare {
                Some((other, over)) => Finding::ok(
                    FindingId::CorosyncRing,
                    format!("{said}; ring {other} over {over} keeps the node in its cluster when {adapter}'s cable is out"),
                ),
                None => Finding::warning(
                    FindingId::CorosyncRing,
                    format!("{said}: with its cable out the node also leaves its cluster, and is fenced or loses the resource instead of recovering it locally"),
                )
                .fix("run a Corosync ring (knet link) over an adapter that no resource protects"),
            };
            out.push(finding.about(&def.tag).on(adapter));
        }
    }
    if local.iter().all(|(_, a)| protectors(a).is_empty()) {
        let adapters: Vec<AdapterName> = local.iter().map(|(_, a)| a.clone()).collect();
        out.push(Finding::ok(
            FindingId::CorosyncRing,
            format!(
                "the Corosync rings run over {}, which no resource protects",
                names(&adapters)
            ),
        ));
    }
}

/// The adapters of this node that carry `ring`'s address.
fn carriers(snapshot: &NodeSnapshot, ring: &RingAddress) -> Vec<AdapterName> {
    match &ring.target {
        RingTarget::Addresses(ips) => ips.iter().flat_map(|ip| snapshot.holders(*ip)).collect(),
        // Corosync binds to the adapter whose network holds bindnetaddr.
        RingTarget::Network(network) => snapshot
            .addresses()
            .iter()
            .filter(|a| in_network(*network, a.ip, a.prefix))
            .filter_map(|a| snapshot.link_by_index(a.ifindex))
            .map(|l| l.name.clone())
            .collect(),
        RingTarget::Unresolved(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Node, of, the};
    use super::*;
    use crate::doctor::Severity::{Ok, Warning};

    fn ring(ring: u8, target: RingTarget) -> RingAddress {
        RingAddress {
            ring,
            written: format!("ring{ring}"),
            target,
        }
    }

    fn at(ip: &str) -> RingTarget {
        RingTarget::Addresses(vec![ip.parse().unwrap()])
    }

    fn node() -> Node {
        Node::new()
            .link("eth0")
            .link("eth1")
            .link("eth2")
            .addr("eth0", "198.51.100.2/24")
            .addr("eth2", "203.0.113.2/24")
    }

    fn found(n: &Node, rings: Vec<RingAddress>) -> Vec<Finding> {
        let def = n.resource("web", "198.51.100.10/24", "eth0", Some("eth1"));
        let mut facts = n.facts(vec![def]);
        facts.host.corosync = Corosync::Rings(rings);
        let mut out = Vec::new();
        check(&facts, &mut out);
        out
    }

    #[test]
    fn a_ring_over_a_protected_adapter_warns() {
        let n = node();
        let f = found(
            &n,
            vec![ring(0, at("198.51.100.2")), ring(0, at("198.51.100.99"))],
        );
        assert_eq!(
            of(&f, FindingId::CorosyncRing),
            [(Warning, "web/eth0".to_owned())]
        );
    }

    #[test]
    fn a_ring_over_an_unprotected_adapter_is_ok_and_makes_a_second_ring_harmless() {
        let n = node();
        let f = found(
            &n,
            vec![ring(0, RingTarget::Network("203.0.113.0".parse().unwrap()))],
        );
        let ok = the(&f, FindingId::CorosyncRing, "node");
        assert_eq!(ok.severity, Ok);
        assert!(ok.message.contains("over eth2, which no resource"));
        let f = found(
            &n,
            vec![ring(0, at("198.51.100.2")), ring(1, at("203.0.113.2"))],
        );
        let r0 = the(&f, FindingId::CorosyncRing, "web/eth0");
        assert_eq!(r0.severity, Ok);
        assert!(
            r0.message.contains("ring 1 over eth2 keeps"),
            "{}",
            r0.message
        );
    }

    #[test]
    fn unreadable_or_foreign_rings_warn_and_no_corosync_says_nothing() {
        let n = node();
        let f = found(
            &n,
            vec![ring(0, RingTarget::Unresolved("no such host".into()))],
        );
        assert_eq!(
            of(&f, FindingId::CorosyncRing),
            [(Warning, "node".to_owned())]
        );
        let mut facts = n.facts(vec![]);
        facts.host.corosync = Corosync::Unreadable("/etc/corosync/corosync.conf: denied".into());
        let mut out = Vec::new();
        check(&facts, &mut out);
        assert_eq!(
            of(&out, FindingId::CorosyncRing),
            [(Warning, "node".to_owned())]
        );
        let mut out = Vec::new();
        check(&n.facts(vec![]), &mut out);
        assert!(out.is_empty());
    }
}
