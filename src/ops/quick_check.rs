//! quickCheck (SPEC §4).

use std::time::Duration;

use super::{Ctx, Outcome, held_exactly_by};
use crate::events::Kind;
use crate::net::LinkState;
use crate::resource::{Definition, Operation, RuntimeState};

const OP: Operation = Operation::QuickCheck;

/// How often a debounced link is re-read.
const DEBOUNCE_STEP: Duration = Duration::from_millis(10);

pub fn quick_check(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState) -> Outcome {
    let mut out = Outcome::new();
    let active = state.active_adapter(def).clone();

    // 1. The cable of active_adapter. DISCONNECTED: 6507, fail.
    let mut link = match ctx.kernel.link_state(&active) {
        Ok(l) => l,
        Err(e) => {
            ctx.kernel_error(def, OP, &mut out, e);
            return out.finish(ctx, OP, state, false, Some(7004));
        }
    };
    // 1 (debounce). A link down for less than link_debounce is re-checked
    // before failing.
    let debounce = def.tunables.link_debounce;
    let mut waited = Duration::ZERO;
    while link != LinkState::Connected && waited < debounce {
        let step = DEBOUNCE_STEP.min(debounce - waited);
        ctx.clock.sleep(step);
        waited += step;
        link = ctx.kernel.link_state(&active).unwrap_or(LinkState::Missing);
    }
    if link != LinkState::Connected {
        ctx.emit(def, OP, Kind::CableDisconnected { nic: active });
        return out.finish(ctx, OP, state, false, Some(6507));
    }

    // 2. Which adapter(s) hold the address? Exactly active_adapter: succeed.
    match ctx.kernel.holders(def.address.ip()) {
        Ok(holders) if held_exactly_by(&holders, &active) => out.finish(ctx, OP, state, true, None),
        Ok(_) => {
            ctx.emit(def, OP, Kind::NotOnAdapter { nic: active });
            out.finish(ctx, OP, state, false, Some(6508))
        }
        Err(e) => {
            ctx.kernel_error(def, OP, &mut out, e);
            out.finish(ctx, OP, state, false, Some(7004))
        }
    }
}
