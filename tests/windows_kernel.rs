//! The Windows kernel (`net::windows`) over the recording fake: for every
//! SPEC §4 step, the exact IP Helper calls it makes (the operations
//! themselves run, from `ops`), and the seam's own rules. Portable: these
//! run in the Linux `cargo test` and under Wine alike
//! (`scripts/windows.sh test`).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use ipkit::cluster::Standalone;
use ipkit::events::{Event, Recorder};
use ipkit::net::windows::iphelper::{DadState, Family, NeighbourState, NewUnicast, Win32Error};
use ipkit::net::windows::{Call, RecordingIpHelper, WindowsKernel};
use ipkit::net::{Kernel, LinkState, ProbeResult};
use ipkit::ops::{self, Ctx, Outcome, SystemClock};
use ipkit::resource::{AdapterName, Address, Definition, Mac, RuntimeState, Tag};

const VIP: &str = "198.51.100.10/24";
const PRIMARY: &str = "Ethernet";
const RECOVERY: &str = "Ethernet2";
const STRANGER: Mac = Mac([0x02, 0x00, 0x5e, 0x00, 0x53, 0x99]);
const GATEWAY: &str = "198.51.100.1";

fn nic(name: &str) -> AdapterName {
    AdapterName::new(name).unwrap()
}

fn vip() -> Address {
    VIP.parse().unwrap()
}

fn ip() -> IpAddr {
    vip().ip()
}

/// Two adapters; the gateway known on the primary; a stale entry of the
/// address itself on the primary (from an earlier owner).
struct Node {
    fake: Arc<RecordingIpHelper>,
    kernel: WindowsKernel,
    primary: u64,
    recovery: u64,
    events: Recorder,
}

impl Node {
    fn new(fake: RecordingIpHelper) -> Self {
        let fake = Arc::new(fake);
        let primary = fake.add_interface(PRIMARY, Mac([2, 0, 0x5e, 0, 0x53, 1]));
        let recovery = fake.add_interface(RECOVERY, Mac([2, 0, 0x5e, 0, 0x53, 2]));
        let gateway_mac = Mac([2, 0, 0x5e, 0, 0x53, 0xfe]);
        fake.add_neighbour(PRIMARY, gateway(), gateway_mac, NeighbourState::Reachable);
        fake.answer(gateway(), gateway_mac);
        fake.add_neighbour(PRIMARY, ip(), STRANGER, NeighbourState::Stale);
        let kernel = WindowsKernel::new(fake.clone());
        Self {
            fake,
            kernel,
            primary,
            recovery,
            events: Recorder::new(),
        }
    }

    fn def(&self) -> Definition {
        let mut def = Definition::new(
            Tag::new("vip").unwrap(),
            vip(),
            nic(PRIMARY),
            Some(nic(RECOVERY)),
        )
        .unwrap();
        // One announcement round: no background rounds in a test.
        def.tunables.announce_count = 1;
        def.tunables.probe_timeout = Duration::from_secs(5);
        def
    }

    fn run(
        &self,
        def: &Definition,
        state: &mut RuntimeState,
        op: fn(&Ctx<'_>, &Definition, &mut RuntimeState) -> Outcome,
    ) -> Outcome {
        let ctx = Ctx {
            kernel: &self.kernel,
            cluster: &Standalone,
            events: &self.events,
            clock: &SystemClock,
            node: "node-a",
        };
        self.fake.take_calls();
        op(&ctx, def, state)
    }

    fn ids(&self) -> Vec<u16> {
        self.events.take().iter().map(|e: &Event| e.id).collect()
    }

    fn holders(&self) -> Vec<u64> {
        self.fake
            .addresses()
            .iter()
            .filter(|a| a.ip == ip())
            .map(|a| a.luid)
            .collect()
    }
}

/// The calls that change or ask the network (the table reads left out).
fn acts(calls: &[Call]) -> Vec<Call> {
    calls
        .iter()
        .filter(|c| {
            !matches!(
                c,
                Call::GetIfTable2 | Call::GetUnicastIpAddressTable(_) | Call::GetIpNetTable2(_)
            )
        })
        .cloned()
        .collect()
}

fn create(luid: u64) -> Call {
    Call::CreateUnicastIpAddressEntry(NewUnicast {
        luid,
        ip: ip(),
        prefix: 24,
        dad_state: DadState::Preferred,
        skip_as_source: false,
    })
}

fn delete(luid: u64) -> Call {
    Call::DeleteUnicastIpAddressEntry { luid, ip: ip() }
}

fn forget(luid: u64, what: IpAddr) -> Call {
    Call::DeleteIpNetEntry2 { luid, ip: what }
}

fn resolve(luid: u64, what: IpAddr, source: Option<IpAddr>) -> Call {
    Call::ResolveIpNetEntry2 {
        luid,
        ip: what,
        source,
    }
}

fn gateway() -> IpAddr {
    GATEWAY.parse().unwrap()
}

// ------------------------------------------------------------ the seam

#[test]
fn adapters_by_alias_or_guid_with_cable_from_media_and_admin_state() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.add_filter_interface("Ethernet-Filter");
    let by_alias = n.kernel.link(&nic(PRIMARY)).unwrap();
    assert_eq!(by_alias.ifindex, 2);
    assert_eq!(by_alias.mac, Mac([2, 0, 0x5e, 0, 0x53, 1]));
    assert_eq!(by_alias.state, LinkState::Connected);
    assert_eq!(
        n.kernel.link_state(&nic("Ethernet-Filter")).unwrap(),
        LinkState::Missing,
        "a filter driver's interface is no adapter"
    );
    n.fake.set_media_connected(PRIMARY, false);
    assert_eq!(
        n.kernel.link_state(&nic(PRIMARY)).unwrap(),
        LinkState::Disconnected
    );
    n.fake.set_media_connected(PRIMARY, true);
    n.fake.set_admin_up(PRIMARY, false);
    assert_eq!(
        n.kernel.link_state(&nic(PRIMARY)).unwrap(),
        LinkState::Disconnected
    );
    assert_eq!(
        n.kernel.link_state(&nic("Ethernet9")).unwrap(),
        LinkState::Missing
    );
    assert!(n.fake.calls().iter().all(|c| *c == Call::GetIfTable2));
}

/// A GUID is an adapter name only where names may be that long (Windows).
#[cfg(windows)]
#[test]
fn adapters_by_guid_as_the_seed_names_them() {
    let n = Node::new(RecordingIpHelper::new());
    let guid = n.fake.interface(RECOVERY).guid.to_string();
    let by_guid = n.kernel.link(&nic(&guid)).unwrap();
    assert_eq!((by_guid.ifindex, by_guid.name), (3, nic(RECOVERY)));
    let lower = guid.to_lowercase();
    assert_eq!(n.kernel.link(&nic(&lower)).unwrap().ifindex, 3);
}

#[test]
fn the_recorded_identity_has_the_guid() {
    let n = Node::new(RecordingIpHelper::new());
    let guid = n.kernel.adapter_guid(&nic(RECOVERY)).unwrap();
    assert_eq!(guid, Some(n.fake.interface(RECOVERY).guid.to_string()));
    assert!(guid.unwrap().starts_with('{'));
    let def = ipkit::cli::create::check_system(&n.kernel, n.def(), false).unwrap();
    let identity = def.recovery_adapter_identity.unwrap();
    assert_eq!(
        identity.guid,
        Some(n.fake.interface(RECOVERY).guid.to_string())
    );
    assert_eq!(identity.mac, Mac([2, 0, 0x5e, 0, 0x53, 2]));
}

#[test]
fn holders_and_snapshot_read_the_tables_once() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.assign(RECOVERY, vip());
    n.fake.assign(PRIMARY, "198.51.100.2/24".parse().unwrap());
    n.fake.take_calls();
    assert_eq!(n.kernel.holders(ip()).unwrap(), [nic(RECOVERY)]);
    assert_eq!(
        n.fake.take_calls(),
        [
            Call::GetUnicastIpAddressTable(Family::V4),
            Call::GetIfTable2
        ]
    );
    let snap = n.kernel.snapshot().unwrap();
    assert_eq!(
        n.fake.take_calls(),
        [
            Call::GetIfTable2,
            Call::GetUnicastIpAddressTable(Family::Both)
        ]
    );
    assert_eq!(snap.links().len(), 2);
    assert_eq!(snap.holders(ip()), [nic(RECOVERY)]);
    assert_eq!(snap.link_state(&nic(PRIMARY)), LinkState::Connected);
}

#[test]
fn add_skips_dad_and_add_and_delete_are_idempotent() {
    let n = Node::new(RecordingIpHelper::new());
    let opts = ipkit::net::AddOptions::default();
    n.kernel.add_address(&nic(PRIMARY), &vip(), opts).unwrap();
    n.kernel.add_address(&nic(PRIMARY), &vip(), opts).unwrap();
    assert_eq!(
        acts(&n.fake.take_calls()),
        [create(n.primary), create(n.primary)]
    );
    assert_eq!(n.fake.addresses()[0].dad_state, DadState::Preferred);
    n.kernel.delete_address(&nic(PRIMARY), &vip()).unwrap();
    n.kernel.delete_address(&nic(PRIMARY), &vip()).unwrap();
    assert_eq!(acts(&n.fake.take_calls()), [delete(n.primary)]);
    let e = n
        .kernel
        .add_address(&nic("Ethernet9"), &vip(), opts)
        .unwrap_err();
    assert!(e.is_missing_adapter(), "{e}");
}

#[test]
fn a_missing_export_is_a_clean_error_naming_the_call() {
    let n = Node::new(RecordingIpHelper::wine());
    let e = n
        .kernel
        .add_address(&nic(PRIMARY), &vip(), Default::default())
        .unwrap_err();
    assert_eq!(e.errno, libc::ENOSYS);
    assert!(
        e.to_string()
            .contains("CreateUnicastIpAddressEntry is not exported"),
        "{e}"
    );
    let e = n.kernel.flush_neighbours(ip()).unwrap_err();
    assert!(e.to_string().contains("DeleteIpNetEntry2"), "{e}");
    // The probe falls back to SendARP, which Wine refuses.
    let e = n
        .kernel
        .probe(&nic(PRIMARY), ip(), Duration::from_secs(5))
        .unwrap_err();
    assert_eq!(e.errno, libc::EOPNOTSUPP);
    assert!(e.to_string().contains("SendARP"), "{e}");
    assert_eq!(
        acts(&n.fake.calls())[2..],
        [
            resolve(n.primary, ip(), None),
            Call::SendArp {
                dest: Ipv4Addr::new(198, 51, 100, 10),
                source: Ipv4Addr::UNSPECIFIED
            }
        ]
    );
}

#[test]
fn the_probe_asks_on_the_adapter_and_forgets_the_answer() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.answer(ip(), STRANGER);
    let got = n
        .kernel
        .probe(&nic(RECOVERY), ip(), Duration::from_secs(5))
        .unwrap();
    assert_eq!(got, ProbeResult::InUse { mac: STRANGER });
    assert_eq!(
        acts(&n.fake.take_calls()),
        [resolve(n.recovery, ip(), None), forget(n.recovery, ip())]
    );
    let quiet = "198.51.100.11".parse().unwrap();
    let got = n
        .kernel
        .probe(&nic(RECOVERY), quiet, Duration::from_secs(5))
        .unwrap();
    assert_eq!(got, ProbeResult::Free);
}

#[test]
fn the_announcement_asks_each_known_neighbour_from_the_address() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.add_neighbour(
        RECOVERY,
        "198.51.100.3".parse().unwrap(),
        STRANGER,
        NeighbourState::Reachable,
    );
    n.fake.add_neighbour(
        PRIMARY,
        "198.51.100.4".parse().unwrap(),
        STRANGER,
        NeighbourState::Unreachable,
    );
    let plan = ipkit::net::AnnouncePlan {
        count: 1,
        interval: Duration::ZERO,
    };
    n.kernel.announce(&nic(PRIMARY), ip(), plan).unwrap();
    // The gateway on the primary; not the address's own stale entry, not
    // the unreachable one, not the recovery adapter's neighbour.
    assert_eq!(
        n.fake.take_calls(),
        [
            Call::GetIfTable2,
            Call::GetIpNetTable2(Family::V4),
            resolve(n.primary, gateway(), Some(ip()))
        ]
    );
    n.fake
        .fail("ResolveIpNetEntry2", Win32Error::PROC_NOT_FOUND);
    let e = n.kernel.announce(&nic(PRIMARY), ip(), plan).unwrap_err();
    assert!(e.to_string().contains("ResolveIpNetEntry2"), "{e}");
}

// ------------------------------------------------------- quickCheck

#[test]
fn quickcheck_step_1_cable_out_is_6507_after_one_table_read() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.assign(PRIMARY, vip());
    n.fake.set_media_connected(PRIMARY, false);
    let out = n.run(&n.def(), &mut RuntimeState::default(), ops::quick_check);
    assert_eq!(out.event, Some(6507));
    assert_eq!(n.fake.calls(), [Call::GetIfTable2]);
}

#[test]
fn quickcheck_step_2_reads_the_address_table_then_the_names() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.assign(PRIMARY, vip());
    let out = n.run(&n.def(), &mut RuntimeState::default(), ops::quick_check);
    assert!(out.success, "{out:?}");
    assert_eq!(
        n.fake.calls(),
        [
            Call::GetIfTable2,
            Call::GetUnicastIpAddressTable(Family::V4),
            Call::GetIfTable2
        ]
    );
    // Also on the recovery adapter: 6508.
    n.fake.assign(RECOVERY, vip());
    let out = n.run(&n.def(), &mut RuntimeState::default(), ops::quick_check);
    assert_eq!(out.event, Some(6508));
}

// ---------------------------------------------------------- restore

#[test]
fn restore_steps_2_to_6_on_the_primary() {
    let n = Node::new(RecordingIpHelper::new());
    let mut state = RuntimeState::default();
    let out = n.run(&n.def(), &mut state, ops::restore);
    assert!(out.success, "{out:?}");
    assert_eq!(n.ids(), [6013, 6001]);
    assert_eq!(
        acts(&n.fake.calls()),
        [
            // 2. the stale entry of the address
            forget(n.primary, ip()),
            // 3. nobody holds it locally: asked on the wire, answer forgotten
            resolve(n.primary, ip(), None),
            forget(n.primary, ip()),
            // 4. added without DAD
            create(n.primary),
            // 4-1. announced to the neighbour the primary knows
            resolve(n.primary, gateway(), Some(ip())),
        ]
    );
    assert_eq!(n.holders(), [n.primary]);
    assert_eq!(state.active_adapter, Some(nic(PRIMARY)));
    assert!(state.in_service);
}

#[test]
fn restore_step_3_1_keeps_the_address_where_it_is() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.assign(PRIMARY, vip());
    let out = n.run(&n.def(), &mut RuntimeState::default(), ops::restore);
    assert!(out.success, "{out:?}");
    // No probe: it is ours already. The add finds it there.
    assert_eq!(
        acts(&n.fake.calls()),
        [
            forget(n.primary, ip()),
            create(n.primary),
            resolve(n.primary, gateway(), Some(ip()))
        ]
    );
    assert_eq!(n.holders(), [n.primary]);
}

#[test]
fn restore_step_3_2_another_adapter_or_another_host_fails_without_an_add() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.assign(RECOVERY, vip());
    let out = n.run(&n.def(), &mut RuntimeState::default(), ops::restore);
    assert_eq!(out.event, Some(6002));
    assert_eq!(acts(&n.fake.calls()), [forget(n.primary, ip())]);

    let n = Node::new(RecordingIpHelper::new());
    n.fake.answer(ip(), STRANGER);
    let out = n.run(&n.def(), &mut RuntimeState::default(), ops::restore);
    assert_eq!(out.event, Some(6002));
    assert_eq!(
        acts(&n.fake.calls()),
        [
            forget(n.primary, ip()),
            resolve(n.primary, ip(), None),
            forget(n.primary, ip())
        ]
    );
    assert!(n.holders().is_empty());
}

#[test]
fn restore_steps_4_and_5_a_pulled_primary_cable_moves_to_the_recovery_adapter() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.set_media_connected(PRIMARY, false);
    let mut state = RuntimeState::default();
    let out = n.run(&n.def(), &mut state, ops::restore);
    assert!(out.success, "{out:?}");
    assert_eq!(n.ids(), [6013, 6019, 6001]);
    // The probe goes out on the recovery adapter (the one with a cable);
    // the recovery adapter knows no neighbour: nothing to announce to.
    assert_eq!(
        acts(&n.fake.calls()),
        [
            forget(n.primary, ip()),
            resolve(n.recovery, ip(), None),
            forget(n.recovery, ip()),
            create(n.recovery)
        ]
    );
    assert_eq!(state.active_adapter, Some(nic(RECOVERY)));
}

#[test]
fn restore_step_4_1_a_failed_announcement_is_6016_and_restore_goes_on() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.fail("ResolveIpNetEntry2", Win32Error::ACCESS_DENIED);
    let out = n.run(&n.def(), &mut RuntimeState::default(), ops::restore);
    assert!(out.success, "{out:?}");
    let ids = n.ids();
    assert!(ids.contains(&6016) && ids.ends_with(&[6001]), "{ids:?}");
}

#[test]
fn restore_step_5_with_local_recovery_off_is_6008_and_an_access_denied_add_is_a_privilege() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake
        .fail("CreateUnicastIpAddressEntry", Win32Error::ACCESS_DENIED);
    let mut def = n.def();
    def.local_recovery = false;
    let out = n.run(&def, &mut RuntimeState::default(), ops::restore);
    assert_eq!(out.event, Some(6002));
    assert!(out.needs_privilege(), "{out:?}");
    let ids = n.ids();
    assert!(ids.ends_with(&[6008, 6002]), "{ids:?}");
    assert_eq!(
        acts(&n.fake.calls()).last(),
        Some(&create(n.primary)),
        "nothing after the refused add"
    );
}

#[test]
fn restore_under_wine_fails_cleanly_at_the_add() {
    let n = Node::new(RecordingIpHelper::wine());
    let out = n.run(&n.def(), &mut RuntimeState::default(), ops::restore);
    assert_eq!(out.event, Some(6002));
    let error = out.error.expect("the first kernel error is kept");
    assert!(error.to_string().contains("is not exported"), "{error}");
    assert!(n.holders().is_empty());
}

// ----------------------------------------------------------- remove

#[test]
fn remove_steps_1_to_5_delete_then_forget() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.assign(PRIMARY, vip());
    n.fake.assign(RECOVERY, vip());
    let mut state = RuntimeState {
        in_service: true,
        ..Default::default()
    };
    let out = n.run(&n.def(), &mut state, ops::remove);
    assert!(out.success, "{out:?}");
    assert_eq!(n.ids(), [6101]);
    assert_eq!(
        acts(&n.fake.calls()),
        [
            delete(n.primary),
            delete(n.recovery),
            forget(n.primary, ip())
        ]
    );
    assert!(n.holders().is_empty());
    assert!(!state.in_service);
    // Idempotent: nothing to delete, nothing to forget.
    let out = n.run(&n.def(), &mut state, ops::remove);
    assert!(out.success);
    assert!(acts(&n.fake.calls()).is_empty());
}

#[test]
fn remove_step_2_a_refused_delete_is_6105_then_6018_and_6102() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.assign(PRIMARY, vip());
    n.fake
        .fail("DeleteUnicastIpAddressEntry", Win32Error::ACCESS_DENIED);
    let out = n.run(&n.def(), &mut RuntimeState::default(), ops::remove);
    assert_eq!(out.event, Some(6102));
    assert_eq!(n.ids(), [6105, 6018, 6102]);
    assert_eq!(
        acts(&n.fake.calls()),
        [delete(n.primary), forget(n.primary, ip())]
    );
}

// ---------------------------------------------------------- recover

fn in_service_on(adapter: &str) -> RuntimeState {
    RuntimeState {
        in_service: true,
        active_adapter: Some(nic(adapter)),
        ..Default::default()
    }
}

#[test]
fn recover_steps_3_and_4_back_onto_the_primary() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.assign(RECOVERY, vip());
    let mut state = in_service_on(RECOVERY);
    let out = n.run(&n.def(), &mut state, ops::recover);
    assert!(out.success, "{out:?}");
    assert_eq!(n.ids(), [6605, 6603]);
    assert_eq!(
        acts(&n.fake.calls()),
        [
            delete(n.recovery),
            create(n.primary),
            resolve(n.primary, gateway(), Some(ip()))
        ]
    );
    assert_eq!(state.active_adapter, Some(nic(PRIMARY)));
}

#[test]
fn recover_steps_4_1_to_6_a_refused_primary_goes_to_the_recovery_adapter() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.assign(PRIMARY, vip());
    n.fake.set_admin_up(PRIMARY, false);
    // The primary's quickCheck fails (admin down): 4-2 goes to 5.
    let mut state = in_service_on(PRIMARY);
    let out = n.run(&n.def(), &mut state, ops::recover);
    assert!(out.success, "{out:?}");
    let ids = n.ids();
    assert!(
        ids.starts_with(&[6605]) && ids.ends_with(&[6603]),
        "{ids:?}"
    );
    assert_eq!(
        acts(&n.fake.calls()),
        [
            delete(n.primary),
            create(n.primary),
            // 4-2: its quickCheck fails, so nothing is announced there
            // (docs/spec-notes.md 30). 5. flush, and off the primary again
            forget(n.primary, ip()),
            delete(n.primary),
            // 6. onto the recovery adapter
            create(n.recovery)
        ]
    );
    assert_eq!(n.holders(), [n.recovery]);
}

#[test]
fn recover_step_6_1_both_adds_refused_is_6607_6608_6604() {
    let n = Node::new(RecordingIpHelper::new());
    n.fake.assign(PRIMARY, vip());
    n.fake
        .fail("CreateUnicastIpAddressEntry", Win32Error::NOT_SUPPORTED);
    let out = n.run(&n.def(), &mut in_service_on(PRIMARY), ops::recover);
    assert_eq!(out.event, Some(6604));
    let ids = n.ids();
    for id in [6607, 6608, 6604] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    assert_eq!(
        acts(&n.fake.calls()),
        [
            delete(n.primary),
            create(n.primary),
            forget(n.primary, ip()),
            create(n.recovery)
        ]
    );
}

#[test]
fn recover_step_2_disabled_makes_no_call() {
    let n = Node::new(RecordingIpHelper::new());
    let mut def = n.def();
    def.local_recovery = false;
    let out = n.run(&def, &mut in_service_on(PRIMARY), ops::recover);
    assert_eq!(out.event, Some(6604));
    assert!(n.fake.calls().is_empty());
}

#[test]
fn deepcheck_standalone_makes_no_call() {
    let n = Node::new(RecordingIpHelper::new());
    let out = n.run(&n.def(), &mut RuntimeState::default(), ops::deep_check);
    assert!(out.success);
    assert!(n.fake.calls().is_empty());
}
