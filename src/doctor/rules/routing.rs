//! Replies through a dead adapter: `ignore_routes_with_linkdown` on the adapters a moving address uses, and the hook for ipkit's own routing (issue 11).
//!
//! When an adapter loses its carrier the kernel keeps its routes (marked
//! `linkdown`) and still uses them unless `ignore_routes_with_linkdown`
//! is set: after local recovery, replies sourced from the address leave
//! through the adapter whose cable is out (issue 11, section 2).
//!
//! Hook for issue 11 (branch `routing`): once ipkit installs a source
//! policy rule and a per-adapter table for each address, replies follow
//! the adapter that holds the address whatever this sysctl says. The
//! check for that routing state goes here, under the reserved id
//! [`FindingId::RoutingPolicy`] (`routing-policy`): for each resource in
//! service, its rule exists and points at the active adapter's table,
//! and that table routes through the active adapter. Its facts (the
//! rules and tables read from the kernel) join [`NodeFacts`]. This
//! sysctl check then only concerns traffic not sourced from the address.

use super::{moves_between_adapters, resource_adapters};
use crate::doctor::conf::Conf;
use crate::doctor::facts::NodeFacts;
use crate::doctor::{Finding, FindingId};
use crate::resource::Definition;

pub fn check(facts: &NodeFacts, def: &Definition, out: &mut Vec<Finding>) {
    if !moves_between_adapters(def) {
        return;
    }
    let Some(snapshot) = facts.snapshot() else {
        return;
    };
    let conf = if def.address.is_ipv4() {
        Conf::IgnoreRoutesWithLinkdownV4
    } else {
        Conf::IgnoreRoutesWithLinkdownV6
    };
    let adapters = resource_adapters(def);
    let ip = def.address.ip();
    for adapter in &adapters {
        if snapshot.link(adapter).is_none() {
            continue;
        }
        let Some(e) = facts.host.sysctls.effective(conf, adapter) else {
            continue;
        };
        let other = adapters.iter().find(|a| *a != adapter).unwrap_or(adapter);
        let finding = if e.value != 0 {
            Finding::ok(
                FindingId::IgnoreRoutesWithLinkdown,
                format!(
                    "{}: with its cable out, replies from {ip} on {other} do not leave through {adapter}",
                    e.describe()
                ),
            )
        } else {
            Finding::warning(
                FindingId::IgnoreRoutesWithLinkdown,
                format!(
                    "{}: with its cable out the kernel still routes through {adapter}, so replies from {ip} on {other} leave through the dead adapter",
                    e.describe()
                ),
            )
            .fix(e.fix(1))
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
    fn both_adapters_of_a_moving_address_need_it() {
        let n = Node::new()
            .recommended()
            .link("eth0")
            .link("eth1")
            .sysctl(Conf::IgnoreRoutesWithLinkdownV4, "all", 0)
            .sysctl(Conf::IgnoreRoutesWithLinkdownV4, "eth0", 0);
        let def = n.resource("web", "198.51.100.10/24", "eth0", Some("eth1"));
        let f = run_rule(&n.facts(vec![def]), check);
        assert_eq!(
            of(&f, FindingId::IgnoreRoutesWithLinkdown),
            [
                (Warning, "web/eth0".to_owned()),
                (Ok, "web/eth1".to_owned())
            ]
        );
        let w = the(&f, FindingId::IgnoreRoutesWithLinkdown, "web/eth0");
        assert!(w.message.contains("on eth1 leave through the dead adapter"));
        assert!(
            w.fix
                .as_deref()
                .unwrap()
                .contains("net.ipv4.conf.eth0.ignore_routes_with_linkdown = 1")
        );
    }

    #[test]
    fn ipv6_reads_its_own_setting_and_a_fixed_address_is_not_checked() {
        let n = Node::new().recommended().link("eth0").link("eth1").sysctl(
            Conf::IgnoreRoutesWithLinkdownV6,
            "eth1",
            0,
        );
        let def = n.resource("v6", "2001:db8:1::10/64", "eth0", Some("eth1"));
        let f = run_rule(&n.facts(vec![def]), check);
        assert_eq!(
            the(&f, FindingId::IgnoreRoutesWithLinkdown, "v6/eth1").severity,
            Warning
        );
        let mut def = n.resource("v6", "2001:db8:1::10/64", "eth0", Some("eth1"));
        def.local_recovery = false;
        assert!(run_rule(&n.facts(vec![def]), check).is_empty());
    }
}
