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
//! [`follow`] makes the kernel match the plan and is idempotent: run again
//! after a crash at any point, it repairs what the crash left.

use std::net::IpAddr;

use crate::net::linux::netlink::{
    AddrRecord, Family, MAIN_TABLE, Netlink, RuleRecord, SourceRule, TableRoute,
};
use crate::net::{KernelError, PolicyRule, PolicyRules};

pub mod plan;

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

/// What the kernel holds of ipkit's routing for one VIP: every rule of
/// the family, the VIP's own rules among them, and the routes of the table
/// the first of those looks up (one rules dump and one table dump, shared
/// by reading and repairing).
struct Installed {
    rules: Vec<RuleRecord>,
    ours: Vec<SourceRule>,
    table_routes: Vec<TableRoute>,
}

impl Installed {
    /// Read it; `None` on a kernel without policy routing.
    fn read(nl: &Netlink, ip: IpAddr) -> Result<Option<Self>, KernelError> {
        let family = Family::of(ip);
        let rules = match nl.rules(family) {
            Ok(r) => r,
            Err(e) if unsupported(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let ours = plan::rules_for(&rules, ip);
        let table_routes = match ours.first() {
            Some(rule) => nl
                .table_routes(family, rule.table)?
                .iter()
                .filter_map(TableRoute::from_record)
                .collect(),
            None => Vec::new(),
        };
        Ok(Some(Self {
            rules,
            ours,
            table_routes,
        }))
    }

    /// The adapter ipkit's table sends the VIP through now, if any.
    fn holder(&self) -> Option<u32> {
        self.table_routes
            .iter()
            .find(|r| r.gateway.is_none())
            .map(|r| r.oif)
    }
}

/// Bring ipkit's rule and table for `ip` in line with the kernel: follow
/// the adapter the table already uses while it still holds the address,
/// else the first of `holders`; none: the rule and table go. `addrs` are
/// the addresses of the family (one dump the caller has). Returns what
/// changed, in words.
pub fn settle(
    nl: &Netlink,
    ip: IpAddr,
    holders: &[u32],
    priority: u32,
    addrs: &[AddrRecord],
) -> Result<Vec<String>, KernelError> {
    let Some(installed) = Installed::read(nl, ip)? else {
        return Ok(Vec::new());
    };
    let target = Target {
        holder: installed
            .holder()
            .filter(|c| holders.contains(c))
            .or(holders.first().copied()),
        priority: Some(priority),
    };
    apply(nl, ip, target, addrs, installed)
}

/// Make ipkit's rule and table for `ip` match `target`, given the
/// addresses of its family (one dump the caller already has). Returns what
/// changed, in words (empty when everything was in place).
pub fn follow(
    nl: &Netlink,
    ip: IpAddr,
    target: Target,
    addrs: &[AddrRecord],
) -> Result<Vec<String>, KernelError> {
    match Installed::read(nl, ip)? {
        Some(installed) => apply(nl, ip, target, addrs, installed),
        None => Ok(Vec::new()),
    }
}

/// [`follow`] from what was read.
fn apply(
    nl: &Netlink,
    ip: IpAddr,
    target: Target,
    addrs: &[AddrRecord],
    installed: Installed,
) -> Result<Vec<String>, KernelError> {
    let family = Family::of(ip);
    let Installed {
        rules,
        ours,
        table_routes,
    } = installed;
    let mut changes = Vec::new();
    let priority = match (target.priority, ours.first()) {
        (Some(0), _) => None,
        (Some(p), _) => Some(p),
        (None, Some(existing)) => Some(existing.priority),
        (None, None) => None,
    };
    let (Some(holder), Some(priority)) = (target.holder, priority) else {
        release(nl, family, &ours, &mut changes)?;
        return Ok(changes);
    };
    let table = match ours.first() {
        Some(r) => r.table,
        None => free_table(nl, ip, &rules)?,
    };
    let main = nl.table_routes(family, MAIN_TABLE)?;
    let desired = plan::desired_routes(ip, holder, table, addrs, &main);
    if desired.is_empty() {
        release(nl, family, &ours, &mut changes)?;
        return Ok(changes);
    }
    // A new rule first, then its table: whatever a crash interrupts, every
    // route ipkit put in a table has a rule of the VIP's pointing at it, so
    // the next operation finds it (by the rule) and repairs or removes it.
    // Meanwhile the rule looks up a table without the route and traffic
    // falls through to the next rules, as without ipkit.
    let wanted = plan::rule(ip, table, priority);
    // A re-point replaces each route in place (same key). The routes of
    // the table were read with the rules; a free table is read now (it
    // may hold what a crash left).
    let current: Vec<TableRoute> = if ours.is_empty() {
        nl.add_rule(&wanted)?;
        changes.push(wanted.to_string());
        nl.table_routes(family, table)?
            .iter()
            .filter_map(TableRoute::from_record)
            .collect()
    } else {
        table_routes
    };
    for route in desired.iter().filter(|d| !current.contains(d)) {
        nl.replace_route(route)?;
        changes.push(format!("route {route}"));
    }
    for route in current
        .iter()
        .filter(|c| !desired.iter().any(|d| d.key() == c.key()))
    {
        nl.delete_route(route)?;
        changes.push(format!("deleted route {route}"));
    }
    // A new priority: add before delete, there is never a moment without
    // a rule.
    if !ours.is_empty() && !ours.contains(&wanted) {
        nl.add_rule(&wanted)?;
        changes.push(wanted.to_string());
    }
    for old in ours.iter().filter(|r| **r != wanted) {
        nl.delete_rule(old)?;
        changes.push(format!("deleted {old}"));
    }
    Ok(changes)
}

/// Delete the routes of the tables of ipkit's rules for a VIP, then the
/// rules: a crash in between leaves a rule, by which the next operation
/// finds the rest.
fn release(
    nl: &Netlink,
    family: Family,
    ours: &[SourceRule],
    changes: &mut Vec<String>,
) -> Result<(), KernelError> {
    let mut tables: Vec<u32> = ours.iter().map(|r| r.table).collect();
    tables.sort_unstable();
    tables.dedup();
    for table in tables.into_iter().filter(|t| plan::is_ipkit_table(*t)) {
        for route in nl
            .table_routes(family, table)?
            .iter()
            .filter_map(TableRoute::from_record)
            .filter(|r| r.protocol == plan::PROTOCOL)
        {
            nl.delete_route(&route)?;
            changes.push(format!("deleted route {route}"));
        }
    }
    for rule in ours {
        nl.delete_rule(rule)?;
        changes.push(format!("deleted {rule}"));
    }
    Ok(())
}

/// The first of `ip`'s candidate tables that no rule looks up and that
/// holds no route but ipkit's (left by a crash).
fn free_table(nl: &Netlink, ip: IpAddr, rules: &[RuleRecord]) -> Result<u32, KernelError> {
    let family = Family::of(ip);
    // One dump per candidate: a bounded search (a node has one ipkit
    // table per VIP; thousands of taken tables in a row mean something
    // else owns the range).
    for table in plan::table_candidates(ip).take(MAX_TABLE_CANDIDATES) {
        if rules.iter().any(|r| r.table == table) {
            continue;
        }
        let routes = nl.table_routes(family, table)?;
        if routes.iter().all(|r| r.protocol == plan::PROTOCOL) {
            return Ok(table);
        }
    }
    Err(KernelError::with_message(
        crate::net::KernelOp::Route,
        Some(ip.to_string()),
        libc::ENOSPC,
        format!("the first {MAX_TABLE_CANDIDATES} candidate ipkit routing tables are taken"),
    ))
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
        let mut rules = Vec::with_capacity(records.len());
        for r in &records {
            let ipkit = r.protocol == plan::PROTOCOL && plan::is_ipkit_table(r.table);
            let through = if ipkit {
                nl.table_routes(family, r.table)?
                    .iter()
                    .filter_map(TableRoute::from_record)
                    .find(|route| route.gateway.is_none())
                    .map(|route| route.oif)
            } else {
                None
            };
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
