//! The catalog's numbers, severities and wording (SPEC §3, and the 7xxx
//! events ipkit adds with the same structure), and the one-pass filling of
//! a template's `{name}` placeholders.

use super::Severity;

/// (number, severity, template) for every SPEC §3 entry, in catalog order.
/// The templates are the SPEC wording verbatim; README tables are generated
/// from this list and the tests check `render` against it.
pub const CATALOG: &[(u16, Severity, &str)] = &[
    (
        6001,
        Severity::Information,
        "Restore IP Address {id} End: Successful",
    ),
    (6002, Severity::Error, "Restore IP Address {id} Failed"),
    (
        6008,
        Severity::Error,
        "Local Recovery was not enabled for {ip}. Failing IP restore action.",
    ),
    (6013, Severity::Information, "Restore IP Address {id} Start"),
    (
        6016,
        Severity::Error,
        "ARP cache update for IP address {id} on the Primary network adapter failed ({err}) (arpupdate {ip} {guid}).",
    ),
    (
        6017,
        Severity::Error,
        "Verification of IP address insertion of IP address {id} on the Primary network adapter failed. (IPINDEX={guid}; EXTIPADDR={ip}; EXTMASK={mask}).",
    ),
    (
        6018,
        Severity::Error,
        "IP address {id} was still active on a network interface {nic}. IP address deletion has failed.",
    ),
    (
        6019,
        Severity::Error,
        "{cmd}: Network cable on adapter {nic} is not connected !",
    ),
    (
        6101,
        Severity::Information,
        "Remove IP Address {id} End: Successful",
    ),
    (6102, Severity::Error, "Remove IP Address {id} Failed"),
    (
        6105,
        Severity::Error,
        "IP address deletion was not successful. The kernel returned an error. However, the remove action is continuing. The IPCONTEXT={guid}; SWITCHABLEIP={ip}; Error Code={errno}; Error Message: {errmsg}",
    ),
    (
        6406,
        Severity::Warning,
        "The network cable for network adapter {nic} servicing protected IP address {ip} on system {node} is currently disconnected! This could prevent a successful resource failover to that system. Please reconnect the cable.",
    ),
    (
        6507,
        Severity::Error,
        "Network cable for IP address {id} on network adapter {nic} is disconnected !.",
    ),
    (
        6508,
        Severity::Error,
        "IP address {id} was not found on network adapter {nic}. Failing IP resource.",
    ),
    (
        6603,
        Severity::Information,
        "Recover IP Address {id} End: Successful",
    ),
    (6604, Severity::Error, "Recover IP Address {id} Failed"),
    (
        6605,
        Severity::Information,
        "Recover IP Address {id} Start.",
    ),
    (
        6605,
        Severity::Error,
        "{tag} was not created for local recovery. Aborting local recovery.",
    ),
    (
        6607,
        Severity::Error,
        "IP address addition for resource {tag} and IP address {id} on the primary network adapter failed; ( -n{guid} -i{ip} -m{mask}). Trying Local Recovery Adapter.",
    ),
    (
        6608,
        Severity::Error,
        "IP address addition for resource {tag} and IP address {id} on the local recovery adapter failed; (-n{guid} -i{ip} -m{mask}). Failing the resource.",
    ),
];

/// The events ipkit adds beyond the seed, with the same structure.
pub const EXTRA_CATALOG: &[(u16, Severity, &str)] = &[
    (
        7001,
        Severity::Error,
        "IP address {id} is already in use on the network by {mac} (probed on {nic}). Failing IP restore action.",
    ),
    (
        7002,
        Severity::Error,
        "IP address {id} is already held by another local network adapter {nic}. Failing IP restore action.",
    ),
    (
        7003,
        Severity::Warning,
        "Probe for IP address {id} on network adapter {nic} could not run ({err}); continuing without it.",
    ),
    (
        7004,
        Severity::Error,
        "Kernel call failed for IP address {id}: {err}",
    ),
    (
        7005,
        Severity::Warning,
        "Network adapter {nic} for IP address {id} is not the adapter recorded at definition time ({detail}).",
    ),
    (
        7006,
        Severity::Warning,
        "Could not read the state of the standby nodes for IP address {id} ({err}); deepCheck goes on without them.",
    ),
    (
        7007,
        Severity::Warning,
        "Runtime state of IP address {id} did not match the kernel and was corrected: {detail}.",
    ),
    (
        7008,
        Severity::Error,
        "Recover IP Address {id} refused: {tag} is not in service on this node and no adapter of it holds the address; restore brings it up.",
    ),
    (
        7009,
        Severity::Error,
        "IP address {id} is already in use on the network by {mac} (probed on {nic}). Failing local recovery.",
    ),
    (
        7010,
        Severity::Error,
        "IP address {id} is in service on node {node} too, while it is in service here: address conflict; {node} is no standby for {tag}.",
    ),
    (
        7011,
        Severity::Warning,
        "Re-announcement of IP address {id} on network adapter {nic} failed ({err}); the address stays in service.",
    ),
    (
        7101,
        Severity::Information,
        "ipkit daemon started with {count} resource(s).",
    ),
    (7102, Severity::Information, "ipkit daemon stopping."),
    (
        7103,
        Severity::Information,
        "ipkit daemon reloaded its definitions: {count} resource(s).",
    ),
    (
        7104,
        Severity::Error,
        "Local recovery of {tag} ({id}) ran {count} times in {window} s; the resource is marked failed and local recovery stops until an operator clears it.",
    ),
    (
        7105,
        Severity::Warning,
        "Netlink event overrun; re-reading all link and address state.",
    ),
    (
        7106,
        Severity::Information,
        "on_failure command for {tag} ({id}) finished: {status}.",
    ),
    (
        7107,
        Severity::Information,
        "Failed mark of {tag} ({id}) cleared by an operator.",
    ),
    (
        7108,
        Severity::Error,
        "Address conflict: another host ({mac}) claims IP address {id}, in service on network adapter {nic}; ipkit defends it with one announcement at most every 10 s (RFC 5227).",
    ),
    (
        7201,
        Severity::Information,
        "Resource {tag} for IP address {id} created on network adapter {nic}.",
    ),
    (
        7202,
        Severity::Information,
        "Resource {tag} for IP address {id} deleted.",
    ),
];

pub(super) fn lookup(id: u16) -> Option<(u16, Severity, &'static str)> {
    CATALOG
        .iter()
        .chain(EXTRA_CATALOG.iter())
        .find(|(n, _, _)| *n == id)
        .copied()
}

/// Replace `{name}` placeholders in one pass (values are never re-scanned,
/// so a value that contains braces is printed as it is).
pub(super) fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_twenty_entries_with_both_6605s() {
        assert_eq!(CATALOG.len(), 20);
        assert_eq!(CATALOG.iter().filter(|e| e.0 == 6605).count(), 2);
        for (n, _, _) in EXTRA_CATALOG {
            assert!(!(6000..7000).contains(n), "{n} must lie outside 6000-6999");
        }
    }

    #[test]
    fn every_extra_number_is_used_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (n, _, _) in EXTRA_CATALOG {
            assert!(seen.insert(*n), "{n} appears twice");
        }
    }

    /// Issue 10 defect 11: a re-announcement (periodic, or defending the
    /// address) has its own event; 6016's wording (step 4-1 of restore and
    /// recover) is not reused.
    #[test]
    fn a_reannouncement_is_7011_in_its_own_words() {
        let (_, severity, text) = lookup(7011).expect("7011 in the catalog");
        assert_eq!(severity, Severity::Warning);
        assert!(text.starts_with("Re-announcement of IP address"), "{text}");
        for seed_words in ["Primary", "arpupdate", "ARP cache update"] {
            assert!(!text.contains(seed_words), "{text}");
        }
    }
}
