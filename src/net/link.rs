//! Adapters as the seam reports them: the cable state of SPEC §2, one
//! adapter's identity and state, and the raw flags a backend reads, with
//! the one rule that turns flags into a cable state.

use std::fmt;

use crate::resource::{AdapterName, Mac};

/// Cable state of an adapter (SPEC §2: carrier; admin-down or missing
/// counts as disconnected, but missing is kept apart for clear messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Connected,
    Disconnected,
    Missing,
}

impl LinkState {
    /// SPEC §2: an adapter is connected when it is administratively up
    /// and has carrier; anything else is disconnected. The one place this
    /// rule is written.
    pub fn from_flags(admin_up: bool, carrier: bool) -> Self {
        if admin_up && carrier {
            LinkState::Connected
        } else {
            LinkState::Disconnected
        }
    }

    pub fn is_connected(self) -> bool {
        self == LinkState::Connected
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connected => "connected",
            LinkState::Disconnected => "disconnected",
            LinkState::Missing => "missing",
        }
    }
}

impl fmt::Display for LinkState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the system knows of one adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub name: AdapterName,
    pub ifindex: u32,
    pub mac: Mac,
    pub state: LinkState,
    /// How often the carrier came or went since the adapter appeared, where
    /// the system counts it (Linux: `IFLA_CARRIER_CHANGES`). With the
    /// ifindex it names one stretch of carrier state: quickCheck's
    /// debounce tells a cable still down from one that came back and went
    /// again (SPEC §4 quickCheck 1).
    pub carrier_changes: Option<u32>,
}

/// One adapter as a backend reads it: identity and the two flags the cable
/// state comes from. Links in a [`super::NodeSnapshot`] and link changes of
/// a [`super::ChangeSource`] are these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatus {
    pub name: AdapterName,
    pub ifindex: u32,
    /// None when the adapter has no hardware address (e.g. a tunnel).
    pub mac: Option<Mac>,
    /// Administratively up (`IFF_UP` on Linux).
    pub admin_up: bool,
    /// The cable (carrier) is there.
    pub carrier: bool,
}

impl LinkStatus {
    /// The cable state (SPEC §2).
    pub fn state(&self) -> LinkState {
        LinkState::from_flags(self.admin_up, self.carrier)
    }

    pub fn is_connected(&self) -> bool {
        self.state().is_connected()
    }

    /// The seam's view of this adapter (a missing MAC reads as all zeros).
    pub fn info(&self) -> LinkInfo {
        LinkInfo {
            name: self.name.clone(),
            ifindex: self.ifindex,
            mac: self.mac.unwrap_or_default(),
            state: self.state(),
            carrier_changes: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_needs_admin_up_and_carrier() {
        assert_eq!(LinkState::from_flags(true, true), LinkState::Connected);
        assert_eq!(LinkState::from_flags(true, false), LinkState::Disconnected);
        assert_eq!(LinkState::from_flags(false, true), LinkState::Disconnected);
        assert_eq!(LinkState::from_flags(false, false), LinkState::Disconnected);
        let l = LinkStatus {
            name: AdapterName::new("eth0").unwrap(),
            ifindex: 2,
            mac: None,
            admin_up: false,
            carrier: true,
        };
        assert_eq!(l.info().state, LinkState::Disconnected);
        assert_eq!(l.info().mac, Mac::default());
    }
}
