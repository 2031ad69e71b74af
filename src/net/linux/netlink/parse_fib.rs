//! Bounds-checked decoding of policy rules (`RTM_NEWRULE`) and routes (`RTM_NEWROUTE`), the records of ipkit's source routing.
//!
//! Same discipline as [`super::parse`]: every length is checked before it
//! is read, anything malformed is a [`ParseError`], nothing panics. Layouts
//! are `struct fib_rule_hdr` (`linux/fib_rules.h`) and `struct rtmsg`
//! (`linux/rtnetlink.h`), both 12 bytes, in native byte order.

use std::net::IpAddr;

use super::parse::{AF_INET, AF_INET6, ParseError, after_header, ip_from, u32_at};

// Message types (linux/rtnetlink.h).
pub(super) const RTM_NEWROUTE: u16 = 24;
pub(super) const RTM_NEWRULE: u16 = 32;
// Rule attributes (linux/fib_rules.h).
const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_TABLE: u16 = 15;
const FRA_OIFNAME: u16 = 17;
const FRA_PROTOCOL: u16 = 21;
// Route attributes (linux/rtnetlink.h).
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_MULTIPATH: u16 = 9;
const RTA_TABLE: u16 = 15;
/// `FR_ACT_TO_TBL`: the rule looks a table up.
pub(super) const FR_ACT_TO_TBL: u8 = 1;
/// `RTN_UNICAST`.
pub(super) const RTN_UNICAST: u8 = 1;
const RULE_HEADER_LEN: usize = 12;
const ROUTE_HEADER_LEN: usize = 12;

/// One policy rule, as far as ipkit needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRecord {
    pub v6: bool,
    pub priority: u32,
    /// `from` address and prefix length; `None` for "from all".
    pub source: Option<(IpAddr, u8)>,
    /// The table looked up (`FRA_TABLE` wins over the header's 8 bits).
    pub table: u32,
    /// `FR_ACT_*` (1: look a table up).
    pub action: u8,
    /// `FRA_PROTOCOL`: who installed it (0 when the kernel does not say).
    pub protocol: u8,
    /// Any selector besides `from`: `to`, `iif`, `oif`, `fwmark`, `tos`.
    pub other_selectors: bool,
}

impl RuleRecord {
    /// Does the rule look a table up (`FR_ACT_TO_TBL`)?
    pub fn looks_up_a_table(&self) -> bool {
        self.action == FR_ACT_TO_TBL
    }
}

/// One route of a routing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRecord {
    pub v6: bool,
    pub table: u32,
    /// Destination and prefix length (the unspecified address for a
    /// default route).
    pub destination: IpAddr,
    pub prefix: u8,
    pub protocol: u8,
    /// `RTN_*` (1: unicast).
    pub kind: u8,
    pub oif: Option<u32>,
    pub gateway: Option<IpAddr>,
    /// `RTA_PRIORITY`: the metric (0 when absent).
    pub metric: u32,
    /// `RTA_MULTIPATH`: several next hops (ipkit does not copy these).
    pub multipath: bool,
}

fn family_v6(family: u8) -> Option<bool> {
    match family {
        AF_INET => Some(false),
        AF_INET6 => Some(true),
        _ => None,
    }
}

fn unspecified(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    }
}

/// A `u32` attribute value (exactly 4 bytes).
fn u32_value(what: &str, value: &[u8]) -> Result<u32, ParseError> {
    match (value.len(), u32_at(value, 0)) {
        (4, Some(v)) => Ok(v),
        (n, _) => Err(ParseError(format!("{what}: {n} bytes, need 4"))),
    }
}

/// An address attribute of the message's family.
fn address_value(what: &str, value: &[u8], v6: bool) -> Result<IpAddr, ParseError> {
    match ip_from(value) {
        Some(ip) if ip.is_ipv6() == v6 => Ok(ip),
        _ => Err(ParseError(format!(
            "{what}: {} bytes is no {} address",
            value.len(),
            if v6 { "IPv6" } else { "IPv4" }
        ))),
    }
}

/// Decodes an `RTM_NEWRULE`; `None` for families other than IPv4 / IPv6.
pub fn parse_rule(payload: &[u8]) -> Result<Option<RuleRecord>, ParseError> {
    let attributes = after_header("rule message", payload, RULE_HEADER_LEN)?;
    let byte = |at: usize| payload.get(at).copied().unwrap_or_default();
    let Some(v6) = family_v6(byte(0)) else {
        return Ok(None);
    };
    let (dst_len, src_len, tos) = (byte(1), byte(2), byte(3));
    let mut rule = RuleRecord {
        v6,
        priority: 0,
        source: None,
        table: u32::from(byte(4)),
        action: byte(7),
        protocol: 0,
        other_selectors: dst_len != 0 || tos != 0,
    };
    for attribute in attributes {
        let (kind, value) = attribute?;
        match kind {
            FRA_SRC => rule.source = Some((address_value("FRA_SRC", value, v6)?, src_len)),
            FRA_PRIORITY => rule.priority = u32_value("FRA_PRIORITY", value)?,
            FRA_TABLE => rule.table = u32_value("FRA_TABLE", value)?,
            FRA_PROTOCOL => rule.protocol = value.first().copied().unwrap_or_default(),
            FRA_DST | FRA_IIFNAME | FRA_OIFNAME | FRA_FWMARK => rule.other_selectors = true,
            _ => {}
        }
    }
    Ok(Some(rule))
}

/// Decodes an `RTM_NEWROUTE`; `None` for families other than IPv4 / IPv6.
pub fn parse_route(payload: &[u8]) -> Result<Option<RouteRecord>, ParseError> {
    let attributes = after_header("route message", payload, ROUTE_HEADER_LEN)?;
    let byte = |at: usize| payload.get(at).copied().unwrap_or_default();
    let Some(v6) = family_v6(byte(0)) else {
        return Ok(None);
    };
    let mut route = RouteRecord {
        v6,
        table: u32::from(byte(4)),
        destination: unspecified(v6),
        prefix: byte(1),
        protocol: byte(5),
        kind: byte(7),
        oif: None,
        gateway: None,
        metric: 0,
        multipath: false,
    };
    for attribute in attributes {
        let (kind, value) = attribute?;
        match kind {
            RTA_DST => route.destination = address_value("RTA_DST", value, v6)?,
            RTA_OIF => route.oif = Some(u32_value("RTA_OIF", value)?),
            RTA_GATEWAY => route.gateway = Some(address_value("RTA_GATEWAY", value, v6)?),
            RTA_PRIORITY => route.metric = u32_value("RTA_PRIORITY", value)?,
            RTA_TABLE => route.table = u32_value("RTA_TABLE", value)?,
            RTA_MULTIPATH => route.multipath = true,
            _ => {}
        }
    }
    Ok(Some(route))
}

#[cfg(test)]
mod tests {
    //! Fixtures are cross-checked against messages emitted by
    //! netlink-packet-route, then truncated and corrupted.

    use super::*;
    use netlink_packet_core::Emitable;
    use netlink_packet_route::AddressFamily;
    use netlink_packet_route::route::{
        RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteType,
    };
    use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};

    fn emitted(message: &impl Emitable) -> Vec<u8> {
        let mut bytes = vec![0; message.buffer_len()];
        message.emit(&mut bytes);
        bytes
    }

    fn source_rule() -> Vec<u8> {
        let mut rule = RuleMessage::default();
        rule.header.family = AddressFamily::Inet;
        rule.header.src_len = 32;
        rule.header.action = RuleAction::ToTable;
        rule.attributes.extend([
            RuleAttribute::Source("198.51.100.10".parse().expect("ip")),
            RuleAttribute::Priority(32000),
            RuleAttribute::Table(0x6970_0001),
            RuleAttribute::Protocol(RouteProtocol::Other(105)),
        ]);
        emitted(&rule)
    }

    fn gateway_route() -> Vec<u8> {
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet6;
        route.header.destination_prefix_length = 48;
        route.header.table = 254;
        route.header.protocol = RouteProtocol::Static;
        route.header.kind = RouteType::Unicast;
        let dst: std::net::Ipv6Addr = "2001:db8:9::".parse().expect("ip");
        let gw: std::net::Ipv6Addr = "2001:db8:1::1".parse().expect("ip");
        route.attributes.extend([
            RouteAttribute::Destination(RouteAddress::Inet6(dst)),
            RouteAttribute::Gateway(RouteAddress::Inet6(gw)),
            RouteAttribute::Oif(3),
            RouteAttribute::Priority(1024),
        ]);
        emitted(&route)
    }

    #[test]
    fn a_source_rule_gives_priority_source_table_and_protocol() {
        let rule = parse_rule(&source_rule()).expect("parse").expect("IPv4");
        assert_eq!(
            rule,
            RuleRecord {
                v6: false,
                priority: 32000,
                source: Some(("198.51.100.10".parse().expect("ip"), 32)),
                table: 0x6970_0001,
                action: FR_ACT_TO_TBL,
                protocol: 105,
                other_selectors: false,
            }
        );
        let mut with_fwmark = RuleMessage::default();
        with_fwmark.header.family = AddressFamily::Inet6;
        with_fwmark.attributes.push(RuleAttribute::FwMark(7));
        let rule = parse_rule(&emitted(&with_fwmark))
            .expect("parse")
            .expect("IPv6");
        assert!(rule.v6 && rule.other_selectors && rule.source.is_none());
    }

    #[test]
    fn a_route_gives_destination_gateway_device_metric_and_table() {
        let route = parse_route(&gateway_route()).expect("parse").expect("IPv6");
        assert_eq!(
            route,
            RouteRecord {
                v6: true,
                table: 254,
                destination: "2001:db8:9::".parse().expect("ip"),
                prefix: 48,
                protocol: 4,
                kind: RTN_UNICAST,
                oif: Some(3),
                gateway: Some("2001:db8:1::1".parse().expect("ip")),
                metric: 1024,
                multipath: false,
            }
        );
    }

    #[test]
    fn wrong_sizes_are_errors_and_other_families_are_skipped() {
        // A gateway of the wrong family, a 2-byte table.
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route
            .attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet6(
                std::net::Ipv6Addr::LOCALHOST,
            )));
        assert!(parse_route(&emitted(&route)).is_err());
        let mut rule = source_rule();
        rule[0] = 7; // AF_BRIDGE-ish: not ours
        assert_eq!(parse_rule(&rule), Ok(None));
        assert!(parse_rule(&[AF_INET; RULE_HEADER_LEN - 1]).is_err());
        assert!(parse_route(&[AF_INET6; ROUTE_HEADER_LEN - 1]).is_err());
    }

    #[test]
    fn every_truncation_and_corruption_is_survived() {
        let mut state: u32 = 0x9e37_79b9;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state >> 24
        };
        for input in [source_rule(), gateway_route()] {
            for end in 0..=input.len() {
                let _ = parse_rule(&input[..end]);
                let _ = parse_route(&input[..end]);
            }
            for _ in 0..500 {
                let mut bytes = input.clone();
                let at = next() as usize % bytes.len();
                bytes[at] = next() as u8;
                let _ = parse_rule(&bytes);
                let _ = parse_route(&bytes);
            }
        }
    }
}
