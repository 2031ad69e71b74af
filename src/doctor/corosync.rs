//! Reading `corosync.conf` just far enough to find the ring addresses: `nodelist { node { ringN_addr } }` and `totem { interface { bindnetaddr } }`.
//!
//! The syntax is corosync.conf(5)'s (and `exec/coroparse.c`'s): one item
//! per line, `#` starts a comment line, `name {` opens a section, `}`
//! closes it, `key: value` sets a key (split at the first colon, so IPv6
//! values keep theirs).

use std::net::IpAddr;

/// One ring address as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingEntry {
    pub ring: u8,
    /// Where it is written, for messages: `nodelist.node ring0_addr node1`.
    pub written: String,
    pub value: RingValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingValue {
    /// `ringN_addr`: an address or a host name.
    Host(String),
    /// `bindnetaddr`: a network address.
    Network(IpAddr),
}

/// The `ringN_addr` number of a key, if it is one.
fn ring_of_key(key: &str) -> Option<u8> {
    key.strip_prefix("ring")?
        .strip_suffix("_addr")?
        .parse()
        .ok()
}

/// The ring addresses of a `corosync.conf`; a refusal names the line.
pub fn ring_entries(text: &str) -> Result<Vec<RingEntry>, String> {
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    // The interface section being read: its ring number and bindnetaddr.
    let mut interface: Option<(u8, Option<(usize, String)>)> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_suffix('{') {
            path.push(name.trim().to_owned());
            if path == ["totem", "interface"] {
                interface = Some((0, None));
            }
        } else if let Some((key, value)) = line.split_once(':') {
            let (key, value) = (key.trim(), value.trim());
            match (path.join(".").as_str(), key) {
                ("nodelist.node", _) => {
                    if let Some(ring) = ring_of_key(key) {
                        out.push(RingEntry {
                            ring,
                            written: format!("nodelist.node {key} {value}"),
                            value: RingValue::Host(value.to_owned()),
                        });
                    }
                }
                ("totem.interface", "ringnumber" | "linknumber") => {
                    let ring = value.parse().map_err(|_| {
                        format!("line {number}: {key} {value:?} is not a ring number (0-255)")
                    })?;
                    if let Some((r, _)) = &mut interface {
                        *r = ring;
                    }
                }
                ("totem.interface", "bindnetaddr") => {
                    if let Some((_, bind)) = &mut interface {
                        *bind = Some((number, value.to_owned()));
                    }
                }
                _ => {}
            }
        } else if line == "}" {
            if path.is_empty() {
                return Err(format!("line {number}: a closing brace closes nothing"));
            }
            if path == ["totem", "interface"]
                && let Some((ring, Some((at, bind)))) = interface.take()
            {
                let network = bind
                    .parse()
                    .map_err(|_| format!("line {at}: bindnetaddr {bind:?} is not an IP address"))?;
                out.push(RingEntry {
                    ring,
                    written: format!("totem.interface bindnetaddr {bind}"),
                    value: RingValue::Network(network),
                });
            }
            path.pop();
        } else {
            return Err(format!(
                "line {number}: neither `key: value`, `section {{` nor `}}`"
            ));
        }
    }
    if let Some(open) = path.last() {
        return Err(format!("section {open:?} is never closed"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNET: &str = "\
# Two-node cluster
totem {
    version: 2
    cluster_name: lab
    transport: knet
    interface {
        linknumber: 1
        knet_link_priority: 1
    }
}

nodelist {
    node {
        ring0_addr: 198.51.100.1
        ring1_addr: 2001:db8:1::1
        name: node1
        nodeid: 1
    }
    node {
        ring0_addr: node2.example
        name: node2
        nodeid: 2
    }
}
quorum {
    provider: corosync_votequorum
    two_node: 1
}
";

    #[test]
    fn nodelist_ring_addresses_are_found_with_their_ring() {
        let entries = ring_entries(KNET).unwrap();
        let got: Vec<(u8, &RingValue)> = entries.iter().map(|e| (e.ring, &e.value)).collect();
        assert_eq!(
            got,
            [
                (0, &RingValue::Host("198.51.100.1".into())),
                (1, &RingValue::Host("2001:db8:1::1".into())),
                (0, &RingValue::Host("node2.example".into())),
            ]
        );
        assert_eq!(entries[1].written, "nodelist.node ring1_addr 2001:db8:1::1");
    }

    #[test]
    fn bindnetaddr_is_a_network_of_its_ring() {
        let text = "totem {\n interface {\n  ringnumber: 1\n  bindnetaddr: 203.0.113.0\n  mcastport: 5405\n }\n interface {\n  bindnetaddr: 198.51.100.0\n }\n}\n";
        let entries = ring_entries(text).unwrap();
        let got: Vec<(u8, &RingValue)> = entries.iter().map(|e| (e.ring, &e.value)).collect();
        assert_eq!(
            got,
            [
                (1, &RingValue::Network("203.0.113.0".parse().unwrap())),
                (0, &RingValue::Network("198.51.100.0".parse().unwrap())),
            ]
        );
    }

    #[test]
    fn broken_files_are_refused_naming_the_line() {
        for (text, says) in [
            ("totem {\n", "section \"totem\" is never closed"),
            ("}\n", "line 1: a closing brace"),
            ("totem {\n what is this\n}\n", "line 2: neither"),
            (
                "totem {\ninterface {\nbindnetaddr: lan\n}\n}\n",
                "line 3: bindnetaddr \"lan\"",
            ),
            (
                "totem {\ninterface {\nringnumber: -1\n}\n}\n",
                "line 3: ringnumber",
            ),
        ] {
            let e = ring_entries(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn other_keys_and_sections_are_ignored() {
        let text = "logging {\n to_syslog: yes\n logger_subsys {\n  subsys: QUORUM\n }\n}\n";
        assert_eq!(ring_entries(text).unwrap(), []);
    }
}
