//! Replies through a dead adapter: ipkit's own source routing (`routing-policy`), and `ignore_routes_with_linkdown` where that routing is off (issue 11).
//!
//! When an adapter loses its carrier the kernel keeps its routes (marked
//! `linkdown`) and still uses them unless `ignore_routes_with_linkdown`
//! is set: after local recovery, replies sourced from the address would
//! leave through the adapter whose cable is out (issue 11, section 2).
//! ipkit's source routing (docs/linux-backend.md "Source routing": a rule
//! `from VIP` at the resource's `source_rule_priority`, and a table through
//! the adapter holding the address) sends them through the adapter that
//! holds the address whatever that sysctl says. So `routing-policy` checks
//! that routing: in place where the address is, nothing left where it is
//! not, and no operator rule at the same priority or ahead of it for the
//! address; and `ignore-routes-with-linkdown` only asks for the sysctl
//! where ipkit's routing is off (`source_rule_priority` 0, or a kernel
//! without policy routing).

use std::net::IpAddr;

use super::{in_network, moves_between_adapters, resource_adapters};
use crate::doctor::conf::Conf;
use crate::doctor::facts::NodeFacts;
use crate::doctor::{Finding, FindingId};
use crate::net::PolicyRule;
use crate::resource::Definition;

/// The kernel's `local` table: its rule (priority 0) comes first on every
/// node and only routes the node's own addresses.
const LOCAL_TABLE: u32 = 255;

pub fn check(facts: &NodeFacts, def: &Definition, out: &mut Vec<Finding>) {
    policy(facts, def, out);
    linkdown(facts, def, out);
}

/// Does ipkit's source routing steer the address's traffic: a priority
/// set, and policy routing in its family?
fn source_routed(facts: &NodeFacts, def: &Definition) -> bool {
    def.tunables.source_rule_priority != 0
        && facts
            .routing
            .as_ref()
            .is_ok_and(|r| r.of(def.address.ip()).is_some())
}

fn host_len(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

fn listed(rules: &[&PolicyRule]) -> String {
    let each: Vec<String> = rules.iter().map(|r| format!("`{r}`")).collect();
    each.join(", ")
}

/// `routing-policy`: ipkit's rule for the address where it should be, and
/// no operator rule in its way.
fn policy(facts: &NodeFacts, def: &Definition, out: &mut Vec<Finding>) {
    let ip = def.address.ip();
    let rules = match &facts.routing {
        Err(why) => {
            out.push(
                Finding::warning(
                    FindingId::RoutingPolicy,
                    format!("could not read the policy rules: {why}"),
                )
                .about(&def.tag),
            );
            return;
        }
        Ok(all) => match all.of(ip) {
            Some(rules) => rules,
            // No policy routing in this family: nothing ipkit installs.
            None => return,
        },
    };
    let Some(snapshot) = facts.snapshot() else {
        return;
    };
    let priority = def.tunables.source_rule_priority;
    let ours: Vec<&PolicyRule> = rules
        .iter()
        .filter(|r| r.ipkit && r.source == Some((ip, host_len(ip))))
        .collect();
    let repair = format!(
        "`ipkit deepcheck {}` repairs it (as does every operation on the resource but a quickCheck that finds its state right, the OCF monitor at OCF_CHECK_LEVEL 10, and the daemon's deepCheck)",
        def.tag
    );
    let holders = snapshot.holders(ip);
    let through: Vec<u32> = holders
        .iter()
        .filter_map(|a| snapshot.link(a).map(|l| l.ifindex))
        .collect();
    let held_by = super::names(&holders);
    let finding = if priority == 0 || holders.is_empty() {
        let why = if priority == 0 {
            "its source routing is off (`source_rule_priority` 0)"
        } else {
            "no adapter holds it"
        };
        if ours.is_empty() {
            Finding::ok(
                FindingId::RoutingPolicy,
                format!("no ipkit rule for {ip}, as {why}"),
            )
        } else {
            Finding::warning(
                FindingId::RoutingPolicy,
                format!(
                    "ipkit's rule for {ip} is left ({}) although {why}",
                    listed(&ours)
                ),
            )
            .fix(repair)
        }
    } else {
        match ours.as_slice() {
            [one]
                if one.priority == priority
                    && one.through.is_some_and(|t| through.contains(&t)) =>
            {
                Finding::ok(
                    FindingId::RoutingPolicy,
                    format!(
                        "traffic from {ip} leaves through {held_by}, which holds it (`{one}`)"
                    ),
                )
            }
            [] => Finding::warning(
                FindingId::RoutingPolicy,
                format!(
                    "no ipkit rule sends traffic from {ip} through {held_by}, which holds it: replies follow `main`, which may route them through an adapter without carrier"
                ),
            )
            .fix(repair),
            _ => Finding::warning(
                FindingId::RoutingPolicy,
                format!(
                    "ipkit's rules for {ip} ({}) do not send its traffic through {held_by}, which holds it, at priority {priority}",
                    listed(&ours)
                ),
            )
            .fix(repair),
        }
    };
    out.push(finding.about(&def.tag));
    if priority == 0 {
        return;
    }
    for rule in rules.iter().filter(|r| !r.ipkit) {
        let ahead_for_ip = rule.priority < priority
            && rule.lookup
            && !rule.other_selectors
            && rule.table != LOCAL_TABLE
            && rule
                .source
                .is_some_and(|(net, len)| len > 0 && in_network(ip, net, len));
        let finding = if rule.priority == priority {
            Finding::warning(
                FindingId::RoutingPolicy,
                format!(
                    "`{rule}` is not ipkit's and has the priority of ipkit's rule for {ip}: rules of equal priority are tried in the order they were added, which a reboot, or a restart of whoever added it, changes"
                ),
            )
        } else if ahead_for_ip {
            Finding::warning(
                FindingId::RoutingPolicy,
                format!(
                    "`{rule}` comes before ipkit's rule for {ip} (priority {priority}) and matches its traffic: where table {} has a route, replies from {ip} do not follow the adapter that holds it",
                    rule.table
                ),
            )
        } else {
            continue;
        };
        out.push(
            finding
                .fix(format!(
                    "move that rule to a priority above {priority}, or give `{}` a `source_rule_priority` below {} that no rule has (delete and create it again with `--source-rule-priority`)",
                    def.tag, rule.priority
                ))
                .about(&def.tag),
        );
    }
}

/// `ignore-routes-with-linkdown` on both adapters of a moving address:
/// needed only where ipkit's source routing is off.
fn linkdown(facts: &NodeFacts, def: &Definition, out: &mut Vec<Finding>) {
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
    let source_routed = source_routed(facts, def);
    for adapter in &adapters {
        if snapshot.link(adapter).is_none() {
            continue;
        }
        let Some(e) = facts.host.sysctls.effective(conf, adapter) else {
            continue;
        };
        let other = adapters.iter().find(|a| *a != adapter).unwrap_or(adapter);
        let finding = if source_routed {
            Finding::ok(
                FindingId::IgnoreRoutesWithLinkdown,
                format!(
                    "{}: not needed for {ip}, whose traffic ipkit's source rule sends through the adapter holding it (routing-policy)",
                    e.describe()
                ),
            )
        } else if e.value != 0 {
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

    /// eth0 and eth1, web's address held by eth0, policy routing, and
    /// every sysctl as recommended.
    fn held_on_eth0() -> Node {
        Node::new()
            .recommended()
            .link("eth0")
            .link("eth1")
            .addr("eth0", "198.51.100.10/24")
            .policy_routing()
    }

    fn web(n: &Node) -> Definition {
        n.resource("web", "198.51.100.10/24", "eth0", Some("eth1"))
    }

    #[test]
    fn the_rule_through_the_holder_is_ok_a_missing_or_misdirected_one_warns() {
        let n = held_on_eth0().ipkit_rule(32000, "198.51.100.10", "eth0");
        let f = run_rule(&n.facts(vec![web(&n)]), check);
        let ok = the(&f, FindingId::RoutingPolicy, "web");
        assert_eq!(ok.severity, Ok, "{ok}");
        assert!(ok.message.contains("leaves through eth0"), "{ok}");

        for (n, what) in [
            (held_on_eth0(), "no ipkit rule"),
            (
                held_on_eth0().ipkit_rule(32000, "198.51.100.10", "eth1"),
                "do not send its traffic through eth0",
            ),
            (
                held_on_eth0().ipkit_rule(31000, "198.51.100.10", "eth0"),
                "at priority 32000",
            ),
        ] {
            let f = run_rule(&n.facts(vec![web(&n)]), check);
            let w = the(&f, FindingId::RoutingPolicy, "web");
            assert_eq!(w.severity, Warning, "{w}");
            assert!(w.message.contains(what), "{w}");
            assert!(w.fix.as_deref().unwrap().contains("ipkit deepcheck web"));
        }
    }

    #[test]
    fn a_rule_left_for_an_address_nobody_holds_or_with_routing_off_warns() {
        let n = Node::new()
            .recommended()
            .link("eth0")
            .link("eth1")
            .policy_routing();
        let f = run_rule(&n.facts(vec![web(&n)]), check);
        assert_eq!(of(&f, FindingId::RoutingPolicy), [(Ok, "web".to_owned())]);
        let n = n.ipkit_rule(32000, "198.51.100.10", "eth0");
        let f = run_rule(&n.facts(vec![web(&n)]), check);
        let w = the(&f, FindingId::RoutingPolicy, "web");
        assert!(w.message.contains("no adapter holds it"), "{w}");

        let n = held_on_eth0().ipkit_rule(32000, "198.51.100.10", "eth0");
        let mut def = web(&n);
        def.tunables.source_rule_priority = 0;
        let f = run_rule(&n.facts(vec![def]), check);
        let w = the(&f, FindingId::RoutingPolicy, "web");
        assert_eq!(w.severity, Warning);
        assert!(w.message.contains("source routing is off"), "{w}");
    }

    #[test]
    fn an_operator_rule_at_ipkits_priority_or_ahead_of_it_for_the_address_warns() {
        let base = || held_on_eth0().ipkit_rule(32000, "198.51.100.10", "eth0");
        // What every node has, and rules that do not concern the address.
        let n = base()
            .operator_rule(0, None, 255)
            .operator_rule(5270, None, 52)
            .operator_rule(100, Some("203.0.113.0/24"), 7)
            .operator_rule(32766, None, 254);
        let f = run_rule(&n.facts(vec![web(&n)]), check);
        assert_eq!(of(&f, FindingId::RoutingPolicy), [(Ok, "web".to_owned())]);

        for (n, what) in [
            (
                base().operator_rule(32000, Some("198.51.100.0/24"), 100),
                "has the priority of ipkit's rule",
            ),
            (
                base().operator_rule(1000, Some("198.51.100.0/24"), 254),
                "comes before ipkit's rule",
            ),
        ] {
            let f = run_rule(&n.facts(vec![web(&n)]), check);
            let found = of(&f, FindingId::RoutingPolicy);
            assert_eq!(
                found,
                [(Ok, "web".to_owned()), (Warning, "web".to_owned())],
                "{f:#?}"
            );
            let w = f
                .iter()
                .find(|x| x.id == FindingId::RoutingPolicy && x.severity == Warning)
                .unwrap();
            assert!(w.message.contains(what), "{w}");
            assert!(w.fix.as_deref().unwrap().contains("source_rule_priority"));
        }
    }

    #[test]
    fn with_source_routing_the_linkdown_sysctl_is_not_needed() {
        let n = held_on_eth0()
            .ipkit_rule(32000, "198.51.100.10", "eth0")
            .sysctl(Conf::IgnoreRoutesWithLinkdownV4, "all", 0)
            .sysctl(Conf::IgnoreRoutesWithLinkdownV4, "eth0", 0);
        let f = run_rule(&n.facts(vec![web(&n)]), check);
        let e = the(&f, FindingId::IgnoreRoutesWithLinkdown, "web/eth0");
        assert_eq!(e.severity, Ok);
        assert!(e.message.contains("not needed"), "{e}");
        let mut def = web(&n);
        def.tunables.source_rule_priority = 0;
        let f = run_rule(&n.facts(vec![def]), check);
        assert_eq!(
            the(&f, FindingId::IgnoreRoutesWithLinkdown, "web/eth0").severity,
            Warning
        );
    }
}
