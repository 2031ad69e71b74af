//! The environment an OCF action runs in: `OCF_*` and `HA_*` variables.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::resource::{InvalidInput, Tag};

/// The environment an action sees: the `OCF_*` and `HA_*` variables.
#[derive(Debug, Clone, Default)]
pub struct OcfEnv {
    vars: HashMap<String, String>,
}

impl OcfEnv {
    /// The process environment (only the `OCF_`/`HA_` variables).
    pub fn from_process() -> Self {
        let vars = std::env::vars()
            .filter(|(k, _)| k.starts_with("OCF_") || k.starts_with("HA_"))
            .collect();
        Self { vars }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// `OCF_RESKEY_<name>`, with an empty value treated as unset.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.get(&format!("OCF_RESKEY_{name}"))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// A probe: a monitor with `OCF_RESKEY_CRM_meta_interval=0`.
    pub fn is_probe(&self) -> bool {
        self.get("OCF_RESKEY_CRM_meta_interval")
            .is_some_and(|v| v.trim() == "0")
    }

    /// `OCF_CHECK_LEVEL` (0 when unset or not a number).
    pub fn check_level(&self) -> u32 {
        self.get("OCF_CHECK_LEVEL")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Where the runtime state lives: `$HA_RSCTMP/ipkit`, else `/run/ipkit`.
    pub fn state_dir(&self) -> PathBuf {
        match self.get("HA_RSCTMP").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d).join("ipkit"),
            None => PathBuf::from("/run/ipkit"),
        }
    }

    /// This node's name as Pacemaker knows it, else the hostname.
    pub fn node(&self) -> String {
        self.param("CRM_meta_on_node")
            .map(str::to_owned)
            .unwrap_or_else(crate::node_name)
    }

    /// Running under Pacemaker (it always passes `CRM_meta_on_node`).
    pub fn under_pacemaker(&self) -> bool {
        self.param("CRM_meta_on_node").is_some()
    }

    /// The resource's tag, from `OCF_RESOURCE_INSTANCE` (see
    /// [`tag_from_instance`]); `None` when Pacemaker did not name it.
    pub fn instance_tag(&self) -> Option<Result<Tag, InvalidInput>> {
        self.get("OCF_RESOURCE_INSTANCE")
            .filter(|t| !t.is_empty())
            .map(tag_from_instance)
    }
}

/// `OCF_RESOURCE_INSTANCE` as a tag: clone instances (`vip:0`) and other
/// characters a tag may not hold become `-`; at most 64 characters.
fn tag_from_instance(instance: &str) -> Result<Tag, InvalidInput> {
    let mut text: String = instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        text.insert(0, 'r');
        text.truncate(64);
    }
    Tag::new(&text).map_err(|e| InvalidInput::new("OCF_RESOURCE_INSTANCE", e.reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_become_tags() {
        assert_eq!(tag_from_instance("vip:0").unwrap().as_str(), "vip-0");
        assert_eq!(tag_from_instance("_x").unwrap().as_str(), "r_x");
    }
}
