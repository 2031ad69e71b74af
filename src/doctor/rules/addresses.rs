//! Whether the address survives on its adapters: `promote_secondaries` (IPv4) and `disable_ipv6` (IPv6).
//!
//! The kernel makes the first IPv4 address of a subnet (same network,
//! same prefix length) on an adapter its primary, and the later ones
//! secondaries. Without `promote_secondaries`, deleting the primary
//! deletes every secondary with it (`__inet_del_ifa`): a DHCP renewal or a
//! network manager taking the base address away takes the VIP too, and
//! ipkit removing a VIP that happened to become the primary takes the
//! base address.

use super::{network_text, resource_adapters};
use crate::doctor::conf::{Conf, Effective};
use crate::doctor::facts::NodeFacts;
use crate::doctor::{Finding, FindingId};
use crate::net::NodeSnapshot;
use crate::resource::{AdapterName, Definition};

pub fn check(facts: &NodeFacts, def: &Definition, out: &mut Vec<Finding>) {
    let Some(snapshot) = facts.snapshot() else {
        return;
    };
    for adapter in resource_adapters(def) {
        if snapshot.link(adapter).is_none() {
            continue;
        }
        let sysctls = &facts.host.sysctls;
        let finding = if def.address.is_ipv4() {
            sysctls
                .effective(Conf::PromoteSecondaries, adapter)
                .map(|e| promote_secondaries(snapshot, def, &e))
        } else {
            sysctls
                .effective(Conf::DisableIpv6, adapter)
                .map(|e| ipv6_disabled(def, &e))
        };
        if let Some(f) = finding {
            out.push(f.about(&def.tag).on(adapter));
        }
    }
}

/// The other addresses `adapter` holds in the address's subnet with the
/// same prefix length (those the kernel ties to it as primary/secondary).
fn tied_addresses(snapshot: &NodeSnapshot, def: &Definition, adapter: &AdapterName) -> Vec<String> {
    let Some(link) = snapshot.link(adapter) else {
        return Vec::new();
    };
    let (ip, prefix) = (def.address.ip(), def.address.prefix());
    snapshot
        .addresses()
        .iter()
        .filter(|a| a.ifindex == link.ifindex && a.ip != ip && a.prefix == prefix)
        .filter(|a| super::in_network(a.ip, ip, prefix))
        .map(|a| format!("{}/{}", a.ip, a.prefix))
        .collect()
}

fn promote_secondaries(snapshot: &NodeSnapshot, def: &Definition, e: &Effective) -> Finding {
    let id = FindingId::PromoteSecondaries;
    let subnet = network_text(def.address.ip(), def.address.prefix());
    if e.value != 0 {
        return Finding::ok(
            id,
            format!(
                "{}: deleting one address of {subnet} keeps the others",
                e.describe()
            ),
        );
    }
    let tied = tied_addresses(snapshot, def, &e.adapter);
    let now = if tied.is_empty() {
        String::new()
    } else {
        format!(" ({} holds {} there now)", e.adapter, tied.join(", "))
    };
    Finding::warning(
        id,
        format!(
            "{}: deleting the first address of {subnet} on {} deletes every later one with it, {} included{now}",
            e.describe(),
            e.adapter,
            def.address.ip()
        ),
    )
    .fix(e.fix(1))
}

fn ipv6_disabled(def: &Definition, e: &Effective) -> Finding {
    let id = FindingId::Ipv6Disabled;
    if e.value == 0 {
        Finding::ok(id, format!("{}: IPv6 is enabled", e.describe()))
    } else {
        Finding::error(
            id,
            format!(
                "{}: IPv6 is disabled there, {} cannot be added",
                e.describe(),
                def.address.ip()
            ),
        )
        .fix(e.fix(0))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Node, of, run_rule, the};
    use super::*;
    use crate::doctor::Severity::{Error, Ok, Warning};

    fn node() -> Node {
        Node::new()
            .recommended()
            .link("eth0")
            .link("eth1")
            .addr("eth0", "198.51.100.2/24")
            .addr("eth0", "198.51.100.9/25")
    }

    #[test]
    fn promotion_on_is_ok_off_warns_naming_the_tied_addresses() {
        let n = node();
        let def = n.resource("web", "198.51.100.10/24", "eth0", Some("eth1"));
        let f = run_rule(&n.facts(vec![def.clone()]), check);
        assert_eq!(
            of(&f, FindingId::PromoteSecondaries),
            [(Ok, "web/eth0".to_owned()), (Ok, "web/eth1".to_owned())]
        );
        let n = node().sysctl(Conf::PromoteSecondaries, "all", 0).sysctl(
            Conf::PromoteSecondaries,
            "eth0",
            0,
        );
        let f = run_rule(&n.facts(vec![def]), check);
        let w = the(&f, FindingId::PromoteSecondaries, "web/eth0");
        assert_eq!(w.severity, Warning);
        // The /25 is another subnet to the kernel: not tied.
        assert!(
            w.message
                .ends_with("(eth0 holds 198.51.100.2/24 there now)"),
            "{}",
            w.message
        );
        assert!(
            w.fix
                .as_deref()
                .unwrap()
                .contains("eth0.promote_secondaries = 1")
        );
        // eth1's own 1 is enough (all OR eth1).
        assert_eq!(
            the(&f, FindingId::PromoteSecondaries, "web/eth1").severity,
            Ok
        );
    }

    #[test]
    fn ipv6_disabled_is_an_error() {
        let n = node().sysctl(Conf::DisableIpv6, "eth1", 1);
        let def = n.resource("v6", "2001:db8:1::10/64", "eth0", Some("eth1"));
        let f = run_rule(&n.facts(vec![def]), check);
        assert_eq!(
            of(&f, FindingId::Ipv6Disabled),
            [(Ok, "v6/eth0".to_owned()), (Error, "v6/eth1".to_owned())]
        );
        assert!(of(&f, FindingId::PromoteSecondaries).is_empty());
    }

    #[test]
    fn a_missing_adapter_or_unread_setting_says_nothing() {
        let n = Node::new().link("eth0");
        let def = n.resource("web", "198.51.100.10/24", "eth0", Some("eth9"));
        assert!(run_rule(&n.facts(vec![def]), check).is_empty());
    }
}
