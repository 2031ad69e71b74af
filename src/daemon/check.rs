//! The executor's check jobs: a periodic quickCheck (first from the shared
//! snapshot, without files or lock), an event's quickCheck with recover
//! under the resource's lock, and the batch of every resource whose adapter
//! lost its cable (issue 11): checked and recovered together, each member
//! under its own lock, with its own events, state and report.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::executor::{Executor, periodic_wait};
use super::policy::{Report, Trigger};
use super::view::Quiet;
use crate::net::{Kernel, NodeSnapshot, SnapshotKernel};
use crate::ops::{self, Ctx, Member, Outcome, subset};
use crate::resource::{AdapterName, Definition, Operation, RuntimeState, Tag};
use crate::store::StoreError;

/// Every check runs as a quickCheck (`ops::prepare`, the lock's holder).
const OP: Operation = Operation::QuickCheck;

/// The definition with `link_debounce` 0: the policy already waited it.
fn no_debounce(def: &Definition) -> Definition {
    let mut d = def.clone();
    d.tunables.link_debounce = Duration::ZERO;
    d
}

/// What the policy asked of one member: why it is checked, and whether a
/// failed quickCheck may run recover.
#[derive(Debug, Clone, Copy)]
struct Plan {
    trigger: Trigger,
    recover: bool,
}

impl Executor {
    /// The periodic check of a resource the daemon believes in service,
    /// answered from a snapshot without files or lock: Some only for a pass.
    pub fn fast_check(&self, snap: &NodeSnapshot, def: &Definition) -> Option<Report> {
        let active = self.status.watched_active(&def.tag)?;
        self.fast_check_on(snap, def, active)
    }

    /// [`Executor::fast_check`] of a resource in service on `active`.
    fn fast_check_on(
        &self,
        snap: &NodeSnapshot,
        def: &Definition,
        active: AdapterName,
    ) -> Option<Report> {
        let kernel = SnapshotKernel(snap);
        let ctx = self.ctx(&kernel, &Quiet);
        let mut trial = RuntimeState {
            active_adapter: Some(active.clone()),
            in_service: true,
            ..RuntimeState::default()
        };
        if !ops::quick_check(&ctx, &no_debounce(def), &mut trial).success {
            return None;
        }
        let now = self.clock.now();
        self.status.update(&def.tag, |e| {
            e.quick_checks += 1;
            e.last_quick = Some((now, true));
            e.up = Some(true);
            e.active = active.clone();
            e.in_service = true;
            e.failed = false;
        });
        Some(Report::Checked {
            ok: true,
            recovered: None,
            active,
            in_service: true,
        })
    }

    /// quickCheck, and recover when it fails and `recover` is set.
    pub(super) fn check(
        &self,
        kernel: &dyn Kernel,
        def: &Definition,
        trigger: Trigger,
        recover: bool,
    ) -> Report {
        let periodic = trigger == Trigger::Timer;
        if periodic {
            // One look at the shared snapshot, no files, no lock. Anything
            // but a pass goes the full way below.
            let snap = self.snapshots.get(kernel).ok();
            if let Some(snap) = &snap
                && let Some(report) = self.fast_check(snap, def)
            {
                return report;
            }
            if let Some(report) = self.peek_idle(def, snap.as_deref()) {
                return report;
            }
        }
        let wait = if periodic {
            periodic_wait(def)
        } else {
            def.tunables.lock_timeout
        };
        let plan = Plan { trigger, recover };
        let mut reports = self.with_locks(kernel, &[def], OP, wait, |ctx, members| {
            self.check_locked(ctx, members, |_| plan)
        });
        match reports.pop() {
            Some(Ok(report)) => report,
            Some(Err(e)) => {
                eprintln!("ipkit daemon: {}: {e}", def.tag);
                Report::Error
            }
            None => Report::Error,
        }
    }

    /// The checks of several resources at once (one adapter lost its
    /// cable), each with whether it may recover: one report per member, in
    /// the order given. A member whose lock another operation holds is not
    /// waited for: it is left out (Deferred) and checked again on its own,
    /// so that a command-line operation on one member delays only that one.
    pub fn check_batch(&self, kernel: &dyn Kernel, batch: &[(&Definition, bool)]) -> Vec<Report> {
        let plans: HashMap<&Tag, Plan> = batch
            .iter()
            .map(|(def, recover)| {
                let plan = Plan {
                    trigger: Trigger::Event,
                    recover: *recover,
                };
                (&def.tag, plan)
            })
            .collect();
        let defs: Vec<&Definition> = batch.iter().map(|(def, _)| *def).collect();
        let results = self.with_locks(kernel, &defs, OP, Duration::ZERO, |ctx, members| {
            self.check_locked(ctx, members, |tag| plans[tag])
        });
        results
            .into_iter()
            .zip(defs)
            .map(|(result, def)| match result {
                Ok(report) => report,
                Err(StoreError::Busy { .. }) => Report::Deferred,
                Err(e) => {
                    eprintln!("ipkit daemon: {}: {e}", def.tag);
                    Report::Error
                }
            })
            .collect()
    }

    /// Most resources are idle: a periodic look reads the state without the
    /// lock first, and ends there for one out of service or failed, unless
    /// the snapshot shows the kernel disagreeing with it (an address that
    /// a killed operation added without writing its state): then it goes
    /// the locked way, where the state is reconciled. One in service that
    /// the daemon has not watched yet (its first check after start-up or
    /// a reload) passes the same way from the snapshot on the adapter its
    /// state names, when the kernel agrees with that state: the locked way
    /// (a fresh dump of every address, and a state write) for each of
    /// 10,000 resources made the start-up quadratic (issue 11). (An event may come
    /// from a command-line operation still running, its state not written
    /// yet: that waits for the lock and reads what the operation wrote.)
    fn peek_idle(&self, def: &Definition, snap: Option<&NodeSnapshot>) -> Option<Report> {
        let agrees = |s: &RuntimeState| {
            snap.is_none_or(|snap| {
                ops::corrections(def, s, &snap.holders(def.address.ip())).is_empty()
            })
        };
        match self.store.load_state(&def.tag) {
            Ok(s) if (!s.in_service || s.failed) && agrees(&s) => Some(self.skipped(def, &s)),
            Ok(s) if agrees(&s) => self.fast_check_on(snap?, def, s.active_adapter(def).clone()),
            Ok(_) => None,
            Err(e) => {
                eprintln!("ipkit daemon: {}: {e}", def.tag);
                Some(Report::Error)
            }
        }
    }

    fn skipped(&self, def: &Definition, state: &RuntimeState) -> Report {
        self.status.update(&def.tag, |e| {
            e.in_service = state.in_service;
            e.failed = state.failed;
        });
        Report::Skipped {
            in_service: state.in_service,
            failed: state.failed,
        }
    }

    /// The checks under the members' locks: quickCheck of all of them
    /// together, then recover of those it failed that may recover, all
    /// together. One report per member, in order.
    fn check_locked(
        &self,
        ctx: &Ctx<'_>,
        members: &mut [Member<'_>],
        plan_of: impl Fn(&Tag) -> Plan,
    ) -> Vec<Report> {
        let plans: Vec<Plan> = members.iter().map(|m| plan_of(&m.def.tag)).collect();
        let mut reports: Vec<Option<Report>> = members.iter().map(|_| None).collect();
        let mut quick: Vec<Option<Outcome>> = members.iter().map(|_| None).collect();
        for (i, m) in members.iter_mut().enumerate() {
            if !m.state.in_service || m.state.failed {
                reports[i] = Some(self.skipped(m.def, m.state));
            } else if plans[i].trigger == Trigger::Timer {
                // A periodic check first tries the shared snapshot, silently;
                // only a pass counts (see view.rs).
                quick[i] = self.silent_pass(ctx, m.def, m.state);
            }
        }
        // The policy already waited the debounce for an event. A periodic
        // check's debounce counts from the carrier loss the change source
        // reported, when there was one (issue 10).
        let checking: Vec<usize> = (0..members.len())
            .filter(|&i| reports[i].is_none() && quick[i].is_none())
            .collect();
        let told: Vec<Option<SystemTime>> = checking
            .iter()
            .map(|&i| match plans[i].trigger {
                Trigger::Event => None,
                Trigger::Timer => {
                    let m = &members[i];
                    self.status.link_down_since(m.state.active_adapter(m.def))
                }
            })
            .collect();
        let defs: Vec<Definition> = checking
            .iter()
            .map(|&i| match plans[i].trigger {
                Trigger::Event => no_debounce(members[i].def),
                Trigger::Timer => members[i].def.clone(),
            })
            .collect();
        let outcomes = {
            let mut batch = subset(members, &checking);
            for (m, def) in batch.iter_mut().zip(&defs) {
                m.def = def;
            }
            ops::quick_check_many(ctx, &mut batch, &told)
        };
        for (&i, outcome) in checking.iter().zip(outcomes) {
            quick[i] = Some(outcome);
        }

        let recovering: Vec<usize> = (0..members.len())
            .filter(|&i| plans[i].recover && quick[i].as_ref().is_some_and(|q| !q.success))
            .collect();
        let defs: Vec<Definition> = recovering
            .iter()
            .map(|&i| no_debounce(members[i].def))
            .collect();
        let t0 = self.clock.monotonic();
        let recovered = {
            let mut batch = subset(members, &recovering);
            for (m, def) in batch.iter_mut().zip(&defs) {
                m.def = def;
            }
            ops::recover_many(ctx, &mut batch)
        };
        let took = self.clock.monotonic().saturating_sub(t0);
        let mut recovered_of: Vec<Option<bool>> = members.iter().map(|_| None).collect();
        for (&i, outcome) in recovering.iter().zip(recovered) {
            recovered_of[i] = Some(outcome.success);
        }

        let now = self.clock.now();
        members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if let Some(report) = reports[i].take() {
                    return report;
                }
                let ok = quick[i].as_ref().is_some_and(|q| q.success);
                let recovered = recovered_of[i];
                let active = m.state.active_adapter(m.def).clone();
                self.status.update(&m.def.tag, |e| {
                    e.quick_checks += 1;
                    if !ok {
                        e.quick_failures += 1;
                    }
                    e.last_quick = Some((now, ok));
                    e.up = Some(ok || recovered == Some(true));
                    if let Some(success) = recovered {
                        if success {
                            e.recoveries_ok += 1;
                        } else {
                            e.recoveries_failed += 1;
                        }
                        e.last_recovery = Some((now, took, success));
                        e.recovery_seconds.observe(took);
                    }
                    e.active = active.clone();
                    e.in_service = m.state.in_service;
                    e.failed = m.state.failed;
                });
                Report::Checked {
                    ok,
                    recovered,
                    active,
                    in_service: m.state.in_service,
                }
            })
            .collect()
    }

    /// quickCheck against the shared snapshot, without events; the outcome
    /// (and the state it leaves) only when it passes.
    fn silent_pass(
        &self,
        ctx: &Ctx<'_>,
        def: &Definition,
        state: &mut RuntimeState,
    ) -> Option<Outcome> {
        let snap = self.snapshots.get(ctx.kernel).ok()?;
        let snapshot_kernel = SnapshotKernel(&snap);
        let quiet = Ctx {
            kernel: &snapshot_kernel,
            events: &Quiet,
            ..*ctx
        };
        let mut trial = state.clone();
        let q = ops::quick_check(&quiet, &no_debounce(def), &mut trial);
        if !q.success {
            return None;
        }
        *state = trial;
        Some(q)
    }
}
