//! `rp_filter`: strict reverse-path filtering on an adapter the IPv4 address moves to, or that shares its subnet with another.
//!
//! Strict mode (1) drops a packet whose source the kernel would not
//! answer through the adapter it arrived on. With two adapters on one
//! subnet both have a route to it and the kernel answers through one
//! only, and after local recovery the address is served from the adapter
//! whose route is not the chosen one: clients' packets are dropped.

use super::{ipv4_subnet, moves_between_adapters, names, resource_adapters};
use crate::doctor::conf::Conf;
use crate::doctor::facts::NodeFacts;
use crate::doctor::{Finding, FindingId};
use crate::resource::Definition;

pub fn check(facts: &NodeFacts, def: &Definition, out: &mut Vec<Finding>) {
    let Some((snapshot, subnet)) = ipv4_subnet(facts, def) else {
        return;
    };
    let why = if moves_between_adapters(def) {
        format!("{} moves between {}", def.address.ip(), names(&subnet[..2]))
    } else if subnet.len() >= 2 {
        format!("{} share its subnet", names(&subnet))
    } else {
        return;
    };
    let ip = def.address.ip();
    for adapter in resource_adapters(def) {
        if snapshot.link(adapter).is_none() {
            continue;
        }
        let Some(e) = facts.host.sysctls.effective(Conf::RpFilter, adapter) else {
            continue;
        };
        // `fib_validate_source()`: 1 is strict, any other non-zero loose.
        let finding = match e.value {
            1 => Finding::warning(
                FindingId::RpFilter,
                format!(
                    "{}, strict, and {why}: packets for {ip} arriving on {adapter} are dropped whenever the kernel would answer their sender through another adapter",
                    e.describe()
                ),
            )
            .fix(e.fix(2)),
            0 => Finding::ok(
                FindingId::RpFilter,
                format!("{}, off: nothing is dropped for the route back", e.describe()),
            ),
            _ => Finding::ok(
                FindingId::RpFilter,
                format!(
                    "{}, loose: packets for {ip} are accepted on {adapter} whichever adapter answers them",
                    e.describe()
                ),
            ),
        };
        out.push(finding.about(&def.tag).on(adapter));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Node, of, run_rule, the};
    use super::*;
    use crate::doctor::Severity::{Ok, Warning};

    #[test]
    fn strict_warns_on_a_moving_address_loose_and_off_are_ok() {
        let n = Node::new()
            .recommended()
            .link("eth0")
            .link("eth1")
            .sysctl(Conf::RpFilter, "all", 0)
            .sysctl(Conf::RpFilter, "eth0", 0)
            .sysctl(Conf::RpFilter, "eth1", 1);
        let def = n.resource("web", "198.51.100.10/24", "eth0", Some("eth1"));
        let f = run_rule(&n.facts(vec![def.clone()]), check);
        assert_eq!(
            of(&f, FindingId::RpFilter),
            [
                (Ok, "web/eth0".to_owned()),
                (Warning, "web/eth1".to_owned())
            ]
        );
        let w = the(&f, FindingId::RpFilter, "web/eth1");
        assert!(
            w.message.contains("moves between eth0 and eth1"),
            "{}",
            w.message
        );
        assert!(w.fix.as_deref().unwrap().contains("eth1.rp_filter = 2"));
        // all 2 makes eth1's 1 loose (the larger counts).
        let n = n.sysctl(Conf::RpFilter, "all", 2);
        let f = run_rule(&n.facts(vec![def]), check);
        assert_eq!(the(&f, FindingId::RpFilter, "web/eth1").severity, Ok);
    }

    #[test]
    fn a_lone_adapter_that_keeps_the_address_is_not_checked() {
        let n = Node::new()
            .recommended()
            .link("eth0")
            .sysctl(Conf::RpFilter, "all", 0)
            .sysctl(Conf::RpFilter, "eth0", 1);
        let def = n.resource("web", "198.51.100.10/24", "eth0", None);
        assert!(run_rule(&n.facts(vec![def]), check).is_empty());
        // Another adapter on the subnet: the paths can be asymmetric.
        let n = n.link("eth1").addr("eth1", "198.51.100.3/24");
        let def = n.resource("web", "198.51.100.10/24", "eth0", None);
        let f = run_rule(&n.facts(vec![def]), check);
        let w = the(&f, FindingId::RpFilter, "web/eth0");
        assert_eq!(w.severity, Warning);
        assert!(
            w.message.contains("eth0 and eth1 share its subnet"),
            "{}",
            w.message
        );
    }
}
