//! `ipkit create`: validate everything, then write the definition
//! (issue 4 point 1). Nothing is written and nothing on the system changes
//! until every check has passed; each refusal names the field and the
//! reason.
//!
//! Order of the checks (cheapest first, the wire last):
//! 1. syntax: tag, address, prefix (range, IPv4 network/broadcast),
//!    adapter names, the recovery adapter is not the primary, tunables;
//! 2. the store: the tag is free, no other resource protects the address;
//! 3. the system: the adapter exists (its MAC and ifindex are recorded),
//!    the recovery adapter exists, the address is not held by a local
//!    adapter other than the primary (held by the primary = adoption, the
//!    way restore step 3-1 treats it), and, unless `--no-probe`, nobody
//!    answers for the address on the wire (ARP probe / DAD NS).

use std::time::Duration;

use crate::net::{Kernel, LinkInfo, ProbeResult};
use crate::resource::{
    AdapterIdentity, AdapterName, Address, Definition, InvalidInput, Tag, Tunables,
};
use crate::store::{Definitions, Store};

use super::{CliError, Exit};

/// What the operator typed (strings are checked here, not by clap, so the
/// messages name the field the way the definition file does).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub tag: Option<String>,
    pub address: String,
    pub adapter: String,
    pub recovery_adapter: Option<String>,
    pub local_recovery: Option<bool>,
    pub hold_in_service: bool,
    pub probe_timeout_ms: Option<u64>,
    pub announce_count: Option<u32>,
    pub announce_interval_ms: Option<u64>,
    pub announce_refresh_ms: Option<u64>,
    pub quick_check_interval_ms: Option<u64>,
    pub deep_check_interval_ms: Option<u64>,
    pub link_debounce_ms: Option<u64>,
    pub restart_threshold: Option<u32>,
    pub restart_window_ms: Option<u64>,
    pub lock_timeout_ms: Option<u64>,
    pub noprefixroute: bool,
    pub never_as_source: bool,
    pub source_rule_priority: Option<u32>,
    pub no_probe: bool,
}

/// Step 1: everything that needs neither the store nor the system.
pub fn parse(req: &Request) -> Result<Definition, InvalidInput> {
    let address: Address = req.address.trim().parse()?;
    if req.address.trim() != req.address {
        return Err(InvalidInput::new(
            "address",
            format!("{:?} has surrounding whitespace", req.address),
        ));
    }
    let tag = match &req.tag {
        Some(t) => Tag::new(t)?,
        None => Tag::default_for(address.ip()),
    };
    let adapter = AdapterName::new_for("adapter", &req.adapter)?;
    adapter.refuse_loopback("adapter")?;
    let recovery = match &req.recovery_adapter {
        Some(r) => {
            let r = AdapterName::new_for("recovery_adapter", r)?;
            r.refuse_loopback("recovery_adapter")?;
            Some(r)
        }
        None => None,
    };
    let mut t = Tunables::default();
    let ms = Duration::from_millis;
    if let Some(v) = req.probe_timeout_ms {
        t.probe_timeout = ms(v);
    }
    if let Some(v) = req.announce_count {
        t.announce_count = v;
    }
    if let Some(v) = req.announce_interval_ms {
        t.announce_interval = ms(v);
    }
    if let Some(v) = req.announce_refresh_ms {
        t.announce_refresh = ms(v);
    }
    if let Some(v) = req.quick_check_interval_ms {
        t.quick_check_interval = ms(v);
    }
    if let Some(v) = req.deep_check_interval_ms {
        t.deep_check_interval = ms(v);
    }
    if let Some(v) = req.link_debounce_ms {
        t.link_debounce = ms(v);
    }
    if let Some(v) = req.restart_threshold {
        t.restart_threshold = v;
    }
    if let Some(v) = req.restart_window_ms {
        t.restart_window = ms(v);
    }
    if let Some(v) = req.lock_timeout_ms {
        t.lock_timeout = ms(v);
    }
    t.noprefixroute = req.noprefixroute;
    t.never_as_source = req.never_as_source;
    if let Some(v) = req.source_rule_priority {
        t.source_rule_priority = v;
    }
    let mut def = Definition::new(tag, address, adapter, recovery)?;
    def.local_recovery = req.local_recovery.unwrap_or(true);
    def.hold_in_service = req.hold_in_service;
    def.tunables = t;
    def.validate()?;
    Ok(def)
}

/// Step 2: the tag is free and no other resource protects the address.
/// A definition file that cannot be read is named in a note and does not
/// stop the creation of another resource (issue 10).
pub fn check_store(store: &Store, def: &Definition) -> Result<(), CliError> {
    let all = store.load_all().map_err(|e| {
        CliError::new(
            Exit::Invalid,
            format!("cannot check the existing definitions: {e}"),
        )
    })?;
    for broken in &all.broken {
        eprintln!(
            "ipkit: note: {broken}; its address could not be compared with {}",
            def.address.ip()
        );
    }
    is_free(store, def, &all)
}

/// The tag is free and no other readable definition protects the address.
/// Also run under the definitions' lock, right before the write (issue 10:
/// concurrent creates).
pub fn is_free(store: &Store, def: &Definition, all: &Definitions) -> Result<(), CliError> {
    if store.exists(&def.tag) {
        return Err(InvalidInput::new(
            "tag",
            format!(
                "a resource named {} already exists ({}); pick another tag or `ipkit delete {}` first",
                def.tag,
                store.definition_path(&def.tag).display(),
                def.tag
            ),
        )
        .into());
    }
    if let Some(other) = all
        .loaded
        .iter()
        .find(|o| o.address.ip() == def.address.ip() && o.tag != def.tag)
    {
        return Err(InvalidInput::new(
            "address",
            format!(
                "{} is already protected by resource {} ({})",
                def.address.ip(),
                other.tag,
                other.address
            ),
        )
        .into());
    }
    Ok(())
}

fn adapter_info(
    kernel: &dyn Kernel,
    field: &'static str,
    name: &AdapterName,
) -> Result<LinkInfo, CliError> {
    match kernel.link(name) {
        Ok(info) => Ok(info),
        Err(e) if e.is_missing_adapter() => Err(InvalidInput::new(
            field,
            format!("no network adapter named {name} on this node"),
        )
        .into()),
        Err(e) => Err(CliError::kernel(&e)),
    }
}

/// Step 3: the system. Returns the definition with the adapters'
/// identities recorded. `probe` is false with `--no-probe`.
pub fn check_system(
    kernel: &dyn Kernel,
    mut def: Definition,
    probe: bool,
) -> Result<Definition, CliError> {
    let primary = adapter_info(kernel, "adapter", &def.adapter)?;
    // An adapter given by another name the platform knows it by (a GUID
    // on Windows) is recorded by its own name.
    def.adapter = primary.name.clone();
    def.adapter_identity = Some(AdapterIdentity {
        mac: primary.mac,
        ifindex: primary.ifindex,
        guid: kernel
            .adapter_guid(&def.adapter)
            .map_err(|e| CliError::kernel(&e))?,
    });
    let mut recovery_info = None;
    if let Some(r) = def.recovery_adapter.clone() {
        let info = adapter_info(kernel, "recovery_adapter", &r)?;
        if info.ifindex == primary.ifindex {
            return Err(InvalidInput::new(
                "recovery_adapter",
                format!(
                    "{r} is the same interface as the primary adapter {}",
                    def.adapter
                ),
            )
            .into());
        }
        def.recovery_adapter = Some(info.name.clone());
        def.recovery_adapter_identity = Some(AdapterIdentity {
            mac: info.mac,
            ifindex: info.ifindex,
            guid: kernel
                .adapter_guid(&info.name)
                .map_err(|e| CliError::kernel(&e))?,
        });
        recovery_info = Some(info);
    }
    let ip = def.address.ip();
    let holders = kernel.holders(ip).map_err(|e| CliError::kernel(&e))?;
    if let Some(other) = holders.iter().find(|h| **h != def.adapter) {
        return Err(InvalidInput::new(
            "address",
            format!("{ip} is already assigned to local adapter {other}; restore would refuse it"),
        )
        .into());
    }
    if probe && holders.is_empty() {
        // The probe goes out on the first adapter that has a cable.
        let via = [Some(&primary), recovery_info.as_ref()]
            .into_iter()
            .flatten()
            .find(|i| i.state.is_connected());
        if let Some(via) = via {
            let timeout = if def.tunables.probe_timeout.is_zero() {
                Tunables::default().probe_timeout
            } else {
                def.tunables.probe_timeout
            };
            match kernel.probe(&via.name, ip, timeout) {
                Ok(ProbeResult::Free) => {}
                Ok(ProbeResult::InUse { mac }) => {
                    return Err(InvalidInput::new(
                        "address",
                        format!(
                            "{ip} is already in use on the network: {mac} answered a probe on {}",
                            via.name
                        ),
                    )
                    .into());
                }
                Err(e) => return Err(CliError::kernel(&e)),
            }
        }
    }
    Ok(def)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{AddOptions, AnnouncePlan, KernelError, KernelOp, LinkState};
    use crate::resource::Mac;
    use std::net::IpAddr;

    struct Fake {
        links: Vec<(&'static str, u32, LinkState)>,
        holders: Vec<(IpAddr, &'static str)>,
        in_use: bool,
    }

    impl Kernel for Fake {
        fn link(&self, a: &AdapterName) -> Result<LinkInfo, KernelError> {
            self.links
                .iter()
                .find(|(n, _, _)| *n == a.as_str())
                .map(|(n, i, s)| LinkInfo {
                    name: AdapterName::new(n).unwrap(),
                    ifindex: *i,
                    mac: Mac([2, 0, 0, 0, 0, *i as u8]),
                    state: *s,
                    carrier_changes: None,
                })
                .ok_or_else(|| KernelError::new(KernelOp::GetLink, None, libc::ENODEV))
        }
        fn holders(&self, ip: IpAddr) -> Result<Vec<AdapterName>, KernelError> {
            Ok(self
                .holders
                .iter()
                .filter(|(i, _)| *i == ip)
                .map(|(_, n)| AdapterName::new(n).unwrap())
                .collect())
        }
        fn add_address(
            &self,
            _: &AdapterName,
            _: &Address,
            _: AddOptions,
        ) -> Result<(), KernelError> {
            panic!("create must not change the system")
        }
        fn delete_address(&self, _: &AdapterName, _: &Address) -> Result<(), KernelError> {
            panic!("create must not change the system")
        }
        fn flush_neighbours(&self, _: IpAddr) -> Result<(), KernelError> {
            panic!("create must not change the system")
        }
        fn announce(&self, _: &AdapterName, _: IpAddr, _: AnnouncePlan) -> Result<(), KernelError> {
            panic!("create must not change the system")
        }
        fn probe(
            &self,
            _: &AdapterName,
            _: IpAddr,
            _: Duration,
        ) -> Result<ProbeResult, KernelError> {
            Ok(if self.in_use {
                ProbeResult::InUse {
                    mac: Mac([2, 9, 9, 9, 9, 9]),
                }
            } else {
                ProbeResult::Free
            })
        }
    }

    fn fake() -> Fake {
        Fake {
            links: vec![
                ("eth0", 2, LinkState::Connected),
                ("eth1", 3, LinkState::Connected),
            ],
            holders: vec![],
            in_use: false,
        }
    }

    fn req() -> Request {
        Request {
            tag: Some("vip".into()),
            address: "198.51.100.10/24".into(),
            adapter: "eth0".into(),
            recovery_adapter: Some("eth1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn good_request_records_identities() {
        let def = check_system(&fake(), parse(&req()).unwrap(), true).unwrap();
        assert_eq!(def.adapter_identity.unwrap().ifindex, 2);
        assert_eq!(def.recovery_adapter_identity.unwrap().ifindex, 3);
    }

    #[test]
    fn default_tag_from_address() {
        let mut r = req();
        r.tag = None;
        assert_eq!(parse(&r).unwrap().tag.as_str(), "ip-198.51.100.10");
    }

    #[test]
    fn syntax_refusals_name_the_field() {
        type Case = (Box<dyn Fn(&mut Request)>, &'static str);
        let cases: Vec<Case> = vec![
            (Box::new(|r| r.tag = Some("-x".into())), "tag"),
            (Box::new(|r| r.address = "198.51.100.10".into()), "address"),
            (
                Box::new(|r| r.address = "198.51.100.10/33".into()),
                "prefix",
            ),
            (
                Box::new(|r| r.address = "198.51.100.0/24".into()),
                "address",
            ),
            (Box::new(|r| r.adapter = "lo".into()), "adapter"),
            (
                Box::new(|r| r.recovery_adapter = Some("eth0".into())),
                "recovery_adapter",
            ),
            (
                Box::new(|r| r.announce_count = Some(1000)),
                "announce_count",
            ),
            (
                Box::new(|r| r.announce_interval_ms = Some(0)),
                "announce_interval",
            ),
            (
                Box::new(|r| r.lock_timeout_ms = Some(4_000_000)),
                "lock_timeout",
            ),
            (
                Box::new(|r| r.address = "::ffff:198.51.100.5/128".into()),
                "address",
            ),
            (Box::new(|r| r.address = "240.0.0.1/24".into()), "address"),
            (
                Box::new(|r| r.link_debounce_ms = Some(u64::MAX)),
                "link_debounce",
            ),
            (
                Box::new(|r| r.announce_refresh_ms = Some(u64::MAX)),
                "announce_refresh",
            ),
            (
                Box::new(|r| r.restart_window_ms = Some(u64::MAX)),
                "restart_window",
            ),
        ];
        for (f, field) in cases {
            let mut r = req();
            f(&mut r);
            assert_eq!(parse(&r).unwrap_err().field, field, "{r:?}");
        }
    }

    #[test]
    fn system_refusals() {
        let d = parse(&req()).unwrap();
        let mut k = fake();
        k.links.retain(|l| l.0 != "eth1");
        let e = check_system(&k, d.clone(), true).unwrap_err();
        assert!(
            e.message.contains("invalid recovery_adapter"),
            "{}",
            e.message
        );
        let mut k = fake();
        k.holders.push(("198.51.100.10".parse().unwrap(), "eth1"));
        let e = check_system(&k, d.clone(), true).unwrap_err();
        assert!(
            e.message.contains("assigned to local adapter eth1"),
            "{}",
            e.message
        );
        let mut k = fake();
        k.in_use = true;
        let e = check_system(&k, d.clone(), true).unwrap_err();
        assert!(e.message.contains("in use on the network"), "{}", e.message);
        assert!(check_system(&k, d.clone(), false).is_ok(), "--no-probe");
        let mut k = fake();
        k.holders.push(("198.51.100.10".parse().unwrap(), "eth0"));
        assert!(
            check_system(&k, d, true).is_ok(),
            "adoption from the primary"
        );
    }
}
