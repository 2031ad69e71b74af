//! The daemon's reaction policy as a pure state machine (its inputs and
//! jobs in `messages.rs`, one resource's view in `tracked.rs`): inputs and the
//! current time go in, jobs come out. No I/O, no clock, no sleeping, so its
//! tests (`tests/policy/<case>/`, inputs and times in, jobs out, run by
//! `tests/policy.rs`) drive it to the millisecond.
//!
//! What it decides (SPEC §6 `ipkit daemon`, issue 6):
//! - carrier loss on the active adapter of an in-service resource runs
//!   quickCheck once the link has stayed down for `link_debounce` (at once
//!   when that is 0); the protected address disappearing runs it at once;
//! - a failed quickCheck runs recover (same job, same lock) when local
//!   recovery is on and the restart threshold allows it; otherwise, or when
//!   recover fails, the resource is marked failed exactly once;
//! - quickCheck / deepCheck / announce refresh run on their intervals as a
//!   safety net, staggered so 1,000 resources do not all wake together;
//! - a resource marked `hold_in_service` is restored when it is not in
//!   service;
//! - one job per resource at a time: anything that happens meanwhile makes
//!   the resource "dirty", which runs one more quickCheck afterwards;
//! - another host claiming an address in service on its active adapter is
//!   defended (and reported) at most once per [`DEFEND_INTERVAL`] (RFC 5227
//!   §2.4); [`Policy::watched`] says which addresses to listen for.
//! - at most [`DEEP_AT_ONCE`] deepChecks are under way at once
//!   (`deep_room.rs`): a resource whose deepCheck waits for room is not
//!   busy, its other checks go on;
//! - the checks that come due in one step because one adapter lost its
//!   cable (or went away) are one batch (issue 11): their requests share a
//!   `batch` number, and the executor runs them together. Each member's
//!   job is still decided on its own (recover or not, failed marks,
//!   `hold_in_service`), and each reports on its own.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::IpAddr;

use crate::resource::{AdapterName, Definition, Tag};

mod deep_room;
mod messages;
mod tracked;

pub use deep_room::DEEP_AT_ONCE;
use deep_room::DeepRoom;

pub use messages::{FailReason, Input, Job, JobRequest, Report, Trigger};
use tracked::{Pending, Tracked};

/// Milliseconds on the daemon's monotonic clock.
pub type Ms = u64;

/// Periodic checks are batched on this grid (debounce deadlines are not).
pub const TIMER_GRID: Ms = 50;

/// deepChecks fall due on this coarser grid (still staggered over their
/// interval, a second apart): the ones due in one tick are prepared
/// together with one reading of the kernel (issue 11: with 10,000
/// resources, one reading per deepCheck kept the workers busy for good,
/// and one per 50 ms tick would still cost 20 readings a second).
pub const DEEP_GRID: Ms = 1000;

/// `t` rounded up to the deepChecks' grid.
pub(crate) fn on_deep_grid(t: Ms) -> Ms {
    t.div_ceil(DEEP_GRID).saturating_mul(DEEP_GRID)
}

/// RFC 5227 §2.4 DEFEND_INTERVAL: after a defence, claims of the same
/// address are not answered (nor reported as events) for this long, so
/// that two hosts defending one address cannot flood the link.
pub const DEFEND_INTERVAL: Ms = 10_000;

fn ms(d: std::time::Duration) -> Ms {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An adapter's cable as the policy last heard of it.
#[derive(Debug, Clone)]
struct LinkView {
    connected: bool,
}

/// The policy over every resource.
#[derive(Debug, Default)]
pub struct Policy {
    res: BTreeMap<Tag, Tracked>,
    /// The number of the next batch.
    next_batch: u64,
    links: HashMap<AdapterName, LinkView>,
    /// When each resource next wants something (its deadline when it was
    /// queued; entries that no longer match `Tracked::queued` are stale and
    /// skipped). Lets [`Policy::handle`] look only at the resources an
    /// input touched or whose time came, not at all 1,000 every time.
    timers: BinaryHeap<Reverse<(Ms, Tag)>>,
    /// Resources an input may have changed since the last step.
    touched: Vec<Tag>,
    /// Look at every resource in the next step.
    all: bool,
    /// Changes whenever [`Policy::watched`] may have changed.
    watched_version: u64,
    /// The deepChecks under way, and those waiting for room.
    deep: DeepRoom,
}

impl Policy {
    pub fn new() -> Self {
        Self::default()
    }

    /// Install the definitions (start and SIGHUP). New resources get a first
    /// check at once (which reads their persisted state); changed ones keep
    /// their runtime view and restart history; gone ones are dropped.
    pub fn load(&mut self, defs: Vec<Definition>, now: Ms) -> Vec<JobRequest> {
        let slots = defs.len() as u64;
        let mut next: BTreeMap<Tag, Tracked> = BTreeMap::new();
        for (i, def) in defs.into_iter().enumerate() {
            let tag = def.tag.clone();
            let r = match self.res.remove(&tag) {
                Some(mut old) => {
                    if old.def != def {
                        let fresh = Tracked::new(def.clone(), now, i as u64, slots);
                        old.next_refresh = fresh.next_refresh;
                        old.def = def;
                        old.want_check_now();
                    }
                    old
                }
                None => Tracked::new(def, now, i as u64, slots),
            };
            next.insert(tag, r);
        }
        self.res = next;
        self.watched_version += 1;
        self.all = true;
        self.step(now)
    }

    pub fn tags(&self) -> impl Iterator<Item = &Tag> {
        self.res.keys()
    }

    /// Is the adapter connected, as far as the change source told us
    /// (unknown = None)?
    pub fn link(&self, name: &AdapterName) -> Option<bool> {
        self.links.get(name).map(|l| l.connected)
    }

    /// Is the resource in service here and not failed, as far as the
    /// policy knows?
    pub fn watching(&self, tag: &Tag) -> bool {
        self.res.get(tag).is_some_and(Tracked::watching)
    }

    /// A number that changes whenever [`Policy::watched`] may have: the
    /// caller recomputes the set only then (200 periodic checks a second
    /// change nothing).
    pub fn watched_version(&self) -> u64 {
        self.watched_version
    }

    /// The addresses to listen for claims of: each resource in service
    /// (and not failed) on its active adapter.
    pub fn watched(&self) -> Vec<(IpAddr, AdapterName)> {
        self.res
            .values()
            .filter(|r| r.watching())
            .map(|r| (r.def.address.ip(), r.active.clone()))
            .collect()
    }

    /// When `handle(Tick)` next has something to do (None = only on input).
    pub fn next_deadline(&self) -> Option<Ms> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Feed one input; get the jobs to start now.
    pub fn handle(&mut self, now: Ms, input: Input) -> Vec<JobRequest> {
        match input {
            Input::Link { name, connected } => self.on_link(now, name, connected),
            Input::LinkGone { name } => self.on_link(now, name, false),
            Input::AddressRemoved { ip, adapter } => {
                for (tag, r) in self.res.iter_mut() {
                    if r.def.address.ip() != ip {
                        continue;
                    }
                    self.touched.push(tag.clone());
                    // Our own recover moves the address; while a job runs
                    // that is only worth a re-check afterwards.
                    let on_active = adapter.as_ref().is_none_or(|a| *a == r.active);
                    if (r.watching() && on_active) || r.busy {
                        r.want_check_now();
                    }
                }
            }
            Input::AddressAdded { ip, adapter } => {
                for (tag, r) in self.res.iter_mut() {
                    if r.def.address.ip() != ip {
                        continue;
                    }
                    self.touched.push(tag.clone());
                    // Not in service yet: a command-line restore may have
                    // brought it up; a check reads the state again. In
                    // service: on another adapter it is a duplicate.
                    let elsewhere = adapter.as_ref().is_some_and(|a| *a != r.active);
                    if r.busy || !r.in_service || (r.watching() && elsewhere) {
                        r.want_check_now();
                    }
                }
            }
            Input::AddressClaimed { ip, adapter, mac } => {
                for (tag, r) in self.res.iter_mut() {
                    // Heard on another adapter than the active one: the
                    // address moved since the listening started.
                    let elsewhere = adapter.as_ref().is_some_and(|a| *a != r.active);
                    if r.def.address.ip() != ip || !r.watching() || elsewhere {
                        continue;
                    }
                    // RFC 5227 §2.4 (c): at most one defence per interval.
                    let recent = r
                        .defended_at
                        .is_some_and(|t| now.saturating_sub(t) < DEFEND_INTERVAL);
                    if recent {
                        continue;
                    }
                    r.defended_at = Some(now);
                    r.defence_owed = Some((mac, r.active.clone()));
                    self.touched.push(tag.clone());
                }
            }
            Input::Resync => {
                self.all = true;
                for r in self.res.values_mut() {
                    if r.in_service || r.busy {
                        r.want_check_now();
                    }
                }
            }
            Input::Done { tag, report } => self.on_done(now, &tag, report),
            Input::Tick => {}
        }
        self.step(now)
    }

    fn on_link(&mut self, now: Ms, name: AdapterName, connected: bool) {
        let was = self.links.get(&name).map(|l| l.connected);
        self.links.insert(name.clone(), LinkView { connected });
        if was == Some(connected) {
            return;
        }
        for (tag, r) in self.res.iter_mut() {
            if r.active != name {
                continue;
            }
            self.touched.push(tag.clone());
            if connected {
                // Back before the debounce ran out: nothing to do.
                if matches!(r.pending, Some(Pending::LinkDown(_))) {
                    r.pending = None;
                }
            } else if r.busy {
                r.want_check_now();
            } else if r.watching() && r.pending.is_none() {
                let at = now.saturating_add(ms(r.def.tunables.link_debounce));
                r.pending = Some(Pending::LinkDown(at));
            }
        }
    }

    fn on_done(&mut self, now: Ms, tag: &Tag, report: Report) {
        // A deepCheck reported: its room is free (`step` lets the next in
        // line go).
        self.deep.done(tag);
        let Some(r) = self.res.get_mut(tag) else {
            return;
        };
        self.touched.push(tag.clone());
        r.busy = false;
        let watched_before = (r.watching(), r.active.clone());
        if matches!(
            report,
            Report::Skipped { .. } | Report::Checked { .. } | Report::Restored { .. }
        ) {
            r.known = true;
        }
        match report {
            Report::Skipped { in_service, failed } => {
                if r.failed && !failed {
                    // An operator cleared the mark (or a restore did): start
                    // afresh, and on_failure may run again next time.
                    r.recoveries.clear();
                }
                r.in_service = in_service;
                r.failed = failed;
                r.next_quick = now + r.quick_every();
                if r.def.hold_in_service && !in_service && !failed {
                    // Bring it up at once rather than at the next tick.
                    r.pending = Some(Pending::Now);
                }
            }
            Report::Checked {
                ok,
                recovered,
                active,
                in_service,
            } => {
                if r.failed {
                    r.recoveries.clear();
                }
                r.failed = false;
                r.active = active;
                r.in_service = in_service;
                r.next_quick = now + r.quick_every();
                if !ok {
                    match recovered {
                        Some(true) => r.recoveries.push_back(now),
                        Some(false) => {
                            r.recoveries.push_back(now);
                            r.fail_owed = Some(FailReason::RecoverFailed);
                        }
                        None if !r.def.local_recovery => {
                            r.fail_owed = Some(FailReason::LocalRecoveryOff)
                        }
                        // The check ran without recover although one is
                        // allowed now (the mark was cleared meanwhile):
                        // check again, with recover.
                        None if r.recovery_allowed(now) => r.want_check_now(),
                        None => r.fail_owed = Some(r.threshold_reason()),
                    }
                }
            }
            Report::DeepChecked => r.next_deep = on_deep_grid(now + r.deep_every()),
            Report::Restored { ok, active } => {
                r.recoveries.push_back(now);
                if ok {
                    r.in_service = true;
                    r.failed = false;
                    r.active = active;
                }
                r.next_quick = now + r.quick_every();
            }
            Report::Refreshed => r.next_refresh = now.saturating_add(r.refresh_every()),
            Report::Defended => {}
            Report::MarkedFailed => {
                r.failed = true;
                r.next_quick = now + r.quick_every();
            }
            Report::Error => {
                r.next_quick = now + r.quick_every();
            }
            Report::Deferred => r.want_check_now(),
        }
        if !r.watching() {
            // A claim of an address no longer in service here is not ours
            // to defend.
            r.defence_owed = None;
        }
        if (r.watching(), &r.active) != (watched_before.0, &watched_before.1) {
            self.watched_version += 1;
        }
        if r.refresh_every() == 0 {
            r.next_refresh = Ms::MAX;
        } else if r.next_refresh == Ms::MAX {
            r.next_refresh = now.saturating_add(r.refresh_every());
        }
    }

    /// Start whatever is due, at most one job per resource; the checks of
    /// one adapter's cable loss as one batch.
    fn step(&mut self, now: Ms) -> Vec<JobRequest> {
        // deepChecks waiting in line, for the room there is.
        for next in self.deep.release() {
            if let Some(r) = self.res.get_mut(&next)
                && r.deep_waits
            {
                r.deep_waits = false;
                self.touched.push(next);
            }
        }
        let started = self.start_due(now);
        let mut lost_on: HashMap<AdapterName, usize> = HashMap::new();
        for adapter in started.iter().filter_map(|(_, lost)| lost.as_ref()) {
            *lost_on.entry(adapter.clone()).or_default() += 1;
        }
        let mut batches: HashMap<AdapterName, u64> = HashMap::new();
        let mut out = Vec::with_capacity(started.len());
        for (mut request, cable_lost) in started {
            if let Some(adapter) = cable_lost
                && lost_on.get(&adapter).is_some_and(|n| *n > 1)
            {
                let next = &mut self.next_batch;
                request.batch = Some(*batches.entry(adapter).or_insert_with(|| {
                    *next += 1;
                    *next
                }));
            }
            out.push(request);
        }
        out
    }

    /// The jobs due now, each with the adapter whose cable loss made it
    /// due (None for anything else).
    fn start_due(&mut self, now: Ms) -> Vec<(JobRequest, Option<AdapterName>)> {
        let mut out = Vec::new();
        if self.all {
            self.all = false;
            self.touched.clear();
            self.timers.clear();
            for (tag, r) in self.res.iter_mut() {
                r.queued = None;
                out.extend(Self::step_one(now, tag, r, &mut self.deep));
                Self::queue(&mut self.timers, tag, r);
            }
            return out;
        }
        for tag in std::mem::take(&mut self.touched) {
            if let Some(r) = self.res.get_mut(&tag) {
                out.extend(Self::step_one(now, &tag, r, &mut self.deep));
                Self::queue(&mut self.timers, &tag, r);
            }
        }
        while let Some(Reverse((t, _))) = self.timers.peek()
            && *t <= now
        {
            let Some(Reverse((t, tag))) = self.timers.pop() else {
                break;
            };
            if let Some(r) = self.res.get_mut(&tag)
                && r.queued == Some(t)
            {
                r.queued = None;
                out.extend(Self::step_one(now, &tag, r, &mut self.deep));
                Self::queue(&mut self.timers, &tag, r);
            }
        }
        out
    }

    /// Make sure the heap has an entry for the resource's current deadline.
    fn queue(timers: &mut BinaryHeap<Reverse<(Ms, Tag)>>, tag: &Tag, r: &mut Tracked) {
        let d = r.deadline();
        if d != r.queued {
            r.queued = d;
            if let Some(d) = d {
                timers.push(Reverse((d, tag.clone())));
            }
        }
    }

    /// Start what is due for one resource, with the adapter whose cable
    /// loss made it due.
    fn step_one(
        now: Ms,
        tag: &Tag,
        r: &mut Tracked,
        deep: &mut DeepRoom,
    ) -> Option<(JobRequest, Option<AdapterName>)> {
        {
            if r.busy {
                return None;
            }
            let mut cable_lost = None;
            let job = if let Some(reason) = r.fail_owed.take() {
                r.pending = None;
                Some(Job::MarkFailed(reason))
            } else if r.defence_due()
                && let Some((mac, adapter)) = r.defence_owed.take()
            {
                // Before any check: one announcement, back at once.
                Some(Job::Defend { mac, adapter })
            } else if r.failed {
                // Only look for the mark being cleared; never recover.
                r.pending = None;
                (now >= r.next_quick).then_some(Job::Check {
                    trigger: Trigger::Timer,
                    recover: false,
                })
            } else if r.def.hold_in_service
                && r.known
                && !r.in_service
                && (now >= r.next_quick || r.pending.is_some())
            {
                r.pending = None;
                if r.recovery_allowed(now) {
                    Some(Job::Restore)
                } else {
                    Some(Job::MarkFailed(r.threshold_reason()))
                }
            } else {
                let event_due = match r.pending {
                    Some(Pending::Now) => true,
                    Some(Pending::LinkDown(t)) => now >= t,
                    None => false,
                };
                if event_due && matches!(r.pending, Some(Pending::LinkDown(_))) {
                    cable_lost = Some(r.active.clone());
                }
                if event_due {
                    r.pending = None;
                    let recover = r.def.local_recovery && r.recovery_allowed(now);
                    Some(Job::Check {
                        trigger: Trigger::Event,
                        recover,
                    })
                } else if now >= r.next_quick {
                    let recover = r.def.local_recovery && r.recovery_allowed(now);
                    Some(Job::Check {
                        trigger: Trigger::Timer,
                        recover,
                    })
                } else if r.watching() && now >= r.next_deep && deep.admit(tag, &mut r.deep_waits) {
                    Some(Job::DeepCheck)
                } else if r.watching() && now >= r.next_refresh {
                    Some(Job::Refresh)
                } else {
                    None
                }
            };
            job.map(|job| {
                r.busy = true;
                let request = JobRequest {
                    tag: tag.clone(),
                    job,
                    batch: None,
                };
                (request, cable_lost)
            })
        }
    }
}
