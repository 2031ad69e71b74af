//! The doctor's checks, pure functions of the [`NodeFacts`]: the node's first, then each resource's in tag order.
//!
//! One file per concern: [`definitions`] (readable, unique addresses),
//! [`capabilities`], [`cluster_ring`] (Corosync), [`adapters`] (exist, up,
//! same segment), [`arp`] (ARP flux), [`addresses`] (secondary
//! promotion, IPv6 enabled), [`rp_filter`], [`routing`] (routes through a
//! dead adapter; the hook for ipkit's own routing, issue 11).

use std::net::IpAddr;

use super::facts::NodeFacts;
use super::finding::Finding;
use crate::net::NodeSnapshot;
use crate::resource::{AdapterName, Definition};

pub mod adapters;
pub mod addresses;
pub mod arp;
pub mod capabilities;
pub mod cluster_ring;
pub mod definitions;
pub mod routing;
pub mod rp_filter;

#[cfg(test)]
pub(crate) mod testing;

/// Every finding, node-wide ones first, then each resource's.
pub fn diagnose(facts: &NodeFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Err(why) = &facts.node {
        out.push(
            Finding::error(
                super::FindingId::KernelReadable,
                format!("could not read this node's links and addresses: {why}"),
            )
            .fix("run `ipkit doctor` as root, on the node itself"),
        );
    }
    definitions::check(facts, &mut out);
    capabilities::check(facts, &mut out);
    cluster_ring::check(facts, &mut out);
    let mut defs: Vec<&Definition> = facts.definitions.iter().collect();
    defs.sort_by(|a, b| a.tag.cmp(&b.tag));
    for def in defs {
        adapters::check(facts, def, &mut out);
        arp::check(facts, def, &mut out);
        addresses::check(facts, def, &mut out);
        rp_filter::check(facts, def, &mut out);
        routing::check(facts, def, &mut out);
    }
    out
}

/// The adapters the address may be on: the primary, then the recovery
/// adapter if one is defined.
pub fn resource_adapters(def: &Definition) -> Vec<&AdapterName> {
    std::iter::once(&def.adapter)
        .chain(def.recovery_adapter.as_ref())
        .collect()
}

/// Does the address move between two adapters (SPEC §4 recover: local
/// recovery onto a recovery adapter)?
pub fn moves_between_adapters(def: &Definition) -> bool {
    def.local_recovery && def.recovery_adapter.is_some()
}

/// Is `ip` in the network `network`/`prefix` (same family)?
pub fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let bits = u32::from(prefix.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let bits = u32::from(prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// `198.51.100.0/24`: the network of `ip`/`prefix`.
pub fn network_text(ip: IpAddr, prefix: u8) -> String {
    let network = match ip {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    format!("{network}/{prefix}")
}

/// The adapters on the address's subnet: the resource's own, and every
/// other adapter that holds an address of that subnet (the address's
/// prefix), in the resource's order then the listing's.
pub fn subnet_adapters(snapshot: &NodeSnapshot, def: &Definition) -> Vec<AdapterName> {
    let (ip, prefix) = (def.address.ip(), def.address.prefix());
    let mut out: Vec<AdapterName> = resource_adapters(def).into_iter().cloned().collect();
    for entry in snapshot.addresses() {
        if !in_network(entry.ip, ip, prefix) {
            continue;
        }
        if let Some(link) = snapshot.link_by_index(entry.ifindex)
            && !out.contains(&link.name)
        {
            out.push(link.name.clone());
        }
    }
    out
}

/// For an IPv4 address: the snapshot and the adapters on its subnet
/// ([`subnet_adapters`]); `None` for IPv6 (no ARP, no `rp_filter`) or
/// when the kernel could not be read.
pub fn ipv4_subnet<'a>(
    facts: &'a NodeFacts,
    def: &Definition,
) -> Option<(&'a NodeSnapshot, Vec<AdapterName>)> {
    if !def.address.is_ipv4() {
        return None;
    }
    let snapshot = facts.snapshot()?;
    Some((snapshot, subnet_adapters(snapshot, def)))
}

/// `eth0`, `eth0 and eth1`, `eth0, eth1 and eth2`.
pub fn names(adapters: &[AdapterName]) -> String {
    let names: Vec<&str> = adapters.iter().map(AdapterName::as_str).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Node;
    use super::*;

    #[test]
    fn networks_compare_under_the_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_network(ip("198.51.100.7"), ip("198.51.100.0"), 24));
        assert!(!in_network(ip("198.51.101.7"), ip("198.51.100.0"), 24));
        assert!(in_network(ip("203.0.113.9"), ip("198.51.100.0"), 0));
        assert!(in_network(ip("2001:db8:1::9"), ip("2001:db8:1::"), 64));
        assert!(!in_network(ip("2001:db8:2::9"), ip("2001:db8:1::"), 64));
        assert!(!in_network(ip("198.51.100.7"), ip("2001:db8:1::"), 0));
        assert_eq!(network_text(ip("198.51.100.7"), 24), "198.51.100.0/24");
        assert_eq!(network_text(ip("2001:db8:1::9"), 64), "2001:db8:1::/64");
        assert_eq!(network_text(ip("198.51.100.7"), 32), "198.51.100.7/32");
    }

    #[test]
    fn the_subnet_has_the_resource_adapters_and_every_holder_of_the_subnet() {
        let node = Node::new()
            .link("eth0")
            .link("eth1")
            .link("eth2")
            .link("eth3")
            .addr("eth2", "198.51.100.3/24")
            .addr("eth3", "203.0.113.3/24");
        let def = node.resource("web", "198.51.100.10/24", "eth0", Some("eth1"));
        let facts = node.facts(vec![def.clone()]);
        let got = subnet_adapters(facts.snapshot().unwrap(), &def);
        assert_eq!(names(&got), "eth0, eth1 and eth2");
    }

    #[test]
    fn an_unreadable_kernel_is_an_error_and_leaves_the_adapter_checks_out() {
        let node = Node::new().recommended().link("eth0").link("eth1");
        let def = node.resource("web", "198.51.100.10/24", "eth0", Some("eth1"));
        let mut facts = node.facts(vec![def]);
        facts.node = Err("dump addresses failed: Operation not permitted (errno 1)".into());
        let found = diagnose(&facts);
        let ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "kernel-readable",
                "unique-address",
                "cap-net-admin",
                "cap-net-raw"
            ]
        );
        assert_eq!(found[0].severity, super::super::Severity::Error);
    }

    #[test]
    fn a_clean_node_reports_only_ok() {
        let node = Node::new()
            .recommended()
            .link("eth0")
            .link("eth1")
            .addr("eth0", "198.51.100.2/24")
            .addr("eth1", "198.51.100.3/24");
        let def = node.resource("web", "198.51.100.10/24", "eth0", Some("eth1"));
        let mut facts = node.facts(vec![def]);
        facts.segments = vec![node.seen("web", "eth1", "eth0")];
        let found = diagnose(&facts);
        let bad: Vec<String> = found
            .iter()
            .filter(|f| f.severity != super::super::Severity::Ok)
            .map(|f| f.to_string())
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
        assert!(found.len() >= 14, "{found:#?}");
    }
}
