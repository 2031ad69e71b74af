//! deepCheck (SPEC §4, §5).

use super::{Ctx, Outcome};
use crate::events::Kind;
use crate::net::LinkState;
use crate::resource::{ConflictRecord, Definition, Operation, RuntimeState};

const OP: Operation = Operation::DeepCheck;

pub fn deep_check(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState) -> Outcome {
    let out = Outcome::new();

    // 1. Is a standby node up? None is: succeed. A cluster view that cannot
    //    be read is a warning (7006), never a failed check.
    let nodes = match ctx.cluster.nodes(def) {
        Ok(nodes) => nodes,
        Err(e) => {
            ctx.emit(def, OP, Kind::ClusterViewUnavailable { err: e.0 });
            return out.finish(ctx, OP, state, true, Some(7006));
        }
    };

    // Beyond the seed (issue 10): a node that reports the resource in
    // service is no standby; while it is in service here too, both hold
    // the address: an address conflict (7010), recorded in the state. Like
    // 6406 it does not fail deepCheck (spec-notes, "deepCheck never fails").
    let mut conflict = None;
    if state.in_service {
        for node in &nodes.holding {
            ctx.emit(def, OP, Kind::PeerHoldsAddress { node: node.clone() });
            state.last_conflict = Some(ConflictRecord::peer(ctx.clock.now(), node));
            conflict = Some(7010);
        }
    }
    if nodes.standby.is_empty() {
        return out.finish(ctx, OP, state, true, conflict);
    }

    // 2. For each standby node that is up, the cable of the adapter that
    //    would receive the address there. DISCONNECTED: 6406 naming the
    //    node, a warning only; deepCheck still succeeds.
    let mut warned = None;
    for node in nodes.standby {
        if matches!(
            node.link,
            Some(LinkState::Disconnected | LinkState::Missing)
        ) {
            ctx.emit(
                def,
                OP,
                Kind::StandbyCableDisconnected {
                    nic: node.adapter,
                    node: node.name,
                },
            );
            warned = Some(6406);
        }
    }
    out.finish(ctx, OP, state, true, conflict.or(warned))
}
