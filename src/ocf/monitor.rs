//! The `monitor` action: quickCheck, deepCheck, and recover only for a resource started here.
//!
//! SPEC §6 maps `monitor` to quickCheck (deepCheck too at `OCF_CHECK_LEVEL`
//! 10), with recover before a failed quickCheck is reported. Recover adds
//! an address, so it runs only for a resource whose state says this agent
//! started it on this node (`in_service`, set by `start` and cleared by
//! `stop`). Any other resource is reported as the kernel shows it and left
//! alone: no add, no announcement, no state written.

use super::env::OcfEnv;
use super::{OcfExit, Reply};
use crate::events::{Event, Kind, Recorder};
use crate::net::AnnouncePlan;
use crate::ops::{self, Ctx};
use crate::resource::{AdapterName, Definition, Operation, RuntimeState};

use super::outcome::{adapter_list, exit_for_kernel_error, failure_reason};

/// `monitor` (SPEC §6). `state` is the resource's state on this node;
/// nothing is recorded unless it says started here.
pub(super) fn monitor(
    ctx: &Ctx<'_>,
    def: &Definition,
    state: &mut RuntimeState,
    rec: &Recorder,
    env: &OcfEnv,
    refresh_count: u32,
) -> Reply {
    let holders = match ctx.kernel.holders(def.address.ip()) {
        Ok(h) => h,
        Err(e) => return Reply::failure(exit_for_kernel_error(&e), e.to_string()),
    };
    if !state.in_service {
        return not_started(ctx, def, &holders, rec);
    }
    // Started here: quickCheck; a failure runs recover first.
    let quick = ops::quick_check(ctx, def, state);
    if quick.success {
        if env.check_level() >= 10 {
            ops::deep_check(ctx, def, state);
        }
        refresh(ctx, def, state, refresh_count);
        return Reply::success();
    }
    let out = ops::recover(ctx, def, state);
    if out.success {
        return Reply::success();
    }
    let reason = failure_reason(rec, &out, "monitor: quickCheck and local recovery failed");
    match ctx.kernel.holders(def.address.ip()) {
        Ok(h) if h.is_empty() => Reply::failure(OcfExit::NotRunning, reason),
        _ => Reply::failure(OcfExit::ErrGeneric, reason),
    }
}

/// `monitor` of a resource this node did not start (never started, stopped,
/// or its state is lost): report what the kernel shows and change nothing.
/// - present nowhere: `OCF_NOT_RUNNING`;
/// - on `nic` or `recovery_nic` only: quickCheck on that adapter; passed is
///   `OCF_SUCCESS` (it does run here, so Pacemaker must not start it on
///   another node), failed is `OCF_ERR_GENERIC` and Pacemaker's stop
///   removes it; never a recover;
/// - anywhere else: `OCF_ERR_GENERIC` naming the holders.
fn not_started(ctx: &Ctx<'_>, def: &Definition, holders: &[AdapterName], rec: &Recorder) -> Reply {
    let ip = def.address.ip();
    let holder = match holders {
        [] => return Reply::bare(OcfExit::NotRunning),
        [one] if is_own_adapter(def, one) => one.clone(),
        _ => {
            return Reply::failure(
                OcfExit::ErrGeneric,
                format!(
                    "address {ip} is held by {}, not (only) by nic {} or recovery_nic",
                    adapter_list(holders),
                    def.adapter
                ),
            );
        }
    };
    // A scratch state: what this check finds is not recorded.
    let mut seen = RuntimeState {
        active_adapter: Some(holder),
        in_service: true,
        ..RuntimeState::default()
    };
    let quick = ops::quick_check(ctx, def, &mut seen);
    if quick.success {
        return Reply::success();
    }
    let reason = failure_reason(rec, &quick, "monitor: quickCheck failed");
    Reply::failure(
        OcfExit::ErrGeneric,
        format!("{reason} (not started by this agent on this node: not recovered here)"),
    )
}

fn is_own_adapter(def: &Definition, adapter: &AdapterName) -> bool {
    *adapter == def.adapter || Some(adapter) == def.recovery_adapter.as_ref()
}

/// `arp_count_refresh`: re-announce on each successful monitor.
fn refresh(ctx: &Ctx<'_>, def: &Definition, state: &RuntimeState, count: u32) {
    if count == 0 {
        return;
    }
    let plan = AnnouncePlan {
        count,
        interval: def.tunables.announce_interval,
    };
    let active = state.active_adapter(def).clone();
    if let Err(e) = ctx.kernel.announce(&active, def.address.ip(), plan) {
        let event = Event::about(
            def,
            Operation::QuickCheck,
            ctx.node,
            &Kind::ReannounceFailed {
                nic: active,
                err: e.to_string(),
            },
            ctx.clock.now(),
        );
        ctx.events.emit(&event);
    }
}

// The state file's inode and ctime tell a write from none: Unix metadata.
#[cfg(unix)]
#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::{Deps, OcfEnv, OcfExit, run};
    use crate::cluster::ClusterView;
    use crate::cluster::sim::SimCluster;
    use crate::doctor::HostFacts;
    use crate::events::Recorder;
    use crate::net::sim::{CallKind, SimNet};
    use crate::net::{Kernel, KernelError};
    use crate::resource::{AdapterName, Mac};

    fn nic(s: &str) -> AdapterName {
        AdapterName::new(s).expect("adapter name")
    }

    /// Runs actions on a resource started on eth0 (recovery eth1) of a
    /// simulated node, with its state in a temporary `HA_RSCTMP`.
    struct Node {
        dir: tempfile::TempDir,
        net: Arc<SimNet>,
    }

    impl Node {
        fn new() -> Self {
            let net = Arc::new(SimNet::new());
            net.add_adapter(nic("eth0"), Mac([2, 0, 0, 0, 0, 1]));
            net.add_adapter(nic("eth1"), Mac([2, 0, 0, 0, 0, 2]));
            let node = Self {
                dir: tempfile::tempdir().expect("temporary directory"),
                net,
            };
            assert_eq!(node.run("start"), OcfExit::Success);
            node
        }

        fn run(&self, action: &str) -> OcfExit {
            let rsctmp = self.dir.path().display().to_string();
            let env = OcfEnv::from_pairs([
                ("HA_RSCTMP", rsctmp.as_str()),
                ("OCF_RESOURCE_INSTANCE", "vip"),
                ("OCF_RESKEY_ip", "198.51.100.50/24"),
                ("OCF_RESKEY_nic", "eth0"),
                ("OCF_RESKEY_recovery_nic", "eth1"),
                ("OCF_RESKEY_probe_timeout", "0"),
                ("OCF_RESKEY_CRM_meta_interval", "10000"),
            ]);
            let net = Arc::clone(&self.net);
            let open_kernel = move || Ok(Box::new(Arc::clone(&net)) as Box<dyn Kernel>);
            let cluster = |_: &OcfEnv| Box::new(SimCluster::new()) as Box<dyn ClusterView>;
            let deps = Deps {
                open_kernel: &open_kernel as &dyn Fn() -> Result<Box<dyn Kernel>, KernelError>,
                cluster: &cluster,
                events: &Recorder::new(),
                clock: self.net.clock(),
                read_host: &|_| HostFacts::default(),
            };
            run(action, &env, &deps).exit
        }

        /// The state file as the file system knows it: inode, change time
        /// and contents.
        fn state_file(&self) -> (u64, i64, i64, String) {
            let path = self.dir.path().join("ipkit/state/vip.json");
            let meta = std::fs::metadata(&path).expect("state file");
            let text = std::fs::read_to_string(&path).expect("state file");
            (meta.ino(), meta.ctime(), meta.ctime_nsec(), text)
        }

        /// The kernel calls of one monitor, by kind.
        fn monitor_calls(&self) -> (usize, usize, usize) {
            let count = || {
                let kinds = [CallKind::Holders, CallKind::Link, CallKind::Snapshot];
                kinds.map(|k| self.net.count(k))
            };
            let before = count();
            assert_eq!(self.run("monitor"), OcfExit::Success);
            let after = count();
            (
                after[0] - before[0],
                after[1] - before[1],
                after[2] - before[2],
            )
        }
    }

    /// Issue 11 §4: a monitor that finds what the last one found asks the
    /// kernel once per question and leaves the state file alone (no
    /// rewrite, no fsync), while one that has news still writes it.
    #[test]
    fn a_monitor_with_nothing_new_reads_once_and_writes_nothing() {
        let node = Node::new();
        // The first monitor records its result.
        assert_eq!(node.run("monitor"), OcfExit::Success);
        let written = node.state_file();
        node.net.clock().advance(Duration::from_secs(10));
        // One holders reading (one address dump) and one link reading
        // (quickCheck step 1), for reconcile, the agent and quickCheck.
        assert_eq!(node.monitor_calls(), (1, 1, 0));
        assert_eq!(node.state_file(), written, "the state file was rewritten");
        // News: the address went, the monitor recovers it and says so.
        node.net
            .unassign(&nic("eth0"), "198.51.100.50".parse().expect("address"));
        node.net.clock().advance(Duration::from_secs(10));
        assert_eq!(node.run("monitor"), OcfExit::Success);
        assert_ne!(node.state_file().3, written.3);
    }

    /// With holders named as Linux names them (by reading each holder's
    /// link), a monitor is one holders reading and no link request of its
    /// own: quickCheck's look at the active adapter is the link read to
    /// name the holder.
    #[test]
    fn a_monitor_reads_the_holders_once_and_asks_no_link_again() {
        let node = Node::new();
        node.net.name_holders_by_link(true);
        assert_eq!(node.run("monitor"), OcfExit::Success);
        assert_eq!(node.monitor_calls(), (1, 0, 0));
        // The cable out: quickCheck still sees it (and recover runs).
        node.net.set_carrier(&nic("eth0"), false);
        assert_eq!(node.run("monitor"), OcfExit::Success);
        let holders: Vec<AdapterName> = node
            .net
            .addresses()
            .into_iter()
            .filter(|(_, a)| a.ip().to_string() == "198.51.100.50")
            .map(|(n, _)| n)
            .collect();
        assert_eq!(holders, vec![nic("eth1")]);
    }
}
