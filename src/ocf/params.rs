//! The agent's parameters: one table feeds the parser, the defaults and the meta-data.
//!
//! Each [`Param`] holds everything said about a parameter: its name, its
//! syntax (which also gives its OCF content type and its parser), whether
//! it is required, unique or reloadable, its default and its descriptions.
//! [`Params::from_env`] reads `OCF_RESKEY_*` through the table, so an unset
//! parameter takes the table's default through the same parser an
//! operator's value goes through; the meta-data renders the same table, and
//! so can a man page ([`parameters`]).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::env::OcfEnv;
use crate::resource::{AdapterName, Address, Definition, InvalidInput, Tag};

/// What a parameter's value looks like; it decides the parser and the OCF
/// content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSyntax {
    /// An IPv4 or IPv6 address, optionally with `/prefix`.
    Address,
    /// A prefix length, or a dotted IPv4 netmask.
    Netmask,
    /// A network interface name.
    Interface,
    /// `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`.
    Boolean,
    /// A whole number, at most `max` when given.
    Count { max: Option<u32> },
    /// Milliseconds: `250`, `250ms` or `2s`.
    Millis,
    /// An address's preferred lifetime as IPaddr2 takes it: `forever`, or
    /// `0` (deprecated: not a source for this node's own connections).
    Lifetime,
}

impl ParamSyntax {
    /// The OCF meta-data content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ParamSyntax::Address
            | ParamSyntax::Netmask
            | ParamSyntax::Interface
            | ParamSyntax::Lifetime => "string",
            ParamSyntax::Boolean => "boolean",
            ParamSyntax::Count { .. } | ParamSyntax::Millis => "integer",
        }
    }
}

/// What an unset parameter means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamDefault {
    /// Nothing: the parameter is required.
    None,
    /// This value, read by the parser exactly as if the operator had set it
    /// (an empty value means "none").
    Value(&'static str),
    /// Worked out from other parameters; the text says how.
    Derived(&'static str),
}

/// One parameter of the agent (`OCF_RESKEY_<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub syntax: ParamSyntax,
    pub required: bool,
    /// No two resources may share the value.
    pub unique: bool,
    /// `reload-agent` applies a change without a restart.
    pub reloadable: bool,
    pub default: ParamDefault,
    /// One line: what it is.
    pub short: &'static str,
    /// What it does, in full.
    pub long: &'static str,
}

impl Param {
    /// The environment variable Pacemaker sets.
    pub fn env_var(&self) -> String {
        format!("OCF_RESKEY_{}", self.name)
    }

    /// The default as a document shows it (a value or how it is derived).
    pub fn default_text(&self) -> Option<&'static str> {
        match self.default {
            ParamDefault::None => None,
            ParamDefault::Value(v) | ParamDefault::Derived(v) => Some(v),
        }
    }

    /// The operator's value (empty counts as unset), else the default
    /// value; `None` when neither gives one.
    fn text<'a>(&self, env: &'a OcfEnv) -> Option<&'a str> {
        match (env.param(self.name), self.default) {
            (Some(v), _) => Some(v),
            (None, ParamDefault::Value(v)) => Some(v).filter(|v| !v.is_empty()),
            (None, _) => None,
        }
    }

    /// [`Param::text`], refusing its absence.
    fn given<'a>(&self, env: &'a OcfEnv) -> Result<&'a str, InvalidInput> {
        self.text(env).ok_or_else(|| {
            InvalidInput::new(
                self.name,
                format!("is required ({} is not set)", self.env_var()),
            )
        })
    }

    fn interface(&self, env: &OcfEnv) -> Result<Option<AdapterName>, InvalidInput> {
        self.text(env)
            .map(|n| AdapterName::new_for(self.name, n))
            .transpose()
    }

    fn boolean(&self, env: &OcfEnv) -> Result<bool, InvalidInput> {
        parse_bool(self.name, self.given(env)?)
    }

    fn count(&self, env: &OcfEnv) -> Result<u32, InvalidInput> {
        let n = parse_count(self.name, self.given(env)?)?;
        match self.syntax {
            ParamSyntax::Count { max: Some(max) } if n > max => Err(InvalidInput::new(
                self.name,
                format!("must be at most {max}"),
            )),
            _ => Ok(n),
        }
    }

    fn millis(&self, env: &OcfEnv) -> Result<Duration, InvalidInput> {
        parse_ms(self.name, self.given(env)?)
    }

    /// [`ParamSyntax::Lifetime`]: whether the address is to be deprecated.
    fn deprecated(&self, env: &OcfEnv) -> Result<bool, InvalidInput> {
        match self.given(env)?.trim() {
            "forever" => Ok(false),
            "0" => Ok(true),
            other => Err(InvalidInput::new(
                self.name,
                format!(
                    "{other:?}: only \"forever\" or \"0\" (ipkit keeps the address until stop; \
                     a lifetime in between would let the kernel drop it)"
                ),
            )),
        }
    }
}

const IP: Param = Param {
    name: "ip",
    syntax: ParamSyntax::Address,
    required: true,
    unique: true,
    reloadable: false,
    default: ParamDefault::None,
    short: "IPv4 or IPv6 address (optionally with /prefix)",
    long: "The switchable address this resource keeps alive, e.g. 198.51.100.50 or \
           198.51.100.50/24 or 2001:db8::50/64. Unique: two resources cannot protect the \
           same address.",
};

const CIDR_NETMASK: Param = Param {
    name: "cidr_netmask",
    syntax: ParamSyntax::Netmask,
    required: false,
    unique: false,
    reloadable: false,
    default: ParamDefault::Derived("32 (IPv4) / 128 (IPv6)"),
    short: "Prefix length or netmask",
    long: "The prefix length (24) or, for IPv4, the dotted netmask (255.255.255.0). Used \
           when ip carries no /prefix; must agree with it when it does. Default: a host \
           address (/32 or /128).",
};

const NIC: Param = Param {
    name: "nic",
    syntax: ParamSyntax::Interface,
    required: true,
    unique: false,
    reloadable: false,
    default: ParamDefault::None,
    short: "Primary network adapter",
    long: "The interface that normally holds the address (e.g. eth0). It must exist on the \
           nodes that may run the resource; a node where it is missing reports 'not \
           installed' for start and 'not running' for probes.",
};

const RECOVERY_NIC: Param = Param {
    name: "recovery_nic",
    syntax: ParamSyntax::Interface,
    required: false,
    unique: false,
    reloadable: false,
    default: ParamDefault::Value(""),
    short: "Local recovery adapter",
    long: "A second interface on the same LAN. When the primary adapter loses its cable, \
           monitor moves the address to it without a failover. Default: none (local \
           recovery re-adds the address on nic).",
};

const LOCAL_RECOVERY: Param = Param {
    name: "local_recovery",
    syntax: ParamSyntax::Boolean,
    required: false,
    unique: false,
    reloadable: true,
    default: ParamDefault::Value("true"),
    short: "Enable local recovery",
    long: "When a monitor finds the address gone or its cable disconnected, first try to \
           recover it on this node (nic, then recovery_nic) before reporting a failure to \
           the cluster.",
};

const PROBE_TIMEOUT: Param = Param {
    name: "probe_timeout",
    syntax: ParamSyntax::Millis,
    required: false,
    unique: false,
    reloadable: true,
    default: ParamDefault::Value("200"),
    short: "In-use probe timeout (ms)",
    long: "How long start listens for another host that already answers for the address \
           (ARP probe, RFC 5227 / IPv6 DAD) before adding it. 0 disables the probe.",
};

const ARP_COUNT: Param = Param {
    name: "arp_count",
    syntax: ParamSyntax::Count { max: None },
    required: false,
    unique: false,
    reloadable: true,
    default: ParamDefault::Value("5"),
    short: "Gratuitous ARP / unsolicited NA count",
    long: "How many gratuitous ARP (IPv4) or unsolicited Neighbour Advertisements (IPv6) \
           are sent after the address is added. The first goes out before the action \
           returns, the rest in the background.",
};

const ARP_INTERVAL: Param = Param {
    name: "arp_interval",
    syntax: ParamSyntax::Millis,
    required: false,
    unique: false,
    reloadable: true,
    default: ParamDefault::Value("200"),
    short: "Interval between announcements (ms)",
    long: "Milliseconds between two gratuitous ARP / unsolicited NA rounds.",
};

const ARP_COUNT_REFRESH: Param = Param {
    name: "arp_count_refresh",
    syntax: ParamSyntax::Count { max: Some(100) },
    required: false,
    unique: false,
    reloadable: true,
    default: ParamDefault::Value("0"),
    short: "Re-announcements on each monitor",
    long: "How many announcements each successful monitor sends again, to refresh switches \
           and neighbours. 0 (default) sends none.",
};

const PREFERRED_LFT: Param = Param {
    name: "preferred_lft",
    syntax: ParamSyntax::Lifetime,
    required: false,
    unique: false,
    reloadable: false,
    default: ParamDefault::Value("forever"),
    short: "Preferred lifetime: 0 keeps the address from being a source",
    long: "As IPaddr2's preferred_lft. \"0\" adds the address deprecated (preferred \
           lifetime 0, valid forever; the never_as_source tunable), so connections this \
           node opens itself take another source address. IPv6 honours it when the node \
           has another address of the same scope; the kernel ignores it for IPv4 (keep \
           an IPv4 address in the subnet of the node's own one: a secondary is never \
           chosen). \"forever\" (default): a normal address. No other lifetime is \
           accepted. A change restarts the resource.",
};

/// Every parameter, in the order the meta-data lists them.
const PARAMETERS: [Param; 10] = [
    IP,
    CIDR_NETMASK,
    NIC,
    RECOVERY_NIC,
    LOCAL_RECOVERY,
    PROBE_TIMEOUT,
    ARP_COUNT,
    ARP_INTERVAL,
    ARP_COUNT_REFRESH,
    PREFERRED_LFT,
];

/// The parameter table, for the meta-data and any other document.
pub fn parameters() -> &'static [Param] {
    &PARAMETERS
}

/// The agent's parameters, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub tag: Tag,
    pub address: Address,
    pub nic: AdapterName,
    pub recovery_nic: Option<AdapterName>,
    pub local_recovery: bool,
    pub probe_timeout: Duration,
    pub arp_count: u32,
    pub arp_interval: Duration,
    pub arp_count_refresh: u32,
    /// `preferred_lft = 0`: the definition's `never_as_source`.
    pub never_as_source: bool,
}

impl Params {
    /// Parse and check every parameter, in table order; the error names the
    /// first bad one.
    pub fn from_env(env: &OcfEnv) -> Result<Self, InvalidInput> {
        let address = parse_address(IP.given(env)?, CIDR_NETMASK.text(env))?;
        let nic = AdapterName::new_for(NIC.name, NIC.given(env)?)?;
        let recovery_nic = RECOVERY_NIC.interface(env)?;
        if recovery_nic.as_ref() == Some(&nic) {
            return Err(InvalidInput::new(
                RECOVERY_NIC.name,
                format!("{nic} is the primary nic; the recovery nic must be another one"),
            ));
        }
        let params = Self {
            local_recovery: LOCAL_RECOVERY.boolean(env)?,
            probe_timeout: PROBE_TIMEOUT.millis(env)?,
            arp_count: ARP_COUNT.count(env)?,
            arp_interval: ARP_INTERVAL.millis(env)?,
            arp_count_refresh: ARP_COUNT_REFRESH.count(env)?,
            never_as_source: PREFERRED_LFT.deprecated(env)?,
            tag: match env.instance_tag() {
                Some(tag) => tag?,
                None => Tag::default_for(address.ip()),
            },
            address,
            nic,
            recovery_nic,
        };
        // Let the core check the tunables' bounds, naming our parameters.
        params.definition().map_err(|e| {
            let field = match e.field {
                "announce_count" => ARP_COUNT.name,
                "announce_interval" => ARP_INTERVAL.name,
                "recovery_adapter" => RECOVERY_NIC.name,
                other => other,
            };
            InvalidInput::new(field, e.reason)
        })?;
        Ok(params)
    }

    /// The resource definition these parameters describe.
    pub fn definition(&self) -> Result<Definition, InvalidInput> {
        let mut def = Definition::new(
            self.tag.clone(),
            self.address,
            self.nic.clone(),
            self.recovery_nic.clone(),
        )?;
        def.local_recovery = self.local_recovery;
        def.tunables.probe_timeout = self.probe_timeout;
        def.tunables.announce_count = self.arp_count;
        def.tunables.announce_interval = self.arp_interval;
        def.tunables.never_as_source = self.never_as_source;
        def.validate()?;
        Ok(def)
    }
}

/// `ip` (optionally `/prefix`) and `cidr_netmask` (a prefix length, or a
/// dotted IPv4 netmask). Neither gives a prefix: /32 (IPv4) or /128 (IPv6).
fn parse_address(ip_text: &str, netmask: Option<&str>) -> Result<Address, InvalidInput> {
    let (ip_part, own_prefix) = match ip_text.split_once('/') {
        Some((ip, p)) => (ip, Some(p)),
        None => (ip_text, None),
    };
    let ip: IpAddr = ip_part.parse().map_err(|_| {
        InvalidInput::new(
            IP.name,
            format!("{ip_part:?} is not an IPv4 or IPv6 address"),
        )
    })?;
    let own = own_prefix
        .map(|p| parse_prefix(IP.name, p, ip))
        .transpose()?;
    let mask = netmask
        .map(|m| parse_prefix(CIDR_NETMASK.name, m, ip))
        .transpose()?;
    let prefix = match (own, mask) {
        (Some(a), Some(b)) if a != b => {
            return Err(InvalidInput::new(
                CIDR_NETMASK.name,
                format!("/{b} contradicts the prefix /{a} given in ip"),
            ));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            if ip.is_ipv4() {
                32
            } else {
                128
            }
        }
    };
    Address::new(ip, prefix).map_err(|e| {
        let field = if e.field == "prefix" {
            CIDR_NETMASK.name
        } else {
            IP.name
        };
        InvalidInput::new(field, e.reason)
    })
}

fn parse_prefix(field: &'static str, text: &str, ip: IpAddr) -> Result<u8, InvalidInput> {
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u8>() {
            Ok(p) if p <= max => Ok(p),
            _ => Err(InvalidInput::new(
                field,
                format!("/{text} is out of range for {ip} (1..={max})"),
            )),
        };
    }
    if ip.is_ipv4()
        && let Ok(mask) = text.parse::<Ipv4Addr>()
    {
        let bits = u32::from(mask);
        if bits.leading_ones() + bits.trailing_zeros() == 32 {
            return Ok(u8::try_from(bits.leading_ones()).unwrap_or(32));
        }
        return Err(InvalidInput::new(
            field,
            format!("{text} is not a contiguous netmask"),
        ));
    }
    Err(InvalidInput::new(
        field,
        format!("{text:?} is neither a prefix length nor a netmask"),
    ))
}

fn parse_bool(field: &'static str, v: &str) -> Result<bool, InvalidInput> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "y" => Ok(true),
        "0" | "false" | "no" | "off" | "n" => Ok(false),
        _ => Err(InvalidInput::new(
            field,
            format!("{v:?} is not a boolean (true/false, yes/no, 1/0)"),
        )),
    }
}

fn parse_count(field: &'static str, v: &str) -> Result<u32, InvalidInput> {
    v.parse::<u32>()
        .map_err(|_| InvalidInput::new(field, format!("{v:?} is not a whole number")))
}

/// Milliseconds: `250`, `250ms` or `2s`.
fn parse_ms(field: &'static str, v: &str) -> Result<Duration, InvalidInput> {
    let bad = || {
        InvalidInput::new(
            field,
            format!("{v:?} is not a duration (whole milliseconds, or with ms/s suffix)"),
        )
    };
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000)
    } else {
        (v, 1)
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    n.checked_mul(scale)
        .map(Duration::from_millis)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn parameter_forms() {
        let a = parse_address("198.51.100.50", Some("255.255.255.0")).unwrap();
        assert_eq!(a.prefix(), 24);
        assert_eq!(parse_address("198.51.100.50", None).unwrap().prefix(), 32);
        assert_eq!(
            parse_address("2001:db8::5", Some("64")).unwrap().prefix(),
            64
        );
        assert!(parse_address("198.51.100.50", Some("255.0.255.0")).is_err());
        assert_eq!(parse_ms("x", "2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_ms("x", "150ms").unwrap(), Duration::from_millis(150));
    }

    #[test]
    fn unset_parameters_take_the_table_defaults() {
        let env = OcfEnv::from_pairs([
            ("OCF_RESKEY_ip", "198.51.100.50"),
            ("OCF_RESKEY_nic", "eth0"),
        ]);
        let p = Params::from_env(&env).unwrap();
        assert_eq!(p.address.prefix(), 32, "cidr_netmask derived for IPv4");
        assert_eq!(p.recovery_nic, None);
        assert!(p.local_recovery);
        assert_eq!(p.probe_timeout, Duration::from_millis(200));
        assert_eq!(p.arp_count, 5);
        assert_eq!(p.arp_interval, Duration::from_millis(200));
        assert_eq!(p.arp_count_refresh, 0);
        assert!(!p.never_as_source, "preferred_lft forever");
        assert_eq!(p.tag.as_str(), "ip-198.51.100.50");
    }

    #[test]
    fn preferred_lft_is_forever_or_zero_as_in_ipaddr2() {
        let with = |v: &str| {
            let env = OcfEnv::from_pairs([
                ("OCF_RESKEY_ip", "2001:db8::50/64"),
                ("OCF_RESKEY_nic", "eth0"),
                ("OCF_RESKEY_preferred_lft", v),
            ]);
            Params::from_env(&env)
        };
        let zero = with("0").unwrap();
        assert!(zero.never_as_source);
        assert!(zero.definition().unwrap().tunables.never_as_source);
        assert!(!with("forever").unwrap().never_as_source);
        let e = with("3600").unwrap_err();
        assert_eq!(e.field, "preferred_lft");
        assert!(e.to_string().contains("only \"forever\" or \"0\""), "{e}");
    }

    #[test]
    fn the_table_is_consistent() {
        let names: BTreeSet<&str> = parameters().iter().map(|p| p.name).collect();
        assert_eq!(names.len(), parameters().len(), "a name appears twice");
        for p in parameters() {
            // Required exactly when there is no default.
            assert_eq!(p.required, p.default == ParamDefault::None, "{}", p.name);
            assert!(!p.short.is_empty() && !p.long.is_empty(), "{}", p.name);
            // A default value reads as if an operator had set it.
            if let ParamDefault::Value(v) = p.default
                && !v.is_empty()
            {
                let env = OcfEnv::from_pairs([(p.env_var().as_str(), v)]);
                let parsed = match p.syntax {
                    ParamSyntax::Boolean => p.boolean(&env).map(|_| ()),
                    ParamSyntax::Count { .. } => p.count(&env).map(|_| ()),
                    ParamSyntax::Millis => p.millis(&env).map(|_| ()),
                    ParamSyntax::Lifetime => p.deprecated(&env).map(|_| ()),
                    ParamSyntax::Interface => p.interface(&env).map(|_| ()),
                    ParamSyntax::Address | ParamSyntax::Netmask => Ok(()),
                };
                assert!(parsed.is_ok(), "{}: default {v:?} does not parse", p.name);
            }
        }
    }
}
