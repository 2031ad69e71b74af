//! The kernel is the truth (issue 10): the runtime state is reconciled with
//! where the address really is before an operation acts on it.
//!
//! Every operation changes the kernel first and writes the state after;
//! a crash in between leaves a state that names the wrong adapter, or says
//! "out of service" while this node holds the address. [`reconcile`] reads
//! which adapters hold the address and corrects the state, reporting each
//! correction as 7007. The rule: when one of the resource's own adapters
//! (primary or recovery adapter) holds the address, the state says in
//! service on that adapter (the active one if it holds it, else the
//! primary, else the recovery adapter).
//!
//! The routing state a platform keeps beside the address (Linux: ipkit's
//! source rule and table, docs/linux-backend.md "Source routing") is
//! brought in line with where the address is too ([`reconcile_routing`]),
//! one 7007 per change: a crash between an address change and that state
//! is repaired by the next operation ([`settles_routing`] says which:
//! every one but a quickCheck that found the state right).
//!
//! What it does not correct: a state that says "in service" while no
//! adapter of the resource holds the address is a failed resource, not a
//! stale state (quickCheck fails with 6508 and recover repairs it), and an
//! address on another local adapter is not this resource's to adopt
//! (restore refuses it, 7002). `status` shows both ([`disagreements`]).

use std::fmt;

use std::net::IpAddr;

use super::{Ctx, Member, answers};
use crate::events::Kind;
use crate::net::{KernelError, KernelOp};
use crate::resource::{AdapterName, Definition, Operation, RuntimeState};

/// One field of the runtime state corrected from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Correction {
    /// `active_adapter` named `from`; the kernel has the address on `to`.
    ActiveAdapter { from: AdapterName, to: AdapterName },
    /// `active_adapter` named `from`, which is not an adapter of the
    /// resource any more (its definition changed); back to the primary.
    NotAnAdapter { from: AdapterName, to: AdapterName },
    /// The state said out of service; this node holds the address on `on`.
    InService { on: AdapterName },
}

impl Correction {
    fn apply(&self, state: &mut RuntimeState) {
        match self {
            Correction::ActiveAdapter { to, .. } | Correction::NotAnAdapter { to, .. } => {
                state.active_adapter = Some(to.clone());
            }
            Correction::InService { .. } => state.in_service = true,
        }
    }

    /// The adapter the corrected state names (the event's adapter).
    fn adapter(&self) -> &AdapterName {
        match self {
            Correction::ActiveAdapter { to, .. } | Correction::NotAnAdapter { to, .. } => to,
            Correction::InService { on } => on,
        }
    }
}

impl fmt::Display for Correction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Correction::ActiveAdapter { from, to } => write!(
                f,
                "active_adapter {from} -> {to} (the kernel has the address on {to})"
            ),
            Correction::NotAnAdapter { from, to } => write!(
                f,
                "active_adapter {from} -> {to} ({from} is not an adapter of this resource)"
            ),
            Correction::InService { on } => write!(
                f,
                "in_service false -> true (this node holds the address on {on})"
            ),
        }
    }
}

fn is_ours(def: &Definition, adapter: &AdapterName) -> bool {
    *adapter == def.adapter || Some(adapter) == def.recovery_adapter.as_ref()
}

/// The adapter of the resource that holds the address, if any: the active
/// one when it does, else the primary, else the recovery adapter.
pub(crate) fn holding_adapter(
    def: &Definition,
    state: &RuntimeState,
    holders: &[AdapterName],
) -> Option<AdapterName> {
    let active = state.active_adapter(def);
    [
        Some(active),
        Some(&def.adapter),
        def.recovery_adapter.as_ref(),
    ]
    .into_iter()
    .flatten()
    .find(|a| is_ours(def, a) && holders.contains(a))
    .cloned()
}

/// What the state gets wrong, given the adapters that hold the address.
pub fn corrections(
    def: &Definition,
    state: &RuntimeState,
    holders: &[AdapterName],
) -> Vec<Correction> {
    let active = state.active_adapter(def);
    let mut out = Vec::new();
    match holding_adapter(def, state, holders) {
        Some(holder) => {
            if *active != holder {
                out.push(Correction::ActiveAdapter {
                    from: active.clone(),
                    to: holder.clone(),
                });
            }
            if !state.in_service {
                out.push(Correction::InService { on: holder });
            }
        }
        None if !is_ours(def, active) => out.push(Correction::NotAnAdapter {
            from: active.clone(),
            to: def.adapter.clone(),
        }),
        None => {}
    }
    out
}

/// Correct `state` from the kernel before `op` acts on it, with one 7007
/// per correction; returns them. When the kernel cannot be read nothing is
/// corrected: the operation meets the same error and reports it.
pub fn reconcile(
    ctx: &Ctx<'_>,
    def: &Definition,
    op: Operation,
    state: &mut RuntimeState,
) -> Vec<Correction> {
    let Ok(holders) = ctx.kernel.holders(def.address.ip()) else {
        return Vec::new();
    };
    correct(ctx, def, op, state, &holders)
}

/// [`reconcile`] of every member, with one reading of the holders for all
/// of them (issue 11: the daemon's batch) and one settle of the routing of
/// the members [`settles_routing`] names (`Kernel::settle_routing_many`).
/// One list per member, in order.
pub fn reconcile_many(
    ctx: &Ctx<'_>,
    members: &mut [Member<'_>],
    op: Operation,
) -> Vec<Vec<Correction>> {
    let ips: Vec<IpAddr> = members.iter().map(|m| m.def.address.ip()).collect();
    let held = answers(
        ctx.kernel.holders_of(&ips),
        ips.len(),
        KernelOp::DumpAddresses,
    );
    let mut settle: Vec<(usize, AdapterName)> = Vec::new();
    let corrected = members
        .iter_mut()
        .zip(held)
        .enumerate()
        .map(|(k, (m, holders))| match holders {
            Ok(holders) => {
                let found = correct_state(ctx, m.def, op, m.state, &holders);
                if settles_routing(op, &found) {
                    settle.push((k, routing_nic(m.def, m.state, &holders)));
                }
                found
            }
            Err(_) => Vec::new(),
        })
        .collect();
    if !settle.is_empty() {
        let requests: Vec<_> = settle
            .iter()
            .map(|(k, _)| (members[*k].def.address, super::add_options(members[*k].def)))
            .collect();
        let settled = answers(
            ctx.kernel.settle_routing_many(&requests),
            requests.len(),
            KernelOp::Route,
        );
        for ((k, nic), result) in settle.iter().zip(settled) {
            report_routing(ctx, members[*k].def, op, nic, result);
        }
    }
    corrected
}

/// Does the reconcile before `op`, which made the corrections `found`,
/// settle the routing too? Always, except before a quickCheck whose state
/// was right. A quickCheck reads only what SPEC §4 has it read (the link
/// and the holders: one address dump, issue 11 §4), while settling reads
/// every rule and route (a rules dump, a dump of every table and a second
/// address dump: 0.13 ms of a 1.4 ms OCF monitor, BENCHMARKS.md "The
/// agent's own costs"), and in the daemon that work would sit between a
/// carrier loss and the recovery. Nothing is lost:
/// - a crash between an address change and its routing mostly leaves a
///   stale state as well (the kernel changes before the state is
///   written: a restore or a recover that moved the address), and the
///   quickCheck after it corrects the state and settles; where the state
///   stays right (a recover that re-added the address to the adapter it
///   names, a remove, whose "out of service" is written first), what is
///   left is one of the harmless states of docs/linux-backend.md "Crash
///   safety" (no rule: traffic follows `main`, as without ipkit; a rule
///   of an address no adapter holds: inert);
/// - the routing matters only once the address has moved, and every move
///   (recover, restore, remove; a quickCheck that fails is followed by
///   recover) re-points it in the same call that moves the address;
/// - what a hand edit breaks while nothing moves (a rule deleted, a
///   gateway of `main` changed) is repaired by the next deepCheck: the
///   OCF agent's monitor at `OCF_CHECK_LEVEL` 10 (every 60 s in its
///   meta-data), the daemon's deepCheck job, `ipkit deepcheck`.
pub(crate) fn settles_routing(op: Operation, found: &[Correction]) -> bool {
    op != Operation::QuickCheck || !found.is_empty()
}

/// Applies the corrections `holders` call for, each with its 7007, and
/// settles the routing when [`settles_routing`] says so.
fn correct(
    ctx: &Ctx<'_>,
    def: &Definition,
    op: Operation,
    state: &mut RuntimeState,
    holders: &[AdapterName],
) -> Vec<Correction> {
    let found = correct_state(ctx, def, op, state, holders);
    if settles_routing(op, &found) {
        reconcile_routing(ctx, def, op, &routing_nic(def, state, holders));
    }
    found
}

/// Applies the corrections `holders` call for, each with its 7007.
fn correct_state(
    ctx: &Ctx<'_>,
    def: &Definition,
    op: Operation,
    state: &mut RuntimeState,
    holders: &[AdapterName],
) -> Vec<Correction> {
    let found = corrections(def, state, holders);
    for c in &found {
        c.apply(state);
        ctx.emit(
            def,
            op,
            Kind::StateCorrected {
                nic: c.adapter().clone(),
                detail: c.to_string(),
            },
        );
    }
    found
}

/// The adapter a routing event names: the one holding the address.
fn routing_nic(def: &Definition, state: &RuntimeState, holders: &[AdapterName]) -> AdapterName {
    holding_adapter(def, state, holders).unwrap_or_else(|| def.adapter.clone())
}

/// Bring the platform's routing beside the address in line with the
/// kernel (`Kernel::settle_routing`): one 7007 naming `nic` per change,
/// 7004 when it cannot. Returns how many changes were made.
pub(crate) fn reconcile_routing(
    ctx: &Ctx<'_>,
    def: &Definition,
    op: Operation,
    nic: &AdapterName,
) -> usize {
    let result = ctx
        .kernel
        .settle_routing(&def.address, super::add_options(def));
    report_routing(ctx, def, op, nic, result)
}

/// The events of one settle (see [`reconcile_routing`]).
fn report_routing(
    ctx: &Ctx<'_>,
    def: &Definition,
    op: Operation,
    nic: &AdapterName,
    result: Result<Vec<String>, KernelError>,
) -> usize {
    match result {
        Ok(changes) => {
            for detail in &changes {
                ctx.emit(
                    def,
                    op,
                    Kind::StateCorrected {
                        nic: nic.clone(),
                        detail: format!("source routing: {detail}"),
                    },
                );
            }
            changes.len()
        }
        Err(e) => {
            ctx.emit(def, op, Kind::KernelError { err: e.to_string() });
            0
        }
    }
}

/// Where the state and the kernel disagree, in words (what `status`
/// shows): what the next operation will correct, and what only an
/// operation's outcome resolves.
pub fn disagreements(
    def: &Definition,
    state: &RuntimeState,
    holders: &[AdapterName],
) -> Vec<String> {
    let mut out: Vec<String> = corrections(def, state, holders)
        .iter()
        .map(|c| match c {
            Correction::ActiveAdapter { from, to } => format!(
                "active_adapter is {from} in the state, but the kernel has the address on {to}"
            ),
            Correction::NotAnAdapter { from, .. } => {
                format!("active_adapter {from} is not an adapter of this resource")
            }
            Correction::InService { on } => {
                format!("in_service is false in the state, but {on} holds the address")
            }
        })
        .collect();
    if state.in_service && holding_adapter(def, state, holders).is_none() {
        out.push(
            "in_service is true in the state, but no adapter of this resource holds the address"
                .to_owned(),
        );
    }
    out.extend(
        holders
            .iter()
            .filter(|h| !is_ours(def, h))
            .map(|h| format!("{h} holds the address but is not an adapter of this resource")),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(s: &str) -> AdapterName {
        AdapterName::new(s).unwrap()
    }

    fn state(active: Option<&str>, in_service: bool) -> RuntimeState {
        RuntimeState {
            active_adapter: active.map(nic),
            in_service,
            ..RuntimeState::default()
        }
    }

    #[test]
    fn the_adapter_that_holds_the_address_wins() {
        let def = crate::resource::sample_definition(true);
        // The crash of issue 10: the state names eth1, the kernel eth0.
        let c = corrections(&def, &state(Some("eth1"), true), &[nic("eth0")]);
        assert_eq!(
            c,
            vec![Correction::ActiveAdapter {
                from: nic("eth1"),
                to: nic("eth0")
            }]
        );
        assert_eq!(
            c[0].to_string(),
            "active_adapter eth1 -> eth0 (the kernel has the address on eth0)"
        );
        // Held, but the state says out of service.
        let c = corrections(&def, &state(None, false), &[nic("eth1")]);
        assert_eq!(
            c.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec![
                "active_adapter eth0 -> eth1 (the kernel has the address on eth1)",
                "in_service false -> true (this node holds the address on eth1)"
            ]
        );
        // On both of its adapters: the active one is kept.
        let both = [nic("eth0"), nic("eth1")];
        assert!(corrections(&def, &state(Some("eth1"), true), &both).is_empty());
        // Agreeing states need nothing.
        assert!(corrections(&def, &state(Some("eth0"), true), &[nic("eth0")]).is_empty());
        assert!(corrections(&def, &state(None, false), &[]).is_empty());
    }

    #[test]
    fn what_is_not_corrected_is_still_shown() {
        let def = crate::resource::sample_definition(true);
        // In service, held by nobody: a failed resource, not a stale state.
        let st = state(Some("eth0"), true);
        assert!(corrections(&def, &st, &[]).is_empty());
        assert_eq!(
            disagreements(&def, &st, &[]),
            vec![
                "in_service is true in the state, but no adapter of this resource holds the address"
            ]
        );
        // Another local adapter holds it: not ours to adopt.
        let st = state(None, false);
        assert!(corrections(&def, &st, &[nic("eth2")]).is_empty());
        assert_eq!(
            disagreements(&def, &st, &[nic("eth2")]),
            vec!["eth2 holds the address but is not an adapter of this resource"]
        );
        // An active adapter the definition no longer names.
        let st = state(Some("eth7"), false);
        assert_eq!(
            corrections(&def, &st, &[]),
            vec![Correction::NotAnAdapter {
                from: nic("eth7"),
                to: nic("eth0")
            }]
        );
        assert!(disagreements(&def, &state(Some("eth0"), true), &[nic("eth0")]).is_empty());
    }
}
