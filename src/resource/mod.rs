//! The resource model of SPEC §1: validated domain types, the definition
//! with its tunables, and the runtime state.
//!
//! Every type here is validated when it is built, so nothing downstream
//! handles raw strings. Errors name the field and the reason. The address
//! lives in [`address`], the tunables in [`tunables`].

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod address;
mod tunables;

pub use address::Address;
pub use tunables::{DEFAULT_SOURCE_RULE_PRIORITY, Tunables, ms};

/// A refusal of bad input: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// A resource tag: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}` (SPEC §1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    pub fn new(s: &str) -> Result<Self, InvalidInput> {
        let bytes = s.as_bytes();
        if bytes.is_empty() {
            return Err(InvalidInput::new("tag", "must not be empty"));
        }
        if bytes.len() > 64 {
            return Err(InvalidInput::new(
                "tag",
                format!("{} characters is too long (at most 64)", s.chars().count()),
            ));
        }
        if !bytes[0].is_ascii_alphanumeric() {
            return Err(InvalidInput::new(
                "tag",
                format!("{s:?} must start with a letter or a digit"),
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(InvalidInput::new(
                "tag",
                format!("{s:?} contains {c:?}; allowed are letters, digits, '.', '_' and '-'"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The default tag of SPEC §1: `ip-<address>`. IPv6 colons are not
    /// allowed in a tag, so they become '-'.
    pub fn default_for(addr: IpAddr) -> Self {
        let text = format!("ip-{addr}").replace(':', "-");
        // The address text only holds hex digits, '.', ':' so this is valid.
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Linux interface name: 1–15 bytes, no '/', no whitespace, not '.' or
/// '..' (and no ':' or NUL, which the kernel also refuses).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AdapterName(String);

impl AdapterName {
    pub fn new(s: &str) -> Result<Self, InvalidInput> {
        Self::new_for("adapter", s)
    }

    /// The loopback adapter, by its name, cannot hold a switchable address
    /// (the command line's and the OCF agent's check; `field` names the
    /// parameter).
    pub fn refuse_loopback(&self, field: &'static str) -> Result<(), InvalidInput> {
        if self.0 == "lo" {
            return Err(InvalidInput::new(
                field,
                "lo is the loopback adapter; a switchable address needs a network adapter",
            ));
        }
        Ok(())
    }

    /// Validate for a named field (`adapter`, `recovery_adapter`, ...).
    pub fn new_for(field: &'static str, s: &str) -> Result<Self, InvalidInput> {
        if s.is_empty() {
            return Err(InvalidInput::new(field, "must not be empty"));
        }
        adapter_name_rule(field, s)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Linux interface names: at most 15 bytes, no `/`, `:` or white space.
#[cfg(not(windows))]
fn adapter_name_rule(field: &'static str, s: &str) -> Result<(), InvalidInput> {
    if s.len() > 15 {
        return Err(InvalidInput::new(
            field,
            format!("{s:?} is {} bytes; Linux allows at most 15", s.len()),
        ));
    }
    if s == "." || s == ".." {
        return Err(InvalidInput::new(
            field,
            format!("{s:?} is not a valid interface name"),
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| *c == '/' || *c == ':' || *c == '\0' || c.is_whitespace())
    {
        return Err(InvalidInput::new(
            field,
            format!("{s:?} contains {c:?}, which interface names may not"),
        ));
    }
    Ok(())
}

/// Windows adapters are named by their friendly name (interface alias,
/// at most 256 characters, spaces allowed: "Ethernet 2") or their GUID
/// (docs/windows.md); no control characters, no white space at either end.
#[cfg(windows)]
fn adapter_name_rule(field: &'static str, s: &str) -> Result<(), InvalidInput> {
    if s.chars().count() > 256 {
        return Err(InvalidInput::new(
            field,
            format!("{s:?} is longer than an interface alias may be (256 characters)"),
        ));
    }
    if s.trim() != s {
        return Err(InvalidInput::new(
            field,
            format!("{s:?} begins or ends with white space"),
        ));
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(InvalidInput::new(
            field,
            format!("{s:?} contains {c:?}, which adapter names may not"),
        ));
    }
    Ok(())
}

impl fmt::Display for AdapterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! string_serde {
    ($ty:ty) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                <$ty>::new(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(Tag);
string_serde!(AdapterName);

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for Mac {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(InvalidInput::new(
                "mac",
                format!("{s:?} is not a MAC address"),
            ));
        }
        for (i, p) in parts.iter().enumerate() {
            out[i] = u8::from_str_radix(p, 16)
                .map_err(|_| InvalidInput::new("mac", format!("{s:?} is not a MAC address")))?;
        }
        Ok(Mac(out))
    }
}

impl Serialize for Mac {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The identity of an adapter recorded when the resource was defined, so a
/// replaced or renamed NIC can be reported clearly (SPEC §1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterIdentity {
    pub mac: Mac,
    pub ifindex: u32,
    /// The adapter's GUID where the platform names adapters by one
    /// (Windows: the identity the seed's `ips_ipchange` uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
}

impl AdapterIdentity {
    /// How an adapter seen now differs from this recorded identity, e.g.
    /// `MAC 02:00:5e:00:53:77 now, 02:00:5e:00:53:01 recorded`; `None` when
    /// it is the same NIC. A MAC the kernel did not report is not compared.
    pub fn differences(&self, mac: Option<Mac>, ifindex: u32) -> Option<String> {
        let mut what = Vec::new();
        if let Some(mac) = mac
            && mac != self.mac
        {
            what.push(format!("MAC {mac} now, {} recorded", self.mac));
        }
        if ifindex != self.ifindex {
            what.push(format!("ifindex {ifindex} now, {} recorded", self.ifindex));
        }
        (!what.is_empty()).then(|| what.join("; "))
    }
}

/// A resource definition (SPEC §1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub tag: Tag,
    pub address: Address,
    pub adapter: AdapterName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_adapter: Option<AdapterName>,
    #[serde(default = "default_true")]
    pub local_recovery: bool,
    /// The daemon brings the resource up by itself and keeps it up.
    #[serde(default)]
    pub hold_in_service: bool,
    #[serde(default)]
    pub tunables: Tunables,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_identity: Option<AdapterIdentity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_adapter_identity: Option<AdapterIdentity>,
}

fn default_true() -> bool {
    true
}

impl Definition {
    /// A definition with default tunables. Checks the relations between
    /// fields; whether the adapters exist is for the caller to check.
    pub fn new(
        tag: Tag,
        address: Address,
        adapter: AdapterName,
        recovery_adapter: Option<AdapterName>,
    ) -> Result<Self, InvalidInput> {
        let def = Self {
            tag,
            address,
            adapter,
            recovery_adapter,
            local_recovery: true,
            hold_in_service: false,
            tunables: Tunables::default(),
            adapter_identity: None,
            recovery_adapter_identity: None,
        };
        def.validate()?;
        Ok(def)
    }

    pub fn validate(&self) -> Result<(), InvalidInput> {
        if self.recovery_adapter.as_ref() == Some(&self.adapter) {
            return Err(InvalidInput::new(
                "recovery_adapter",
                format!(
                    "{} is the primary adapter; the recovery adapter must be another one",
                    self.adapter
                ),
            ));
        }
        self.tunables.validate()
    }

    /// The resource ID of SPEC §1: the canonical text of the address.
    pub fn id(&self) -> String {
        self.address.ip().to_string()
    }

    /// The adapter that local recovery moves to: the recovery adapter, or
    /// the primary again when none is defined (SPEC §4 restore 5, recover 6).
    pub fn local_recovery_target(&self) -> &AdapterName {
        self.recovery_adapter.as_ref().unwrap_or(&self.adapter)
    }

    /// The identity recorded at definition time for `adapter`, if any.
    pub fn recorded_identity(&self, adapter: &AdapterName) -> Option<&AdapterIdentity> {
        if *adapter == self.adapter {
            self.adapter_identity.as_ref()
        } else if Some(adapter) == self.recovery_adapter.as_ref() {
            self.recovery_adapter_identity.as_ref()
        } else {
            None
        }
    }
}

/// Which operation (also used in events and results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    QuickCheck,
    DeepCheck,
    Restore,
    Remove,
    Recover,
    Create,
    Delete,
    Daemon,
}

impl Operation {
    /// The name as LifeKeeper spells it (used as `{cmd}` in 6019).
    pub fn name(self) -> &'static str {
        match self {
            Operation::QuickCheck => "quickCheck",
            Operation::DeepCheck => "deepCheck",
            Operation::Restore => "restore",
            Operation::Remove => "remove",
            Operation::Recover => "recover",
            Operation::Create => "create",
            Operation::Delete => "delete",
            Operation::Daemon => "daemon",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The last result of one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastResult {
    pub success: bool,
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    /// The catalog number that decided the result (e.g. 6507), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<u16>,
}

/// Runtime state, kept apart from the definition (SPEC §1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RuntimeState {
    /// The adapter that currently should hold the address; `None` means the
    /// primary adapter (it starts as `adapter`, local recovery changes it).
    pub active_adapter: Option<AdapterName>,
    pub in_service: bool,
    /// Set by the daemon when the restart threshold is exceeded; cleared by
    /// an operator (`ipkit clear`) or by a successful restore.
    pub failed: bool,
    pub last: std::collections::BTreeMap<Operation, LastResult>,
    /// The carrier loss quickCheck last found on the active adapter, so
    /// that the next look counts the debounce from it (issue 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_down: Option<LinkDown>,
    /// The last address conflict seen while in service here (issue 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_conflict: Option<ConflictRecord>,
}

/// One carrier loss as quickCheck saw it (SPEC §4 quickCheck 1): the
/// adapter, the stretch of carrier state it was (its ifindex and the
/// kernel's count of carrier changes at the time), and when it was first
/// known to be down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkDown {
    pub adapter: AdapterName,
    /// 0 when the adapter was missing.
    pub ifindex: u32,
    /// None where the system does not count carrier changes: such a loss
    /// is never taken for the same one at a later look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_changes: Option<u32>,
    #[serde(with = "rfc3339")]
    pub since: SystemTime,
}

/// Another holder of the address, seen while the resource was in service
/// here: a host claiming it on the wire (RFC 5227 §2.4: `mac`, heard on
/// `adapter`), or a peer reporting it in service too (`peer`, SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictRecord {
    #[serde(with = "rfc3339")]
    pub time: SystemTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<Mac>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

impl ConflictRecord {
    /// A claim by `mac`, heard on `adapter`.
    pub fn heard(time: SystemTime, mac: Mac, adapter: AdapterName) -> Self {
        Self {
            time,
            mac: Some(mac),
            adapter: Some(adapter),
            peer: None,
        }
    }

    /// A peer that reports the resource in service.
    pub fn peer(time: SystemTime, node: &str) -> Self {
        Self {
            time,
            mac: None,
            adapter: None,
            peer: Some(node.to_owned()),
        }
    }
}

impl RuntimeState {
    pub fn active_adapter<'a>(&'a self, def: &'a Definition) -> &'a AdapterName {
        self.active_adapter.as_ref().unwrap_or(&def.adapter)
    }

    /// Whether `self` says what `other` says, apart from the times of the
    /// results: a check that ends as the last one did is no news, and is
    /// not written again (the daemon's periodic checks, the OCF monitor;
    /// docs/spec-notes.md "A repeated result is not written again"). A
    /// new carrier loss and a new conflict are news.
    pub fn same_but_for_times(&self, other: &RuntimeState) -> bool {
        let results = |s: &RuntimeState| -> Vec<(Operation, bool, Option<u16>)> {
            s.last
                .iter()
                .map(|(op, r)| (*op, r.success, r.event))
                .collect()
        };
        self.active_adapter == other.active_adapter
            && self.in_service == other.in_service
            && self.failed == other.failed
            && results(self) == results(other)
            && self.link_down == other.link_down
            && self.last_conflict == other.last_conflict
    }

    pub fn record(&mut self, op: Operation, success: bool, event: Option<u16>, time: SystemTime) {
        self.last.insert(
            op,
            LastResult {
                success,
                time,
                event,
            },
        );
    }
}

/// The definition unit tests start from: tag `vip`, 198.51.100.10/24 on
/// `eth0`, with `eth1` as recovery adapter when `recovery` is set.
#[cfg(test)]
pub(crate) fn sample_definition(recovery: bool) -> Definition {
    let adapter = |n: &str| AdapterName::new(n).expect("valid adapter name");
    Definition::new(
        Tag::new("vip").expect("valid tag"),
        "198.51.100.10/24".parse().expect("valid address"),
        adapter("eth0"),
        recovery.then(|| adapter("eth1")),
    )
    .expect("valid definition")
}

/// RFC 3339 timestamps for serde.
pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::SystemTime;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn format(t: SystemTime) -> String {
        OffsetDateTime::from(t)
            .format(&Rfc3339)
            .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
    }

    pub fn parse(s: &str) -> Result<SystemTime, String> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(SystemTime::from)
            .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
    }

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_rules() {
        assert!(Tag::new("vip1").is_ok());
        assert!(Tag::new("a.b_c-d").is_ok());
        assert!(Tag::new(&"a".repeat(64)).is_ok());
        assert_eq!(Tag::new(&"a".repeat(65)).unwrap_err().field, "tag");
        assert!(Tag::new("").is_err());
        assert!(Tag::new("-x").is_err());
        assert!(Tag::new("a b").is_err());
        assert!(Tag::new("a/b").is_err());
        assert_eq!(
            Tag::default_for("2001:db8::1".parse().unwrap()).as_str(),
            "ip-2001-db8--1"
        );
        assert!(Tag::new(Tag::default_for("2001:db8::1".parse().unwrap()).as_str()).is_ok());
    }

    #[cfg(not(windows))]
    #[test]
    fn adapter_rules() {
        assert!(AdapterName::new("eth0").is_ok());
        assert!(AdapterName::new(&"e".repeat(15)).is_ok());
        assert!(AdapterName::new(&"e".repeat(16)).is_err());
        for bad in ["", ".", "..", "a/b", "a b", "a\tb", "a:b"] {
            assert!(AdapterName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[cfg(windows)]
    #[test]
    fn adapter_rules() {
        for good in [
            "eth0",
            "Ethernet 2",
            "{4D36E972-E325-11CE-BFC1-08002BE10318}",
        ] {
            assert!(AdapterName::new(good).is_ok(), "{good:?}");
        }
        assert!(AdapterName::new(&"e".repeat(256)).is_ok());
        for bad in [
            "",
            " Ethernet",
            "Ethernet ",
            "a\tb",
            "a\nb",
            &"e".repeat(257),
        ] {
            assert!(AdapterName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn definition_round_trips_through_toml() {
        let def = Definition::new(
            Tag::new("vip").unwrap(),
            "198.51.100.10/24".parse().unwrap(),
            AdapterName::new("eth0").unwrap(),
            Some(AdapterName::new("eth1").unwrap()),
        )
        .unwrap();
        let text = toml::to_string(&def).unwrap();
        let back: Definition = toml::from_str(&text).unwrap();
        assert_eq!(def, back);
        let same = Definition::new(
            Tag::new("vip").unwrap(),
            "198.51.100.10/24".parse().unwrap(),
            AdapterName::new("eth0").unwrap(),
            Some(AdapterName::new("eth0").unwrap()),
        );
        assert_eq!(same.unwrap_err().field, "recovery_adapter");
    }
}
