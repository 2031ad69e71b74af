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
}

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
        }
    }
}

impl Tunables {
    /// Upper bounds that keep a typo from wedging a node.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        if self.probe_timeout > Duration::from_secs(10) {
            return Err(InvalidInput::new(
                "probe_timeout",
                "must be at most 10000 ms",
            ));
        }
        if self.announce_count > 100 {
            return Err(InvalidInput::new("announce_count", "must be at most 100"));
        }
        if self.announce_count > 1 && self.announce_interval.is_zero() {
            return Err(InvalidInput::new(
                "announce_interval",
                "must be above 0 ms when announce_count is above 1",
            ));
        }
        if self.announce_interval > Duration::from_secs(60) {
            return Err(InvalidInput::new(
                "announce_interval",
                "must be at most 60000 ms",
            ));
        }
        if self.lock_timeout > Duration::from_secs(3600) {
            return Err(InvalidInput::new(
                "lock_timeout",
                "must be at most 3600000 ms",
            ));
        }
        if self.quick_check_interval.is_zero() {
            return Err(InvalidInput::new(
                "quick_check_interval",
                "must be above 0 ms",
            ));
        }
        if self.deep_check_interval.is_zero() {
            return Err(InvalidInput::new(
                "deep_check_interval",
                "must be above 0 ms",
            ));
        }
        if self.restart_window.is_zero() {
            return Err(InvalidInput::new("restart_window", "must be above 0 ms"));
        }
        Ok(())
    }
}
