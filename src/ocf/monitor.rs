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

use super::actions::{adapter_list, exit_for_kernel_error, failure_reason};

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
