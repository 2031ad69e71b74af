//! A resource's adapters: they exist (and are the NICs recorded at definition), are up, and are on one L2 segment.

use super::resource_adapters;
use crate::doctor::facts::{NodeFacts, SegmentOutcome};
use crate::doctor::{Finding, FindingId};
use crate::net::{LinkState, LinkStatus};
use crate::resource::{AdapterName, Definition};

pub fn check(facts: &NodeFacts, def: &Definition, out: &mut Vec<Finding>) {
    let Some(snapshot) = facts.snapshot() else {
        return;
    };
    for adapter in resource_adapters(def) {
        let primary = *adapter == def.adapter;
        match snapshot.link(adapter) {
            None => out.push(missing(def, adapter, primary)),
            Some(link) => {
                out.push(exists(def, link));
                out.push(up(def, link, primary));
            }
        }
    }
    for test in facts.segments.iter().filter(|t| t.tag == def.tag) {
        let (from, to) = (&test.from, &test.to);
        let id = FindingId::SameSegment;
        let finding = match &test.outcome {
            SegmentOutcome::Seen => Finding::ok(
                id,
                format!("a test frame sent on {from} arrived on {to}: they share an L2 segment"),
            ),
            SegmentOutcome::NotSeen(waited) => Finding::error(
                id,
                format!(
                    "a test frame sent on {from} did not arrive on {to} within {} ms: they are not on one L2 segment (another VLAN, switch or cable), so local recovery would move {} where its clients cannot reach it",
                    waited.as_millis(),
                    def.address.ip()
                ),
            )
            .fix(format!(
                "connect {from} to the segment (switch, VLAN) of {to}, or define a recovery adapter that is on it"
            )),
            SegmentOutcome::NotTested(why) => Finding::warning(
                id,
                format!("could not test whether {from} and {to} share an L2 segment: {why}"),
            ),
        };
        out.push(finding.about(&def.tag).on(from));
    }
}

fn role(primary: bool) -> &'static str {
    if primary {
        "primary adapter"
    } else {
        "recovery adapter"
    }
}

/// The primary's trouble is an error (the address cannot be served there);
/// the recovery adapter's a warning (local recovery cannot work).
fn trouble(id: FindingId, primary: bool, message: String) -> Finding {
    if primary {
        Finding::error(id, message)
    } else {
        Finding::warning(id, message)
    }
}

fn missing(def: &Definition, adapter: &AdapterName, primary: bool) -> Finding {
    trouble(
        FindingId::AdapterExists,
        primary,
        format!(
            "the {} {adapter} does not exist on this node",
            role(primary)
        ),
    )
    .fix(format!(
        "create {adapter}, or define {} again with an adapter of this node (`ipkit delete {}`, `ipkit create`)",
        def.tag, def.tag
    ))
    .about(&def.tag)
    .on(adapter)
}

fn exists(def: &Definition, link: &LinkStatus) -> Finding {
    let adapter = &link.name;
    let primary = *adapter == def.adapter;
    let mac = link.mac.map(|m| format!(", MAC {m}")).unwrap_or_default();
    let seen = format!("ifindex {}{mac}", link.ifindex);
    let changed = def
        .recorded_identity(adapter)
        .and_then(|recorded| recorded.differences(link.mac, link.ifindex));
    let finding = match changed {
        None => Finding::ok(
            FindingId::AdapterExists,
            format!("the {} {adapter} exists ({seen})", role(primary)),
        ),
        Some(what) => Finding::warning(
            FindingId::AdapterExists,
            format!(
                "the {} {adapter} is not the NIC recorded when {} was defined: {what} (replaced or renamed)",
                role(primary),
                def.tag
            ),
        )
        .fix(format!(
            "if {adapter} is the right NIC, define {} again to record it (`ipkit delete {}`, `ipkit create`)",
            def.tag, def.tag
        )),
    };
    finding.about(&def.tag).on(adapter)
}

fn up(def: &Definition, link: &LinkStatus, primary: bool) -> Finding {
    let adapter = &link.name;
    let what = role(primary);
    let finding = match link.state() {
        LinkState::Connected => Finding::ok(
            FindingId::AdapterUp,
            format!("the {what} {adapter} is up with carrier"),
        ),
        _ if !link.admin_up => trouble(
            FindingId::AdapterUp,
            primary,
            format!("the {what} {adapter} is administratively down"),
        )
        .fix(format!(
            "bring {adapter} up in the network configuration (`ip link set {adapter} up` for now)"
        )),
        _ => trouble(
            FindingId::AdapterUp,
            primary,
            format!("the {what} {adapter} has no carrier (cable out, or the switch port down)"),
        )
        .fix(format!("check {adapter}'s cable and switch port")),
    };
    finding.about(&def.tag).on(adapter)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testing::{Node, of, run_rule, the};
    use super::*;
    use crate::doctor::Severity::{Error, Ok, Warning};
    use crate::doctor::facts::SegmentTest;
    use crate::resource::{AdapterIdentity, Mac};

    #[test]
    fn present_up_adapters_on_one_segment_are_ok() {
        let n = Node::new().link("eth0").link("eth1");
        let def = n.resource("web", "198.51.100.10/24", "eth0", Some("eth1"));
        let mut facts = n.facts(vec![def]);
        facts.segments = vec![n.seen("web", "eth1", "eth0")];
        let f = run_rule(&facts, check);
        let both = [(Ok, "web/eth0".to_owned()), (Ok, "web/eth1".to_owned())];
        assert_eq!(of(&f, FindingId::AdapterExists), both);
        assert_eq!(of(&f, FindingId::AdapterUp), both);
        assert_eq!(
            of(&f, FindingId::SameSegment),
            [(Ok, "web/eth1".to_owned())]
        );
    }

    #[test]
    fn missing_and_down_adapters_are_errors_for_the_primary_warnings_for_recovery() {
        let n = Node::new().link("eth0").link("eth1").down("eth1", false);
        let def = n.resource("web", "198.51.100.10/24", "eth9", Some("eth1"));
        let f = run_rule(&n.facts(vec![def]), check);
        assert_eq!(
            of(&f, FindingId::AdapterExists),
            [(Error, "web/eth9".to_owned()), (Ok, "web/eth1".to_owned())]
        );
        assert_eq!(
            of(&f, FindingId::AdapterUp),
            [(Warning, "web/eth1".to_owned())]
        );
        assert!(
            the(&f, FindingId::AdapterUp, "web/eth1")
                .message
                .contains("no carrier")
        );
        let n = Node::new().link("eth0").down("eth0", true);
        let def = n.resource("web", "198.51.100.10/24", "eth0", None);
        let f = run_rule(&n.facts(vec![def]), check);
        let down = the(&f, FindingId::AdapterUp, "web/eth0");
        assert_eq!(down.severity, Error);
        assert!(down.message.contains("administratively down"));
    }

    #[test]
    fn a_replaced_nic_is_a_warning() {
        let n = Node::new().link("eth0");
        let mut def = n.resource("web", "198.51.100.10/24", "eth0", None);
        def.adapter_identity = Some(AdapterIdentity {
            mac: Mac([2, 0, 0, 0, 0, 0x77]),
            ifindex: 2,
            guid: None,
        });
        let f = run_rule(&n.facts(vec![def]), check);
        let w = the(&f, FindingId::AdapterExists, "web/eth0");
        assert_eq!(w.severity, Warning);
        assert!(
            w.message.contains("02:00:00:00:00:77 recorded"),
            "{}",
            w.message
        );
    }

    #[test]
    fn a_frame_that_never_arrived_is_an_error_an_untested_pair_a_warning() {
        let n = Node::new().link("eth0").link("eth1").link("eth2");
        let a = n.resource("a", "198.51.100.10/24", "eth0", Some("eth1"));
        let b = n.resource("b", "198.51.100.11/24", "eth0", Some("eth2"));
        let mut facts = n.facts(vec![a, b]);
        let test = |tag: &str, from: &str, outcome| SegmentTest {
            outcome,
            ..n.seen(tag, from, "eth0")
        };
        facts.segments = vec![
            test(
                "a",
                "eth1",
                SegmentOutcome::NotSeen(Duration::from_millis(500)),
            ),
            test(
                "b",
                "eth2",
                SegmentOutcome::NotTested("needs CAP_NET_RAW".into()),
            ),
        ];
        let f = run_rule(&facts, check);
        let e = the(&f, FindingId::SameSegment, "a/eth1");
        assert_eq!(e.severity, Error);
        assert!(e.message.contains("did not arrive on eth0 within 500 ms"));
        let w = the(&f, FindingId::SameSegment, "b/eth2");
        assert_eq!(w.severity, Warning);
        assert!(w.message.ends_with("needs CAP_NET_RAW"));
    }
}
