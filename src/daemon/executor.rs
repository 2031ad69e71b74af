//! The daemon's executor: one function per policy [`Job`] (the checks, and
//! the batch of checks of one adapter's cable loss, are in `check.rs`).
//! Each takes the resource's lock (the one `ops::run` and the command line
//! take), reads the persisted state under it, runs the operations with
//! `ops::*`, writes the state back when it changed, and keeps the status
//! counters. It runs on a worker thread, or inline in the loop's thread
//! (the stepped daemon, tests): [`Executor::run`] is synchronous either way.

use std::sync::Arc;
use std::time::Duration;

use super::async_sink::AsyncSink;
use super::hook::{FailureHook, HookRunner};
use super::policy::{FailReason, Job, Report};
use super::status::Status;
use super::view::Cache;
use crate::clock::Clock;
use crate::cluster::ClusterView;
use crate::events::{Event, EventSink, Kind};
use crate::net::{AnnouncePlan, Kernel};
use crate::ops::{self, Ctx, Member};
use crate::resource::{AdapterName, ConflictRecord, Definition, Mac, Operation, RuntimeState, Tag};
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

pub(super) fn periodic_wait(def: &Definition) -> Duration {
    PERIODIC_LOCK_WAIT.min(def.tunables.lock_timeout)
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

/// The loaded states of `held` (an index into `defs`, a state) as members
/// of a batch.
fn members_of<'a>(
    defs: &[&'a Definition],
    held: &'a mut [(usize, RuntimeState)],
) -> Vec<Member<'a>> {
    held.iter_mut()
        .map(|(i, state)| Member {
            def: defs[*i],
            state,
        })
        .collect()
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

    pub(super) fn ctx<'a>(&'a self, kernel: &'a dyn Kernel, events: &'a dyn EventSink) -> Ctx<'a> {
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
    pub(super) fn with_lock<T>(
        &self,
        kernel: &dyn Kernel,
        def: &Definition,
        op: Operation,
        wait: Duration,
        f: impl FnOnce(&Ctx<'_>, &mut RuntimeState) -> T,
    ) -> Result<T, StoreError> {
        let mut results = self.with_locks(kernel, &[def], op, wait, |ctx, members| {
            members
                .first_mut()
                .map(|m| f(ctx, m.state))
                .into_iter()
                .collect()
        });
        results.pop().unwrap_or_else(|| {
            Err(StoreError::Unwritable {
                path: self.store.state_path(&def.tag),
                reason: "not run".into(),
            })
        })
    }

    /// [`Executor::with_lock`] for several resources at once (issue 11):
    /// their locks are taken in the order of their tags (so two batches
    /// never wait for each other crosswise; the command line takes one lock
    /// at a time), each waiting at most `wait`, and each state is prepared
    /// for `op`; `f` runs once on every member whose lock and state it got,
    /// in tag order, and returns one result per member; the changed states
    /// are written with one group commit (`Store::save_states`), then the
    /// locks are let go. One result per definition, in the order given; a
    /// member whose lock was busy gets `StoreError::Busy` and was not run.
    pub(super) fn with_locks<T>(
        &self,
        kernel: &dyn Kernel,
        defs: &[&Definition],
        op: Operation,
        wait: Duration,
        f: impl FnOnce(&Ctx<'_>, &mut [Member<'_>]) -> Vec<T>,
    ) -> Vec<Result<T, StoreError>> {
        let ctx = self.ctx(kernel, self.events.as_ref());
        let mut order: Vec<usize> = (0..defs.len()).collect();
        order.sort_by(|a, b| defs[*a].tag.cmp(&defs[*b].tag));
        let mut results: Vec<Option<Result<T, StoreError>>> = defs.iter().map(|_| None).collect();
        let mut locks = Vec::with_capacity(defs.len());
        let mut held: Vec<(usize, RuntimeState)> = Vec::with_capacity(defs.len());
        let tags: Vec<&Tag> = order.iter().map(|&i| &defs[i].tag).collect();
        let taken = self.store.lock_each(&tags, wait);
        for (i, lock) in order.into_iter().zip(taken) {
            let tag = &defs[i].tag;
            let loaded = lock.and_then(|lock| Ok((lock, self.store.load_state(tag)?)));
            match loaded {
                Ok((lock, state)) => {
                    locks.push(lock);
                    held.push((i, state));
                }
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        // What each state meant when loaded, before it was prepared: the
        // corrections of a reconcile are written too.
        let before: Vec<RuntimeState> = held.iter().map(|(_, s)| s.clone()).collect();
        // Prepared for `op` with one reading of the kernel for all; a
        // member whose remove intent could not be written is not run.
        let prepared = ops::prepare_many(&self.store, &ctx, &mut members_of(defs, &mut held), op);
        let mut ready = Vec::with_capacity(held.len());
        for (k, ((i, _), p)) in held.iter().zip(prepared).enumerate() {
            match p {
                Ok(_) => ready.push(k),
                Err(e) => results[*i] = Some(Err(e)),
            }
        }
        let outs = {
            let mut members = members_of(defs, &mut held);
            f(&ctx, &mut ops::subset(&mut members, &ready))
        };
        // A remove's intent is on disk: its outcome always goes there.
        let write = |k: usize| {
            let (_, s) = &held[k];
            // A periodic check that ends as the last one did is not written.
            !s.same_but_for_times(&before[k]) || op == Operation::Remove
        };
        let changed: Vec<(&Tag, &RuntimeState)> = ready
            .iter()
            .filter(|&&k| write(k))
            .map(|&k| (&defs[held[k].0].tag, &held[k].1))
            .collect();
        let mut saved = self.store.save_states(&changed).into_iter();
        let mut outs = outs.into_iter();
        for &k in &ready {
            let i = held[k].0;
            let out = outs.next();
            let save = if write(k) {
                saved.next().unwrap_or(Ok(()))
            } else {
                Ok(())
            };
            results[i] = Some(match (out, save) {
                (Some(out), Ok(())) => Ok(out),
                (_, Err(e)) => Err(e),
                (None, Ok(())) => Err(StoreError::Unwritable {
                    path: self.store.state_path(&defs[i].tag),
                    reason: "no result".into(),
                }),
            });
        }
        drop(locks);
        results
            .into_iter()
            .zip(defs)
            .map(|(r, def)| {
                r.unwrap_or_else(|| {
                    Err(StoreError::Unwritable {
                        path: self.store.state_path(&def.tag),
                        reason: "not run".into(),
                    })
                })
            })
            .collect()
    }

    fn deep_check(&self, kernel: &dyn Kernel, def: &Definition) -> Report {
        self.deep_checks(kernel, &[def], periodic_wait(def));
        Report::DeepChecked
    }

    /// The deepChecks of several resources due at once, under their locks
    /// (a busy one is left for its next interval), prepared with one
    /// reading of the kernel for all (`ops::prepare_many`): one by one,
    /// each deepCheck's preparation dumped every address, rule and routing
    /// table, so 10,000 resources cost 10,000 such readings a minute and
    /// the workers never caught up (issue 11). One report per member.
    pub fn deep_check_batch(&self, kernel: &dyn Kernel, defs: &[&Definition]) -> Vec<Report> {
        self.deep_checks(kernel, defs, Duration::ZERO);
        defs.iter().map(|_| Report::DeepChecked).collect()
    }

    fn deep_checks(&self, kernel: &dyn Kernel, defs: &[&Definition], wait: Duration) {
        let _ = self.with_locks(kernel, defs, Operation::DeepCheck, wait, |ctx, members| {
            members
                .iter_mut()
                .map(|m| self.deep_check_locked(ctx, m.def, m.state))
                .collect()
        });
    }

    fn deep_check_locked(&self, ctx: &Ctx<'_>, def: &Definition, state: &mut RuntimeState) {
        if !state.in_service || state.failed {
            return;
        }
        let before = state.last_conflict.clone();
        // The routing beside the address was settled when the state
        // was prepared for the deepCheck (`ops::prepare_many` settles
        // every member for any operation but quickCheck), so a crash
        // between an address change and its routing is repaired here
        // at the latest (docs/linux-backend.md, "Source routing").
        let out = ops::deep_check(ctx, def, state);
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
