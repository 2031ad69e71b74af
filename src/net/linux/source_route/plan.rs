//! ipkit's source routing, planned without a socket: which routes a VIP's table holds, which table it gets, which rules are ipkit's.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::net::linux::netlink::{AddrRecord, RouteRecord, RuleRecord, SourceRule, TableRoute};

/// The `protocol` value (RTPROT number) of every rule and route ipkit
/// installs, so that they can be found after a crash ("ipkit" starts with
/// 0x69, which no registered routing daemon uses).
pub const PROTOCOL: u8 = 0x69;
/// ipkit's tables: `TABLE_FIRST .. TABLE_FIRST + TABLE_COUNT`.
pub const TABLE_FIRST: u32 = 0x6970_0000;
pub const TABLE_COUNT: u32 = 1 << 20;
/// What IPv6 stores for a route given metric 0 (`IP6_RT_PRIO_USER`).
const IPV6_DEFAULT_METRIC: u32 = 1024;

fn host_len(ip: IpAddr) -> u8 {
    if ip.is_ipv4() { 32 } else { 128 }
}

/// `ip` with every bit past `prefix` cleared.
pub fn network(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6((bits & mask).into())
        }
    }
}

fn contains(subnet: (IpAddr, u8), ip: IpAddr) -> bool {
    subnet.0.is_ipv4() == ip.is_ipv4() && network(ip, subnet.1) == subnet.0
}

fn is_link_local_v6(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// ipkit's rules for `ip` (a host-length `from`), in dump order.
pub fn rules_for(rules: &[RuleRecord], ip: IpAddr) -> Vec<SourceRule> {
    rules
        .iter()
        .filter_map(SourceRule::from_record)
        .filter(|r| r.protocol == PROTOCOL && r.source == ip && r.prefix == host_len(ip))
        .collect()
}

/// The rule that sends traffic from `ip` to `table`.
pub fn rule(ip: IpAddr, table: u32, priority: u32) -> SourceRule {
    SourceRule {
        source: ip,
        prefix: host_len(ip),
        table,
        priority,
        protocol: PROTOCOL,
    }
}

/// The subnets connected on `holder` that contain `ip` (from the
/// addresses of `holder`, the VIP's own included), host routes left out.
pub fn subnets(ip: IpAddr, holder: u32, addrs: &[AddrRecord]) -> Vec<(IpAddr, u8)> {
    let mut out: Vec<(IpAddr, u8)> = addrs
        .iter()
        .filter(|a| a.ifindex == holder && a.prefix < host_len(a.ip))
        .map(|a| (network(a.ip, a.prefix), a.prefix))
        .filter(|s| contains(*s, ip))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The routes of the table of `ip` while `holder` holds it:
/// - each subnet of [`subnets`] through `holder`;
/// - each single-path unicast route of `main` whose gateway lies in one
///   of those subnets (for IPv6 also a link-local gateway reached through
///   an adapter with an address in one of them: the same LAN), re-pointed
///   to `holder` with its destination, gateway and metric.
///
/// Everything else is left out, so that destinations outside them fall
/// through to the rules after ipkit's (the operator's and `main`).
pub fn desired_routes(
    ip: IpAddr,
    holder: u32,
    table: u32,
    addrs: &[AddrRecord],
    main: &[RouteRecord],
) -> Vec<TableRoute> {
    let subnets = subnets(ip, holder, addrs);
    let on_lan: BTreeSet<u32> = addrs
        .iter()
        .filter(|a| subnets.iter().any(|s| contains(*s, a.ip)))
        .map(|a| a.ifindex)
        .collect();
    let subnet_metric = if ip.is_ipv4() { 0 } else { IPV6_DEFAULT_METRIC };
    let mut out: Vec<TableRoute> = subnets
        .iter()
        .map(|&(destination, prefix)| TableRoute {
            table,
            destination,
            prefix,
            oif: holder,
            gateway: None,
            metric: subnet_metric,
            protocol: PROTOCOL,
        })
        .collect();
    for r in main.iter().filter_map(TableRoute::from_record) {
        let Some(gateway) = r.gateway else { continue };
        if gateway.is_ipv4() != ip.is_ipv4() {
            continue;
        }
        let reachable = subnets.iter().any(|s| contains(*s, gateway))
            || (is_link_local_v6(gateway) && on_lan.contains(&r.oif));
        let copy = TableRoute {
            table,
            oif: holder,
            protocol: PROTOCOL,
            ..r
        };
        if reachable && !out.iter().any(|o| o.key() == copy.key()) {
            out.push(copy);
        }
    }
    out
}

/// FNV-1a over the address's bytes: where the search for a free table
/// starts, so that different VIPs rarely even look at the same table.
fn table_hash(ip: IpAddr) -> u32 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// ipkit's tables in the order `ip` tries them.
pub fn table_candidates(ip: IpAddr) -> impl Iterator<Item = u32> {
    let start = table_hash(ip) % TABLE_COUNT;
    (0..TABLE_COUNT).map(move |i| TABLE_FIRST + (start + i) % TABLE_COUNT)
}

/// Is `table` one of ipkit's?
pub fn is_ipkit_table(table: u32) -> bool {
    (TABLE_FIRST..TABLE_FIRST + TABLE_COUNT).contains(&table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    fn address(ifindex: u32, s: &str, prefix: u8) -> AddrRecord {
        AddrRecord {
            ifindex,
            ip: ip(s),
            prefix,
            tentative: false,
            dadfailed: false,
        }
    }

    fn main_route(
        dst: &str,
        prefix: u8,
        gateway: Option<&str>,
        oif: u32,
        metric: u32,
    ) -> RouteRecord {
        RouteRecord {
            v6: ip(dst).is_ipv6(),
            table: 254,
            destination: ip(dst),
            prefix,
            protocol: 4,
            kind: 1,
            oif: Some(oif),
            gateway: gateway.map(ip),
            metric,
            multipath: false,
        }
    }

    #[test]
    fn networks_clear_the_host_bits() {
        assert_eq!(network(ip("198.51.100.77"), 24), ip("198.51.100.0"));
        assert_eq!(network(ip("198.51.100.77"), 32), ip("198.51.100.77"));
        assert_eq!(network(ip("198.51.100.77"), 0), ip("0.0.0.0"));
        assert_eq!(network(ip("2001:db8:1::10"), 64), ip("2001:db8:1::"));
        assert_eq!(network(ip("2001:db8:1::10"), 0), ip("::"));
    }

    #[test]
    fn the_table_holds_the_subnet_and_the_gateways_in_it_through_the_holder() {
        // eth0 (2) and eth1 (3) both have a base address in the VIP's /24;
        // the VIP is on eth1 now. eth2 (4) is another network.
        let addrs = [
            address(2, "198.51.100.1", 24),
            address(3, "198.51.100.2", 24),
            address(3, "198.51.100.10", 24),
            address(4, "203.0.113.5", 24),
        ];
        let main = [
            main_route("198.51.100.0", 24, None, 2, 0),
            main_route("0.0.0.0", 0, Some("198.51.100.254"), 2, 0),
            main_route("203.0.113.128", 25, Some("198.51.100.253"), 2, 10),
            // Through another network: not ipkit's business.
            main_route("192.0.2.0", 24, Some("203.0.113.1"), 4, 0),
        ];
        let t = TABLE_FIRST + 5;
        let routes = desired_routes(ip("198.51.100.10"), 3, t, &addrs, &main);
        let shown: Vec<String> = routes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                format!("198.51.100.0/24 ifindex 3 metric 0 table {t}"),
                format!("0.0.0.0/0 via 198.51.100.254 ifindex 3 metric 0 table {t}"),
                format!("203.0.113.128/25 via 198.51.100.253 ifindex 3 metric 10 table {t}"),
            ]
        );
        assert!(routes.iter().all(|r| r.protocol == PROTOCOL));
        // Another holder, the same routes through it.
        let on_eth0 = desired_routes(ip("198.51.100.10"), 2, t, &addrs, &main);
        assert_eq!(on_eth0.len(), 3);
        assert!(on_eth0.iter().all(|r| r.oif == 2));
    }

    #[test]
    fn a_host_length_vip_uses_the_base_address_subnet_and_ipv6_link_local_gateways_count() {
        let addrs = [
            address(2, "2001:db8:1::1", 64),
            address(3, "2001:db8:1::2", 64),
            address(3, "2001:db8:1::10", 128),
            address(3, "fe80::2", 64),
        ];
        let main = [
            main_route("::", 0, Some("fe80::1"), 2, 1024),
            // A link-local gateway on an adapter off the VIP's LAN.
            main_route("2001:db8:9::", 48, Some("fe80::9"), 7, 1024),
        ];
        let routes = desired_routes(ip("2001:db8:1::10"), 3, TABLE_FIRST, &addrs, &main);
        let shown: Vec<String> = routes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                format!("2001:db8:1::/64 ifindex 3 metric 1024 table {TABLE_FIRST}"),
                format!("::/0 via fe80::1 ifindex 3 metric 1024 table {TABLE_FIRST}"),
            ]
        );
        // Nothing connected around the VIP: nothing to route.
        assert!(
            desired_routes(
                ip("198.51.100.10"),
                3,
                TABLE_FIRST,
                &[address(3, "198.51.100.10", 32)],
                &[]
            )
            .is_empty()
        );
    }

    #[test]
    fn only_ipkit_rules_for_the_address_are_ipkit_rules() {
        let record = |source: &str, prefix: u8, protocol: u8| RuleRecord {
            v6: false,
            priority: 32000,
            source: Some((ip(source), prefix)),
            table: TABLE_FIRST,
            action: 1,
            protocol,
            other_selectors: false,
        };
        let rules = [
            record("198.51.100.10", 32, PROTOCOL),
            record("198.51.100.10", 32, 4),
            record("198.51.100.10", 24, PROTOCOL),
            record("198.51.100.11", 32, PROTOCOL),
        ];
        assert_eq!(
            rules_for(&rules, ip("198.51.100.10")),
            vec![rule(ip("198.51.100.10"), TABLE_FIRST, 32000)]
        );
    }

    #[test]
    fn table_candidates_stay_in_ipkits_range_and_differ_by_address() {
        let a: Vec<u32> = table_candidates(ip("198.51.100.10")).take(3).collect();
        let b: Vec<u32> = table_candidates(ip("198.51.100.11")).take(3).collect();
        assert_ne!(a[0], b[0]);
        assert!(a.iter().chain(&b).all(|t| is_ipkit_table(*t)));
        assert_eq!(
            a[1],
            if a[0] + 1 == TABLE_FIRST + TABLE_COUNT {
                TABLE_FIRST
            } else {
                a[0] + 1
            }
        );
        assert!(!is_ipkit_table(254) && !is_ipkit_table(TABLE_FIRST + TABLE_COUNT));
    }
}
