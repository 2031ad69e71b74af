//! recover: local recovery (SPEC §4), with two guards beyond the seed
//! against a split brain (issue 10): it refuses a resource that is not in
//! service on this node (7008), and it runs the in-use check on the wire
//! before it adds an address no local adapter holds (7009).

use super::in_use::{Wire, probe_wire};
use super::{Ctx, Outcome, add_options, announce_plan, deep_check, flush, quick_check};
use crate::events::Kind;
use crate::resource::{AdapterName, Definition, Operation, RuntimeState};

const OP: Operation = Operation::Recover;

pub fn recover(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState) -> Outcome {
    let mut out = Outcome::new();
    let ip = def.address.ip();

    // 1. 6605 (Information).
    ctx.emit(def, OP, Kind::RecoverStart);

    // 2. Local recovery disabled: 6605 (Error), go to 8.
    if !def.local_recovery {
        ctx.emit(def, OP, Kind::RecoverNotEnabled);
        return fail(ctx, def, state, out);
    }

    // Beyond the seed (issue 10): local recovery is for a resource in
    // service on this node. One that is not (after the reconcile of
    // ops::run: no adapter of it holds the address) is brought up by
    // restore, whose step 3 first checks that nobody else answers for the
    // address; recover refuses it, or it could bring up an address another
    // node serves (split brain): 7008, go to 8.
    if !state.in_service {
        ctx.emit(def, OP, Kind::RecoverNotInService);
        return fail(ctx, def, state, out);
    }

    // 3. Delete the address from whichever adapter holds it. Held by none
    //    (it was deleted, or its adapter went away): before anything is
    //    added, restore step 3's check on the wire (issue 10); another host
    //    answering for it is 7009, go to 8.
    let holders = match ctx.kernel.holders(ip) {
        Ok(h) => Some(h),
        Err(e) => {
            ctx.kernel_error(def, OP, &mut out, e);
            None
        }
    };
    if holders.as_ref().is_some_and(Vec::is_empty)
        && let Wire::InUse { mac, via } = probe_wire(
            ctx,
            def,
            OP,
            &mut out,
            [&def.adapter, def.local_recovery_target()],
        )
    {
        ctx.emit(
            def,
            OP,
            Kind::RecoverInUseOnWire {
                mac: mac.to_string(),
                nic: via,
            },
        );
        return fail(ctx, def, state, out);
    }
    delete_from(ctx, def, &mut out, holders.as_deref().unwrap_or(&[]), None);

    // 4. Add it to the primary adapter and announce it.
    let primary = def.adapter.clone();
    if add_and_announce(ctx, def, &mut out, &primary) {
        // (4-2) active_adapter = primary; quickCheck, then deepCheck.
        state.active_adapter = Some(primary);
        if checks_pass(ctx, def, state) {
            return succeed(ctx, def, state, out);
        }
    } else {
        // (4-1) 6607, go to 5.
        ctx.emit(def, OP, Kind::AddPrimaryFailed { guid: primary });
    }

    // 5. Flush the neighbour entries for the address. The address is also
    //    taken off the adapters other than the recovery target, so that it
    //    never ends up on two adapters (SPEC §7).
    flush(ctx, def, OP, &mut out, ip);
    let target = def.local_recovery_target().clone();
    delete_everywhere(ctx, def, &mut out, Some(&target));

    // 6. Add it to the local recovery adapter (the primary again when none
    //    is defined) and announce it.
    if !add_and_announce(ctx, def, &mut out, &target) {
        // (6-1) 6608, go to 8.
        ctx.emit(def, OP, Kind::AddRecoveryFailed { guid: target });
        return fail(ctx, def, state, out);
    }
    // (6-2) active_adapter = it; quickCheck, then deepCheck.
    state.active_adapter = Some(target);
    if checks_pass(ctx, def, state) {
        succeed(ctx, def, state, out)
    } else {
        fail(ctx, def, state, out)
    }
}

/// Delete the address from every adapter that holds it, except `keep`.
fn delete_everywhere(
    ctx: &Ctx<'_>,
    def: &Definition,
    out: &mut Outcome,
    keep: Option<&AdapterName>,
) {
    match ctx.kernel.holders(def.address.ip()) {
        Ok(holders) => delete_from(ctx, def, out, &holders, keep),
        Err(e) => ctx.kernel_error(def, OP, out, e),
    }
}

/// Delete the address from each of `holders` except `keep`.
fn delete_from(
    ctx: &Ctx<'_>,
    def: &Definition,
    out: &mut Outcome,
    holders: &[AdapterName],
    keep: Option<&AdapterName>,
) {
    for a in holders.iter().filter(|a| Some(*a) != keep) {
        if let Err(e) = ctx.kernel.delete_address(a, &def.address) {
            ctx.kernel_error(def, OP, out, e);
        }
    }
}

/// Add the address to `adapter`, then announce it (6016 on an announce
/// failure, which does not fail the add). False when the add failed.
fn add_and_announce(
    ctx: &Ctx<'_>,
    def: &Definition,
    out: &mut Outcome,
    adapter: &AdapterName,
) -> bool {
    let opts = add_options(def);
    if let Err(e) = ctx.kernel.add_address(adapter, &def.address, opts) {
        ctx.kernel_error(def, OP, out, e);
        return false;
    }
    if let Err(e) = ctx
        .kernel
        .announce(adapter, def.address.ip(), announce_plan(def))
    {
        ctx.emit(
            def,
            OP,
            Kind::AnnounceFailed {
                err: e.to_string(),
                guid: adapter.clone(),
            },
        );
    }
    true
}

/// quickCheck, then deepCheck: both must succeed.
fn checks_pass(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState) -> bool {
    quick_check(ctx, def, state).success && deep_check(ctx, def, state).success
}

/// 7. 6603, succeed.
fn succeed(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState, mut out: Outcome) -> Outcome {
    state.in_service = true;
    ctx.emit(def, OP, Kind::RecoverSucceeded);
    out.error = None;
    out.finish(ctx, OP, state, true, None)
}

/// 8. 6604, fail: the resource is failed on this node.
fn fail(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState, out: Outcome) -> Outcome {
    ctx.emit(def, OP, Kind::RecoverFailed);
    out.finish(ctx, OP, state, false, Some(6604))
}
