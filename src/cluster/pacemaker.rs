//! Cluster view from Pacemaker (SPEC §5): membership and replicated node
//! attributes.
//!
//! - Standby nodes: the cluster nodes Pacemaker reports online, other than
//!   this one, that are not in standby or maintenance mode (such a node
//!   cannot receive the address, so its cable does not matter).
//! - The link state of the adapter `nic` on each of them: the transient node
//!   attribute `ethmonitor-<nic>` that a cloned `ocf:heartbeat:ethmonitor`
//!   resource publishes (1 = link up, 0 = down). Pacemaker's attribute
//!   manager replicates it to every node. A standby node without the
//!   attribute (ethmonitor never published it) leaves the view unknown:
//!   an error naming the node and the attribute (deepCheck's 7006).
//!
//! Both come from one `crm_mon --one-shot --show-node-attributes
//! --output-as=xml` call. This file is the one place in `src/` that runs an
//! external command (see docs/pacemaker.md, "Why crm_mon"): the CIB and
//! attrd speak libqb IPC through libcrmcommon, which has no Rust binding and
//! no stable wire protocol. The call is bounded by a timeout (killed when it
//! runs over); any failure is a [`ClusterError`], which deepCheck reports as
//! the warning 7006, never as a failed check.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{ClusterError, ClusterView, StandbyNode};
use crate::net::LinkState;
use crate::resource::Definition;

/// How long `crm_mon` may take before it is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The attribute that carries an adapter's link state.
pub fn link_attribute(nic: &str) -> String {
    format!("ethmonitor-{nic}")
}

pub struct Pacemaker {
    local: String,
    timeout: Duration,
}

impl Pacemaker {
    /// The view from node `local` (Pacemaker's name for this node).
    pub fn new(local: String) -> Self {
        Self {
            local,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl ClusterView for Pacemaker {
    fn standby_nodes(&self, def: &Definition) -> Result<Vec<StandbyNode>, ClusterError> {
        view_from_crm_mon(&crm_mon_xml(self.timeout)?, &self.local, def)
    }
}

/// The view `crm_mon`'s XML gives of the standby nodes for `def`, from
/// node `local`. A standby node whose `ethmonitor-<nic>` attribute was
/// never published (or is not a number) leaves the view unknown: an error
/// naming the node and the attribute, which deepCheck reports as 7006. The
/// error also names the standby nodes known to be disconnected, since
/// deepCheck then reports no 6406 for them.
pub fn view_from_crm_mon(
    xml: &str,
    local: &str,
    def: &Definition,
) -> Result<Vec<StandbyNode>, ClusterError> {
    let status = parse_crm_mon(xml)?;
    let standby = standby_from(&status, local, def);
    let attr = link_attribute(def.adapter.as_str());
    let unknown: Vec<String> = standby
        .iter()
        .filter(|n| n.link.is_none())
        .map(|n| {
            let value = status
                .iter()
                .find(|s| s.name == n.name)
                .and_then(|s| s.attribute(&attr));
            match value {
                None => format!(
                    "node {} never published the attribute {attr} (no cloned \
                     ocf:heartbeat:ethmonitor for {} runs there)",
                    n.name, n.adapter
                ),
                Some(v) => format!("node {}'s attribute {attr} is {v:?}, not a number", n.name),
            }
        })
        .collect();
    if unknown.is_empty() {
        return Ok(standby);
    }
    let mut text = unknown.join("; ");
    for n in standby
        .iter()
        .filter(|n| matches!(n.link, Some(LinkState::Disconnected | LinkState::Missing)))
    {
        text.push_str(&format!(
            "; node {} reports {} disconnected",
            n.name, n.adapter
        ));
    }
    Err(ClusterError(text))
}

/// One node as `crm_mon` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeStatus {
    pub name: String,
    pub online: bool,
    pub standby: bool,
    pub maintenance: bool,
    pub attributes: Vec<(String, String)>,
}

impl NodeStatus {
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The standby nodes for `def`, seen from `local`.
pub fn standby_from(nodes: &[NodeStatus], local: &str, def: &Definition) -> Vec<StandbyNode> {
    let attr = link_attribute(def.adapter.as_str());
    nodes
        .iter()
        .filter(|n| n.online && !n.standby && !n.maintenance && n.name != local)
        .map(|n| StandbyNode {
            name: n.name.clone(),
            adapter: def.adapter.clone(),
            link: n.attribute(&attr).and_then(link_value),
        })
        .collect()
}

/// ethmonitor's values: 1 (or any positive number) = up, 0 = down.
fn link_value(v: &str) -> Option<LinkState> {
    match v.trim().parse::<i64>() {
        Ok(n) if n > 0 => Some(LinkState::Connected),
        Ok(_) => Some(LinkState::Disconnected),
        Err(_) => None,
    }
}

/// Run `crm_mon` with a deadline; its stdout on success.
fn crm_mon_xml(timeout: Duration) -> Result<String, ClusterError> {
    let program = ["/usr/sbin/crm_mon", "/usr/bin/crm_mon"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("crm_mon");
    let mut child = Command::new(program)
        .args(["--one-shot", "--show-node-attributes", "--output-as=xml"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| ClusterError(format!("cannot run {program}: {e}")))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| ClusterError("crm_mon: no stdout".to_owned()))?;
    // Read on a helper thread so a full pipe never stalls the child.
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ClusterError(format!(
                    "crm_mon did not answer within {} ms",
                    timeout.as_millis()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(ClusterError(format!("crm_mon: {e}"))),
        }
    };
    let out = reader
        .join()
        .map_err(|_| ClusterError("crm_mon: reader thread panicked".to_owned()))?;
    if !status.success() {
        return Err(ClusterError(format!("crm_mon exited with {status}")));
    }
    String::from_utf8(out).map_err(|_| ClusterError("crm_mon: output is not UTF-8".to_owned()))
}

/// Parse `crm_mon --output-as=xml`: the `<nodes>` section (membership and
/// modes) and the `<node_attributes>` section.
pub fn parse_crm_mon(xml: &str) -> Result<Vec<NodeStatus>, ClusterError> {
    let mut nodes: Vec<NodeStatus> = Vec::new();
    let mut section: Option<&str> = None;
    let mut current: Option<usize> = None;
    let mut saw_nodes = false;
    for tag in Tags::new(xml) {
        match (tag.name, tag.closing) {
            ("nodes", false) if !tag.empty => {
                section = Some("nodes");
                saw_nodes = true;
            }
            ("node_attributes", false) if !tag.empty => section = Some("node_attributes"),
            ("nodes" | "node_attributes", true) => {
                section = None;
                current = None;
            }
            ("node", false) => {
                let name = tag
                    .attr("name")
                    .ok_or_else(|| ClusterError("crm_mon: a node has no name".to_owned()))?;
                match section {
                    Some("nodes") => nodes.push(NodeStatus {
                        name,
                        online: tag.attr("online").as_deref() == Some("true"),
                        standby: tag.attr("standby").as_deref() == Some("true"),
                        maintenance: tag.attr("maintenance").as_deref() == Some("true"),
                        attributes: Vec::new(),
                    }),
                    Some("node_attributes") => {
                        current = nodes.iter().position(|n| n.name == name);
                    }
                    _ => {}
                }
            }
            ("attribute", false) if section == Some("node_attributes") => {
                if let (Some(i), Some(k), Some(v)) = (current, tag.attr("name"), tag.attr("value"))
                {
                    nodes[i].attributes.push((k, v));
                }
            }
            _ => {}
        }
    }
    if !saw_nodes {
        return Err(ClusterError(
            "crm_mon: the answer has no <nodes> section".to_owned(),
        ));
    }
    Ok(nodes)
}

/// One start or end tag.
struct Tag<'a> {
    name: &'a str,
    closing: bool,
    empty: bool,
    body: &'a str,
}

impl Tag<'_> {
    /// The unescaped value of attribute `key`.
    fn attr(&self, key: &str) -> Option<String> {
        let mut rest = self.body;
        while let Some(eq) = rest.find('=') {
            let k = rest[..eq].trim();
            let after = rest[eq + 1..].trim_start();
            let quote = after.chars().next()?;
            if quote != '"' && quote != '\'' {
                return None;
            }
            let value_and_more = &after[1..];
            let end = value_and_more.find(quote)?;
            if k == key {
                return Some(unescape(&value_and_more[..end]));
            }
            rest = &value_and_more[end + 1..];
        }
        None
    }
}

/// A minimal scanner over the tags of a well-formed XML document (enough
/// for crm_mon's output: no CDATA with '>' inside attribute-bearing tags).
struct Tags<'a> {
    rest: &'a str,
}

impl<'a> Tags<'a> {
    fn new(xml: &'a str) -> Self {
        Self { rest: xml }
    }
}

impl<'a> Iterator for Tags<'a> {
    type Item = Tag<'a>;
    fn next(&mut self) -> Option<Tag<'a>> {
        loop {
            let start = self.rest.find('<')?;
            let after = &self.rest[start + 1..];
            if let Some(comment) = after.strip_prefix("!--") {
                let end = comment.find("-->")?;
                self.rest = &comment[end + 3..];
                continue;
            }
            // Quotes may hold '>' in attribute values: skip them.
            let mut end = None;
            let mut quote: Option<char> = None;
            for (i, c) in after.char_indices() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '"' | '\'') => quote = Some(c),
                    (None, '>') => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end?;
            let inner = &after[..end];
            self.rest = &after[end + 1..];
            if inner.starts_with('?') || inner.starts_with('!') {
                continue;
            }
            let (closing, inner) = match inner.strip_prefix('/') {
                Some(i) => (true, i),
                None => (false, inner),
            };
            let (empty, inner) = match inner.strip_suffix('/') {
                Some(i) => (true, i),
                None => (false, inner),
            };
            let name_end = inner
                .find(|c: char| c.is_whitespace())
                .unwrap_or(inner.len());
            return Some(Tag {
                name: &inner[..name_end],
                closing,
                empty,
                body: &inner[name_end..],
            });
        }
    }
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{AdapterName, Tag as RTag};

    const SAMPLE: &str = r#"<?xml version="1.0"?>
<pacemaker-result api-version="2.30" request="crm_mon --one-shot --show-node-attributes --output-as=xml">
  <summary>
    <stack type="corosync"/>
  </summary>
  <nodes>
    <node name="node1" id="1" online="true" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="false" shutdown="false" expected_up="true" is_dc="true" resources_running="1" type="member"/>
    <node name="node2" id="2" online="true" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="false" shutdown="false" expected_up="true" is_dc="false" resources_running="0" type="member"/>
    <node name="node3" id="3" online="false" standby="false" standby_onfail="false" maintenance="false" pending="false" unclean="false" shutdown="false" expected_up="false" is_dc="false" resources_running="0" type="member"/>
    <node name="node4" id="4" online="true" standby="true" standby_onfail="false" maintenance="false" pending="false" unclean="false" shutdown="false" expected_up="true" is_dc="false" resources_running="0" type="member"/>
  </nodes>
  <!-- a comment with <node name="bogus"> inside -->
  <node_attributes>
    <node name="node1">
      <attribute name="ethmonitor-eth0" value="1"/>
    </node>
    <node name="node2">
      <attribute name="ethmonitor-eth0" value="0"/>
      <attribute name="other" value="a&amp;b &gt; c"/>
    </node>
  </node_attributes>
  <status code="0" message="OK"/>
</pacemaker-result>
"#;

    fn def() -> Definition {
        Definition::new(
            RTag::new("vip").unwrap(),
            "198.51.100.50/24".parse().unwrap(),
            AdapterName::new("eth0").unwrap(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn parses_nodes_and_attributes() {
        let nodes = parse_crm_mon(SAMPLE).unwrap();
        assert_eq!(nodes.len(), 4);
        assert!(nodes[0].online && !nodes[2].online && nodes[3].standby);
        assert_eq!(nodes[1].attribute("ethmonitor-eth0"), Some("0"));
        assert_eq!(nodes[1].attribute("other"), Some("a&b > c"));
        assert!(!nodes.iter().any(|n| n.name == "bogus"));
    }

    #[test]
    fn standby_nodes_are_online_others_not_in_standby() {
        let nodes = parse_crm_mon(SAMPLE).unwrap();
        let s = standby_from(&nodes, "node1", &def());
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].name, "node2");
        assert_eq!(s[0].adapter.as_str(), "eth0");
        assert_eq!(s[0].link, Some(LinkState::Disconnected));
        // Seen from node2, node1 is the standby and its link is up.
        let s = standby_from(&nodes, "node2", &def());
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].link, Some(LinkState::Connected));
    }

    #[test]
    fn missing_attribute_is_unknown_not_disconnected() {
        let mut nodes = parse_crm_mon(SAMPLE).unwrap();
        nodes[1].attributes.clear();
        let s = standby_from(&nodes, "node1", &def());
        assert_eq!(s[0].link, None);
    }

    /// SAMPLE where node2 never published `ethmonitor-eth0` (no
    /// ethmonitor clone runs there).
    fn without_node2_attribute() -> String {
        SAMPLE.replace(r#"<attribute name="ethmonitor-eth0" value="0"/>"#, "")
    }

    #[test]
    fn a_never_published_attribute_makes_the_view_unknown() {
        let e = view_from_crm_mon(&without_node2_attribute(), "node1", &def()).unwrap_err();
        assert!(
            e.0.contains("node2") && e.0.contains("ethmonitor-eth0"),
            "{e}"
        );
    }

    #[test]
    fn deep_check_warns_7006_naming_the_node_and_the_attribute() {
        use crate::events::Recorder;
        use crate::net::sim::SimNet;
        use crate::ops::{Ctx, deep_check};
        use crate::resource::RuntimeState;

        struct Canned(String);
        impl ClusterView for Canned {
            fn standby_nodes(&self, def: &Definition) -> Result<Vec<StandbyNode>, ClusterError> {
                view_from_crm_mon(&self.0, "node1", def)
            }
        }
        let net = SimNet::new();
        let events = Recorder::new();
        let cluster = Canned(without_node2_attribute());
        let ctx = Ctx {
            kernel: &net,
            cluster: &cluster,
            events: &events,
            clock: net.clock(),
            node: "node1",
        };
        let out = deep_check(&ctx, &def(), &mut RuntimeState::default());
        assert!(out.success, "deepCheck never fails on the cluster view");
        let warned: Vec<_> = events
            .snapshot()
            .into_iter()
            .filter(|e| matches!(e.id, 6406 | 7006))
            .collect();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert_eq!(warned[0].id, 7006);
        assert!(
            warned[0].message.contains("node2") && warned[0].message.contains("ethmonitor-eth0"),
            "{}",
            warned[0].message
        );
    }

    #[test]
    fn an_unknown_node_names_the_disconnected_ones_too() {
        let xml = without_node2_attribute().replace(
            r#"standby="true" standby_onfail"#,
            r#"standby="false" standby_onfail"#,
        );
        let xml = xml.replace(
            "</node_attributes>",
            r#"<node name="node4"><attribute name="ethmonitor-eth0" value="0"/></node>
  </node_attributes>"#,
        );
        let e = view_from_crm_mon(&xml, "node1", &def()).unwrap_err();
        assert_eq!(
            e.0,
            "node node2 never published the attribute ethmonitor-eth0 (no cloned \
             ocf:heartbeat:ethmonitor for eth0 runs there); node node4 reports eth0 disconnected"
        );
    }

    #[test]
    fn a_value_that_is_no_number_is_unknown_too() {
        let xml = SAMPLE.replace(
            r#"name="ethmonitor-eth0" value="0""#,
            r#"name="ethmonitor-eth0" value="up""#,
        );
        let e = view_from_crm_mon(&xml, "node1", &def()).unwrap_err();
        assert!(
            e.0.contains(r#"node node2's attribute ethmonitor-eth0 is "up""#),
            "{e}"
        );
        // Every standby node published it: the view is known.
        let s = view_from_crm_mon(SAMPLE, "node1", &def()).unwrap();
        assert_eq!(s[0].link, Some(LinkState::Disconnected));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_crm_mon("crm_mon: Error: cluster is not available on this node").is_err());
        assert!(parse_crm_mon("<pacemaker-result><node name=\"x\"/></pacemaker-result>").is_err());
    }

    #[test]
    fn no_cluster_is_an_error_not_a_hang() {
        // No cluster runs where the unit tests run: crm_mon is missing or
        // cannot connect. Either way the view reports an error (deepCheck's
        // 7006 warning) within its bound.
        let view = Pacemaker::new("node1".to_owned()).with_timeout(Duration::from_secs(10));
        let e = view.standby_nodes(&def()).unwrap_err();
        assert!(e.0.contains("crm_mon"), "{e}");
    }

    #[test]
    fn link_values() {
        assert_eq!(link_value("1"), Some(LinkState::Connected));
        assert_eq!(link_value("0"), Some(LinkState::Disconnected));
        assert_eq!(link_value("x"), None);
    }
}
