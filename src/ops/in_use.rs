//! The in-use check on the wire: is the address answered by another host?
//! Restore step 3 runs it when no local adapter holds the address (SPEC
//! §4), and so does recover before it adds an address no local adapter
//! holds (issue 10: another node may have taken it over meanwhile).

use super::{Ctx, Outcome};
use crate::events::Kind;
use crate::net::ProbeResult;
use crate::resource::{AdapterName, Definition, Mac, Operation};

/// What the wire said.
pub(crate) enum Wire {
    /// Nobody answered, or nothing could be learnt (probe disabled by
    /// `probe_timeout` 0, no adapter with a cable, a probe that could not
    /// run: 7003).
    Free,
    /// Another host answered, seen on `via`.
    InUse { mac: Mac, via: AdapterName },
}

/// ARP probe (RFC 5227) / DAD NS for the address on the first of
/// `candidates` that has a cable.
pub(crate) fn probe_wire(
    ctx: &Ctx<'_>,
    def: &Definition,
    op: Operation,
    out: &mut Outcome,
    candidates: [&AdapterName; 2],
) -> Wire {
    if def.tunables.probe_timeout.is_zero() {
        return Wire::Free;
    }
    let Some(via) = candidates
        .into_iter()
        .find(|a| ctx.kernel.link_state(a).is_ok_and(|l| l.is_connected()))
    else {
        return Wire::Free;
    };
    match ctx
        .kernel
        .probe(via, def.address.ip(), def.tunables.probe_timeout)
    {
        Ok(ProbeResult::Free) => Wire::Free,
        Ok(ProbeResult::InUse { mac }) => Wire::InUse {
            mac,
            via: via.clone(),
        },
        Err(e) => {
            if e.is_permission() && out.error.is_none() {
                out.error = Some(e.clone());
            }
            ctx.emit(
                def,
                op,
                Kind::ProbeFailed {
                    nic: via.clone(),
                    err: e.to_string(),
                },
            );
            Wire::Free
        }
    }
}
