//! quickCheck (SPEC §4), of one resource or of several at once (issue 11:
//! one link reading per adapter and step for all of them, and one holders
//! reading), with its debounce counted from the carrier change (issue 10;
//! docs/spec-notes.md "quickCheck's debounce").

use std::time::{Duration, SystemTime};

use super::{Ctx, Member, Outcome, answers, held_exactly_by};
use crate::events::Kind;
use crate::net::{KernelError, KernelOp, LinkState};
use crate::resource::{AdapterName, Definition, LinkDown, Operation, RuntimeState};

const OP: Operation = Operation::QuickCheck;

/// How often a debounced link is re-read.
const DEBOUNCE_STEP: Duration = Duration::from_millis(10);

/// quickCheck as the command line and the OCF agent run it: when the
/// carrier went is learnt from the kernel's carrier-change count and the
/// loss recorded in `state` at an earlier look.
pub fn quick_check(ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState) -> Outcome {
    quick_check_since(ctx, def, state, None)
}

/// quickCheck by a caller that was told when the active adapter's link
/// went down (the daemon, by its change source): `link_down_since`.
pub fn quick_check_since(
    ctx: &Ctx<'_>,
    def: &Definition,
    state: &mut RuntimeState,
    link_down_since: Option<SystemTime>,
) -> Outcome {
    let mut outcomes = quick_check_many(ctx, &mut [Member { def, state }], &[link_down_since]);
    outcomes.pop().unwrap_or_default()
}

/// quickCheck of every member, each step for all of them together: each
/// gets its own events, in SPEC order, its own debounce and its own
/// outcome (in the order of `members`). `told[i]`: when the caller was told
/// member i's active link went down (missing: not told). With one member
/// this is exactly [`quick_check_since`].
pub fn quick_check_many(
    ctx: &Ctx<'_>,
    members: &mut [Member<'_>],
    told: &[Option<SystemTime>],
) -> Vec<Outcome> {
    let n = members.len();
    let mut outs = vec![Outcome::new(); n];
    let mut done = vec![false; n];
    let actives: Vec<AdapterName> = members
        .iter()
        .map(|m| m.state.active_adapter(m.def).clone())
        .collect();

    // 1. The cable of active_adapter, one look per distinct adapter.
    // DISCONNECTED: 6507, fail.
    let mut looked: Vec<(&AdapterName, Result<Look, KernelError>)> = Vec::new();
    let mut rests: Vec<Option<Duration>> = vec![None; n];
    let now = ctx.clock.now();
    for i in 0..n {
        let first = match looked.iter().find(|(a, _)| **a == actives[i]) {
            Some((_, l)) => l.clone(),
            None => {
                let l = look(ctx, &actives[i]);
                looked.push((&actives[i], l.clone()));
                l
            }
        };
        match first {
            Ok(first) if first.state == LinkState::Connected => {
                members[i].state.link_down = None;
            }
            Ok(first) => {
                let since = told.get(i).copied().flatten();
                let rest = record_loss(
                    members[i].def,
                    members[i].state,
                    &actives[i],
                    &first,
                    since,
                    now,
                );
                rests[i] = Some(rest);
            }
            Err(e) => {
                ctx.kernel_error(members[i].def, OP, &mut outs[i], e);
                end(ctx, &mut members[i], &mut outs[i], false, Some(7004));
                done[i] = true;
            }
        }
    }
    // 1 (debounce). A link down for less than the rest of its
    // link_debounce is looked at again before the check fails, each member
    // for its own rest; one that comes back is connected.
    let mut waited = Duration::ZERO;
    loop {
        let waiting: Vec<usize> = (0..n)
            .filter(|&i| rests[i].is_some_and(|rest| waited < rest))
            .collect();
        let Some(step) = waiting
            .iter()
            .filter_map(|&i| rests[i].map(|rest| DEBOUNCE_STEP.min(rest - waited)))
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
            if result.unwrap_or(LinkState::Missing) == LinkState::Connected {
                members[i].state.link_down = None;
                rests[i] = None;
            }
        }
    }
    for i in 0..n {
        if rests[i].is_some() {
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

/// One look at an adapter's link: its cable state and which stretch of
/// carrier state it is in (a missing adapter is ifindex 0).
#[derive(Clone)]
struct Look {
    state: LinkState,
    ifindex: u32,
    carrier_changes: Option<u32>,
}

fn look(ctx: &Ctx<'_>, adapter: &AdapterName) -> Result<Look, KernelError> {
    match ctx.kernel.link(adapter) {
        Ok(info) => Ok(Look {
            state: info.state,
            ifindex: info.ifindex,
            carrier_changes: info.carrier_changes,
        }),
        Err(e) if e.is_missing_adapter() => Ok(Look {
            state: LinkState::Missing,
            ifindex: 0,
            carrier_changes: None,
        }),
        Err(e) => Err(e),
    }
}

/// Is `seen` the loss that `look` finds? The same adapter, still missing;
/// or the same ifindex with the same, counted, number of carrier changes
/// (the carrier has not come back in between).
fn same_loss(seen: &LinkDown, adapter: &AdapterName, look: &Look) -> bool {
    seen.adapter == *adapter
        && if look.state == LinkState::Missing {
            seen.ifindex == 0
        } else {
            seen.ifindex == look.ifindex
                && seen.carrier_changes.is_some()
                && seen.carrier_changes == look.carrier_changes
        }
}

/// 1 (debounce). SPEC §4: a link down for less than `link_debounce` is
/// looked at again before the check fails. "Down for" counts from the
/// carrier change (issue 10): the time the caller was told of, or the one
/// recorded at an earlier look at the same loss, whichever is earlier (both
/// come at or after the change), else this look (`now`). The loss is
/// recorded in `state` for the next look. Returns how much longer to look.
fn record_loss(
    def: &Definition,
    state: &mut RuntimeState,
    active: &AdapterName,
    first: &Look,
    told: Option<SystemTime>,
    now: SystemTime,
) -> Duration {
    let recorded = state
        .link_down
        .as_ref()
        .filter(|seen| same_loss(seen, active, first))
        .map(|seen| seen.since);
    let since = [recorded, told].into_iter().flatten().min().unwrap_or(now);
    state.link_down = Some(LinkDown {
        adapter: active.clone(),
        ifindex: first.ifindex,
        carrier_changes: first.carrier_changes,
        since,
    });
    // A clock set back (since in the future) counts as a loss just seen.
    let down_for = now.duration_since(since).unwrap_or_default();
    def.tunables.link_debounce.saturating_sub(down_for)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::cluster::sim::SimCluster;
    use crate::events::Recorder;
    use crate::net::sim::SimNet;
    use crate::resource::{AdapterName, Mac};
    use crate::store::Store;

    fn nic(s: &str) -> AdapterName {
        AdapterName::new(s).expect("adapter name")
    }

    /// One-shot quickChecks (command line, OCF monitor) of a resource in
    /// service on eth0, each through `ops::run`: how long each waited for
    /// the debounce, and its outcome.
    struct OneShot {
        _dir: tempfile::TempDir,
        store: Store,
        net: SimNet,
        def: Definition,
    }

    impl OneShot {
        fn new(debounce: Duration) -> Self {
            let dir = tempfile::tempdir().expect("temporary directory");
            let store = Store::new(dir.path().join("etc"), dir.path().join("var"));
            let mut def = crate::resource::sample_definition(false);
            def.tunables.link_debounce = debounce;
            store.create_definition(&def).expect("definition written");
            let net = SimNet::new();
            net.add_adapter(nic("eth0"), Mac([2, 0, 0, 0, 0, 1]));
            net.assign(&nic("eth0"), def.address);
            let in_service = RuntimeState {
                in_service: true,
                ..RuntimeState::default()
            };
            store
                .save_state(&def.tag, &in_service)
                .expect("state written");
            Self {
                _dir: dir,
                store,
                net,
                def,
            }
        }

        fn check(&self) -> (Duration, Outcome) {
            let ctx = Ctx {
                kernel: &self.net,
                cluster: &SimCluster::new(),
                events: &Recorder::new(),
                clock: self.net.clock(),
                node: "node1",
            };
            let t0 = self.net.clock().monotonic();
            let out = crate::ops::run(&self.store, &ctx, &self.def.tag, OP).expect("ran");
            (self.net.clock().monotonic() - t0, out)
        }
    }

    /// Issue 10 defect 10: a cable dead since long ago fails every check at
    /// once; only the first look at a carrier loss waits the debounce.
    #[test]
    fn a_link_down_for_longer_than_the_debounce_fails_at_once() {
        let debounce = Duration::from_millis(50);
        let one = OneShot::new(debounce);
        one.net.set_carrier(&nic("eth0"), false);
        let (waited, out) = one.check();
        assert_eq!((waited, out.event), (debounce, Some(6507)));
        // An hour later the same loss is still there: no new wait.
        one.net.clock().advance(Duration::from_secs(3600));
        for _ in 0..3 {
            let (waited, out) = one.check();
            assert_eq!((waited, out.event), (Duration::ZERO, Some(6507)));
        }
    }

    /// Down for less than the debounce since the last look: the rest of it.
    #[test]
    fn a_link_down_for_part_of_the_debounce_waits_the_rest() {
        let debounce = Duration::from_millis(50);
        let one = OneShot::new(debounce);
        one.net.set_carrier(&nic("eth0"), false);
        // A first look without a debounce finds it down...
        let mut def = one.def.clone();
        def.tunables.link_debounce = Duration::ZERO;
        one.store.save_definition(&def).expect("definition written");
        let (waited, out) = one.check();
        assert_eq!((waited, out.event), (Duration::ZERO, Some(6507)));
        one.store
            .save_definition(&one.def)
            .expect("definition written");
        // ...20 ms later the next one (debounce 50 ms) waits 30 ms.
        one.net.clock().advance(Duration::from_millis(20));
        let (waited, out) = one.check();
        assert_eq!((waited, out.event), (Duration::from_millis(30), Some(6507)));
    }

    /// The carrier came back and went again between two looks: a new loss,
    /// and a new debounce.
    #[test]
    fn a_flap_between_two_looks_starts_the_debounce_again() {
        let debounce = Duration::from_millis(50);
        let one = OneShot::new(debounce);
        one.net.set_carrier(&nic("eth0"), false);
        assert_eq!(one.check().0, debounce);
        one.net.clock().advance(Duration::from_secs(60));
        one.net.set_carrier(&nic("eth0"), true);
        one.net.set_carrier(&nic("eth0"), false);
        let (waited, out) = one.check();
        assert_eq!((waited, out.event), (debounce, Some(6507)));
    }
}
