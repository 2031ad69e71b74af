//! ocf_ipkit_vip(7): the OCF agent's man page, written from its parameter and action tables.
//!
//! The page says what Pacemaker sees: the description, every parameter
//! with its type, default and meaning, and the actions with their default
//! timeouts, from the same tables as the agent's meta-data
//! ([`crate::ocf::parameters`], [`crate::ocf::ADVERTISED_ACTIONS`]), so the
//! page and the agent cannot disagree.

use clap_mangen::roff::{Inline, Roff, bold, italic, line_break, roman};

use crate::ocf::{ADVERTISED_ACTIONS, AGENT_DESCRIPTION, AGENT_SUMMARY, AdvertisedAction, Param};

/// Where the package installs the agent.
pub const AGENT_PATH: &str = "/usr/lib/ocf/resource.d/ipkit/vip";

/// The whole page, in roff.
pub fn render() -> String {
    let params = crate::ocf::parameters();
    let version = env!("CARGO_PKG_VERSION");
    let mut page = Roff::new();
    page.control(
        "TH",
        [
            "OCF_IPKIT_VIP",
            "7",
            "",
            &format!("ipkit {version}"),
            "OCF resource agents",
        ],
    );
    page.control("SH", ["NAME"])
        .text([roman(format!("ocf_ipkit_vip - {AGENT_SUMMARY}"))]);

    // One parameter a line, no hyphenation, no justification.
    page.control("SH", ["SYNOPSIS"])
        .control("nh", [])
        .control("ad", ["l"]);
    let mut synopsis: Vec<Inline> = Vec::new();
    for p in params {
        let (open, close) = if p.required { ("", "") } else { ("[", "]") };
        synopsis.push(roman(format!("{open}OCF_RESKEY_{}=", p.name)));
        synopsis.push(italic(p.syntax.content_type()));
        synopsis.push(roman(close));
        synopsis.push(line_break());
    }
    synopsis.push(bold(AGENT_PATH));
    let names: Vec<&str> = distinct(ADVERTISED_ACTIONS.iter().map(|a| a.name));
    synopsis.push(roman(format!(" {{{}}}", names.join(" | "))));
    page.text(synopsis).control("ad", ["b"]).control("hy", []);

    page.control("SH", ["DESCRIPTION"])
        .text([roman(AGENT_DESCRIPTION)])
        .control("PP", []);
    page.text([
        roman("Pacemaker calls it as "),
        bold("ocf:ipkit:vip"),
        roman(". The agent is the "),
        bold("ipkit"),
        roman(" binary, recognised by the name "),
        bold("vip"),
        roman("; "),
        bold("ipkit ocf"),
        roman(" ACTION runs the same code."),
    ]);

    page.control("SH", ["SUPPORTED PARAMETERS"]);
    for p in params {
        page.control("TP", [])
            .text([bold(p.name), roman(format!(" ({})", parameter_facts(p)))]);
        page.text([
            roman(format!("{}.", p.short.trim_end_matches('.'))),
            line_break(),
            roman(p.long),
        ]);
    }

    page.control("SH", ["SUPPORTED ACTIONS"]);
    for a in ADVERTISED_ACTIONS {
        page.control("TP", [])
            .text([bold(a.name)])
            .text([roman(format!("Defaults: {}.", action_facts(a)))]);
    }

    page.control("SH", ["EXAMPLES"]);
    example(
        &mut page,
        "With pcs:",
        "pcs resource create vip ocf:ipkit:vip \\\n    ip=198.51.100.50/24 nic=eth0 recovery_nic=eth1 \\\n    op monitor interval=5s timeout=20s \\\n    monitor interval=60s timeout=20s OCF_CHECK_LEVEL=10",
    );
    example(
        &mut page,
        "With crm:",
        "crm configure primitive vip ocf:ipkit:vip \\\n    params ip=198.51.100.50/24 nic=eth0 recovery_nic=eth1 \\\n    op monitor interval=5s timeout=20s \\\n    op monitor interval=60s timeout=20s OCF_CHECK_LEVEL=10",
    );

    page.control("SH", ["FILES"])
        .control("TP", [])
        .text([italic("$HA_RSCTMP/ipkit/")])
        .text([roman(
            "The agent's runtime state, locks and published definitions (/run/ipkit when HA_RSCTMP is unset). ipkit-pacemaker.service runs a daemon on this directory for event-driven local recovery between monitors.",
        )]);

    page.control("SH", ["SEE ALSO"]).text([
        bold("ipkit"),
        roman("(1), "),
        bold("ipkit-daemon"),
        roman("(1), "),
        bold("ipkit.toml"),
        roman("(5)"),
    ]);
    page.render()
}

/// A paragraph saying what follows, then `text` verbatim and indented.
fn example(page: &mut Roff, intro: &str, text: &str) {
    page.control("PP", [])
        .text([roman(intro)])
        .control("PP", [])
        .control("nf", [])
        .control("RS", [])
        .text([roman(text)])
        .control("RE", [])
        .control("fi", []);
}

/// "string, required, unique, default: 200, reloadable".
fn parameter_facts(p: &Param) -> String {
    let mut facts = vec![p.syntax.content_type().to_owned()];
    facts.push(if p.required { "required" } else { "optional" }.to_owned());
    if p.unique {
        facts.push("unique".to_owned());
    }
    match p.default_text() {
        Some("") => facts.push("default: none".to_owned()),
        Some(d) => facts.push(format!("default: {d}")),
        None => {}
    }
    if p.reloadable {
        facts.push("reloadable".to_owned());
    }
    facts.join(", ")
}

/// "depth 10, interval 60s, timeout 20s".
fn action_facts(a: &AdvertisedAction) -> String {
    let mut facts = Vec::new();
    if let Some(depth) = a.depth {
        facts.push(format!("depth {depth}"));
    }
    if let Some(interval) = a.interval {
        facts.push(format!("interval {interval}"));
    }
    facts.push(format!("timeout {}", a.timeout));
    facts.join(", ")
}

/// The names in order, each once.
fn distinct<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How roff shows a bold word.
    fn bold_item(name: &str) -> String {
        format!("\\fB{}\\fR", name.replace('-', "\\-"))
    }

    #[test]
    fn the_page_lists_every_parameter_and_action_with_its_defaults() {
        let page = render();
        assert!(page.contains(".TH OCF_IPKIT_VIP 7"), "{page}");
        for p in crate::ocf::parameters() {
            assert!(
                page.contains(&bold_item(p.name)),
                "{} missing:\n{page}",
                p.name
            );
            assert!(
                page.contains(&parameter_facts(p).replace('-', "\\-")),
                "{}",
                p.name
            );
        }
        for a in ADVERTISED_ACTIONS {
            assert!(
                page.contains(&bold_item(a.name)),
                "action {} missing",
                a.name
            );
        }
        assert!(
            page.contains("Defaults: depth 10, interval 60s, timeout 20s."),
            "{page}"
        );
    }

    #[test]
    fn facts_say_what_the_table_says() {
        let by_name = |n: &str| {
            *crate::ocf::parameters()
                .iter()
                .find(|p| p.name == n)
                .unwrap()
        };
        assert_eq!(parameter_facts(&by_name("ip")), "string, required, unique");
        assert_eq!(
            parameter_facts(&by_name("probe_timeout")),
            "integer, optional, default: 200, reloadable"
        );
        assert_eq!(
            parameter_facts(&by_name("recovery_nic")),
            "string, optional, default: none"
        );
    }
}
