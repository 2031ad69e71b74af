//! ARP flux: `arp_ignore` and `arp_announce` on the adapters that share an IPv4 address's subnet.
//!
//! With the kernel's defaults (both 0) every adapter answers ARP for
//! every local address, and sends ARP requests naming any local address:
//! when two adapters are on one segment, clients learn the wrong adapter's
//! MAC for the address, and keep it after a local recovery.

use super::{ipv4_subnet, names, network_text, resource_adapters};
use crate::doctor::conf::{Conf, Effective};
use crate::doctor::facts::NodeFacts;
use crate::doctor::{Finding, FindingId};
use crate::resource::Definition;

/// `arp_ignore` 1 (or 2) and `arp_announce` 2 on every adapter of the
/// subnet, when there are two or more.
pub fn check(facts: &NodeFacts, def: &Definition, out: &mut Vec<Finding>) {
    let Some((snapshot, subnet)) = ipv4_subnet(facts, def) else {
        return;
    };
    if subnet.len() < 2 {
        return;
    }
    let shared = format!(
        "{} share {}",
        names(&subnet),
        network_text(def.address.ip(), def.address.prefix())
    );
    let own = resource_adapters(def);
    for adapter in &subnet {
        if snapshot.link(adapter).is_none() {
            continue;
        }
        let holds_it = own.contains(&adapter);
        let sysctls = &facts.host.sysctls;
        if let Some(e) = sysctls.effective(Conf::ArpIgnore, adapter) {
            out.push(arp_ignore(def, &e, holds_it, &shared));
        }
        if let Some(e) = sysctls.effective(Conf::ArpAnnounce, adapter) {
            out.push(arp_announce(def, &e, &shared));
        }
    }
}

fn arp_ignore(def: &Definition, e: &Effective, holds_it: bool, shared: &str) -> Finding {
    let (ip, adapter) = (def.address.ip(), &e.adapter);
    let id = FindingId::ArpIgnore;
    let finding = match e.value {
        1 | 2 => Finding::ok(
            id,
            format!(
                "{}: it answers ARP only for addresses it holds itself",
                e.describe()
            ),
        ),
        // `arp_ignore()` in net/ipv4/arp.c: 8 = "do not reply".
        8 if holds_it => Finding::error(
            id,
            format!(
                "{}: it answers no ARP request at all, so clients cannot find {ip} there",
                e.describe()
            ),
        )
        .fix(e.fix(1)),
        8 => Finding::ok(
            id,
            format!("{}: it answers no ARP request, not for {ip} either", e.describe()),
        ),
        // 0, 3 and the reserved 4-7 all answer for {ip}.
        _ => Finding::warning(
            id,
            format!(
                "{}, and {shared}: {adapter} answers ARP for {ip} too, handing clients its own MAC (ARP flux)",
                e.describe()
            ),
        )
        .fix(e.fix(1)),
    };
    finding.about(&def.tag).on(adapter)
}

fn arp_announce(def: &Definition, e: &Effective, shared: &str) -> Finding {
    let (ip, adapter) = (def.address.ip(), &e.adapter);
    let id = FindingId::ArpAnnounce;
    // `arp_solicit()`: 2 picks a primary address of the adapter itself;
    // 0, 1 and anything above 2 may use any local source address.
    let finding = if e.value == 2 {
        Finding::ok(
            id,
            format!(
                "{}: its ARP requests name one of its own addresses",
                e.describe()
            ),
        )
    } else {
        Finding::warning(
            id,
            format!(
                "{}, and {shared}: a request sent on {adapter} may name {ip} as its sender, teaching neighbours {adapter}'s MAC for it (ARP flux)",
                e.describe()
            ),
        )
        .fix(e.fix(2))
    };
    finding.about(&def.tag).on(adapter)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Node, of, run_rule, the};
    use super::*;
    use crate::doctor::Severity::{Error, Ok, Warning};

    fn two_adapters() -> Node {
        Node::new()
            .recommended()
            .link("eth0")
            .link("eth1")
            .addr("eth0", "198.51.100.2/24")
            .addr("eth1", "198.51.100.3/24")
    }

    fn found(node: &Node, recovery: Option<&str>) -> Vec<Finding> {
        let def = node.resource("web", "198.51.100.10/24", "eth0", recovery);
        run_rule(&node.facts(vec![def]), check)
    }

    #[test]
    fn recommended_values_are_ok_on_every_adapter_of_the_subnet() {
        let f = found(&two_adapters(), Some("eth1"));
        let subjects = [(Ok, "web/eth0".to_owned()), (Ok, "web/eth1".to_owned())];
        assert_eq!(of(&f, FindingId::ArpIgnore), subjects);
        assert_eq!(of(&f, FindingId::ArpAnnounce), subjects);
    }

    #[test]
    fn kernel_defaults_are_arp_flux() {
        let node = two_adapters()
            .sysctl(Conf::ArpIgnore, "all", 0)
            .sysctl(Conf::ArpIgnore, "eth1", 0)
            .sysctl(Conf::ArpAnnounce, "all", 0)
            .sysctl(Conf::ArpAnnounce, "eth1", 0);
        let f = found(&node, Some("eth1"));
        let ignore = the(&f, FindingId::ArpIgnore, "web/eth1");
        assert_eq!(ignore.severity, Warning);
        assert!(
            ignore
                .message
                .contains("eth0 and eth1 share 198.51.100.0/24")
        );
        assert!(ignore.message.contains("ARP flux"), "{}", ignore.message);
        assert_eq!(
            ignore.fix.as_deref(),
            Some(
                "add \"net.ipv4.conf.eth1.arp_ignore = 1\" to /etc/sysctl.d/90-ipkit.conf, \
                 then run `sysctl --system`"
            )
        );
        let announce = the(&f, FindingId::ArpAnnounce, "web/eth1");
        assert_eq!(announce.severity, Warning);
        assert!(
            announce
                .fix
                .as_deref()
                .unwrap()
                .contains("arp_announce = 2")
        );
        // eth0 keeps its own 1 / 2: all 0 does not lower them.
        assert_eq!(the(&f, FindingId::ArpIgnore, "web/eth0").severity, Ok);
    }

    #[test]
    fn all_counts_through_max() {
        // eth1 says 0, but all says 1: the kernel uses 1.
        let node =
            two_adapters()
                .sysctl(Conf::ArpIgnore, "all", 1)
                .sysctl(Conf::ArpIgnore, "eth1", 0);
        let f = found(&node, Some("eth1"));
        assert_eq!(the(&f, FindingId::ArpIgnore, "web/eth1").severity, Ok);
        // all 3 overrides eth1's 1: flux again, and the fix lowers all.
        let node = two_adapters().sysctl(Conf::ArpIgnore, "all", 3);
        let f = found(&node, Some("eth1"));
        let e = the(&f, FindingId::ArpIgnore, "web/eth1");
        assert_eq!(e.severity, Warning);
        assert!(
            e.fix
                .as_deref()
                .unwrap()
                .contains("net.ipv4.conf.all.arp_ignore = 1")
        );
    }

    #[test]
    fn eight_is_an_error_where_the_address_lives_only() {
        let node = two_adapters()
            .link("eth2")
            .addr("eth2", "198.51.100.4/24")
            .sysctl(Conf::ArpIgnore, "eth0", 8)
            .sysctl(Conf::ArpIgnore, "eth2", 8);
        let f = found(&node, Some("eth1"));
        assert_eq!(the(&f, FindingId::ArpIgnore, "web/eth0").severity, Error);
        assert_eq!(the(&f, FindingId::ArpIgnore, "web/eth2").severity, Ok);
    }

    #[test]
    fn one_adapter_alone_on_the_subnet_has_no_flux() {
        let node = Node::new()
            .link("eth0")
            .link("eth1")
            .addr("eth1", "203.0.113.3/24")
            .sysctl(Conf::ArpIgnore, "all", 0);
        assert!(found(&node, None).is_empty());
        // An IPv6 address has no ARP.
        let def = node.resource("v6", "2001:db8:1::10/64", "eth0", Some("eth1"));
        assert!(run_rule(&node.facts(vec![def]), check).is_empty());
    }

    #[test]
    fn another_adapter_on_the_subnet_makes_flux_without_a_recovery_adapter() {
        let node = two_adapters().sysctl(Conf::ArpIgnore, "eth1", 0);
        let node = node.sysctl(Conf::ArpIgnore, "all", 0);
        let f = found(&node, None);
        assert_eq!(the(&f, FindingId::ArpIgnore, "web/eth1").severity, Warning);
    }
}
