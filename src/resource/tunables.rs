//! The tunables of SPEC §1 with their documented defaults and maxima, and
//! the whole-millisecond form durations take in definitions.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::InvalidInput;

/// Durations in definitions are written as whole milliseconds.
pub mod ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// The tunables of SPEC §1, each with its documented default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tunables {
    /// How long restore listens for another owner of the address; 0 = no probe.
    #[serde(rename = "probe_timeout_ms", with = "ms")]
    pub probe_timeout: Duration,
    /// Gratuitous ARP / unsolicited NA rounds after an add.
    pub announce_count: u32,
    #[serde(rename = "announce_interval_ms", with = "ms")]
    pub announce_interval: Duration,
    /// Periodic re-announcement while in service; 0 = off.
    #[serde(rename = "announce_refresh_ms", with = "ms")]
    pub announce_refresh: Duration,
    #[serde(rename = "quick_check_interval_ms", with = "ms")]
    pub quick_check_interval: Duration,
    #[serde(rename = "deep_check_interval_ms", with = "ms")]
    pub deep_check_interval: Duration,
    /// How long a link must stay down before quickCheck fails on it.
    #[serde(rename = "link_debounce_ms", with = "ms")]
    pub link_debounce: Duration,
    /// Local recoveries allowed in `restart_window` before the resource is failed.
    pub restart_threshold: u32,
    #[serde(rename = "restart_window_ms", with = "ms")]
    pub restart_window: Duration,
    /// How long an operation waits for another one on the same resource.
    #[serde(rename = "lock_timeout_ms", with = "ms")]
    pub lock_timeout: Duration,
    /// Add the address without a prefix route (`IFA_F_NOPREFIXROUTE`).
    pub noprefixroute: bool,
    /// Add the address deprecated (preferred lifetime 0), so that the
    /// node's own outgoing connections take another source address (IPv6;
    /// IPv4 kernels ignore it: docs/linux-backend.md).
    pub never_as_source: bool,
    /// Priority of the policy rule that sends traffic sourced from the
    /// address through the adapter holding it (Linux; docs/linux-backend.md
    /// "Source routing"); 0 = ipkit installs no rule.
    pub source_rule_priority: u32,
}

/// The default [`Tunables::source_rule_priority`]: before `main` (32766),
/// after the low numbers operators and other tools choose
/// (docs/linux-backend.md, "Coexistence with the operator's rules").
pub const DEFAULT_SOURCE_RULE_PRIORITY: u32 = 32000;
/// The `main` table's rule: ipkit's must come before it.
const MAIN_RULE_PRIORITY: u32 = 32766;

impl Default for Tunables {
    fn default() -> Self {
        Self {
            probe_timeout: Duration::from_millis(200),
            announce_count: 5,
            announce_interval: Duration::from_millis(200),
            announce_refresh: Duration::ZERO,
            quick_check_interval: Duration::from_secs(5),
            deep_check_interval: Duration::from_secs(60),
            link_debounce: Duration::ZERO,
            restart_threshold: 3,
            restart_window: Duration::from_secs(15 * 60),
            lock_timeout: Duration::from_secs(30),
            noprefixroute: false,
            never_as_source: false,
            source_rule_priority: DEFAULT_SOURCE_RULE_PRIORITY,
        }
    }
}

/// Maxima in milliseconds (README "Configuration").
const SECOND_MS: u64 = 1_000;
const HOUR_MS: u64 = 3_600 * SECOND_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

impl Tunables {
    /// Each duration with its field name and documented maximum (ms). A
    /// value above it is refused by name, and everything below it fits
    /// the TOML integer a definition writes it as.
    fn durations(&self) -> [(&'static str, Duration, u64); 8] {
        [
            ("probe_timeout", self.probe_timeout, 10 * SECOND_MS),
            ("announce_interval", self.announce_interval, 60 * SECOND_MS),
            ("announce_refresh", self.announce_refresh, DAY_MS),
            ("quick_check_interval", self.quick_check_interval, DAY_MS),
            ("deep_check_interval", self.deep_check_interval, DAY_MS),
            ("link_debounce", self.link_debounce, 60 * SECOND_MS),
            ("restart_window", self.restart_window, 7 * DAY_MS),
            ("lock_timeout", self.lock_timeout, HOUR_MS),
        ]
    }

    /// Upper bounds that keep a typo from wedging a node.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        if self.announce_count > 100 {
            return Err(InvalidInput::new("announce_count", "must be at most 100"));
        }
        for (field, value, max_ms) in self.durations() {
            if value > Duration::from_millis(max_ms) {
                return Err(InvalidInput::new(
                    field,
                    format!("must be at most {max_ms} ms"),
                ));
            }
        }
        if self.source_rule_priority >= MAIN_RULE_PRIORITY {
            return Err(InvalidInput::new(
                "source_rule_priority",
                format!(
                    "must be below {MAIN_RULE_PRIORITY} (the main table's rule), or 0 for no rule"
                ),
            ));
        }
        if self.announce_count > 1 && self.announce_interval.is_zero() {
            return Err(InvalidInput::new(
                "announce_interval",
                "must be above 0 ms when announce_count is above 1",
            ));
        }
        for (field, value) in [
            ("quick_check_interval", self.quick_check_interval),
            ("deep_check_interval", self.deep_check_interval),
            ("restart_window", self.restart_window),
        ] {
            if value.is_zero() {
                return Err(InvalidInput::new(field, "must be above 0 ms"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunables_above_their_maximum_name_the_field_and_the_maximum() {
        let huge = Duration::from_millis(u64::MAX);
        type Set = fn(&mut Tunables, Duration);
        let cases: [(&str, Set); 5] = [
            ("announce_refresh", |t, d| t.announce_refresh = d),
            ("quick_check_interval", |t, d| t.quick_check_interval = d),
            ("deep_check_interval", |t, d| t.deep_check_interval = d),
            ("link_debounce", |t, d| t.link_debounce = d),
            ("restart_window", |t, d| t.restart_window = d),
        ];
        for (field, set) in cases {
            let mut t = Tunables::default();
            set(&mut t, huge);
            let e = t.validate().unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.reason.contains("at most"), "{e}");
            // Every tunable that validates also serializes into a definition.
            let mut ok = Tunables::default();
            let max = e
                .reason
                .split_whitespace()
                .find_map(|w| w.parse::<u64>().ok())
                .expect("the maximum in ms");
            set(&mut ok, Duration::from_millis(max));
            ok.validate().unwrap();
            toml::to_string(&ok).unwrap();
        }
    }
}
