//! Policy rule operations on a [`Netlink`] socket: dump, add and delete `from ADDRESS lookup TABLE` rules (ipkit's source routing).

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::parse_fib::{self, RTM_NEWRULE, RuleRecord};
use super::route::Family;
use super::socket::{ExchangeError, Netlink};
use crate::net::{KernelError, KernelOp};

/// A `from SOURCE/len lookup TABLE priority P protocol N` rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRule {
    pub source: IpAddr,
    pub prefix: u8,
    pub table: u32,
    pub priority: u32,
    pub protocol: u8,
}

impl SourceRule {
    fn message(&self) -> RuleMessage {
        let mut message = RuleMessage::default();
        message.header.family = Family::address_family(Some(Family::of(self.source)));
        message.header.src_len = self.prefix;
        message.header.action = RuleAction::ToTable;
        // The header's 8-bit table stays 0 (RT_TABLE_UNSPEC): FRA_TABLE
        // carries all 32 bits.
        message.attributes.extend([
            RuleAttribute::Source(self.source),
            RuleAttribute::Priority(self.priority),
            RuleAttribute::Table(self.table),
            RuleAttribute::Protocol(RouteProtocol::from(self.protocol)),
        ]);
        message
    }

    /// The rule as a dump reports it, if it is a plain source rule.
    pub fn from_record(r: &RuleRecord) -> Option<SourceRule> {
        let (source, prefix) = r.source?;
        (r.action == parse_fib::FR_ACT_TO_TBL && !r.other_selectors).then_some(SourceRule {
            source,
            prefix,
            table: r.table,
            priority: r.priority,
            protocol: r.protocol,
        })
    }
}

impl std::fmt::Display for SourceRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rule {} from {}/{} lookup {} proto {}",
            self.priority, self.source, self.prefix, self.table, self.protocol
        )
    }
}

impl Netlink {
    /// Every policy rule of `family`.
    pub fn rules(&self, family: Family) -> Result<Vec<RuleRecord>, KernelError> {
        let mut message = RuleMessage::default();
        message.header.family = match family {
            Family::V4 => AddressFamily::Inet,
            Family::V6 => AddressFamily::Inet6,
        };
        self.dump(
            RouteNetlinkMessage::GetRule(message),
            RTM_NEWRULE,
            KernelOp::Rule,
            parse_fib::parse_rule,
        )
    }

    /// Add `rule`; an identical rule already there (EEXIST) counts as done.
    pub fn add_rule(&self, rule: &SourceRule) -> Result<(), KernelError> {
        match self.ack(
            RouteNetlinkMessage::NewRule(rule.message()),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(()) | Err(ExchangeError::Errno(libc::EEXIST)) => Ok(()),
            Err(e) => Err(e.into_kernel(KernelOp::Rule, Some(format!("add {rule}")))),
        }
    }

    /// Delete exactly `rule` (every field must match); a rule already gone
    /// (ENOENT) counts as done.
    pub fn delete_rule(&self, rule: &SourceRule) -> Result<(), KernelError> {
        match self.ack(RouteNetlinkMessage::DelRule(rule.message()), 0) {
            Ok(()) | Err(ExchangeError::Errno(libc::ENOENT)) => Ok(()),
            Err(e) => Err(e.into_kernel(KernelOp::Rule, Some(format!("delete {rule}")))),
        }
    }
}

#[cfg(test)]
mod tests {
    //! In a fresh network namespace each (never the host's rules).

    use super::*;
    use crate::net::linux::netlink::test_support::{in_netns, v4};

    #[test]
    fn rules_are_added_found_and_deleted_idempotently() {
        in_netns(|| {
            let nl = Netlink::open().expect("open");
            for (source, prefix) in [
                (v4("198.51.100.10"), 32),
                ("2001:db8:1::10".parse().expect("ip"), 128),
            ] {
                let rule = SourceRule {
                    source,
                    prefix,
                    table: 0x6970_0001,
                    priority: 32000,
                    protocol: 0x69,
                };
                let family = Family::of(source);
                let ours = |nl: &Netlink| -> Vec<SourceRule> {
                    nl.rules(family)
                        .expect("dump")
                        .iter()
                        .filter_map(SourceRule::from_record)
                        .filter(|r| r.protocol == 0x69)
                        .collect()
                };
                assert!(ours(&nl).is_empty());
                nl.add_rule(&rule).expect("add");
                nl.add_rule(&rule)
                    .expect("the same rule again is EEXIST = ok");
                assert_eq!(ours(&nl), vec![rule]);
                // The kernel's own rules (local, main, ...) are there, not ours.
                assert!(
                    nl.rules(family)
                        .expect("dump")
                        .iter()
                        .any(|r| r.table == 254)
                );
                nl.delete_rule(&rule).expect("delete");
                nl.delete_rule(&rule)
                    .expect("deleting it again is ENOENT = ok");
                assert!(ours(&nl).is_empty());
            }
        });
    }
}
