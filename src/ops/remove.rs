//! remove (SPEC §4). Removing an address that is not there succeeds.

use super::{Ctx, Outcome, flush};
use crate::events::Kind;
use crate::resource::{Definition, Operation, RuntimeState};

const OP: Operation = Operation::Remove;

pub fn remove(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState) -> Outcome {
    let mut out = Outcome::new();
    let ip = def.address.ip();

    // 1. Find the adapter(s) that hold the address.
    let holders = match ctx.kernel.holders(ip) {
        Ok(h) => h,
        Err(e) => {
            ctx.kernel_error(def, OP, &mut out, e);
            return fail(ctx, def, state, out);
        }
    };

    // 2. Delete it from each; an error is 6105 and the remove goes on.
    for adapter in &holders {
        if let Err(e) = ctx.kernel.delete_address(adapter, &def.address) {
            ctx.emit(
                def,
                OP,
                Kind::DeleteFailed {
                    guid: adapter.clone(),
                    errno: e.errno,
                    errmsg: e.message.clone(),
                },
            );
            if out.error.is_none() {
                out.error = Some(e);
            }
        }
    }

    // 3. Flush the neighbour entries for the address.
    flush(ctx, def, OP, &mut out, ip);

    // 4. Verify that no local interface holds it. Still held: 6018, fail.
    match ctx.kernel.holders(ip) {
        Ok(left) if left.is_empty() => {}
        Ok(left) => {
            ctx.emit(
                def,
                OP,
                Kind::StillActive {
                    nic: left[0].clone(),
                },
            );
            return fail(ctx, def, state, out);
        }
        Err(e) => {
            ctx.kernel_error(def, OP, &mut out, e);
            return fail(ctx, def, state, out);
        }
    }

    // 5. Out of service, 6101, succeed. Errors met on the way (6105) did
    //    not prevent the address from going, so they are not a failure.
    state.in_service = false;
    ctx.emit(def, OP, Kind::RemoveSucceeded);
    out.error = None;
    out.finish(ctx, OP, state, true, None)
}

/// 6. 6102, fail.
fn fail(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState, out: Outcome) -> Outcome {
    ctx.emit(def, OP, Kind::RemoveFailed);
    out.finish(ctx, OP, state, false, Some(6102))
}
