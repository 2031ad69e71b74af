//! ipkit's source routing on Linux: traffic sourced from a VIP leaves through the adapter that holds it (docs/linux-backend.md, "Source routing").
//!
//! Per VIP, ipkit owns one policy rule (`from VIP/32` or `/128`, at the
//! resource's `source_rule_priority`, `lookup` an ipkit table) and that
//! table (the VIP's connected subnet and the gateways in it, through the
//! holding adapter; see [`plan::desired_routes`]). Both carry
//! [`plan::PROTOCOL`]. Every rule and route of a VIP is changed only by
//! operations on that VIP's resource, which hold its lock, so two
//! resources never race on shared routing state.
//!
//! [`settle_all`] makes the kernel match the plan for many VIPs at once
//! (one of them is a batch of one) and is idempotent: run again after a
//! crash at any point, it repairs what the crash left.

use std::collections::HashMap;

use crate::net::linux::netlink::{Family, Netlink, TableRoute};
use crate::net::{KernelError, PolicyRule, PolicyRules};

pub mod plan;
pub mod settle;

pub use settle::{Aim, settle_all};

/// How many of its candidate tables a VIP looks at before giving up.
const MAX_TABLE_CANDIDATES: usize = 4096;

/// Which adapter the VIP's routing should follow, and at what priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The interface index of the adapter holding the VIP; `None` when no
    /// adapter holds it (the rule and the table go).
    pub holder: Option<u32>,
    /// The rule's priority; `Some(0)` turns source routing off for the VIP
    /// (what ipkit installed goes); `None` keeps the priority of the rule
    /// that is there and installs nothing new.
    pub priority: Option<u32>,
}

/// Errnos of a kernel built without policy routing
/// (`CONFIG_IP_MULTIPLE_TABLES` / `CONFIG_IPV6_MULTIPLE_TABLES` off).
fn unsupported(e: &KernelError) -> bool {
    matches!(e.errno, libc::EAFNOSUPPORT | libc::EOPNOTSUPP)
}

/// Every policy rule of both families, ipkit's with the adapter their
/// table's connected route goes through (`ipkit doctor`); a family
/// without policy routing is `None`.
pub fn policy_rules(nl: &Netlink) -> Result<PolicyRules, KernelError> {
    let mut out = PolicyRules::default();
    for family in [Family::V4, Family::V6] {
        let records = match nl.rules(family) {
            Ok(r) => r,
            Err(e) if unsupported(&e) => continue,
            Err(e) => return Err(e),
        };
        // Where each of ipkit's tables sends traffic: one dump of them all.
        let mut through_of: HashMap<u32, u32> = HashMap::new();
        if records.iter().any(|r| plan::is_ipkit_table(r.table)) {
            for route in nl
                .all_routes(family)?
                .iter()
                .filter_map(TableRoute::from_record)
            {
                if plan::is_ipkit_table(route.table) && route.gateway.is_none() {
                    through_of.entry(route.table).or_insert(route.oif);
                }
            }
        }
        let mut rules = Vec::with_capacity(records.len());
        for r in &records {
            let ipkit = r.protocol == plan::PROTOCOL && plan::is_ipkit_table(r.table);
            let through = ipkit.then(|| through_of.get(&r.table).copied()).flatten();
            rules.push(PolicyRule {
                priority: r.priority,
                source: r.source,
                table: r.table,
                lookup: r.looks_up_a_table(),
                other_selectors: r.other_selectors,
                ipkit,
                through,
            });
        }
        match family {
            Family::V4 => out.v4 = Some(rules),
            Family::V6 => out.v6 = Some(rules),
        }
    }
    Ok(out)
}

/// Purge the neighbour entries of `family` on every adapter without a
/// carrier: packets a socket sent while its route still pointed there wait
/// in them for an answer that cannot come (3 probes, 3 s by default), and
/// TCP does not retransmit a segment still queued on the host. The kernel
/// purges these entries itself when the carrier goes; this catches those
/// created after it.
pub fn purge_dead_adapters(nl: &Netlink, family: Family) -> Result<usize, KernelError> {
    let dead: Vec<u32> = nl
        .links()?
        .iter()
        .filter(|l| !(l.admin_up && l.carrier))
        .map(|l| l.index)
        .collect();
    nl.purge_neighbours(family, &dead)
}
