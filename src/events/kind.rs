//! One [`Kind`] per catalog entry, with the values its text needs: its
//! number, severity, structured fields and exact rendering (SPEC §3).

use std::net::IpAddr;

use super::Severity;
use super::catalog::{CATALOG, fill, lookup};
use crate::resource::{AdapterName, Definition, Operation};

/// One catalog entry with the values its text needs. The resource's own
/// values (`{id}`, `{tag}`, `{ip}`, `{mask}`) come from the definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// 6001
    RestoreSucceeded,
    /// 6002
    RestoreFailed,
    /// 6008
    RestoreLocalRecoveryDisabled,
    /// 6013
    RestoreStart,
    /// 6016
    AnnounceFailed { err: String, guid: AdapterName },
    /// 6017
    InsertVerifyFailed { guid: AdapterName },
    /// 6018
    StillActive { nic: AdapterName },
    /// 6019
    CableNotConnected { cmd: Operation, nic: AdapterName },
    /// 6101
    RemoveSucceeded,
    /// 6102
    RemoveFailed,
    /// 6105
    DeleteFailed {
        guid: AdapterName,
        errno: i32,
        errmsg: String,
    },
    /// 6406 (warning)
    StandbyCableDisconnected { nic: AdapterName, node: String },
    /// 6507
    CableDisconnected { nic: AdapterName },
    /// 6508
    NotOnAdapter { nic: AdapterName },
    /// 6603
    RecoverSucceeded,
    /// 6604
    RecoverFailed,
    /// 6605 (Information)
    RecoverStart,
    /// 6605 (Error)
    RecoverNotEnabled,
    /// 6607
    AddPrimaryFailed { guid: AdapterName },
    /// 6608
    AddRecoveryFailed { guid: AdapterName },

    // ---- beyond the seed (7xxx) ----
    /// 7001: step 3-2 of restore, another host answers for the address.
    InUseOnWire { mac: String, nic: AdapterName },
    /// 7002: step 3-2 of restore, another local adapter holds the address.
    HeldByOtherAdapter { nic: AdapterName },
    /// 7003: the in-use probe could not run (warning; restore goes on).
    ProbeFailed { nic: AdapterName, err: String },
    /// 7004: a kernel call failed inside an operation.
    KernelError { err: String },
    /// 7005: the adapter's MAC or ifindex differs from the one recorded.
    AdapterReplaced { nic: AdapterName, detail: String },
    /// 7006: a standby node's adapter state could not be read (warning).
    ClusterViewUnavailable { err: String },
    /// 7007: the runtime state disagreed with the kernel and was corrected
    /// before the operation acted (warning; `nic` holds the address).
    StateCorrected { nic: AdapterName, detail: String },
    /// 7008: recover refused: the resource is not in service on this node.
    RecoverNotInService,
    /// 7009: recover's in-use check: another host answers for the address.
    RecoverInUseOnWire { mac: String, nic: AdapterName },
    /// 7010: deepCheck: a peer reports the resource in service there too,
    /// while it is in service here (an address conflict, not a standby).
    PeerHoldsAddress { node: String },
    /// 7011: a re-announcement could not be sent (warning; nothing else
    /// changes): periodic (`announce_refresh`, the OCF agent's
    /// `arp_count_refresh`) or the daemon's defence of an address another
    /// host claims. Not 6016, whose wording is restore's step 4-1.
    ReannounceFailed { nic: AdapterName, err: String },
    /// 7101: daemon started.
    DaemonStarted { resources: usize },
    /// 7102: daemon stopping.
    DaemonStopping,
    /// 7103: definitions reloaded.
    DaemonReloaded { resources: usize },
    /// 7104: restart threshold exceeded; the resource is failed.
    RestartThresholdExceeded { count: u32, window_secs: u64 },
    /// 7105: the kernel's change notifications overran; the daemon
    /// re-reads all state.
    ChangesOverrun,
    /// 7106: the on_failure command ran.
    OnFailureRan { status: String },
    /// 7107: the failed mark was cleared by an operator.
    FailedCleared,
    /// 7108: another host claims the address in service on `nic` (RFC 5227
    /// §2.4); the daemon defends it.
    AddressConflict { mac: String, nic: AdapterName },
    /// 7201: resource defined (on its primary adapter `nic`).
    ResourceCreated { nic: AdapterName },
    /// 7202: resource deleted.
    ResourceDeleted,
}

/// What the text of an event is built from.
pub struct Subject<'a> {
    pub tag: &'a str,
    pub ip: IpAddr,
    pub mask: String,
}

impl<'a> Subject<'a> {
    pub fn of(def: &'a Definition) -> Self {
        Self {
            tag: def.tag.as_str(),
            ip: def.address.ip(),
            mask: def.address.mask_text(),
        }
    }
}

impl Kind {
    pub fn id(&self) -> u16 {
        use Kind::*;
        match self {
            RestoreSucceeded => 6001,
            RestoreFailed => 6002,
            RestoreLocalRecoveryDisabled => 6008,
            RestoreStart => 6013,
            AnnounceFailed { .. } => 6016,
            InsertVerifyFailed { .. } => 6017,
            StillActive { .. } => 6018,
            CableNotConnected { .. } => 6019,
            RemoveSucceeded => 6101,
            RemoveFailed => 6102,
            DeleteFailed { .. } => 6105,
            StandbyCableDisconnected { .. } => 6406,
            CableDisconnected { .. } => 6507,
            NotOnAdapter { .. } => 6508,
            RecoverSucceeded => 6603,
            RecoverFailed => 6604,
            RecoverStart | RecoverNotEnabled => 6605,
            AddPrimaryFailed { .. } => 6607,
            AddRecoveryFailed { .. } => 6608,
            InUseOnWire { .. } => 7001,
            HeldByOtherAdapter { .. } => 7002,
            ProbeFailed { .. } => 7003,
            KernelError { .. } => 7004,
            AdapterReplaced { .. } => 7005,
            ClusterViewUnavailable { .. } => 7006,
            StateCorrected { .. } => 7007,
            RecoverNotInService => 7008,
            RecoverInUseOnWire { .. } => 7009,
            PeerHoldsAddress { .. } => 7010,
            ReannounceFailed { .. } => 7011,
            DaemonStarted { .. } => 7101,
            DaemonStopping => 7102,
            DaemonReloaded { .. } => 7103,
            RestartThresholdExceeded { .. } => 7104,
            ChangesOverrun => 7105,
            OnFailureRan { .. } => 7106,
            FailedCleared => 7107,
            AddressConflict { .. } => 7108,
            ResourceCreated { .. } => 7201,
            ResourceDeleted => 7202,
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            Kind::RecoverStart => Severity::Information,
            Kind::RecoverNotEnabled => Severity::Error,
            other => lookup(other.id())
                .map(|(_, s, _)| s)
                .unwrap_or(Severity::Error),
        }
    }

    fn template(&self) -> &'static str {
        match self {
            Kind::RecoverStart => CATALOG[16].2,
            Kind::RecoverNotEnabled => CATALOG[17].2,
            other => lookup(other.id()).map(|(_, _, t)| t).unwrap_or("{err}"),
        }
    }

    /// The adapter the event is about, for the structured fields.
    pub fn adapter(&self) -> Option<&AdapterName> {
        use Kind::*;
        match self {
            AnnounceFailed { guid, .. }
            | InsertVerifyFailed { guid }
            | DeleteFailed { guid, .. }
            | AddPrimaryFailed { guid }
            | AddRecoveryFailed { guid } => Some(guid),
            StillActive { nic }
            | CableNotConnected { nic, .. }
            | StandbyCableDisconnected { nic, .. }
            | CableDisconnected { nic }
            | NotOnAdapter { nic }
            | InUseOnWire { nic, .. }
            | RecoverInUseOnWire { nic, .. }
            | AddressConflict { nic, .. }
            | HeldByOtherAdapter { nic }
            | ProbeFailed { nic, .. }
            | ReannounceFailed { nic, .. }
            | AdapterReplaced { nic, .. }
            | StateCorrected { nic, .. }
            | ResourceCreated { nic } => Some(nic),
            _ => None,
        }
    }

    /// The error text carried by the event, for the structured fields.
    pub fn error(&self) -> Option<String> {
        use Kind::*;
        match self {
            AnnounceFailed { err, .. }
            | ProbeFailed { err, .. }
            | ReannounceFailed { err, .. }
            | KernelError { err }
            | ClusterViewUnavailable { err } => Some(err.clone()),
            DeleteFailed { errno, errmsg, .. } => Some(format!("errno {errno}: {errmsg}")),
            _ => None,
        }
    }

    /// The exact catalog text for this event.
    pub fn render(&self, s: &Subject<'_>) -> String {
        use Kind::*;
        let id = s.ip.to_string();
        let mut vars: Vec<(&str, String)> = vec![
            ("id", id.clone()),
            ("ip", id),
            ("tag", s.tag.to_owned()),
            ("mask", s.mask.clone()),
        ];
        match self {
            AnnounceFailed { err, guid } => {
                vars.push(("err", err.clone()));
                vars.push(("guid", guid.to_string()));
            }
            InsertVerifyFailed { guid }
            | AddPrimaryFailed { guid }
            | AddRecoveryFailed { guid } => vars.push(("guid", guid.to_string())),
            StillActive { nic }
            | CableDisconnected { nic }
            | NotOnAdapter { nic }
            | HeldByOtherAdapter { nic }
            | ResourceCreated { nic } => vars.push(("nic", nic.to_string())),
            CableNotConnected { cmd, nic } => {
                vars.push(("cmd", cmd.name().to_owned()));
                vars.push(("nic", nic.to_string()));
            }
            DeleteFailed {
                guid,
                errno,
                errmsg,
            } => {
                vars.push(("guid", guid.to_string()));
                vars.push(("errno", errno.to_string()));
                vars.push(("errmsg", errmsg.clone()));
            }
            StandbyCableDisconnected { nic, node } => {
                vars.push(("nic", nic.to_string()));
                vars.push(("node", node.clone()));
            }
            InUseOnWire { mac, nic }
            | RecoverInUseOnWire { mac, nic }
            | AddressConflict { mac, nic } => {
                vars.push(("mac", mac.clone()));
                vars.push(("nic", nic.to_string()));
            }
            ProbeFailed { nic, err } | ReannounceFailed { nic, err } => {
                vars.push(("nic", nic.to_string()));
                vars.push(("err", err.clone()));
            }
            KernelError { err } | ClusterViewUnavailable { err } => vars.push(("err", err.clone())),
            AdapterReplaced { nic, detail } | StateCorrected { nic, detail } => {
                vars.push(("nic", nic.to_string()));
                vars.push(("detail", detail.clone()));
            }
            DaemonStarted { resources } | DaemonReloaded { resources } => {
                vars.push(("count", resources.to_string()))
            }
            RestartThresholdExceeded { count, window_secs } => {
                vars.push(("count", count.to_string()));
                vars.push(("window", window_secs.to_string()));
            }
            OnFailureRan { status } => vars.push(("status", status.clone())),
            PeerHoldsAddress { node } => vars.push(("node", node.clone())),
            _ => {}
        }
        fill(self.template(), &vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::Tag;

    fn def4() -> Definition {
        crate::resource::sample_definition(true)
    }

    fn text(kind: Kind) -> (u16, Severity, String) {
        let d = def4();
        (kind.id(), kind.severity(), kind.render(&Subject::of(&d)))
    }

    fn nic(s: &str) -> AdapterName {
        AdapterName::new(s).unwrap()
    }

    // One test per catalog entry; the expected strings are SPEC §3 with the
    // placeholders filled in by hand.
    #[test]
    fn e6001() {
        assert_eq!(
            text(Kind::RestoreSucceeded),
            (
                6001,
                Severity::Information,
                "Restore IP Address 198.51.100.10 End: Successful".into()
            )
        );
    }
    #[test]
    fn e6002() {
        assert_eq!(
            text(Kind::RestoreFailed),
            (
                6002,
                Severity::Error,
                "Restore IP Address 198.51.100.10 Failed".into()
            )
        );
    }
    #[test]
    fn e6008() {
        assert_eq!(
            text(Kind::RestoreLocalRecoveryDisabled),
            (
                6008,
                Severity::Error,
                "Local Recovery was not enabled for 198.51.100.10. Failing IP restore action."
                    .into()
            )
        );
    }
    #[test]
    fn e6013() {
        assert_eq!(
            text(Kind::RestoreStart),
            (
                6013,
                Severity::Information,
                "Restore IP Address 198.51.100.10 Start".into()
            )
        );
    }
    #[test]
    fn e6016() {
        assert_eq!(
            text(Kind::AnnounceFailed { err: "Network is down (os error 100)".into(), guid: nic("eth0") }),
            (6016, Severity::Error, "ARP cache update for IP address 198.51.100.10 on the Primary network adapter failed (Network is down (os error 100)) (arpupdate 198.51.100.10 eth0).".into())
        );
    }
    #[test]
    fn e6017() {
        assert_eq!(
            text(Kind::InsertVerifyFailed { guid: nic("eth0") }),
            (6017, Severity::Error, "Verification of IP address insertion of IP address 198.51.100.10 on the Primary network adapter failed. (IPINDEX=eth0; EXTIPADDR=198.51.100.10; EXTMASK=255.255.255.0).".into())
        );
    }
    #[test]
    fn e6018() {
        assert_eq!(
            text(Kind::StillActive { nic: nic("eth1") }),
            (6018, Severity::Error, "IP address 198.51.100.10 was still active on a network interface eth1. IP address deletion has failed.".into())
        );
    }
    #[test]
    fn e6019() {
        assert_eq!(
            text(Kind::CableNotConnected {
                cmd: Operation::Restore,
                nic: nic("eth0")
            }),
            (
                6019,
                Severity::Error,
                "restore: Network cable on adapter eth0 is not connected !".into()
            )
        );
    }
    #[test]
    fn e6101() {
        assert_eq!(
            text(Kind::RemoveSucceeded),
            (
                6101,
                Severity::Information,
                "Remove IP Address 198.51.100.10 End: Successful".into()
            )
        );
    }
    #[test]
    fn e6102() {
        assert_eq!(
            text(Kind::RemoveFailed),
            (
                6102,
                Severity::Error,
                "Remove IP Address 198.51.100.10 Failed".into()
            )
        );
    }
    #[test]
    fn e6105() {
        assert_eq!(
            text(Kind::DeleteFailed { guid: nic("eth0"), errno: 1, errmsg: "Operation not permitted".into() }),
            (6105, Severity::Error, "IP address deletion was not successful. The kernel returned an error. However, the remove action is continuing. The IPCONTEXT=eth0; SWITCHABLEIP=198.51.100.10; Error Code=1; Error Message: Operation not permitted".into())
        );
    }
    #[test]
    fn e6406() {
        assert_eq!(
            text(Kind::StandbyCableDisconnected { nic: nic("eth0"), node: "node2".into() }),
            (6406, Severity::Warning, "The network cable for network adapter eth0 servicing protected IP address 198.51.100.10 on system node2 is currently disconnected! This could prevent a successful resource failover to that system. Please reconnect the cable.".into())
        );
    }
    #[test]
    fn e6507() {
        assert_eq!(
            text(Kind::CableDisconnected { nic: nic("eth0") }),
            (6507, Severity::Error, "Network cable for IP address 198.51.100.10 on network adapter eth0 is disconnected !.".into())
        );
    }
    #[test]
    fn e6508() {
        assert_eq!(
            text(Kind::NotOnAdapter { nic: nic("eth0") }),
            (6508, Severity::Error, "IP address 198.51.100.10 was not found on network adapter eth0. Failing IP resource.".into())
        );
    }
    #[test]
    fn e6603() {
        assert_eq!(
            text(Kind::RecoverSucceeded),
            (
                6603,
                Severity::Information,
                "Recover IP Address 198.51.100.10 End: Successful".into()
            )
        );
    }
    #[test]
    fn e6604() {
        assert_eq!(
            text(Kind::RecoverFailed),
            (
                6604,
                Severity::Error,
                "Recover IP Address 198.51.100.10 Failed".into()
            )
        );
    }
    #[test]
    fn e6605_information() {
        assert_eq!(
            text(Kind::RecoverStart),
            (
                6605,
                Severity::Information,
                "Recover IP Address 198.51.100.10 Start.".into()
            )
        );
    }
    #[test]
    fn e6605_error() {
        assert_eq!(
            text(Kind::RecoverNotEnabled),
            (
                6605,
                Severity::Error,
                "vip was not created for local recovery. Aborting local recovery.".into()
            )
        );
    }
    #[test]
    fn e6607() {
        assert_eq!(
            text(Kind::AddPrimaryFailed { guid: nic("eth0") }),
            (6607, Severity::Error, "IP address addition for resource vip and IP address 198.51.100.10 on the primary network adapter failed; ( -neth0 -i198.51.100.10 -m255.255.255.0). Trying Local Recovery Adapter.".into())
        );
    }
    #[test]
    fn e6608() {
        assert_eq!(
            text(Kind::AddRecoveryFailed { guid: nic("eth1") }),
            (6608, Severity::Error, "IP address addition for resource vip and IP address 198.51.100.10 on the local recovery adapter failed; (-neth1 -i198.51.100.10 -m255.255.255.0). Failing the resource.".into())
        );
    }

    #[test]
    fn ipv6_mask_is_the_prefix_length() {
        let d = Definition::new(
            Tag::new("vip6").unwrap(),
            "2001:db8::10/64".parse().unwrap(),
            nic("eth0"),
            None,
        )
        .unwrap();
        assert_eq!(
            Kind::InsertVerifyFailed { guid: nic("eth0") }.render(&Subject::of(&d)),
            "Verification of IP address insertion of IP address 2001:db8::10 on the Primary network adapter failed. (IPINDEX=eth0; EXTIPADDR=2001:db8::10; EXTMASK=64)."
        );
    }

    #[test]
    fn e7201_names_the_adapter() {
        let (id, _, t) = text(Kind::ResourceCreated { nic: nic("eth0") });
        assert_eq!(id, 7201);
        assert_eq!(
            t,
            "Resource vip for IP address 198.51.100.10 created on network adapter eth0."
        );
    }

    #[test]
    fn e7007_says_what_was_corrected() {
        assert_eq!(
            text(Kind::StateCorrected {
                nic: nic("eth0"),
                detail: "active_adapter eth1 -> eth0 (the kernel has the address on eth0)".into()
            }),
            (
                7007,
                Severity::Warning,
                "Runtime state of IP address 198.51.100.10 did not match the kernel and was corrected: active_adapter eth1 -> eth0 (the kernel has the address on eth0).".into()
            )
        );
    }

    #[test]
    fn e7008_and_e7009_say_why_recover_refused() {
        assert_eq!(
            text(Kind::RecoverNotInService),
            (
                7008,
                Severity::Error,
                "Recover IP Address 198.51.100.10 refused: vip is not in service on this node and no adapter of it holds the address; restore brings it up.".into()
            )
        );
        assert_eq!(
            text(Kind::RecoverInUseOnWire {
                mac: "02:00:00:00:00:aa".into(),
                nic: nic("eth0")
            }),
            (
                7009,
                Severity::Error,
                "IP address 198.51.100.10 is already in use on the network by 02:00:00:00:00:aa (probed on eth0). Failing local recovery.".into()
            )
        );
    }

    #[test]
    fn e7010_and_e7108_name_the_other_holder() {
        assert_eq!(
            text(Kind::PeerHoldsAddress {
                node: "node-b".into()
            }),
            (
                7010,
                Severity::Error,
                "IP address 198.51.100.10 is in service on node node-b too, while it is in service here: address conflict; node-b is no standby for vip.".into()
            )
        );
        let kind = Kind::AddressConflict {
            mac: "02:00:00:00:00:aa".into(),
            nic: nic("eth0"),
        };
        assert_eq!(kind.adapter(), Some(&nic("eth0")));
        assert_eq!(
            text(kind),
            (
                7108,
                Severity::Error,
                "Address conflict: another host (02:00:00:00:00:aa) claims IP address 198.51.100.10, in service on network adapter eth0; ipkit defends it with one announcement at most every 10 s (RFC 5227).".into()
            )
        );
    }

    #[test]
    fn e7011_is_a_reannouncement_not_6016() {
        assert_eq!(
            text(Kind::ReannounceFailed {
                nic: nic("eth1"),
                err: "announce failed on eth1: No buffer space available (errno 105)".into()
            }),
            (
                7011,
                Severity::Warning,
                "Re-announcement of IP address 198.51.100.10 on network adapter eth1 failed (announce failed on eth1: No buffer space available (errno 105)); the address stays in service.".into()
            )
        );
        let kind = Kind::ReannounceFailed {
            nic: nic("eth1"),
            err: "x".into(),
        };
        assert_eq!(kind.adapter(), Some(&nic("eth1")));
        assert_eq!(kind.error().as_deref(), Some("x"));
    }

    #[test]
    fn values_with_braces_are_not_rescanned() {
        let (_, _, t) = text(Kind::KernelError { err: "{id}".into() });
        assert_eq!(t, "Kernel call failed for IP address 198.51.100.10: {id}");
    }
}
