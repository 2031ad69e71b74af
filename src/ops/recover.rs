//! recover: local recovery (SPEC §4), of one resource or of several in
//! lockstep (issue 11: every resource on an adapter that lost its cable).
//! Each step runs for every member still on its way at once, with one
//! batch call to the kernel, while each member keeps its own events, in
//! SPEC order, its own outcome and its own state. With one member the
//! kernel sees exactly the calls of a single recover.
//!
//! Two guards beyond the seed against a split brain (issue 10): recover
//! refuses a resource that is not in service on this node (7008), and it
//! runs the in-use check on the wire before it adds an address no local
//! adapter holds (7009).
//!
//! The routing the platform keeps beside the address (Linux: ipkit's source
//! rule and table) is not moved at every step: the deletes of steps 3 and
//! 5 and the add of step 4 leave it as it is ([`Routing::Later`]), and it
//! is settled once where the address comes to rest: by the add of step 6,
//! after step 4's quickCheck passed, or before step 8 (docs/daemon.md,
//! "Batch recovery"). On a pulled cable, the address reaches the recovery
//! adapter without three readings and rewritings of the routing first.
//! For the same reason step 4 announces the address once its quickCheck
//! has passed, not before: on a pulled cable nothing is sent into the dead
//! adapter (docs/spec-notes.md, "recover step 4 announces after its
//! quickCheck").

use super::in_use::{Wire, probe_wire};
use super::{
    Ctx, Member, Outcome, add_options, announce_plan, answers, deep_check, quick_check_many, subset,
};
use crate::events::Kind;
use crate::net::{AddRequest, AnnounceRequest, DeleteRequest, KernelOp, Routing};
use crate::resource::{AdapterName, Definition, Operation, RuntimeState};

const OP: Operation = Operation::Recover;

pub fn recover(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState) -> Outcome {
    let mut outcomes = recover_many(ctx, &mut [Member { def, state }]);
    outcomes.pop().unwrap_or_default()
}

/// recover of every member together; outcomes in the order of `members`.
pub fn recover_many(ctx: &Ctx<'_>, members: &mut [Member<'_>]) -> Vec<Outcome> {
    let mut outs = vec![Outcome::new(); members.len()];
    // Whether each member's routing may lag behind its address (it had an
    // address change with `Routing::Later` since its routing was settled).
    let mut lagging = vec![false; members.len()];
    // The members still on their way, in the order of `members`.
    let mut open = Vec::with_capacity(members.len());

    for (i, m) in members.iter_mut().enumerate() {
        // 1. 6605 (Information).
        ctx.emit(m.def, OP, Kind::RecoverStart);
        // 2. Local recovery disabled: 6605 (Error), go to 8.
        if !m.def.local_recovery {
            ctx.emit(m.def, OP, Kind::RecoverNotEnabled);
            fail(ctx, m, &mut outs[i]);
            continue;
        }
        // Beyond the seed (issue 10): local recovery is for a resource in
        // service on this node. One that is not (after the reconcile of
        // ops::run: no adapter of it holds the address) is brought up by
        // restore, whose step 3 first checks that nobody else answers for
        // the address; recover refuses it, or it could bring up an address
        // another node serves (split brain): 7008, go to 8.
        if !m.state.in_service {
            ctx.emit(m.def, OP, Kind::RecoverNotInService);
            fail(ctx, m, &mut outs[i]);
            continue;
        }
        open.push(i);
    }

    // 3. Delete the address from whichever adapter holds it. Held by none
    //    (it was deleted, or its adapter went away): before anything is
    //    added, restore step 3's check on the wire (issue 10); another host
    //    answering for it is 7009, go to 8.
    let held = holders(ctx, members, &open);
    let mut deletes = Vec::new();
    let mut after = Vec::with_capacity(open.len());
    for (&i, result) in open.iter().zip(held) {
        let m = &mut members[i];
        let holders = match result {
            Ok(h) => Some(h),
            Err(e) => {
                ctx.kernel_error(m.def, OP, &mut outs[i], e);
                None
            }
        };
        if holders.as_ref().is_some_and(Vec::is_empty)
            && let Wire::InUse { mac, via } = probe_wire(
                ctx,
                m.def,
                OP,
                &mut outs[i],
                [&m.def.adapter, m.def.local_recovery_target()],
            )
        {
            let kind = Kind::RecoverInUseOnWire {
                mac: mac.to_string(),
                nic: via,
            };
            ctx.emit(m.def, OP, kind);
            fail(ctx, m, &mut outs[i]);
            continue;
        }
        for adapter in holders.unwrap_or_default() {
            deletes.push((i, delete_later(m.def, adapter)));
        }
        after.push(i);
    }
    let open = after;
    delete(ctx, members, &mut outs, &mut lagging, deletes);

    // 4. Add it to the primary adapter (and announce it, below).
    let primaries: Vec<_> = open
        .iter()
        .map(|&i| (i, members[i].def.adapter.clone()))
        .collect();
    let (added, add_failed) = add(
        ctx,
        members,
        (&mut outs, &mut lagging),
        &primaries,
        Routing::Later,
    );
    // (4-2) active_adapter = primary; quickCheck, then deepCheck. Both
    // pass: go to 7. Once quickCheck has passed, the routing follows the
    // address (a routing failure is a failed check: go to 5) and the
    // address is announced.
    for &i in &added {
        members[i].state.active_adapter = Some(members[i].def.adapter.clone());
    }
    let mut open = Vec::with_capacity(open.len());
    let usable = |members: &[Member<'_>], passed: &[usize]| {
        let lag: Vec<usize> = passed.iter().copied().filter(|&i| lagging[i]).collect();
        let failed = settle_routing(ctx, members, (&mut outs, &mut lagging), &lag);
        let on_primary: Vec<_> = passed
            .iter()
            .filter(|i| !failed.contains(i))
            .map(|&i| (i, members[i].def.adapter.clone()))
            .collect();
        announce(ctx, members, &on_primary);
        failed
    };
    for (i, passed) in checks_pass(ctx, members, &added, usable) {
        if passed {
            succeed(ctx, &mut members[i], &mut outs[i]);
        } else {
            open.push(i);
        }
    }
    // (4-1) The add failed: 6607, go to 5.
    for &i in &add_failed {
        let guid = members[i].def.adapter.clone();
        ctx.emit(members[i].def, OP, Kind::AddPrimaryFailed { guid });
        open.push(i);
    }
    open.sort_unstable();

    // 5. Flush the neighbour entries for the address. The address is also
    //    taken off the adapters other than the recovery target, so that it
    //    never ends up on two adapters (SPEC §7).
    let ips: Vec<_> = open.iter().map(|&i| members[i].def.address.ip()).collect();
    let flushed = answers(
        ctx.kernel.flush_neighbours_of(&ips),
        ips.len(),
        KernelOp::FlushNeighbours,
    );
    for (&i, result) in open.iter().zip(flushed) {
        if let Err(e) = result {
            ctx.kernel_error(members[i].def, OP, &mut outs[i], e);
        }
    }
    let held = holders(ctx, members, &open);
    let mut deletes = Vec::new();
    for (&i, result) in open.iter().zip(held) {
        let m = &members[i];
        match result {
            Ok(holders) => {
                let target = m.def.local_recovery_target();
                for adapter in holders.into_iter().filter(|a| a != target) {
                    deletes.push((i, delete_later(m.def, adapter)));
                }
            }
            Err(e) => ctx.kernel_error(m.def, OP, &mut outs[i], e),
        }
    }
    delete(ctx, members, &mut outs, &mut lagging, deletes);

    // 6. Add it to the local recovery adapter (the primary again when none
    //    is defined) and announce it.
    let targets: Vec<_> = open
        .iter()
        .map(|&i| (i, members[i].def.local_recovery_target().clone()))
        .collect();
    let (added, add_failed) = add(
        ctx,
        members,
        (&mut outs, &mut lagging),
        &targets,
        Routing::Follow,
    );
    let on_target: Vec<_> = targets
        .iter()
        .filter(|(i, _)| added.contains(i))
        .cloned()
        .collect();
    announce(ctx, members, &on_target);
    // (6-1) The add failed: 6608, go to 8.
    let mut failing = Vec::new();
    for &i in &add_failed {
        let guid = members[i].def.local_recovery_target().clone();
        ctx.emit(members[i].def, OP, Kind::AddRecoveryFailed { guid });
        failing.push(i);
    }
    // (6-2) active_adapter = it; quickCheck, then deepCheck: 7 or 8.
    for &i in &added {
        let target = members[i].def.local_recovery_target().clone();
        members[i].state.active_adapter = Some(target);
    }
    for (i, passed) in checks_pass(ctx, members, &added, |_, _| Vec::new()) {
        if passed {
            succeed(ctx, &mut members[i], &mut outs[i]);
        } else {
            failing.push(i);
        }
    }
    // 8. The routing of a member that ends here follows wherever its
    //    address is now (nowhere: ipkit's rule and table go), then 6604.
    failing.sort_unstable();
    let lag: Vec<usize> = failing.iter().copied().filter(|&i| lagging[i]).collect();
    settle_routing(ctx, members, (&mut outs, &mut lagging), &lag);
    for i in failing {
        fail(ctx, &mut members[i], &mut outs[i]);
    }
    outs
}

/// The routing of each of `which` settled where its address is, in one
/// call (`Kernel::settle_routing_many`); returns those whose settle failed
/// (reported, 7004). The changes are the routing catching up with recover's
/// own moves, not corrections: no 7007.
fn settle_routing(
    ctx: &Ctx<'_>,
    members: &[Member<'_>],
    (outs, lagging): (&mut [Outcome], &mut [bool]),
    which: &[usize],
) -> Vec<usize> {
    if which.is_empty() {
        return Vec::new();
    }
    let requests: Vec<_> = which
        .iter()
        .map(|&i| (members[i].def.address, add_options(members[i].def)))
        .collect();
    let settled = answers(
        ctx.kernel.settle_routing_many(&requests),
        requests.len(),
        KernelOp::Route,
    );
    let mut failed = Vec::new();
    for (&i, result) in which.iter().zip(settled) {
        match result {
            Ok(_) => lagging[i] = false,
            Err(e) => {
                ctx.kernel_error(members[i].def, OP, &mut outs[i], e);
                failed.push(i);
            }
        }
    }
    failed
}

/// Which adapters hold the address of each of `which`, in one call.
fn holders(
    ctx: &Ctx<'_>,
    members: &[Member<'_>],
    which: &[usize],
) -> Vec<Result<Vec<AdapterName>, crate::net::KernelError>> {
    let ips: Vec<_> = which.iter().map(|&i| members[i].def.address.ip()).collect();
    answers(
        ctx.kernel.holders_of(&ips),
        ips.len(),
        KernelOp::DumpAddresses,
    )
}

/// The delete of `def`'s address from `adapter` in steps 3 and 5: the
/// routing is left for where the address comes to rest (module doc).
fn delete_later(def: &Definition, adapter: AdapterName) -> DeleteRequest {
    DeleteRequest {
        adapter,
        address: def.address,
        routing: Routing::Later,
    }
}

/// Delete each member's address from the adapters given, in one call; a
/// failed delete is reported (7004) and the recover goes on.
fn delete(
    ctx: &Ctx<'_>,
    members: &[Member<'_>],
    outs: &mut [Outcome],
    lagging: &mut [bool],
    deletes: Vec<(usize, DeleteRequest)>,
) {
    if deletes.is_empty() {
        return;
    }
    let (owners, requests): (Vec<usize>, Vec<DeleteRequest>) = deletes.into_iter().unzip();
    for (&i, r) in owners.iter().zip(&requests) {
        lagging[i] |= r.routing == Routing::Later;
    }
    let results = answers(
        ctx.kernel.delete_addresses(&requests),
        requests.len(),
        KernelOp::DeleteAddress,
    );
    for (i, result) in owners.into_iter().zip(results) {
        if let Err(e) = result {
            ctx.kernel_error(members[i].def, OP, &mut outs[i], e);
        }
    }
}

/// Add each member's address to its adapter of `targets`, its routing as
/// `routing` says, in one call. Returns the members whose add succeeded
/// and those whose add failed (reported, 7004).
fn add(
    ctx: &Ctx<'_>,
    members: &[Member<'_>],
    (outs, lagging): (&mut [Outcome], &mut [bool]),
    targets: &[(usize, AdapterName)],
    routing: Routing,
) -> (Vec<usize>, Vec<usize>) {
    if targets.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let adds: Vec<AddRequest> = targets
        .iter()
        .map(|(i, adapter)| AddRequest {
            adapter: adapter.clone(),
            address: members[*i].def.address,
            opts: add_options(members[*i].def),
            routing,
        })
        .collect();
    let results = answers(
        ctx.kernel.add_addresses(&adds),
        adds.len(),
        KernelOp::AddAddress,
    );
    let mut added = Vec::with_capacity(targets.len());
    let mut failed = Vec::new();
    for ((i, _), result) in targets.iter().zip(results) {
        match result {
            Ok(()) => {
                // A followed add settled the routing; a later one let it lag.
                lagging[*i] = routing == Routing::Later;
                added.push(*i);
            }
            Err(e) => {
                ctx.kernel_error(members[*i].def, OP, &mut outs[*i], e);
                failed.push(*i);
            }
        }
    }
    (added, failed)
}

/// Announce each member's address on its adapter of `targets`, in one call
/// (6016 on a failure, which fails nothing).
fn announce(ctx: &Ctx<'_>, members: &[Member<'_>], targets: &[(usize, AdapterName)]) {
    if targets.is_empty() {
        return;
    }
    let announces: Vec<AnnounceRequest> = targets
        .iter()
        .map(|(i, adapter)| AnnounceRequest {
            adapter: adapter.clone(),
            ip: members[*i].def.address.ip(),
            plan: announce_plan(members[*i].def),
        })
        .collect();
    let results = answers(
        ctx.kernel.announce_addresses(&announces),
        announces.len(),
        KernelOp::Announce,
    );
    for (((i, adapter), _), result) in targets.iter().zip(&announces).zip(results) {
        if let Err(e) = result {
            let kind = Kind::AnnounceFailed {
                err: e.to_string(),
                guid: adapter.clone(),
            };
            ctx.emit(members[*i].def, OP, kind);
        }
    }
}

/// quickCheck, then deepCheck, of each of `which`: both must succeed.
/// `between` runs once on those whose quickCheck passed, before their
/// deepCheck, and returns those it failed.
fn checks_pass(
    ctx: &Ctx<'_>,
    members: &mut [Member<'_>],
    which: &[usize],
    between: impl FnOnce(&[Member<'_>], &[usize]) -> Vec<usize>,
) -> Vec<(usize, bool)> {
    let quick = quick_check_many(ctx, &mut subset(members, which), &[]);
    let mut passed: Vec<(usize, bool)> = which
        .iter()
        .zip(quick)
        .map(|(&i, q)| (i, q.success))
        .collect();
    let quick_passed: Vec<usize> = passed.iter().filter(|p| p.1).map(|p| p.0).collect();
    let failed = between(members, &quick_passed);
    for (i, ok) in passed.iter_mut() {
        *ok = *ok && !failed.contains(i);
        *ok = *ok && deep_check(ctx, members[*i].def, members[*i].state).success;
    }
    passed
}

/// 7. 6603, succeed.
fn succeed(ctx: &Ctx<'_>, m: &mut Member<'_>, out: &mut Outcome) {
    m.state.in_service = true;
    ctx.emit(m.def, OP, Kind::RecoverSucceeded);
    out.error = None;
    *out = std::mem::take(out).finish(ctx, OP, m.state, true, None);
}

/// 8. 6604, fail: the resource is failed on this node.
fn fail(ctx: &Ctx<'_>, m: &mut Member<'_>, out: &mut Outcome) {
    ctx.emit(m.def, OP, Kind::RecoverFailed);
    *out = std::mem::take(out).finish(ctx, OP, m.state, false, Some(6604));
}
