//! restore (SPEC §4).

use super::in_use::{Wire, probe_wire};
use super::reconcile::holding_adapter;
use super::{Ctx, Outcome, add_options, announce_plan, flush, held_exactly_by};
use crate::events::Kind;
use crate::resource::{AdapterName, Definition, Operation, RuntimeState};

const OP: Operation = Operation::Restore;

pub fn restore(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState) -> Outcome {
    let mut out = Outcome::new();
    let ip = def.address.ip();

    // 1. 6013.
    ctx.emit(def, OP, Kind::RestoreStart);

    // 2. Flush the neighbour entries for the address.
    flush(ctx, def, OP, &mut out, ip);

    // The adapter we are about to use: the one that holds the address when
    // the resource is in service (a restore after a local recovery keeps
    // the recovery adapter), otherwise the primary adapter.
    let first = if state.in_service {
        state.active_adapter(def).clone()
    } else {
        def.adapter.clone()
    };
    // Step 5's adapter: the other one of primary / recovery adapter (the
    // primary again when no recovery adapter is defined).
    let second = if first == def.adapter {
        def.local_recovery_target().clone()
    } else {
        def.adapter.clone()
    };

    // 3. Is the address already in use?
    let holders = match ctx.kernel.holders(ip) {
        Ok(h) => h,
        Err(e) => {
            ctx.kernel_error(def, OP, &mut out, e);
            return fail(ctx, def, state, out);
        }
    };
    if !holders.is_empty() {
        // (3-1) On the adapter we are about to use: go to 4.
        // (3-2) On another local adapter: fail.
        if !held_exactly_by(&holders, &first) {
            let other = holders.iter().find(|h| **h != first).unwrap_or(&holders[0]);
            ctx.emit(def, OP, Kind::HeldByOtherAdapter { nic: other.clone() });
            return fail(ctx, def, state, out);
        }
    } else if let Wire::InUse { mac, via } = probe_wire(ctx, def, OP, &mut out, [&first, &second]) {
        // Not held locally, but answered on the wire by another host (the
        // probe goes out on the first of our adapters that has a cable):
        // (3-2) fail.
        ctx.emit(
            def,
            OP,
            Kind::InUseOnWire {
                mac: mac.to_string(),
                nic: via,
            },
        );
        return fail(ctx, def, state, out);
    }

    // 4. Add the address to the first adapter.
    let mut target = first;
    if !try_adapter(ctx, def, &mut out, &target, &holders) {
        // 5. Local recovery: disabled, 6008 and fail; enabled, step 4 once
        //    more against the second adapter.
        if !def.local_recovery {
            ctx.emit(def, OP, Kind::RestoreLocalRecoveryDisabled);
            return fail(ctx, def, state, out);
        }
        target = second;
        // 5. The address may still be on the adapter step 4 gave up on
        //    (3-1, e.g. a primary whose cable was pulled). Take it off first,
        //    or 4-2 ("on the target adapter and nowhere else") cannot pass.
        match ctx.kernel.holders(ip) {
            Ok(h) => undo_add(ctx, def, &mut out, &h, std::slice::from_ref(&target)),
            Err(e) => ctx.kernel_error(def, OP, &mut out, e),
        }
        if !try_adapter(ctx, def, &mut out, &target, &[]) {
            return fail(ctx, def, state, out);
        }
    }

    // 6. Record the adapter, mark in service, 6001, succeed.
    state.active_adapter = Some(target);
    state.in_service = true;
    state.failed = false;
    ctx.emit(def, OP, Kind::RestoreSucceeded);
    out.error = None;
    out.finish(ctx, OP, state, true, None)
}

/// Step 4 against one adapter. `kept` are the adapters that held the
/// address before this step (3-1), which a failed verification leaves alone.
fn try_adapter(
    ctx: &Ctx<'_>,
    def: &Definition,
    out: &mut Outcome,
    target: &AdapterName,
    kept: &[AdapterName],
) -> bool {
    let ip = def.address.ip();
    // 4. The cable of the target adapter (a missing adapter counts as
    //    DISCONNECTED). A NIC that is not the one recorded at definition
    //    time is reported (7005, a warning) before anything is added to it.
    let connected = match ctx.kernel.link(target) {
        Ok(info) => {
            if let Some(detail) = def
                .recorded_identity(target)
                .and_then(|id| id.differences(Some(info.mac), info.ifindex))
            {
                ctx.emit(
                    def,
                    OP,
                    Kind::AdapterReplaced {
                        nic: target.clone(),
                        detail,
                    },
                );
            }
            info.state.is_connected()
        }
        Err(e) if e.is_missing_adapter() => false,
        Err(e) => {
            ctx.kernel_error(def, OP, out, e);
            return false;
        }
    };
    // 4. DISCONNECTED: 6019, go to 5.
    if !connected {
        ctx.emit(
            def,
            OP,
            Kind::CableNotConnected {
                cmd: OP,
                nic: target.clone(),
            },
        );
        return false;
    }
    // 4. CONNECTED: add the address.
    let opts = add_options(def);
    if let Err(e) = ctx.kernel.add_address(target, &def.address, opts) {
        ctx.kernel_error(def, OP, out, e);
        return false;
    }
    // (4-1) Announce it; a failure is 6016 and we carry on.
    if let Err(e) = ctx.kernel.announce(target, ip, announce_plan(def)) {
        ctx.emit(
            def,
            OP,
            Kind::AnnounceFailed {
                err: e.to_string(),
                guid: target.clone(),
            },
        );
    }
    // (4-2) Verify: on the target adapter and nowhere else.
    match ctx.kernel.holders(ip) {
        Ok(h) if held_exactly_by(&h, target) => true,
        Ok(h) => {
            ctx.emit(
                def,
                OP,
                Kind::InsertVerifyFailed {
                    guid: target.clone(),
                },
            );
            // Take back what this step added, so that a failed step never
            // leaves the address on a wrong adapter (SPEC §7).
            undo_add(ctx, def, out, &h, kept);
            false
        }
        Err(e) => {
            ctx.kernel_error(def, OP, out, e);
            false
        }
    }
}

/// Delete the address from every holder not in `kept` (the adapters that
/// held it before step 4, or the adapter step 5 is about to use).
fn undo_add(
    ctx: &Ctx<'_>,
    def: &Definition,
    out: &mut Outcome,
    holders: &[AdapterName],
    kept: &[AdapterName],
) {
    for a in holders.iter().filter(|h| !kept.contains(h)) {
        if let Err(e) = ctx.kernel.delete_address(a, &def.address) {
            ctx.kernel_error(def, OP, out, e);
        }
    }
}

/// Step 7: 6002, fail. The state follows the kernel (issue 10): a failed
/// restore deletes only what it added itself, so the address may still be
/// on an adapter of the resource (3-1 with a pulled cable and local
/// recovery off, 3-2 with a stray copy elsewhere, a delete that failed).
/// Then the resource stays in service on that adapter, watched by the
/// daemon, and `delete` needs --force; otherwise it is out of service.
fn fail(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState, mut out: Outcome) -> Outcome {
    let holder = match ctx.kernel.holders(def.address.ip()) {
        Ok(holders) => holding_adapter(def, state, &holders),
        Err(e) => {
            ctx.kernel_error(def, OP, &mut out, e);
            None
        }
    };
    ctx.emit(def, OP, Kind::RestoreFailed);
    state.in_service = holder.is_some();
    if holder.is_some() {
        state.active_adapter = holder;
    }
    out.finish(ctx, OP, state, false, Some(6002))
}
