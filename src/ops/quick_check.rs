//! quickCheck (SPEC §4), of one resource or of several at once (issue 11:
//! one link reading per step for all of them, and one holders reading).

use std::time::Duration;

use super::{Ctx, Member, Outcome, answers, held_exactly_by};
use crate::events::Kind;
use crate::net::{KernelOp, LinkState};
use crate::resource::{AdapterName, Definition, Operation, RuntimeState};

const OP: Operation = Operation::QuickCheck;

/// How often a debounced link is re-read.
const DEBOUNCE_STEP: Duration = Duration::from_millis(10);

pub fn quick_check(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState) -> Outcome {
    let mut outcomes = quick_check_many(ctx, &mut [Member { def, state }]);
    outcomes.pop().unwrap_or_default()
}

/// quickCheck of every member, each step for all of them together: each
/// gets its own events, in SPEC order, and its own outcome (in the order
/// of `members`). With one member this is exactly [`quick_check`].
pub fn quick_check_many(ctx: &Ctx<'_>, members: &mut [Member<'_>]) -> Vec<Outcome> {
    let n = members.len();
    let mut outs = vec![Outcome::new(); n];
    let mut done = vec![false; n];
    let actives: Vec<AdapterName> = members
        .iter()
        .map(|m| m.state.active_adapter(m.def).clone())
        .collect();

    // 1. The cable of active_adapter. DISCONNECTED: 6507, fail.
    let mut links = vec![LinkState::Missing; n];
    let first = answers(ctx.kernel.link_states(&actives), n, KernelOp::GetLink);
    for (i, result) in first.into_iter().enumerate() {
        match result {
            Ok(l) => links[i] = l,
            Err(e) => {
                ctx.kernel_error(members[i].def, OP, &mut outs[i], e);
                end(ctx, &mut members[i], &mut outs[i], false, Some(7004));
                done[i] = true;
            }
        }
    }
    // 1 (debounce). A link down for less than link_debounce is re-checked
    // before failing, each member for its own debounce.
    let mut waited = Duration::ZERO;
    loop {
        let waiting: Vec<usize> = (0..n)
            .filter(|&i| {
                !done[i]
                    && links[i] != LinkState::Connected
                    && waited < members[i].def.tunables.link_debounce
            })
            .collect();
        let Some(step) = waiting
            .iter()
            .map(|&i| DEBOUNCE_STEP.min(members[i].def.tunables.link_debounce - waited))
            .min()
        else {
            break;
        };
        ctx.clock.sleep(step);
        waited += step;
        let names: Vec<AdapterName> = waiting.iter().map(|&i| actives[i].clone()).collect();
        let again = ctx.kernel.link_states(&names);
        for (&i, result) in waiting
            .iter()
            .zip(answers(again, names.len(), KernelOp::GetLink))
        {
            links[i] = result.unwrap_or(LinkState::Missing);
        }
    }
    for i in 0..n {
        if !done[i] && links[i] != LinkState::Connected {
            let nic = actives[i].clone();
            ctx.emit(members[i].def, OP, Kind::CableDisconnected { nic });
            end(ctx, &mut members[i], &mut outs[i], false, Some(6507));
            done[i] = true;
        }
    }

    // 2. Which adapter(s) hold the address? Exactly active_adapter: succeed.
    let rest: Vec<usize> = (0..n).filter(|&i| !done[i]).collect();
    let ips: Vec<_> = rest.iter().map(|&i| members[i].def.address.ip()).collect();
    let held = answers(
        ctx.kernel.holders_of(&ips),
        ips.len(),
        KernelOp::DumpAddresses,
    );
    for (&i, result) in rest.iter().zip(held) {
        match result {
            Ok(holders) if held_exactly_by(&holders, &actives[i]) => {
                end(ctx, &mut members[i], &mut outs[i], true, None);
            }
            Ok(_) => {
                let nic = actives[i].clone();
                ctx.emit(members[i].def, OP, Kind::NotOnAdapter { nic });
                end(ctx, &mut members[i], &mut outs[i], false, Some(6508));
            }
            Err(e) => {
                ctx.kernel_error(members[i].def, OP, &mut outs[i], e);
                end(ctx, &mut members[i], &mut outs[i], false, Some(7004));
                done[i] = true;
            }
        }
    }
    outs
}

/// The member's quickCheck ends: its outcome and its state's record.
fn end(ctx: &Ctx<'_>, m: &mut Member<'_>, out: &mut Outcome, ok: bool, event: Option<u16>) {
    *out = std::mem::take(out).finish(ctx, OP, m.state, ok, event);
}
