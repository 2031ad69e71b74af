//! The per-interface sysctls the doctor reads, how the kernel combines `all` with an interface's own value, and the sysctl.d lines that fix one.
//!
//! `net.ipv4.conf.<if>.<name>` is not always the value the kernel uses:
//! for most IPv4 settings the kernel combines it with `conf.all` (macros
//! `IN_DEV_MAXCONF` / `IN_DEV_ORCONF` in `include/linux/inetdevice.h`):
//! - `arp_ignore`, `arp_announce`, `rp_filter`: the larger of the two;
//! - `promote_secondaries`, `ignore_routes_with_linkdown`: either one set;
//! - IPv6 settings are per interface only (writing `conf.all` of
//!   `ignore_routes_with_linkdown` or `disable_ipv6` copies the value to
//!   every interface, so the interface's own value is the one in force).

use std::collections::BTreeMap;
use std::fmt;

use crate::resource::AdapterName;

/// The drop-in every fix names (sysctl.d(5)).
pub const SYSCTL_FILE: &str = "/etc/sysctl.d/90-ipkit.conf";

/// How the kernel combines `conf.all.<name>` with `conf.<if>.<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// `IN_DEV_MAXCONF`: the larger value counts.
    Max,
    /// `IN_DEV_ORCONF`: on when either is non-zero.
    Or,
    /// Only the interface's own value counts.
    Interface,
}

/// A per-interface sysctl the rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Conf {
    ArpIgnore,
    ArpAnnounce,
    PromoteSecondaries,
    RpFilter,
    IgnoreRoutesWithLinkdownV4,
    IgnoreRoutesWithLinkdownV6,
    DisableIpv6,
}

impl Conf {
    pub const ALL: [Conf; 7] = [
        Conf::ArpIgnore,
        Conf::ArpAnnounce,
        Conf::PromoteSecondaries,
        Conf::RpFilter,
        Conf::IgnoreRoutesWithLinkdownV4,
        Conf::IgnoreRoutesWithLinkdownV6,
        Conf::DisableIpv6,
    ];

    /// `ipv4` or `ipv6`.
    pub fn family(self) -> &'static str {
        match self {
            Conf::IgnoreRoutesWithLinkdownV6 | Conf::DisableIpv6 => "ipv6",
            _ => "ipv4",
        }
    }

    /// The file name under `net/<family>/conf/<scope>/`.
    pub fn name(self) -> &'static str {
        match self {
            Conf::ArpIgnore => "arp_ignore",
            Conf::ArpAnnounce => "arp_announce",
            Conf::PromoteSecondaries => "promote_secondaries",
            Conf::RpFilter => "rp_filter",
            Conf::IgnoreRoutesWithLinkdownV4 | Conf::IgnoreRoutesWithLinkdownV6 => {
                "ignore_routes_with_linkdown"
            }
            Conf::DisableIpv6 => "disable_ipv6",
        }
    }

    pub fn combine(self) -> Combine {
        match self {
            Conf::ArpIgnore | Conf::ArpAnnounce | Conf::RpFilter => Combine::Max,
            Conf::PromoteSecondaries | Conf::IgnoreRoutesWithLinkdownV4 => Combine::Or,
            Conf::IgnoreRoutesWithLinkdownV6 | Conf::DisableIpv6 => Combine::Interface,
        }
    }

    /// The path below `/proc/sys`, e.g. `net/ipv4/conf/eth0/arp_ignore`.
    pub fn path(self, scope: &Scope) -> String {
        format!("net/{}/conf/{scope}/{}", self.family(), self.name())
    }

    /// The sysctl.d key: dotted (`net.ipv4.conf.eth0.arp_ignore`), or
    /// with slashes when the interface name has a dot (`eth0.100`), as
    /// sysctl.d(5) requires.
    pub fn key(self, scope: &Scope) -> String {
        let path = self.path(scope);
        if scope.to_string().contains('.') {
            path
        } else {
            path.replace('/', ".")
        }
    }
}

/// `conf.all` or one interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    All,
    Adapter(AdapterName),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("all"),
            Scope::Adapter(a) => f.write_str(a.as_str()),
        }
    }
}

/// The sysctl values read (a value that could not be read is absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sysctls(BTreeMap<(Conf, Scope), i64>);

/// A value in force and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub conf: Conf,
    pub adapter: AdapterName,
    /// What the kernel uses.
    pub value: i64,
    /// `conf.all` (`None` for [`Combine::Interface`]).
    pub all: Option<i64>,
    pub own: i64,
}

impl Sysctls {
    pub fn set(&mut self, conf: Conf, scope: Scope, value: i64) {
        self.0.insert((conf, scope), value);
    }

    pub fn get(&self, conf: Conf, scope: &Scope) -> Option<i64> {
        self.0.get(&(conf, scope.clone())).copied()
    }

    /// The value the kernel uses for `adapter`; `None` when a value it
    /// depends on could not be read.
    pub fn effective(&self, conf: Conf, adapter: &AdapterName) -> Option<Effective> {
        let own = self.get(conf, &Scope::Adapter(adapter.clone()))?;
        let (value, all) = match conf.combine() {
            Combine::Interface => (own, None),
            Combine::Max => {
                let all = self.get(conf, &Scope::All)?;
                (all.max(own), Some(all))
            }
            Combine::Or => {
                let all = self.get(conf, &Scope::All)?;
                (i64::from(all != 0 || own != 0), Some(all))
            }
        };
        Some(Effective {
            conf,
            adapter: adapter.clone(),
            value,
            all,
            own,
        })
    }
}

impl Effective {
    /// `arp_ignore is 0 on eth1 (the larger of all 0 and eth1 0)`.
    pub fn describe(&self) -> String {
        let name = self.conf.name();
        let (value, adapter) = (self.value, &self.adapter);
        match (self.conf.combine(), self.all) {
            (Combine::Max, Some(all)) => format!(
                "{name} is {value} on {adapter} (the larger of all {all} and {adapter} {})",
                self.own
            ),
            (Combine::Or, Some(all)) => format!(
                "{name} is {} for {adapter} (all {all}, {adapter} {})",
                if value != 0 { "on" } else { "off" },
                self.own
            ),
            _ => format!("{name} is {value} on {adapter}"),
        }
    }

    /// The fix that makes the value in force `want`: the interface's own
    /// line, and `conf.all` too where `all` alone would keep it otherwise
    /// (a larger `all` under [`Combine::Max`], a set `all` under
    /// [`Combine::Or`] when `want` is 0).
    pub fn fix(&self, want: i64) -> String {
        let own = Scope::Adapter(self.adapter.clone());
        let all_too = match (self.conf.combine(), self.all) {
            (Combine::Max, Some(all)) => all > want,
            (Combine::Or, Some(all)) => want == 0 && all != 0,
            _ => false,
        };
        let mut lines = Vec::new();
        if all_too {
            lines.push(format!("\"{} = {want}\"", self.conf.key(&Scope::All)));
        }
        lines.push(format!("\"{} = {want}\"", self.conf.key(&own)));
        format!(
            "add {} to {SYSCTL_FILE}, then run `sysctl --system`",
            lines.join(" and ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(n: &str) -> AdapterName {
        AdapterName::new(n).unwrap()
    }

    fn with(conf: Conf, all: i64, own: i64) -> Sysctls {
        let mut s = Sysctls::default();
        s.set(conf, Scope::All, all);
        s.set(conf, Scope::Adapter(eth("eth0")), own);
        s
    }

    #[test]
    fn max_settings_take_the_larger_value() {
        let e = with(Conf::RpFilter, 2, 1)
            .effective(Conf::RpFilter, &eth("eth0"))
            .unwrap();
        assert_eq!(e.value, 2, "strict on eth0 but loose in all: loose");
        let e = with(Conf::RpFilter, 0, 1)
            .effective(Conf::RpFilter, &eth("eth0"))
            .unwrap();
        assert_eq!(e.value, 1);
        assert_eq!(
            e.describe(),
            "rp_filter is 1 on eth0 (the larger of all 0 and eth0 1)"
        );
    }

    #[test]
    fn or_settings_are_on_when_either_is() {
        for (all, own, on) in [(0, 0, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1)] {
            let e = with(Conf::PromoteSecondaries, all, own)
                .effective(Conf::PromoteSecondaries, &eth("eth0"))
                .unwrap();
            assert_eq!(e.value, on, "all {all}, own {own}");
        }
    }

    #[test]
    fn ipv6_settings_are_the_interfaces_own() {
        let e = with(Conf::IgnoreRoutesWithLinkdownV6, 1, 0)
            .effective(Conf::IgnoreRoutesWithLinkdownV6, &eth("eth0"))
            .unwrap();
        assert_eq!((e.value, e.all), (0, None));
    }

    #[test]
    fn an_unread_value_leaves_the_setting_unknown() {
        let mut s = Sysctls::default();
        s.set(Conf::ArpIgnore, Scope::Adapter(eth("eth0")), 1);
        assert_eq!(s.effective(Conf::ArpIgnore, &eth("eth0")), None);
        assert_eq!(s.effective(Conf::ArpIgnore, &eth("eth1")), None);
    }

    #[test]
    fn a_fix_lowers_all_only_where_max_would_keep_it() {
        let fix = |all, own, want| {
            with(Conf::ArpIgnore, all, own)
                .effective(Conf::ArpIgnore, &eth("eth0"))
                .unwrap()
                .fix(want)
        };
        assert_eq!(
            fix(0, 0, 1),
            "add \"net.ipv4.conf.eth0.arp_ignore = 1\" to /etc/sysctl.d/90-ipkit.conf, \
             then run `sysctl --system`"
        );
        assert_eq!(
            fix(8, 0, 1),
            "add \"net.ipv4.conf.all.arp_ignore = 1\" and \"net.ipv4.conf.eth0.arp_ignore = 1\" \
             to /etc/sysctl.d/90-ipkit.conf, then run `sysctl --system`"
        );
    }

    #[test]
    fn keys_of_dotted_interface_names_use_slashes() {
        let vlan = Scope::Adapter(eth("eth0.100"));
        assert_eq!(
            Conf::RpFilter.key(&vlan),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(
            Conf::DisableIpv6.key(&Scope::All),
            "net.ipv6.conf.all.disable_ipv6"
        );
    }
}
