//! deepCheck (SPEC §4, §5).

use super::{Ctx, Outcome};
use crate::events::Kind;
use crate::net::LinkState;
use crate::resource::{Definition, Operation, RuntimeState};

const OP: Operation = Operation::DeepCheck;

pub fn deep_check(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState) -> Outcome {
    let out = Outcome::new();

    // 1. Is a standby node up? None is: succeed. A cluster view that cannot
    //    be read is a warning (7006), never a failed check.
    let nodes = match ctx.cluster.standby_nodes(def) {
        Ok(nodes) => nodes,
        Err(e) => {
            ctx.emit(def, OP, Kind::ClusterViewUnavailable { err: e.0 });
            return out.finish(ctx, OP, state, true, Some(7006));
        }
    };
    if nodes.is_empty() {
        return out.finish(ctx, OP, state, true, None);
    }

    // 2. For each standby node that is up, the cable of the adapter that
    //    would receive the address there. DISCONNECTED: 6406 naming the
    //    node, a warning only; deepCheck still succeeds.
    let mut warned = None;
    for node in nodes {
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
    out.finish(ctx, OP, state, true, warned)
}
