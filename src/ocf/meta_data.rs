//! The agent's OCF 1.1 meta-data XML, rendered from the parameter table.

use super::params::{Param, parameters};

/// The agent in one line (the meta-data's `shortdesc`).
pub const AGENT_SUMMARY: &str = "Switchable IP address with local recovery (ipkit)";

/// What the agent does, one paragraph (the meta-data's `longdesc`).
pub const AGENT_DESCRIPTION: &str = "\
ipkit keeps a switchable (virtual) IP address alive on one node, like
ocf:heartbeat:IPaddr2, following the LifeKeeper IP Recovery Kit. On top of
adding and removing the address it probes for another owner before adding it,
announces it (gratuitous ARP / unsolicited NA), and recovers it locally onto a
backup adapter when the primary adapter's cable is pulled, so the cluster sees
no failure. Monitor depth 0 (quickCheck): the active adapter has its cable and
holds the address, nowhere else. Depth 10 (deepCheck) also warns (event 6406)
when a standby node's adapter is disconnected, from the ethmonitor-NIC node
attributes. Events are numbered (6001...) and logged.";

/// An action the meta-data advertises, with the timings it suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertisedAction {
    pub name: &'static str,
    pub timeout: &'static str,
    /// For recurring monitors: how often, and at which `OCF_CHECK_LEVEL`.
    pub interval: Option<&'static str>,
    pub depth: Option<u32>,
}

const fn action(name: &'static str, timeout: &'static str) -> AdvertisedAction {
    AdvertisedAction {
        name,
        timeout,
        interval: None,
        depth: None,
    }
}

const fn monitor(interval: &'static str, depth: u32) -> AdvertisedAction {
    AdvertisedAction {
        name: "monitor",
        timeout: "20s",
        interval: Some(interval),
        depth: Some(depth),
    }
}

/// The actions, in meta-data order.
pub const ADVERTISED_ACTIONS: &[AdvertisedAction] = &[
    action("start", "20s"),
    action("stop", "20s"),
    monitor("10s", 0),
    monitor("60s", 10),
    action("validate-all", "20s"),
    action("reload-agent", "20s"),
    action("meta-data", "5s"),
];

/// The OCF 1.1 meta-data. The document names `ra-api-1.dtd` (as
/// `xmllint --valid` and `ocf-tester` expect) and declares the two OCF 1.1
/// additions that DTD predates (`reloadable`, the `reload-agent` action) in
/// its internal subset, so it validates against the 1.0 file too.
pub fn meta_data() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let params: String = parameters().iter().map(parameter_xml).collect();
    let actions: String = ADVERTISED_ACTIONS.iter().map(action_xml).collect();
    format!(
        r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd" [
<!ATTLIST parameter reloadable (1|0) "0">
<!ATTLIST action name (start|stop|recover|monitor|restart|migrate_to|migrate_from|promote|demote|notify|status|reload|reload-agent|meta-data|usage|methods|validate-all) #REQUIRED>
]>
<resource-agent name="vip" version="{version}">
  <version>1.1</version>
  <longdesc lang="en">
{description}
  </longdesc>
  <shortdesc lang="en">{summary}</shortdesc>
  <parameters>
{params}  </parameters>
  <actions>
{actions}  </actions>
</resource-agent>
"#,
        description = xml_escape(AGENT_DESCRIPTION),
        summary = xml_escape(AGENT_SUMMARY),
    )
}

fn parameter_xml(p: &Param) -> String {
    let default = p
        .default_text()
        .map(|d| format!(" default=\"{}\"", xml_escape(d)))
        .unwrap_or_default();
    format!(
        "    <parameter name=\"{}\" required=\"{}\" unique=\"{}\" reloadable=\"{}\">\n      <longdesc lang=\"en\">{}</longdesc>\n      <shortdesc lang=\"en\">{}</shortdesc>\n      <content type=\"{}\"{default}/>\n    </parameter>\n",
        p.name,
        u8::from(p.required),
        u8::from(p.unique),
        u8::from(p.reloadable),
        xml_escape(p.long),
        xml_escape(p.short),
        p.syntax.content_type(),
    )
}

fn action_xml(a: &AdvertisedAction) -> String {
    let interval = a
        .interval
        .map(|i| format!(" interval=\"{i}\""))
        .unwrap_or_default();
    let depth = a
        .depth
        .map(|d| format!(" depth=\"{d}\""))
        .unwrap_or_default();
    format!(
        "    <action name=\"{}\" timeout=\"{}\"{interval}{depth}/>\n",
        a.name, a.timeout
    )
}

/// Element text and attribute values: the five XML special characters.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_data_declares_the_parameters() {
        let m = meta_data();
        assert!(m.contains("<parameter name=\"ip\" required=\"1\" unique=\"1\" reloadable=\"0\">"));
        assert!(m.contains(
            "<parameter name=\"arp_count\" required=\"0\" unique=\"0\" reloadable=\"1\">"
        ));
        assert!(m.contains("<action name=\"reload-agent\""));
        assert!(m.contains("depth=\"10\""));
    }

    #[test]
    fn every_parameter_of_the_table_is_in_the_meta_data_with_its_default() {
        let m = meta_data();
        for p in parameters() {
            let tag = format!("<parameter name=\"{}\"", p.name);
            let at = m.find(&tag).unwrap_or_else(|| panic!("{} missing", p.name));
            let block = &m[at..at + m[at..].find("</parameter>").unwrap()];
            let content = match p.default_text() {
                Some(d) => format!(
                    "<content type=\"{}\" default=\"{}\"/>",
                    p.syntax.content_type(),
                    xml_escape(d)
                ),
                None => format!("<content type=\"{}\"/>", p.syntax.content_type()),
            };
            assert!(block.contains(&content), "{}: {block}", p.name);
            assert!(block.contains(&xml_escape(p.short)), "{}", p.name);
        }
    }
}
