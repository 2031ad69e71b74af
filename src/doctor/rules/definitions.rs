//! The definitions themselves: every file readable, and no address protected twice (`create` refuses it, hand edits do not).

use crate::doctor::facts::NodeFacts;
use crate::doctor::{Finding, FindingId};
use crate::resource::Definition;

pub fn check(facts: &NodeFacts, out: &mut Vec<Finding>) {
    for broken in &facts.broken_definitions {
        out.push(
            Finding::error(FindingId::DefinitionReadable, broken.clone())
                .fix("correct the file by hand, or remove it with `ipkit delete --force TAG`"),
        );
    }
    let mut defs: Vec<&Definition> = facts.definitions.iter().collect();
    defs.sort_by(|a, b| a.tag.cmp(&b.tag));
    for def in &defs {
        let ip = def.address.ip();
        let others: Vec<String> = defs
            .iter()
            .filter(|d| d.tag != def.tag && d.address.ip() == ip)
            .map(|d| d.tag.to_string())
            .collect();
        let finding = if others.is_empty() {
            Finding::ok(
                FindingId::UniqueAddress,
                format!("no other definition protects {ip}"),
            )
        } else {
            Finding::error(
                FindingId::UniqueAddress,
                format!(
                    "{} protect{} {ip} too: two resources would fight over one address",
                    others.join(", "),
                    if others.len() == 1 { "s" } else { "" }
                ),
            )
            .fix(format!(
                "keep one of them: `ipkit delete {}` (or its duplicate)",
                def.tag
            ))
        };
        out.push(finding.about(&def.tag));
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Node, of};
    use super::*;
    use crate::doctor::Severity::{Error, Ok};

    #[test]
    fn the_same_address_twice_is_an_error_for_both_any_prefix() {
        let n = Node::new();
        let defs = vec![
            n.resource("b", "198.51.100.10/24", "eth0", None),
            n.resource("a", "198.51.100.10/32", "eth1", None),
            n.resource("c", "198.51.100.11/24", "eth0", None),
        ];
        let mut facts = n.facts(defs);
        facts.broken_definitions = vec!["/etc/ipkit/resources/x.toml: line 2".into()];
        let mut f = Vec::new();
        check(&facts, &mut f);
        assert_eq!(
            of(&f, FindingId::UniqueAddress),
            [
                (Error, "a".to_owned()),
                (Error, "b".to_owned()),
                (Ok, "c".to_owned())
            ]
        );
        assert!(f[1].message.starts_with("b protects 198.51.100.10 too"));
        assert_eq!(
            of(&f, FindingId::DefinitionReadable),
            [(Error, "node".to_owned())]
        );
    }
}
