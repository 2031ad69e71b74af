//! The daemon's executor: one function per policy [`Job`]. Each takes the
//! resource's lock (the one `ops::run` and the command line take), reads
//! the persisted state under it, runs the operations with `ops::*`, writes
//! the state back when it changed, and keeps the status counters. It runs
//! on a worker thread, or inline in the loop's thread (the stepped daemon,
//! tests): [`Executor::run`] is synchronous either way.

use std::sync::Arc;
use std::time::Duration;

use super::async_sink::AsyncSink;
use super::hook::{FailureHook, HookRunner};
use super::policy::{FailReason, Job, Report, Trigger};
use super::status::Status;
use super::view::{Cache, Quiet};
use crate::clock::Clock;
use crate::cluster::ClusterView;
use crate::events::{Event, EventSink, Kind};
use crate::net::{AnnouncePlan, Kernel, NodeSnapshot, SnapshotKernel};
use crate::ops::{self, Ctx, Outcome};
use crate::resource::{AdapterName, ConflictRecord, Definition, Mac, Operation, RuntimeState};
use crate::store::{Store, StoreError};

/// Periodic work does not queue behind a long operation of someone else:
/// it waits at most this for the lock and tries again next interval.
const PERIODIC_LOCK_WAIT: Duration = Duration::from_secs(1);

/// Everything a job needs besides its kernel handle.
pub struct Executor {
    pub(super) store: Store,
    pub(super) status: Arc<Status>,
    pub(super) events: Arc<AsyncSink>,
    pub(super) cluster: Box<dyn ClusterView>,
    pub(super) node: String,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) hooks: Arc<dyn HookRunner>,
    /// The operator's `on_failure` command and its timeout.
    pub(super) on_failure: Option<(Vec<String>, Duration)>,
    pub(super) snapshots: Cache,
}

fn periodic_wait(def: &Definition) -> Duration {
    PERIODIC_LOCK_WAIT.min(def.tunables.lock_timeout)
}

/// The definition with `link_debounce` 0: the policy already waited it.
fn no_debounce(def: &Definition) -> Definition {
    let mut d = def.clone();
    d.tunables.link_debounce = Duration::ZERO;
    d
}

/// One announcement round (gratuitous ARP / unsolicited NA) when the
/// resource is in service, not failed, and its address is on its active
/// adapter and no other; a failed announcement is 6016. True when sent.
fn announce_if_ours_alone(
    ctx: &Ctx<'_>,
    def: &Definition,
    state: &RuntimeState,
    now: std::time::SystemTime,
) -> bool {
    if !state.in_service || state.failed {
        return false;
    }
    let active = state.active_adapter(def).clone();
    let held = ctx
        .kernel
        .holders(def.address.ip())
        .is_ok_and(|h| h.len() == 1 && h[0] == active);
    if !held {
        return false;
    }
    let plan = AnnouncePlan {
        count: 1,
        interval: def.tunables.announce_interval,
    };
    match ctx.kernel.announce(&active, def.address.ip(), plan) {
        Ok(()) => true,
        Err(e) => {
            let kind = Kind::ReannounceFailed {
                nic: active,
                err: e.to_string(),
            };
            ctx.events
                .emit(&Event::about(def, Operation::Daemon, ctx.node, &kind, now));
            false
        }
    }
}

/// What the persisted state means, without the times of repeated results:
/// a periodic check that ends as the last one did is not written again.
fn without_times(s: &RuntimeState) -> impl PartialEq + use<> {
    (
        s.active_adapter.clone(),
        s.in_service,
        s.failed,
        s.last
            .iter()
            .map(|(op, r)| (*op, r.success, r.event))
            .collect::<Vec<_>>(),
        // A new carrier loss is written, for the next look's debounce.
        s.link_down.clone(),
        // Conflicts are rare and each one is news: written with its time.
        s.last_conflict.clone(),
    )
}

impl Executor {
    /// Run one job to its end.
    pub fn run(&self, kernel: &dyn Kernel, def: &Definition, job: Job) -> Report {
        match job {
            Job::Check { trigger, recover } => self.check(kernel, def, trigger, recover),
            Job::DeepCheck => self.deep_check(kernel, def),
            Job::Restore => self.restore(kernel, def),
            Job::Refresh => self.refresh(kernel, def),
            Job::MarkFailed(reason) => self.mark_failed(kernel, def, reason),
            Job::Defend { mac, adapter } => self.defend(kernel, def, mac, adapter),
        }
    }

    /// A daemon event (7101, 7102, ...), stamped by the daemon's clock.
    pub fn daemon_event(&self, kind: &Kind) {
        self.events
            .emit(&Event::daemon(&self.node, kind, self.clock.now()));
    }

    fn ctx<'a>(&'a self, kernel: &'a dyn Kernel, events: &'a dyn EventSink) -> Ctx<'a> {
        Ctx {
            kernel,
            cluster: self.cluster.as_ref(),
            events,
            clock: self.clock.as_ref(),
            node: &self.node,
        }
    }

    /// Take the lock, read the state, prepare it for `op` as every path
    /// that loads a state does (`ops::prepare`: reconciled with the kernel,
    /// a remove's intent written first), run `f`, write the state if it
    /// changed.
    fn with_lock<T>(
        &self,
        kernel: &dyn Kernel,
        def: &Definition,
        op: Operation,
        wait: Duration,
        f: impl FnOnce(&Ctx<'_>, &mut RuntimeState) -> T,
    ) -> Result<T, StoreError> {
        let _lock = self.store.lock(&def.tag, wait)?;
        let mut state = self.store.load_state(&def.tag)?;
        let before = without_times(&state);
        let ctx = self.ctx(kernel, self.events.as_ref());
        ops::prepare(&self.store, &ctx, def, op, &mut state)?;
        let out = f(&ctx, &mut state);
        // A remove's intent is on disk: its outcome always goes there.
        if without_times(&state) != before || op == Operation::Remove {
            self.store.save_state(&def.tag, &state)?;
        }
        Ok(out)
    }

    /// The periodic check of a resource the daemon believes in service,
    /// answered from a snapshot without files or lock: Some only for a pass.
    pub fn fast_check(&self, snap: &NodeSnapshot, def: &Definition) -> Option<Report> {
        let active = self.status.watched_active(&def.tag)?;
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
        });
        Some(Report::Checked {
            ok: true,
            recovered: None,
            active,
            in_service: true,
        })
    }

    /// quickCheck, and recover when it fails and `recover` is set.
    fn check(
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
        self.with_lock(kernel, def, Operation::QuickCheck, wait, |ctx, state| {
            self.check_locked(ctx, def, state, trigger, recover)
        })
        .unwrap_or_else(|e| {
            eprintln!("ipkit daemon: {}: {e}", def.tag);
            Report::Error
        })
    }

    /// Most resources are idle: a periodic look reads the state without the
    /// lock first, and ends there for one out of service or failed, unless
    /// the snapshot shows the kernel disagreeing with it (an address that
    /// a killed operation added without writing its state): then it goes
    /// the locked way, where the state is reconciled. (An event may come
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

    /// The check under the resource's lock.
    fn check_locked(
        &self,
        ctx: &Ctx<'_>,
        def: &Definition,
        state: &mut RuntimeState,
        trigger: Trigger,
        recover: bool,
    ) -> Report {
        if !state.in_service || state.failed {
            return self.skipped(def, state);
        }
        let quick = match trigger {
            // A periodic check first tries the shared snapshot, silently;
            // only a pass counts (see view.rs).
            // Its debounce counts from the carrier loss the change source
            // reported, when there was one (issue 10).
            Trigger::Timer => match self.silent_pass(ctx, def, state) {
                Some(q) => q,
                None => {
                    let active = state.active_adapter(def).clone();
                    let since = self.status.link_down_since(&active);
                    ops::quick_check_since(ctx, def, state, since)
                }
            },
            // The policy already waited the debounce for an event.
            Trigger::Event => ops::quick_check(ctx, &no_debounce(def), state),
        };
        let mut recovered = None;
        let mut took = None;
        if !quick.success && recover {
            let t0 = self.clock.monotonic();
            let r = ops::recover(ctx, &no_debounce(def), state);
            took = Some(self.clock.monotonic().saturating_sub(t0));
            recovered = Some(r.success);
        }
        let active = state.active_adapter(def).clone();
        let now = self.clock.now();
        self.status.update(&def.tag, |e| {
            e.quick_checks += 1;
            if !quick.success {
                e.quick_failures += 1;
            }
            e.last_quick = Some((now, quick.success));
            e.up = Some(quick.success || recovered == Some(true));
            if let (Some(ok), Some(d)) = (recovered, took) {
                if ok {
                    e.recoveries_ok += 1;
                } else {
                    e.recoveries_failed += 1;
                }
                e.last_recovery = Some((now, d, ok));
                e.recovery_seconds.observe(d);
            }
            e.active = active.clone();
            e.in_service = state.in_service;
            e.failed = state.failed;
        });
        Report::Checked {
            ok: quick.success,
            recovered,
            active,
            in_service: state.in_service,
        }
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

    fn deep_check(&self, kernel: &dyn Kernel, def: &Definition) -> Report {
        let wait = periodic_wait(def);
        let _ = self.with_lock(kernel, def, Operation::DeepCheck, wait, |ctx, state| {
            if !state.in_service || state.failed {
                return;
            }
            let before = state.last_conflict.clone();
            let out = ops::deep_check(ctx, def, state);
            // The routing beside the address follows it; a crash between
            // an address change and that state is repaired here at the
            // latest (docs/linux-backend.md, "Source routing").
            ops::reconcile_routing(ctx, def, Operation::DeepCheck, state.active_adapter(def));
            let now = self.clock.now();
            let peer_conflict = state
                .last_conflict
                .clone()
                .filter(|c| Some(c) != before.as_ref());
            self.status.update(&def.tag, |e| {
                if let Some(c) = peer_conflict {
                    e.conflicts.peer(c);
                }
                e.deep_checks += 1;
                let warned = !out.success || out.event.is_some();
                if warned {
                    e.deep_warnings += 1;
                }
                e.last_deep = Some((now, !warned));
            });
        });
        Report::DeepChecked
    }

    /// Bring a `hold_in_service` resource up.
    fn restore(&self, kernel: &dyn Kernel, def: &Definition) -> Report {
        let wait = def.tunables.lock_timeout;
        self.with_lock(kernel, def, Operation::Restore, wait, |ctx, state| {
            let out = ops::restore(ctx, def, state);
            let active = state.active_adapter(def).clone();
            self.status.update(&def.tag, |e| {
                e.in_service = state.in_service;
                e.failed = state.failed;
                e.active = active.clone();
                e.up = Some(out.success);
            });
            Report::Restored {
                ok: out.success,
                active,
            }
        })
        .unwrap_or_else(|e| {
            eprintln!("ipkit daemon: {}: {e}", def.tag);
            Report::Restored {
                ok: false,
                active: def.adapter.clone(),
            }
        })
    }

    /// Re-announce the address (`announce_refresh`) when it is where it
    /// should be, and only there.
    fn refresh(&self, kernel: &dyn Kernel, def: &Definition) -> Report {
        let wait = periodic_wait(def);
        let _ = self.with_lock(kernel, def, Operation::Daemon, wait, |ctx, state| {
            announce_if_ours_alone(ctx, def, state, self.clock.now());
        });
        Report::Refreshed
    }

    /// Another host claims the address (RFC 5227 §2.4): report it (7108,
    /// whatever else happens), record it, and defend it with one
    /// announcement round when it is still ours alone on its active
    /// adapter. The policy allows this at most once per `DEFEND_INTERVAL`.
    fn defend(
        &self,
        kernel: &dyn Kernel,
        def: &Definition,
        mac: Mac,
        adapter: AdapterName,
    ) -> Report {
        let now = self.clock.now();
        let kind = Kind::AddressConflict {
            mac: mac.to_string(),
            nic: adapter.clone(),
        };
        self.events.emit(&Event::about(
            def,
            Operation::Daemon,
            &self.node,
            &kind,
            now,
        ));
        let wait = periodic_wait(def);
        let defended = self.with_lock(kernel, def, Operation::Daemon, wait, |ctx, state| {
            state.last_conflict = Some(ConflictRecord::heard(now, mac, adapter));
            announce_if_ours_alone(ctx, def, state, now)
        });
        match defended {
            Ok(true) => self.status.update(&def.tag, |e| e.conflicts.defended(now)),
            Ok(false) => {}
            Err(e) => eprintln!("ipkit daemon: {}: cannot defend the address: {e}", def.tag),
        }
        Report::Defended
    }

    /// Persist `failed`, emit 7104 for a threshold, start `on_failure` once.
    fn mark_failed(&self, kernel: &dyn Kernel, def: &Definition, reason: FailReason) -> Report {
        let wait = def.tunables.lock_timeout;
        let marked = self.with_lock(kernel, def, Operation::Daemon, wait, |ctx, state| {
            state.failed = true;
            if let FailReason::Threshold { count, window_secs } = &reason {
                let kind = Kind::RestartThresholdExceeded {
                    count: *count,
                    window_secs: *window_secs,
                };
                let ev = Event::about(def, Operation::Daemon, ctx.node, &kind, self.clock.now());
                ctx.events.emit(&ev);
            }
            state.active_adapter(def).clone()
        });
        let active = marked.unwrap_or_else(|e| {
            eprintln!("ipkit daemon: {}: cannot mark failed: {e}", def.tag);
            def.adapter.clone()
        });
        self.status.update(&def.tag, |e| {
            e.failed = true;
            e.up = Some(false);
        });
        self.start_on_failure(def, active, &reason);
        Report::MarkedFailed
    }

    fn start_on_failure(&self, def: &Definition, active: AdapterName, reason: &FailReason) {
        let Some((argv, timeout)) = &self.on_failure else {
            return;
        };
        let hook = FailureHook {
            argv: argv.clone(),
            timeout: *timeout,
            def: def.clone(),
            active,
            node: self.node.clone(),
            reason: reason.text(),
        };
        let events: Arc<dyn EventSink> = self.events.clone();
        self.hooks.start(hook, events);
    }

    /// `on_stop = "remove"`: remove every resource still in service.
    pub fn remove_all<'a>(&self, kernel: &dyn Kernel, defs: impl Iterator<Item = &'a Definition>) {
        for def in defs {
            let wait = def.tunables.lock_timeout;
            let _ = self.with_lock(kernel, def, Operation::Remove, wait, |ctx, state| {
                if state.in_service {
                    ops::remove(ctx, def, state);
                }
            });
        }
    }
}
