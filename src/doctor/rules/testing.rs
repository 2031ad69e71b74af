//! A small builder of node facts for the rules' unit tests.

use crate::doctor::conf::{Conf, Scope, Sysctls};
use crate::doctor::facts::{HostFacts, NodeFacts, SegmentOutcome, SegmentTest};
use crate::doctor::{Capabilities, Finding, FindingId, Severity};
use crate::net::{AddressEntry, LinkStatus, NodeSnapshot, PolicyRule, PolicyRules};
use crate::resource::{AdapterName, Address, Definition, Mac, Tag};

/// Links, addresses and host facts, built up one call at a time.
#[derive(Debug, Clone, Default)]
pub struct Node {
    links: Vec<LinkStatus>,
    addresses: Vec<AddressEntry>,
    explicit: Vec<(Conf, Scope, i64)>,
    recommended: bool,
    pub host: HostFacts,
    /// The policy rules (none read: a platform without them).
    pub routing: PolicyRules,
}

pub fn adapter(name: &str) -> AdapterName {
    AdapterName::new(name).expect("adapter name")
}

/// The value ipkit recommends for each setting (docs/doctor.md).
fn recommended(conf: Conf) -> i64 {
    match conf {
        Conf::ArpIgnore => 1,
        Conf::ArpAnnounce => 2,
        Conf::RpFilter => 2,
        Conf::DisableIpv6 => 0,
        Conf::PromoteSecondaries
        | Conf::IgnoreRoutesWithLinkdownV4
        | Conf::IgnoreRoutesWithLinkdownV6 => 1,
    }
}

impl Node {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every setting of every adapter (and `all`) at the recommended
    /// value unless set otherwise, every capability held.
    pub fn recommended(mut self) -> Self {
        self.recommended = true;
        let all = u64::MAX;
        self.host.capabilities = Some(Capabilities {
            effective: all,
            service_bounding: Some(all),
        });
        self
    }

    /// An adapter, up with carrier.
    pub fn link(mut self, name: &str) -> Self {
        let ifindex = self.links.len() as u32 + 2;
        self.links.push(LinkStatus {
            name: adapter(name),
            ifindex,
            mac: Some(Mac([2, 0, 0, 0, 0, ifindex as u8])),
            admin_up: true,
            carrier: true,
        });
        self
    }

    /// The adapter's cable out (or, with `admin`, the adapter set down).
    pub fn down(mut self, name: &str, admin: bool) -> Self {
        let link = self
            .links
            .iter_mut()
            .find(|l| l.name.as_str() == name)
            .expect("a link of the node");
        if admin {
            link.admin_up = false;
        } else {
            link.carrier = false;
        }
        self
    }

    pub fn addr(mut self, name: &str, address: &str) -> Self {
        let a: Address = address.parse().expect("address");
        let ifindex = self.ifindex(name);
        self.addresses.push(AddressEntry {
            ifindex,
            ip: a.ip(),
            prefix: a.prefix(),
        });
        self
    }

    /// Policy routing in both families, with no rule yet.
    pub fn policy_routing(mut self) -> Self {
        self.routing = PolicyRules {
            v4: Some(Vec::new()),
            v6: Some(Vec::new()),
        };
        self
    }

    /// A rule that is not ipkit's: `from` (`None`: all) at `priority`,
    /// looking up `table`.
    pub fn operator_rule(self, priority: u32, from: Option<&str>, table: u32) -> Self {
        let source = from.map(|f| {
            let (ip, prefix) = f.split_once('/').expect("from: ADDRESS/PREFIX");
            (
                ip.parse().expect("from address"),
                prefix.parse().expect("from prefix"),
            )
        });
        self.rule(PolicyRule {
            priority,
            source,
            table,
            lookup: true,
            other_selectors: false,
            ipkit: false,
            through: None,
        })
    }

    /// ipkit's rule for `address` at `priority`, its table through
    /// `through` (an adapter of the node).
    pub fn ipkit_rule(self, priority: u32, address: &str, through: &str) -> Self {
        let ip: std::net::IpAddr = address.parse().expect("address");
        let ifindex = self.ifindex(through);
        self.rule(PolicyRule {
            priority,
            source: Some((ip, if ip.is_ipv4() { 32 } else { 128 })),
            table: 0x6970_0001,
            lookup: true,
            other_selectors: false,
            ipkit: true,
            through: Some(ifindex),
        })
    }

    fn rule(mut self, rule: PolicyRule) -> Self {
        let family = match rule.source {
            Some((ip, _)) if !ip.is_ipv4() => &mut self.routing.v6,
            _ => &mut self.routing.v4,
        };
        family.get_or_insert_with(Vec::new).push(rule);
        self
    }

    fn ifindex(&self, name: &str) -> u32 {
        self.links
            .iter()
            .find(|l| l.name.as_str() == name)
            .expect("a link of the node")
            .ifindex
    }

    /// One sysctl; `scope` "all" or an adapter.
    pub fn sysctl(mut self, conf: Conf, scope: &str, value: i64) -> Self {
        let scope = match scope {
            "all" => Scope::All,
            name => Scope::Adapter(adapter(name)),
        };
        self.explicit.push((conf, scope, value));
        self
    }

    pub fn resource(
        &self,
        tag: &str,
        address: &str,
        primary: &str,
        recovery: Option<&str>,
    ) -> Definition {
        Definition::new(
            Tag::new(tag).expect("tag"),
            address.parse().expect("address"),
            adapter(primary),
            recovery.map(adapter),
        )
        .expect("definition")
    }

    pub fn sysctls(&self) -> Sysctls {
        let mut s = Sysctls::default();
        if self.recommended {
            for conf in Conf::ALL {
                s.set(conf, Scope::All, recommended(conf));
                for l in &self.links {
                    s.set(conf, Scope::Adapter(l.name.clone()), recommended(conf));
                }
            }
        }
        for (conf, scope, value) in &self.explicit {
            s.set(*conf, scope.clone(), *value);
        }
        s
    }

    pub fn facts(&self, definitions: Vec<Definition>) -> NodeFacts {
        let mut host = self.host.clone();
        host.sysctls = self.sysctls();
        NodeFacts {
            definitions,
            broken_definitions: Vec::new(),
            node: Ok(NodeSnapshot::new(
                self.links.clone(),
                self.addresses.clone(),
            )),
            routing: Ok(self.routing.clone()),
            host,
            segments: Vec::new(),
        }
    }

    pub fn seen(&self, tag: &str, from: &str, to: &str) -> SegmentTest {
        SegmentTest {
            tag: Tag::new(tag).expect("tag"),
            from: adapter(from),
            to: adapter(to),
            outcome: SegmentOutcome::Seen,
        }
    }
}

/// The findings of `id`, as (severity, subject) pairs.
pub fn of(found: &[Finding], id: FindingId) -> Vec<(Severity, String)> {
    found
        .iter()
        .filter(|f| f.id == id)
        .map(|f| (f.severity, f.subject()))
        .collect()
}

/// The one finding of `id` about `subject`.
pub fn the<'a>(found: &'a [Finding], id: FindingId, subject: &str) -> &'a Finding {
    let mut matching = found
        .iter()
        .filter(|f| f.id == id && f.subject() == subject);
    let one = matching
        .next()
        .unwrap_or_else(|| panic!("no {id} about {subject} in {found:#?}"));
    assert!(matching.next().is_none(), "two {id} about {subject}");
    one
}

/// Run one rule (`check(facts, def, out)`) over every definition.
pub fn run_rule(
    facts: &NodeFacts,
    rule: fn(&NodeFacts, &Definition, &mut Vec<Finding>),
) -> Vec<Finding> {
    let mut out = Vec::new();
    for def in &facts.definitions {
        rule(facts, def, &mut out);
    }
    out
}
