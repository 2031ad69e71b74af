//! ipkit's source routing of many VIPs at once: one rules dump and one dump of every table per family, then the changes pipelined in three rounds (rules added, routes, rules deleted; the order that keeps a crash harmless), with an IPv6 refresh of cached routes before the third.
//!
//! What a batch of N VIPs costs: per family, one rules dump and one route
//! dump (every table: `main` and all of ipkit's), then at most three
//! pipelined rounds over the one socket. One VIP is a batch of one. Before
//! (issue 11), each VIP dumped the rules, its table and `main` and sent
//! every change on its own: O(N) round trips reading O(N) rules each.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::{MAX_TABLE_CANDIDATES, Target, plan, unsupported};
use crate::net::linux::netlink::{
    AddrRecord, Family, MAIN_TABLE, Netlink, RouteRecord, RoutingChange, RuleRecord, SourceRule,
    TableRoute,
};
use crate::net::{KernelError, KernelOp};

/// Where one VIP's rule and table should point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Aim {
    /// Exactly at this target (after an add or a delete, which knows
    /// where the address went).
    Follow(Target),
    /// Follow the adapter ipkit's table already uses while it is one of
    /// `holders` (the adapters holding the address), else the first of
    /// them; none: the rule and table go. At `priority` (0 = off).
    Settle { holders: Vec<u32>, priority: u32 },
}

/// The routing of one family, read once for the whole batch.
struct Reading {
    rules: Vec<RuleRecord>,
    tables: HashMap<u32, Vec<RouteRecord>>,
}

impl Reading {
    /// One rules dump and one dump of every table; `None` on a kernel
    /// without policy routing.
    fn read(nl: &Netlink, family: Family) -> Result<Option<Self>, KernelError> {
        let rules = match nl.rules(family) {
            Ok(r) => r,
            Err(e) if unsupported(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut tables: HashMap<u32, Vec<RouteRecord>> = HashMap::new();
        for route in nl.all_routes(family)? {
            tables.entry(route.table).or_default().push(route);
        }
        Ok(Some(Self { rules, tables }))
    }

    fn routes(&self, table: u32) -> &[RouteRecord] {
        self.tables.get(&table).map_or(&[], Vec::as_slice)
    }

    fn table_routes(&self, table: u32) -> Vec<TableRoute> {
        self.routes(table)
            .iter()
            .filter_map(TableRoute::from_record)
            .collect()
    }

    /// The first of `ip`'s candidate tables that no rule looks up, that
    /// this batch has not given out, and that holds no route but ipkit's
    /// (left by a crash).
    fn free_table(&self, ip: IpAddr, given: &HashSet<u32>) -> Result<u32, KernelError> {
        // A bounded search: a node has one ipkit table per VIP; thousands
        // of taken tables in a row mean something else owns the range.
        plan::table_candidates(ip)
            .take(MAX_TABLE_CANDIDATES)
            .find(|table| {
                !given.contains(table)
                    && !self.rules.iter().any(|r| r.table == *table)
                    && self
                        .routes(*table)
                        .iter()
                        .all(|r| r.protocol == plan::PROTOCOL)
            })
            .ok_or_else(|| {
                KernelError::with_message(
                    KernelOp::Route,
                    Some(ip.to_string()),
                    libc::ENOSPC,
                    format!(
                        "the first {MAX_TABLE_CANDIDATES} candidate ipkit routing tables are taken"
                    ),
                )
            })
    }
}

/// One VIP's changes, by round. Crash safety (docs/linux-backend.md,
/// "Source routing"): a rule is added before the routes of its table and
/// deleted after them, so every route ipkit put in a table has a rule of
/// the VIP pointing at it, by which the next settle finds it. Meanwhile a
/// rule may look up a table without the route and traffic falls through
/// to the next rules, as without ipkit.
///
/// `refresh`: an IPv6 VIP's rule whose table gains a route it lacked (see
/// [`refresh_cached_routes`]).
#[derive(Debug, Default)]
struct Rounds {
    rounds: [Vec<RoutingChange>; 3],
    refresh: Option<SourceRule>,
}

const RULES_ADDED: usize = 0;
const ROUTES: usize = 1;
const RULES_DELETED: usize = 2;

/// What `ip` needs to reach `aim`, from `reading`; `given`: the tables
/// this batch handed out so far (this VIP's is added).
fn plan_one(
    ip: IpAddr,
    aim: &Aim,
    reading: &Reading,
    addrs: &[AddrRecord],
    given: &mut HashSet<u32>,
) -> Result<Rounds, KernelError> {
    let ours: Vec<SourceRule> = plan::rules_for(&reading.rules, ip);
    let current: Vec<TableRoute> = ours
        .first()
        .map(|r| reading.table_routes(r.table))
        .unwrap_or_default();
    let target = match aim {
        Aim::Follow(target) => *target,
        Aim::Settle { holders, priority } => Target {
            holder: current
                .iter()
                .find(|r| r.gateway.is_none())
                .map(|r| r.oif)
                .filter(|c| holders.contains(c))
                .or(holders.first().copied()),
            priority: Some(*priority),
        },
    };
    let priority = match (target.priority, ours.first()) {
        (Some(0), _) => None,
        (Some(p), _) => Some(p),
        (None, Some(existing)) => Some(existing.priority),
        (None, None) => None,
    };
    let mut rounds = Rounds::default();
    let (Some(holder), Some(priority)) = (target.holder, priority) else {
        release(reading, &ours, &mut rounds);
        return Ok(rounds);
    };
    let table = match ours.first() {
        Some(r) => r.table,
        None => reading.free_table(ip, given)?,
    };
    given.insert(table);
    let desired = plan::desired_routes(ip, holder, table, addrs, reading.routes(MAIN_TABLE));
    if desired.is_empty() {
        release(reading, &ours, &mut rounds);
        return Ok(rounds);
    }
    let wanted = plan::rule(ip, table, priority);
    // A new rule (or the same at a new priority) first; a free table may
    // hold what a crash left, replaced or deleted with the rest.
    if !ours.contains(&wanted) {
        rounds.rounds[RULES_ADDED].push(RoutingChange::AddRule(wanted));
    }
    let current = if ours.is_empty() {
        reading.table_routes(table)
    } else {
        current
    };
    // A re-point replaces each route in place (same key).
    for route in desired.iter().filter(|d| !current.contains(d)) {
        rounds.rounds[ROUTES].push(RoutingChange::ReplaceRoute(*route));
    }
    // A key the table lacks (a new rule's empty table, or what a crash
    // left): sockets may hold a route of a later table meanwhile.
    let gains = desired
        .iter()
        .any(|d| !current.iter().any(|c| c.key() == d.key()));
    if gains && Family::of(ip) == Family::V6 {
        rounds.refresh = Some(wanted);
    }
    for route in current
        .iter()
        .filter(|c| !desired.iter().any(|d| d.key() == c.key()))
    {
        rounds.rounds[ROUTES].push(RoutingChange::DeleteRoute(*route));
    }
    // Every other rule goes, and a second copy of the wanted one (what a
    // crash inside `refresh_cached_routes` leaves).
    let kept = ours.iter().position(|r| *r == wanted);
    for (_, old) in ours.iter().enumerate().filter(|(n, _)| Some(*n) != kept) {
        rounds.rounds[RULES_DELETED].push(RoutingChange::DeleteRule(*old));
    }
    Ok(rounds)
}

/// The routes of the tables of ipkit's rules for a VIP go, then the rules.
fn release(reading: &Reading, ours: &[SourceRule], rounds: &mut Rounds) {
    let mut tables: Vec<u32> = ours.iter().map(|r| r.table).collect();
    tables.sort_unstable();
    tables.dedup();
    for table in tables.into_iter().filter(|t| plan::is_ipkit_table(*t)) {
        for route in reading
            .table_routes(table)
            .into_iter()
            .filter(|r| r.protocol == plan::PROTOCOL)
        {
            rounds.rounds[ROUTES].push(RoutingChange::DeleteRoute(route));
        }
    }
    for rule in ours {
        rounds.rounds[RULES_DELETED].push(RoutingChange::DeleteRule(*rule));
    }
}

/// Bring ipkit's rule and table of each `(ip, aim)` in line with the
/// kernel, given the addresses of the node (`addrs`, one dump the caller
/// has; both families may be in it). One result per entry, in order: what
/// changed, in words (empty when everything was in place). An address
/// given twice is settled once, by its first entry. A VIP whose change
/// fails gets the error and none of its later rounds: what is left is what
/// a crash at that point leaves, and the next settle repairs it.
pub fn settle_all(
    nl: &Netlink,
    wanted: &[(IpAddr, Aim)],
    addrs: &[AddrRecord],
) -> Vec<Result<Vec<String>, KernelError>> {
    let mut results: Vec<Result<Vec<String>, KernelError>> =
        wanted.iter().map(|_| Ok(Vec::new())).collect();
    let mut first: HashMap<IpAddr, usize> = HashMap::new();
    let mut plans: Vec<(usize, Rounds)> = Vec::with_capacity(wanted.len());
    for family in [Family::V4, Family::V6] {
        let members: Vec<usize> = (0..wanted.len())
            .filter(|&i| Family::of(wanted[i].0) == family)
            .filter(|&i| *first.entry(wanted[i].0).or_insert(i) == i)
            .collect();
        if members.is_empty() {
            continue;
        }
        let reading = match Reading::read(nl, family) {
            Ok(Some(reading)) => reading,
            Ok(None) => continue,
            Err(e) => {
                for i in members {
                    results[i] = Err(e.clone());
                }
                continue;
            }
        };
        let mut given = HashSet::new();
        for i in members {
            let (ip, aim) = &wanted[i];
            match plan_one(*ip, aim, &reading, addrs, &mut given) {
                Ok(rounds) => plans.push((i, rounds)),
                Err(e) => results[i] = Err(e),
            }
        }
    }
    for round in [RULES_ADDED, ROUTES, RULES_DELETED] {
        if round == RULES_DELETED {
            refresh_cached_routes(nl, &plans, &mut results);
        }
        let mut owners = Vec::new();
        let mut changes = Vec::new();
        for (i, rounds) in &mut plans {
            if results[*i].is_ok() {
                for change in std::mem::take(&mut rounds.rounds[round]) {
                    owners.push(*i);
                    changes.push(change);
                }
            }
        }
        if changes.is_empty() {
            continue;
        }
        for ((i, change), result) in owners
            .into_iter()
            .zip(&changes)
            .zip(nl.change_routing(&changes))
        {
            match (&mut results[i], result) {
                (Ok(done), Ok(())) => done.push(change.to_string()),
                (slot @ Ok(_), Err(e)) => *slot = Err(e),
                (Err(_), _) => {} // the first error of this VIP is kept
            }
        }
    }
    for i in 0..wanted.len() {
        let f = first.get(&wanted[i].0).copied().unwrap_or(i);
        if f != i {
            results[i] = results[f].clone();
        }
    }
    results
}

/// IPv6 only: after the routes round, when a table gained a route it
/// lacked, the kernel's cached routes are dropped once for the batch, by a
/// second copy of one such VIP's rule, deleted right after (every rule
/// change bumps every FIB6 node's serial number).
///
/// A route added to one IPv6 table invalidates only the cached routes of
/// that table (the nodes on its path); while the VIP's rule looked up the
/// table without the route, the VIP's traffic fell through to `main`, and
/// a socket that sent meanwhile keeps `main`'s route, through the adapter
/// that lost its cable, until TCP gives up on it (three retransmission
/// timeouts, some 3 s: docs/linux-backend.md, "A table that gains a
/// route"). IPv4 needs none of this: every FIB insert flushes its cache.
/// A failure is the VIP's error; a copy left behind (a crash between the
/// two) is deleted by the next settle.
fn refresh_cached_routes(
    nl: &Netlink,
    plans: &[(usize, Rounds)],
    results: &mut [Result<Vec<String>, KernelError>],
) {
    let Some((i, rule)) = plans
        .iter()
        .filter(|(i, _)| results[*i].is_ok())
        .find_map(|(i, rounds)| rounds.refresh.map(|rule| (*i, rule)))
    else {
        return;
    };
    let changes = [
        RoutingChange::CopyRule(rule),
        RoutingChange::DeleteRule(rule),
    ];
    for result in nl.change_routing(&changes) {
        if let (Ok(_), Err(e)) = (&results[i], result) {
            results[i] = Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    //! In a fresh network namespace each (never the host's rules).

    use super::*;
    use crate::net::AddOptions;
    use crate::net::linux::netlink::test_support::{addr, in_netns, v4, veth_up};

    /// ipkit's rules and the routes of ipkit's tables, as the kernel has them.
    fn installed(nl: &Netlink) -> (Vec<SourceRule>, Vec<TableRoute>) {
        let rules = nl
            .rules(Family::V4)
            .expect("rules")
            .iter()
            .filter_map(SourceRule::from_record)
            .filter(|r| r.protocol == plan::PROTOCOL)
            .collect();
        let routes = nl
            .all_routes(Family::V4)
            .expect("routes")
            .iter()
            .filter_map(TableRoute::from_record)
            .filter(|r| plan::is_ipkit_table(r.table))
            .collect();
        (rules, routes)
    }

    fn follow(holder: Option<u32>, priority: Option<u32>) -> Aim {
        Aim::Follow(Target { holder, priority })
    }

    /// The interface indices of the veth pair "a" and "b".
    fn veth_indices(nl: &Netlink) -> (u32, u32) {
        let index = |name: &str| nl.link_by_name(name).expect("lookup").expect(name).index;
        (index("a"), index("b"))
    }

    #[test]
    fn a_batch_installs_repoints_and_releases_every_vip() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            let _admin = veth_up();
            let (a, b) = veth_indices(&nl);
            let opts = AddOptions::default();
            nl.add_address(a, &addr("198.51.100.1/24"), opts)
                .expect("a");
            nl.add_address(b, &addr("198.51.100.2/24"), opts)
                .expect("b");
            let ips: Vec<IpAddr> = (10..16).map(|i| v4(&format!("198.51.100.{i}"))).collect();
            for ip in &ips {
                nl.add_address(a, &addr(&format!("{ip}/24")), opts)
                    .expect("vip");
            }
            let addrs = nl.addresses(None).expect("addresses");
            let settle = |aim: &dyn Fn(IpAddr) -> Aim| -> Vec<Vec<String>> {
                let mut wanted: Vec<(IpAddr, Aim)> = ips.iter().map(|ip| (*ip, aim(*ip))).collect();
                // An address given twice is settled once.
                wanted.push((ips[0], aim(ips[0])));
                let results = settle_all(&nl, &wanted, &addrs);
                assert_eq!(results.len(), ips.len() + 1);
                let results: Vec<Vec<String>> =
                    results.into_iter().map(|r| r.expect("settled")).collect();
                assert_eq!(results[0], results[ips.len()]);
                results
            };

            // Installed: a rule and a table each, the subnet through a.
            let results = settle(&|_| follow(Some(a), Some(32000)));
            assert!(results.iter().all(|r| r.len() == 2), "{results:?}");
            let (rules, routes) = installed(&nl);
            let mut tables: Vec<u32> = rules.iter().map(|r| r.table).collect();
            tables.sort_unstable();
            tables.dedup();
            assert_eq!((rules.len(), tables.len(), routes.len()), (6, 6, 6));
            assert!(
                routes
                    .iter()
                    .all(|r| r.oif == a && tables.contains(&r.table))
            );
            // In place: nothing to do.
            assert!(
                settle(&|_| follow(Some(a), Some(32000)))
                    .iter()
                    .all(Vec::is_empty)
            );

            // Re-pointed: the same rules and tables, one route replaced each.
            let results = settle(&|_| follow(Some(b), None));
            assert!(
                results
                    .iter()
                    .all(|r| r.len() == 1 && r[0].starts_with("route ")),
                "{results:?}"
            );
            let (after, routes) = installed(&nl);
            assert_eq!(after, rules);
            assert!(routes.iter().all(|r| r.oif == b) && routes.len() == 6);
            // Settling keeps the adapter the table uses while it holds the
            // address (both do here).
            let both = |_| Aim::Settle {
                holders: vec![a, b],
                priority: 32000,
            };
            assert!(settle(&both).iter().all(Vec::is_empty));

            // A new priority: the new rule added, the old one deleted, the
            // table kept.
            let results = settle(&|_| follow(Some(b), Some(31000)));
            assert!(results.iter().all(|r| r.len() == 2), "{results:?}");
            let (moved, _) = installed(&nl);
            assert!(moved.iter().all(|r| r.priority == 31000));
            assert_eq!(
                moved.iter().map(|r| r.table).collect::<Vec<_>>(),
                rules.iter().map(|r| r.table).collect::<Vec<_>>()
            );

            // A second copy of a rule (a crash inside the IPv6 refresh)
            // goes at the next settle; the first stays.
            let first = *moved.iter().find(|r| r.source == ips[0]).expect("rule");
            nl.change_routing(&[RoutingChange::CopyRule(first)])
                .into_iter()
                .for_each(|r| r.expect("copy"));
            assert_eq!(installed(&nl).0.len(), 7);
            let results = settle(&|_| follow(Some(b), Some(31000)));
            assert_eq!(results[0], vec![format!("deleted {first}")]);
            assert!(results[1..ips.len()].iter().all(Vec::is_empty));
            let sorted = |mut rules: Vec<SourceRule>| {
                rules.sort_by_key(|r| (r.source, r.table));
                rules
            };
            assert_eq!(sorted(installed(&nl).0), sorted(moved.clone()));

            // Released: the routes and the rules go.
            let results = settle(&|_| follow(None, None));
            assert!(results.iter().all(|r| r.len() == 2), "{results:?}");
            assert_eq!(installed(&nl), (vec![], vec![]));
        });
    }

    /// IPv6: a new rule's table gains its routes, so the settle refreshes
    /// the cached routes with a copy of the rule, deleted at once: one
    /// rule stays, and the copy is not reported as a change.
    #[test]
    fn an_ipv6_install_leaves_one_rule_after_its_refresh() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            let _admin = veth_up();
            let (a, b) = veth_indices(&nl);
            let opts = AddOptions::default();
            for (index, address) in [
                (a, "2001:db8:1::1/64"),
                (b, "2001:db8:1::2/64"),
                (a, "2001:db8:1::10/64"),
            ] {
                nl.add_address(index, &addr(address), opts).expect(address);
            }
            let ip: IpAddr = "2001:db8:1::10".parse().expect("ip");
            let addrs = nl.addresses(None).expect("addresses");
            let ours = || plan::rules_for(&nl.rules(Family::V6).expect("rules"), ip);
            for (holder, changes) in [(a, 2), (b, 1)] {
                let results = settle_all(&nl, &[(ip, follow(Some(holder), Some(32000)))], &addrs);
                let done = results[0].clone().expect("settled");
                assert_eq!(done.len(), changes, "{done:?}");
                assert!(done.iter().all(|d| !d.starts_with("copied")), "{done:?}");
                assert_eq!(ours().len(), 1, "{:?}", ours());
            }
        });
    }
}
