//! ocf_ipkit_vip(7): the OCF agent's man page, written from its parameters and meta-data.
//!
//! The page says what Pacemaker sees: the description, every parameter
//! with its type, default and meaning, and the actions with their default
//! timeouts, all read from [`crate::ocf::meta_data`], so the page and the
//! agent cannot disagree.

use clap_mangen::roff::{Inline, Roff, bold, italic, line_break, roman};

/// Where the package installs the agent.
pub const AGENT_PATH: &str = "/usr/lib/ocf/resource.d/ipkit/vip";

/// One parameter of the agent: the fields of a `<parameter>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentParameter {
    pub name: String,
    pub required: bool,
    pub unique: bool,
    pub reloadable: bool,
    pub content_type: String,
    pub default: Option<String>,
    pub shortdesc: String,
    pub longdesc: String,
}

/// The parameters the page lists. Read back from the meta-data for now;
/// once the agent has one parameter table (`crate::ocf::parameters()`,
/// from which the meta-data is written too), this is the line to change.
fn parameters(meta_data: &str) -> Result<Vec<AgentParameter>, String> {
    read_parameters(meta_data)
}

/// One `<action>` of the meta-data: its name and the other attributes
/// (timeout, interval, depth) as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AgentAction {
    name: String,
    details: Vec<(String, String)>,
}

/// The whole page, in roff.
pub fn render(meta_data: &str) -> Result<String, String> {
    let params = parameters(meta_data)?;
    let actions = read_actions(meta_data)?;
    let head = meta_data.split("<parameters>").next().unwrap_or(meta_data);
    let shortdesc = element_text(head, "shortdesc")?;
    let longdesc = element_text(head, "longdesc")?;
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
        .text([roman(format!("ocf_ipkit_vip - {shortdesc}"))]);

    // One parameter a line, no hyphenation, no justification.
    page.control("SH", ["SYNOPSIS"])
        .control("nh", [])
        .control("ad", ["l"]);
    let mut synopsis: Vec<Inline> = Vec::new();
    for p in &params {
        let (open, close) = if p.required { ("", "") } else { ("[", "]") };
        synopsis.push(roman(format!("{open}OCF_RESKEY_{}=", p.name)));
        synopsis.push(italic(p.content_type.clone()));
        synopsis.push(roman(close));
        synopsis.push(line_break());
    }
    synopsis.push(bold(AGENT_PATH));
    let names: Vec<&str> = distinct(actions.iter().map(|a| a.name.as_str()));
    synopsis.push(roman(format!(" {{{}}}", names.join(" | "))));
    page.text(synopsis).control("ad", ["b"]).control("hy", []);

    page.control("SH", ["DESCRIPTION"])
        .text([roman(longdesc)])
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
    for p in &params {
        page.control("TP", []).text([
            bold(p.name.clone()),
            roman(format!(" ({})", parameter_facts(p))),
        ]);
        page.text([
            roman(format!("{}.", p.shortdesc.trim_end_matches('.'))),
            line_break(),
            roman(p.longdesc.clone()),
        ]);
    }

    page.control("SH", ["SUPPORTED ACTIONS"]);
    for a in &actions {
        let details: Vec<String> = a.details.iter().map(|(k, v)| format!("{k} {v}")).collect();
        page.control("TP", []).text([bold(a.name.clone())]);
        page.text([roman(if details.is_empty() {
            "No default timeout.".to_owned()
        } else {
            format!("Defaults: {}.", details.join(", "))
        })]);
    }

    page.control("SH", ["EXAMPLES"])
        .text([roman("With pcs:")])
        .control("PP", [])
        .control("nf", [])
        .control("RS", [])
        .text([roman(
            "pcs resource create vip ocf:ipkit:vip \\\n    ip=198.51.100.50/24 nic=eth0 recovery_nic=eth1 \\\n    op monitor interval=5s timeout=20s \\\n    monitor interval=60s timeout=20s OCF_CHECK_LEVEL=10",
        )])
        .control("RE", [])
        .control("fi", [])
        .control("PP", [])
        .text([roman("With crm:")])
        .control("PP", [])
        .control("nf", [])
        .control("RS", [])
        .text([roman(
            "crm configure primitive vip ocf:ipkit:vip \\\n    params ip=198.51.100.50/24 nic=eth0 recovery_nic=eth1 \\\n    op monitor interval=5s timeout=20s \\\n    op monitor interval=60s timeout=20s OCF_CHECK_LEVEL=10",
        )])
        .control("RE", [])
        .control("fi", []);

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
    Ok(page.render())
}

/// "string, required, unique, default 200, reloadable".
fn parameter_facts(p: &AgentParameter) -> String {
    let mut facts = vec![p.content_type.clone()];
    facts.push(if p.required { "required" } else { "optional" }.to_owned());
    if p.unique {
        facts.push("unique".to_owned());
    }
    match p.default.as_deref() {
        Some("") => facts.push("default: none".to_owned()),
        Some(d) => facts.push(format!("default: {d}")),
        None => {}
    }
    if p.reloadable {
        facts.push("reloadable".to_owned());
    }
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

/// Every `<parameter>` of the meta-data.
pub fn read_parameters(meta_data: &str) -> Result<Vec<AgentParameter>, String> {
    let list = elements(meta_data, "parameter")?;
    if list.is_empty() {
        return Err("meta-data: no <parameter>".to_owned());
    }
    list.into_iter()
        .map(|e| {
            let name = attribute(e.attributes, "name")
                .ok_or_else(|| "meta-data: a <parameter> without a name".to_owned())?;
            let flag = |key: &str| attribute(e.attributes, key).is_some_and(|v| v == "1");
            let content = elements(e.body, "content")?;
            let content = content
                .first()
                .ok_or_else(|| format!("meta-data: parameter {name} has no <content>"))?;
            Ok(AgentParameter {
                required: flag("required"),
                unique: flag("unique"),
                reloadable: flag("reloadable"),
                content_type: attribute(content.attributes, "type")
                    .ok_or_else(|| format!("meta-data: parameter {name} has no content type"))?,
                default: attribute(content.attributes, "default"),
                shortdesc: element_text(e.body, "shortdesc")?,
                longdesc: element_text(e.body, "longdesc")?,
                name,
            })
        })
        .collect()
}

fn read_actions(meta_data: &str) -> Result<Vec<AgentAction>, String> {
    elements(meta_data, "action")?
        .into_iter()
        .map(|e| {
            let name = attribute(e.attributes, "name")
                .ok_or_else(|| "meta-data: an <action> without a name".to_owned())?;
            let details = ["depth", "interval", "timeout"]
                .into_iter()
                .filter_map(|k| attribute(e.attributes, k).map(|v| (k.to_owned(), v)))
                .collect();
            Ok(AgentAction { name, details })
        })
        .collect()
}

/// One element: the text of its attributes and of its content.
struct Element<'a> {
    attributes: &'a str,
    body: &'a str,
}

/// Every `<name ...>...</name>` and `<name .../>` in `xml`, in order. This
/// reads the agent's own meta-data (no comments, no CDATA, no nesting of
/// an element in itself), not XML at large.
fn elements<'a>(xml: &'a str, name: &str) -> Result<Vec<Element<'a>>, String> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        // `<parameters>` is not `<parameter`.
        if !after.starts_with([' ', '\n', '\t', '>', '/']) {
            rest = after;
            continue;
        }
        let end = after
            .find('>')
            .ok_or_else(|| format!("meta-data: <{name} is not closed"))?;
        let tag = &after[..end];
        if let Some(attributes) = tag.strip_suffix('/') {
            out.push(Element {
                attributes,
                body: "",
            });
            rest = &after[end + 1..];
        } else {
            let content = &after[end + 1..];
            let stop = content
                .find(&close)
                .ok_or_else(|| format!("meta-data: no {close}"))?;
            out.push(Element {
                attributes: tag,
                body: &content[..stop],
            });
            rest = &content[stop + close.len()..];
        }
    }
    Ok(out)
}

/// The first `<name>`'s text, unescaped, white space collapsed.
fn element_text(xml: &str, name: &str) -> Result<String, String> {
    let list = elements(xml, name)?;
    let e = list
        .first()
        .ok_or_else(|| format!("meta-data: no <{name}>"))?;
    Ok(unescape(
        &e.body.split_whitespace().collect::<Vec<_>>().join(" "),
    ))
}

/// The value of `key="..."` among `attributes`, unescaped.
fn attribute(attributes: &str, key: &str) -> Option<String> {
    let pattern = format!("{key}=\"");
    let mut rest = attributes;
    while let Some(at) = rest.find(&pattern) {
        let whole_name = rest[..at].ends_with(char::is_whitespace);
        let value = &rest[at + pattern.len()..];
        let end = value.find('"')?;
        if whole_name {
            return Some(unescape(&value[..end]));
        }
        rest = &value[end..];
    }
    None
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_of_the_meta_data_is_read_back() {
        let meta = crate::ocf::meta_data();
        let params = read_parameters(&meta).unwrap();
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        // As many as the meta-data declares, in its order.
        assert_eq!(names.len(), meta.matches("<parameter name=").count());
        assert_eq!(names[..3], ["ip", "cidr_netmask", "nic"]);
        let ip = &params[0];
        assert!(ip.required && ip.unique && !ip.reloadable);
        assert_eq!(ip.content_type, "string");
        assert_eq!(ip.default, None);
        let probe = params.iter().find(|p| p.name == "probe_timeout").unwrap();
        assert_eq!(probe.default.as_deref(), Some("200"));
        assert!(probe.reloadable && !probe.required);
        assert!(probe.longdesc.contains("RFC 5227"), "{}", probe.longdesc);
    }

    #[test]
    fn escapes_and_lookalike_names_are_handled() {
        let xml = r#"<parameters><parameter name="a&amp;b" required="1" xrequired="0">
<longdesc lang="en">x &lt; y
  and "z"</longdesc><shortdesc lang="en">s</shortdesc>
<content type="integer" default="&quot;1&quot;"/></parameter></parameters>"#;
        let p = read_parameters(xml).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "a&b");
        assert!(p[0].required);
        assert_eq!(p[0].longdesc, "x < y and \"z\"");
        assert_eq!(p[0].default.as_deref(), Some("\"1\""));
        assert!(read_parameters("<parameters></parameters>").is_err());
        assert!(read_parameters("<parameter name=\"x\">no end").is_err());
    }

    #[test]
    fn the_page_lists_every_parameter_and_action() {
        let meta = crate::ocf::meta_data();
        let page = render(&meta).unwrap();
        assert!(page.contains(".TH OCF_IPKIT_VIP 7"), "{page}");
        for p in read_parameters(&meta).unwrap() {
            let item = format!("\\fB{}\\fR", p.name.replace('-', "\\-"));
            assert!(page.contains(&item), "{} missing:\n{page}", p.name);
        }
        for a in read_actions(&meta).unwrap() {
            let item = format!("\\fB{}\\fR", a.name.replace('-', "\\-"));
            assert!(page.contains(&item), "action {} missing", a.name);
        }
        assert!(page.contains("default: 200"), "{page}");
    }
}
