//! The node's policy routing rules as `ipkit doctor` reads them (docs/doctor.md "routing-policy"), platform-neutral.

use std::fmt;
use std::net::IpAddr;

/// One policy rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    pub priority: u32,
    /// `from` address and prefix length; `None` for "from all".
    pub source: Option<(IpAddr, u8)>,
    /// The table it looks up (when [`PolicyRule::lookup`]).
    pub table: u32,
    /// It looks a table up (rather than blackhole, goto, ...).
    pub lookup: bool,
    /// It has a selector besides `from` (`to`, `iif`, `oif`, `fwmark`, ...).
    pub other_selectors: bool,
    /// ipkit installed it (its source routing).
    pub ipkit: bool,
    /// For ipkit's rules: the interface index its table's connected route
    /// goes through (`None`: the table has none).
    pub through: Option<u32>,
}

/// The rules of each family; `None` for a family without policy routing
/// (a platform without it, or a kernel built without it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRules {
    pub v4: Option<Vec<PolicyRule>>,
    pub v6: Option<Vec<PolicyRule>>,
}

impl PolicyRules {
    /// The rules of `ip`'s family, if it has policy routing.
    pub fn of(&self, ip: IpAddr) -> Option<&[PolicyRule]> {
        if ip.is_ipv4() { &self.v4 } else { &self.v6 }.as_deref()
    }
}

impl fmt::Display for PolicyRule {
    /// `32000: from 198.51.100.0/24 lookup 100`, as `ip rule` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: from ", self.priority)?;
        match self.source {
            Some((ip, prefix)) => write!(f, "{ip}/{prefix}")?,
            None => f.write_str("all")?,
        }
        if self.other_selectors {
            f.write_str(" (and more selectors)")?;
        }
        if self.lookup {
            write!(f, " lookup {}", self.table)?;
        }
        Ok(())
    }
}
