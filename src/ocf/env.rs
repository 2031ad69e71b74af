//! The environment an OCF action runs in: `OCF_*` and `HA_*` variables.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::resource::{InvalidInput, Tag};

/// The environment an action sees: the `OCF_*` and `HA_*` variables (a
/// B-tree: a hash map's random keys would cost the one-shot agent a
/// `getrandom` call for a dozen variables).
#[derive(Debug, Clone, Default)]
pub struct OcfEnv {
    vars: BTreeMap<String, String>,
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
        self.instance().map(tag_from_instance)
    }

    /// The tag agents before the injective mapping gave the instance, when
    /// it differs from [`OcfEnv::instance_tag`]: a resource they started
    /// keeps its state under it until the agent takes it over.
    pub fn legacy_instance_tag(&self) -> Option<Tag> {
        let instance = self.instance()?;
        let legacy = legacy_tag_from_instance(instance)?;
        match tag_from_instance(instance) {
            Ok(tag) if tag == legacy => None,
            _ => Some(legacy),
        }
    }

    fn instance(&self) -> Option<&str> {
        self.get("OCF_RESOURCE_INSTANCE").filter(|t| !t.is_empty())
    }
}

/// The longest tag (the tag grammar's limit).
const TAG_MAX: usize = 64;

/// The hashed form's suffix: `.h` and 16 hex digits.
const HASH_SUFFIX_LEN: usize = 2 + 16;

/// `OCF_RESOURCE_INSTANCE` as a tag, injectively (docs/pacemaker.md,
/// "Resource names and tags"):
/// - letters, digits, `_` and `-` stay as they are;
/// - every other character, `.` included (it is the escape), becomes `.`
///   and two lowercase hex digits per UTF-8 byte: `web:0` is `web.3a0`;
/// - when that does not start with a letter or digit, or is longer than 64
///   characters, the tag is its first letters (at most 46, from the first
///   letter or digit) and `.h` with the 64-bit FNV-1a hash of the name in
///   hex: `_vip` is `vip.h<16 hex>`.
///
/// The escaped form decodes back to the name (every `.` starts an escape),
/// and it never holds `.h` (`h` is no hex digit), which every hashed form
/// holds: two names share a tag only if both are hashed and their hashes
/// collide.
fn tag_from_instance(instance: &str) -> Result<Tag, InvalidInput> {
    let escaped = escape_instance(instance);
    let direct_fits =
        escaped.len() <= TAG_MAX && escaped.starts_with(|c: char| c.is_ascii_alphanumeric());
    let text = if direct_fits {
        escaped
    } else {
        let stem: String = escaped
            .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
            .chars()
            .take(TAG_MAX - HASH_SUFFIX_LEN)
            .collect();
        let stem = if stem.is_empty() {
            "r".to_owned()
        } else {
            stem
        };
        format!("{stem}.h{:016x}", fnv1a64(instance.as_bytes()))
    };
    Tag::new(&text).map_err(|e| InvalidInput::new("OCF_RESOURCE_INSTANCE", e.reason))
}

/// Letters, digits, `_` and `-` as they are; every other byte as `.xx`.
fn escape_instance(instance: &str) -> String {
    let mut out = String::with_capacity(instance.len());
    for c in instance.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
            out.push(c);
        } else {
            let mut bytes = [0; 4];
            for b in c.encode_utf8(&mut bytes).bytes() {
                out.push_str(&format!(".{b:02x}"));
            }
        }
    }
    out
}

/// FNV-1a, 64 bits: a fixed, documented function, so a tag never changes
/// between builds or machines (the state file is named after it).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The mapping of earlier agents (not injective: `web:0` and `web-0`
/// were both `web-0`): every character a tag may not hold became `-`, a
/// leading non-alphanumeric got an `r` in front, and the result was cut at
/// 64 characters. Kept only to find the state such an agent left.
fn legacy_tag_from_instance(instance: &str) -> Option<Tag> {
    let mut text: String = instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(TAG_MAX)
        .collect();
    if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        text.insert(0, 'r');
        text.truncate(TAG_MAX);
    }
    Tag::new(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn tag(instance: &str) -> String {
        tag_from_instance(instance).unwrap().as_str().to_owned()
    }

    #[test]
    fn common_names_keep_their_tag() {
        for name in ["vip", "p_vip", "web-ip", "VIP2", "ip_198-51-100-50"] {
            assert_eq!(tag(name), name);
            assert_eq!(
                OcfEnv::from_pairs([("OCF_RESOURCE_INSTANCE", name)]).legacy_instance_tag(),
                None
            );
        }
    }

    #[test]
    fn other_characters_are_escaped() {
        assert_eq!(tag("web:0"), "web.3a0");
        assert_eq!(tag("web-0"), "web-0");
        assert_eq!(tag("a.b"), "a.2eb");
        assert_eq!(tag("vip\u{e9}"), "vip.c3.a9");
    }

    #[test]
    fn names_that_collided_get_distinct_tags() {
        let names = [
            "web:0", "web-0", "web.0", "web_0", "web.3a0", "web.2e0", "web:0:", "web::0",
        ];
        let tags: BTreeSet<String> = names.iter().map(|n| tag(n)).collect();
        assert_eq!(tags.len(), names.len(), "{tags:?}");
    }

    #[test]
    fn long_or_oddly_starting_names_are_hashed_within_64() {
        let long = "a".repeat(64);
        assert_eq!(tag(&long), long, "64 plain characters fit");
        let longer = "a".repeat(65);
        let t = tag(&longer);
        assert_eq!(t.len(), 64);
        assert!(
            t.starts_with(&"a".repeat(46)) && t[46..].starts_with(".h"),
            "{t}"
        );
        assert_ne!(tag(&format!("{longer}b")), t);
        // 22 colons escape to 66 characters, whose escape starts with '.'.
        let colons = tag(&":".repeat(22));
        assert!(
            colons.starts_with("3a.3a") && colons[46..].starts_with(".h"),
            "{colons}"
        );
        assert!(tag("__").starts_with("r.h"), "nothing to keep");
        assert_eq!(tag("_vip"), "vip.had248943d1fd3e19");
        assert_ne!(tag("_vip"), tag("-vip"));
        assert_ne!(tag("_vip"), tag("vip"));
    }

    #[test]
    fn the_hash_is_fnv1a_64() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_legacy_tag_is_named_only_when_it_differs() {
        let env = |n| OcfEnv::from_pairs([("OCF_RESOURCE_INSTANCE", n)]);
        assert_eq!(
            env("web:0").legacy_instance_tag().unwrap().as_str(),
            "web-0"
        );
        assert_eq!(env("_x").legacy_instance_tag().unwrap().as_str(), "r_x");
        assert_eq!(env("a.b").legacy_instance_tag().unwrap().as_str(), "a.b");
        assert_eq!(env("web-0").legacy_instance_tag(), None);
        assert_eq!(OcfEnv::default().legacy_instance_tag(), None);
    }
}
